"""Typed readers for environment variables.

Every setting comes from the environment; a bad value must stop the process at start with a message
that names the variable, not surface later as a confusing runtime error.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_origins(name: str) -> list[str]:
    """CORS origins: each must be scheme://host[:port] with no path, as browsers send them."""
    origins = env_list(name, [])
    for origin in origins:
        parsed = urlparse(origin)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path not in ("", "/"):
            raise ImproperlyConfigured(
                f"{name} must be a comma-separated list of origins like https://example.org, got {origin!r}"
            )
    return [origin.rstrip("/") for origin in origins]


def env_redis_url(name: str) -> str:
    raw = env_str(name)
    if not raw:
        return ""
    parsed = urlparse(raw)
    if parsed.scheme not in ("redis", "rediss", "unix") or (parsed.scheme != "unix" and not parsed.hostname):
        raise ImproperlyConfigured(f"{name} must look like redis://host:6379/0, got {raw!r}")
    try:
        parsed.port
    except ValueError:
        raise ImproperlyConfigured(f"{name} has an invalid port: {raw!r}") from None
    return raw


def env_database(name: str, default_sqlite_path: str) -> dict:
    """Parse DATABASE_URL: sqlite:///path, postgres://user@host:port/db or mssql://user:pw@host:port/db."""
    import dj_database_url

    raw = env_str(name) or f"sqlite:///{default_sqlite_path}"
    scheme = raw.split(":", 1)[0].lower()
    if scheme not in ("sqlite", "postgres", "postgresql", "pgsql", "mssql"):
        raise ImproperlyConfigured(
            f"{name} must start with sqlite://, postgres:// or mssql://, got scheme {scheme!r}"
        )
    try:
        config = dict(dj_database_url.parse(raw))
    except Exception as exc:  # dj_database_url raises several types for malformed URLs
        raise ImproperlyConfigured(f"{name} could not be parsed: {exc}") from None
    if scheme == "mssql":
        # dj-database-url still maps mssql:// to the retired django-pyodbc-azure backend.
        config["ENGINE"] = "mssql"
        options = config.setdefault("OPTIONS", {})
        options.setdefault("driver", "ODBC Driver 18 for SQL Server")
    elif scheme != "sqlite" and not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} must name a database, e.g. postgres://user@host:5432/redmist")
    return config


def env_url(name: str, default: str = "") -> str:
    """An http(s) URL with a host (no trailing slash), or empty when unset."""
    raw = env_str(name, default)
    if not raw:
        return ""
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ImproperlyConfigured(f"{name} must be an http(s) URL like https://auth.example.org/realms/redmist, got {raw!r}")
    return raw.rstrip("/")
