from django.apps import AppConfig


class ControllogConfig(AppConfig):
    name = "apps.controllog"
    label = "controllog"
