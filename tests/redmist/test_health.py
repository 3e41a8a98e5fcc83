import pytest
from django.db import connection


def test_live_and_startup_answer_without_touching_dependencies(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert client.get("/healthz/live").status_code == 200
    assert client.get("/healthz/startup").status_code == 200


@pytest.mark.django_db
def test_ready_checks_the_database_and_redis_when_configured(client, settings):
    response = client.get("/healthz/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == ("ok" if settings.REDIS_URL else "not configured")


@pytest.mark.django_db
def test_ready_is_503_and_names_redis_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz/ready")
    assert response.status_code == 503
    body = response.json()
    assert set(body["failed"]) == {"redis"}
    assert client.get("/healthz/live").status_code == 200


@pytest.mark.django_db
def test_ready_is_503_and_names_the_database_when_it_fails(client, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/healthz/ready")
    assert response.status_code == 503
    assert "database" in response.json()["failed"]
