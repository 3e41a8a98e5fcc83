"""Kubernetes-style probes: startup and liveness say the process serves; readiness checks its dependencies."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import JsonResponse

logger = logging.getLogger(__name__)


def health_database_check() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"
        return f"{type(exc).__name__}: {exc}"
    return None


def health_redis_check() -> str | None:
    if not settings.REDIS_URL:
        return None
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def startup(request):
    return JsonResponse({"status": "started"})


def live(request):
    return JsonResponse({"status": "live"})


def ready(request):
    checks = {"database": health_database_check(), "redis": health_redis_check()}
    failed = {name: error for name, error in checks.items() if error}
    if failed:
        logger.warning("not ready: %s", failed)
        return JsonResponse({"status": "not ready", "failed": failed}, status=503)
    redis_state = "ok" if settings.REDIS_URL else "not configured"
    return JsonResponse({"status": "ready", "checks": {"database": "ok", "redis": redis_state}})
