import datetime as dt

import pytest

from apps.events.services import event_create
from apps.orgs.models import Role
from apps.orgs.services import membership_set, organization_create


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, and at the end no session left on it: the worker's writer runs in
    sync_to_async's thread pool, whose threads keep their own connections open after the test, and
    PostgreSQL refuses to drop a database that still has sessions."""
    yield
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                           " WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture
def org_a(db):
    return organization_create(name="Alpha Racing", short_name="alpha")


@pytest.fixture
def org_b(db):
    return organization_create(name="Bravo Motorsport", short_name="bravo")


@pytest.fixture
def event_a(org_a):
    return event_create(organization=org_a, name="Alpha 8 Hours", start_date=dt.date(2026, 5, 1))


@pytest.fixture
def event_b(org_b):
    return event_create(organization=org_b, name="Bravo Sprint", start_date=dt.date(2026, 5, 2))


def _user(django_user_model, username, organization, role):
    user = django_user_model.objects.create_user(username=username, password="pw-" + username)
    membership_set(user=user, organization=organization, role=role)
    return user


@pytest.fixture
def admin_a(django_user_model, org_a):
    return _user(django_user_model, "alice", org_a, Role.ADMIN)


@pytest.fixture
def editor_a(django_user_model, org_a):
    return _user(django_user_model, "eddie", org_a, Role.EDITOR)


@pytest.fixture
def viewer_a(django_user_model, org_a):
    return _user(django_user_model, "vera", org_a, Role.VIEWER)


@pytest.fixture
def admin_b(django_user_model, org_b):
    return _user(django_user_model, "bob", org_b, Role.ADMIN)


@pytest.fixture(autouse=True)
def _no_throttling(settings):
    """Throttles are cache-backed (Redis under `make test`); tests opt back in with `settings.THROTTLE_RATES`."""
    settings.THROTTLE_RATES = {"token": None, "write": None}


@pytest.fixture
def relay_a(org_a):
    """(client, secret) of org A's relay client."""
    from apps.orgs.services import relay_client_create

    return relay_client_create(organization=org_a)


@pytest.fixture
def relay_b(org_b):
    from apps.orgs.services import relay_client_create

    return relay_client_create(organization=org_b)


@pytest.fixture
def api_client_a(org_a):
    from apps.orgs.services import api_client_create

    return api_client_create(organization=org_a)


@pytest.fixture
def machine_token():
    """machine_token(client) -> a valid bearer token for that relay or API client (embedded issuer)."""
    from apps.orgs.models import RelayClient
    from apps.orgs.signing import token_issue

    def issue(client) -> str:
        kind = "relay" if isinstance(client, RelayClient) else "api"
        return token_issue(client_id=client.client_id, kind=kind, secret_hash=client.secret_hash).access_token

    return issue


@pytest.fixture
def clean_redis(settings):
    """Empty the suite's Redis database (make test points REDIS_URL at a database of its own)."""
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        client.flushdb()
        client.close()
    yield


@pytest.fixture(autouse=True)
def no_embedded_worker(settings):
    """Tests drive the timing worker explicitly; the server's embedded worker would race them."""
    settings.EMBEDDED_WORKER = False


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """PBKDF2's deliberate slowness (~0.3 s a password) would dominate a suite that creates many users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_channel_layers():
    """Each test runs its own event loop; a channel layer (and its Redis pools and locks) is bound to
    the loop that first used it, so every test gets a layer of its own."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()
