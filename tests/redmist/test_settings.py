"""Settings are read from the environment; a bad value stops the process with a message naming it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from redmist import env

ROOT = Path(__file__).resolve().parents[2]


def _load_settings(tmp_path, **overrides):
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG")}
    environment.update(REDMIST_VAR_DIR=str(tmp_path), **overrides)
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='redmist.settings'; django.setup(); from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'], s.CACHE_TTL_SECONDS, s.CELERY_TASK_ALWAYS_EAGER)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)


def test_defaults_run_embedded_on_sqlite_with_in_memory_layer(tmp_path):
    result = _load_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "channels.layers.InMemoryChannelLayer", "14400", "True"]
    assert (tmp_path / "secret_key").exists()


def test_redis_url_switches_to_redis_layer_and_requires_a_secret_key(tmp_path):
    result = _load_settings(tmp_path, REDIS_URL="redis://127.0.0.1:6379/0")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr

    result = _load_settings(tmp_path, REDIS_URL="redis://127.0.0.1:6379/0", SECRET_KEY="x" * 40,
                            DATABASE_URL="postgres://postgres@127.0.0.1:5432/redmist")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["django.db.backends.postgresql", "channels_redis.core.RedisChannelLayer"]
    assert result.stdout.split()[3] == "False"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://root@localhost/x"),
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432"),
        ("REDIS_URL", "http://localhost:6379"),
        ("REDIS_URL", "redis://localhost:notaport/0"),
        ("CACHE_TTL_SECONDS", "four hours"),
        ("CACHE_TTL_SECONDS", "0"),
        ("CORS_ALLOWED_ORIGINS", "example.org"),
        ("LOG_LEVEL", "LOUD"),
        ("SECRET_KEY", "short"),
    ],
)
def test_a_bad_value_fails_at_start_naming_the_variable(tmp_path, variable, value):
    result = _load_settings(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr


def test_mssql_url_uses_mssql_django_with_the_odbc_18_driver(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mssql://sa:pw@db.example:1433/redmist")
    config = env.env_database("DATABASE_URL", "/tmp/unused.sqlite3")
    assert config["ENGINE"] == "mssql"
    assert config["OPTIONS"]["driver"] == "ODBC Driver 18 for SQL Server"
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("db.example", "1433", "redmist")


def test_env_helpers_parse_booleans_integers_lists_and_origins(monkeypatch):
    monkeypatch.setenv("FLAG", "Yes")
    monkeypatch.setenv("NUMBER", " 42 ")
    monkeypatch.setenv("HOSTS", "a.example, b.example,,")
    monkeypatch.setenv("ORIGINS", "https://a.example/,http://localhost:3000")
    assert env.env_bool("FLAG") is True
    assert env.env_int("NUMBER", 1, minimum=1) == 42
    assert env.env_list("HOSTS", []) == ["a.example", "b.example"]
    assert env.env_origins("ORIGINS") == ["https://a.example", "http://localhost:3000"]
    monkeypatch.setenv("NUMBER", "500")
    with pytest.raises(ImproperlyConfigured, match="NUMBER must be at most 100"):
        env.env_int("NUMBER", 1, maximum=100)
