from django.apps import AppConfig


class TimingConfig(AppConfig):
    name = "apps.timing"
    label = "timing"
