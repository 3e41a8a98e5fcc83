"""The Celery app. Tasks live in each app's tasks.py; with no REDIS_URL they run eagerly in-process."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "redmist.settings")

app = Celery("redmist")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
