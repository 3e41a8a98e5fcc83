"""The one settings module. Everything is read from the environment (see docs/configuration.md).

With nothing set, the project runs embedded: SQLite, in-memory channel layer, in-process ingest bus and
timing worker, Celery tasks run eagerly. Setting REDIS_URL (and DATABASE_URL) switches the same code to
the distributed layout.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from redmist.env import (
    env_bool,
    env_database,
    env_int,
    env_list,
    env_origins,
    env_redis_url,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("REDMIST_VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)
REDIS_URL = env_redis_url("REDIS_URL")
EMBEDDED = not REDIS_URL


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        if len(key) < 32:
            raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long")
        return key
    if not EMBEDDED:
        # Replicas must share one key; a generated key per process would break sessions and tokens.
        raise ImproperlyConfigured("SECRET_KEY must be set when REDIS_URL is set (distributed mode)")
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_origins("CSRF_TRUSTED_ORIGINS")
CORS_ALLOWED_ORIGINS = env_origins("CORS_ALLOWED_ORIGINS")
CORS_ALLOW_HEADERS = ("accept", "authorization", "content-type", "x-event-access-code", "if-none-match")

CACHE_TTL_SECONDS = env_int("CACHE_TTL_SECONDS", 4 * 3600, minimum=1)
EVENT_LIVE_TIMEOUT_SECONDS = env_int("EVENT_LIVE_TIMEOUT_SECONDS", 600, minimum=10)
INGEST_STREAM_MAXLEN = env_int("INGEST_STREAM_MAXLEN", 100_000, minimum=1000)
WORKER_LEASE_MS = env_int("WORKER_LEASE_MS", 10_000, minimum=1000)
WORKER_SNAPSHOT_SECONDS = env_int("WORKER_SNAPSHOT_MS", 1000, minimum=50) / 1000
WORKER_MAX_EVENTS = env_int("WORKER_MAX_EVENTS", 50, minimum=1)
EMBEDDED_WORKER = env_bool("EMBEDDED_WORKER", True)
RELAY_MAX_FRAME_BYTES = env_int("RELAY_MAX_FRAME_BYTES", 1024 * 1024, minimum=1024)
RELAY_RATE_PER_SECOND = env_int("RELAY_RATE_PER_SECOND", 1000, minimum=1)
RELAY_RATE_BURST = env_int("RELAY_RATE_BURST", 5000, minimum=1)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "apps.orgs",
    "apps.events",
    "apps.timing",
    "apps.relay",
    "apps.controllog",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "redmist.urls"
ASGI_APPLICATION = "redmist.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env_database("DATABASE_URL", str(VAR_DIR / "redmist.sqlite3"))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded server writes from the worker thread and request threads at once.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    if DATABASES["default"]["NAME"] != ":memory:":
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "TIMEOUT": CACHE_TTL_SECONDS,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 defaults (5 s socket timeout, 100-connection pool) race channels-redis'
                # 5 s BZPOPMIN and drop sockets; the default capacity of 100 drops bursts silently.
                "hosts": [{"address": REDIS_URL, "socket_timeout": None, "max_connections": 10000}],
                "capacity": 5000,
                "expiry": 60,
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "TIMEOUT": CACHE_TTL_SECONDS,
        }
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 5000}}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = EMBEDDED
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SOFT_TIME_LIMIT = 20
CELERY_TASK_TIME_LIMIT = 30
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
}

# --- Authentication (issue 7; docs/api-management.md) -------------------------------------------
# People sign in with OpenID Connect (Keycloak in production) when OIDC_ISSUER is set; local Django
# accounts always work. Machines (relays, API clients) use client-credentials bearer JWTs, verified
# against the issuer's JWKS — or, with no OIDC_ISSUER, against this server's own signing key.
OIDC_ISSUER = env_url("OIDC_ISSUER")  # e.g. https://auth.redmist.racing/realms/redmist
OIDC_AUDIENCE = env_str("OIDC_AUDIENCE", "account")
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET")
KEYCLOAK_ADMIN_URL = env_url("KEYCLOAK_ADMIN_URL")  # e.g. https://auth.redmist.racing
KEYCLOAK_REALM = env_str("KEYCLOAK_REALM", "redmist")
KEYCLOAK_ADMIN_CLIENT_ID = env_str("KEYCLOAK_ADMIN_CLIENT_ID", "user-management-svc")
KEYCLOAK_ADMIN_CLIENT_SECRET = env_str("KEYCLOAK_ADMIN_CLIENT_SECRET")
JWT_TOKEN_LIFETIME_SECONDS = env_int("JWT_TOKEN_LIFETIME_SECONDS", 300, minimum=30, maximum=3600)
JWT_SIGNING_KEY_FILE = Path(env_str("JWT_SIGNING_KEY_FILE") or VAR_DIR / "jwt_signing_key.pem")
JWT_LOCAL_ISSUER = env_str("JWT_LOCAL_ISSUER", "redmist-embedded")
THROTTLE_RATES = {
    "token": env_str("THROTTLE_TOKEN_RATE", "60/min"),
    "write": env_str("THROTTLE_WRITE_RATE", "120/min"),
}
if KEYCLOAK_ADMIN_URL and not KEYCLOAK_ADMIN_CLIENT_SECRET:
    raise ImproperlyConfigured("KEYCLOAK_ADMIN_CLIENT_SECRET must be set when KEYCLOAK_ADMIN_URL is set")

AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
if OIDC_ISSUER:
    if not (OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET):
        raise ImproperlyConfigured("OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET must be set when OIDC_ISSUER is set")
    AUTHENTICATION_BACKENDS.insert(0, "apps.orgs.oidc.RedMistOIDCBackend")
    _OIDC_BASE = OIDC_ISSUER + "/protocol/openid-connect"  # Keycloak's layout; each can be overridden
    OIDC_OP_AUTHORIZATION_ENDPOINT = env_url("OIDC_OP_AUTHORIZATION_ENDPOINT", _OIDC_BASE + "/auth")
    OIDC_OP_TOKEN_ENDPOINT = env_url("OIDC_OP_TOKEN_ENDPOINT", _OIDC_BASE + "/token")
    OIDC_OP_USER_ENDPOINT = env_url("OIDC_OP_USER_ENDPOINT", _OIDC_BASE + "/userinfo")
    OIDC_OP_JWKS_ENDPOINT = env_url("OIDC_OP_JWKS_ENDPOINT", _OIDC_BASE + "/certs")
    OIDC_OP_LOGOUT_ENDPOINT = env_url("OIDC_OP_LOGOUT_ENDPOINT", _OIDC_BASE + "/logout")
    OIDC_RP_SIGN_ALGO = "RS256"
    OIDC_RP_SCOPES = "openid email profile"
    LOGIN_REDIRECT_URL = "/admin/"
    LOGOUT_REDIRECT_URL = "/"
    LOGIN_URL = "/oidc/authenticate/"
SPECTACULAR_SETTINGS = {"TITLE": "RedMist Timing & Scoring API", "VERSION": "0.1.0"}

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {LOG_LEVEL!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"daphne": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
