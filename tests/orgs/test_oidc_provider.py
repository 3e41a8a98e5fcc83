"""The token path against a real local OpenID provider over HTTP: discovery, JWKS, token endpoint, key rotation;
and people signing in through the authorization-code flow, mapped to Django users."""

import time
import uuid

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import SuspiciousOperation
from django.test import RequestFactory
from rest_framework.test import APIClient

from apps.orgs.machine_auth import MachineAuthError, machine_client_authenticate
from tests.orgs.oidc_provider import LocalOpenIDProvider


@pytest.fixture
def provider(settings):
    op = LocalOpenIDProvider()
    settings.OIDC_ISSUER = op.issuer
    settings.OIDC_AUDIENCE = "account"
    yield op
    op.close()


@pytest.fixture
def relay_at_provider(provider, relay_a):
    client, _ = relay_a
    return client, provider.register(client.client_id)


def _fetch_token(provider, client_id, secret):
    response = requests.post(f"{provider.url}/token", data={"grant_type": "client_credentials",
                                                            "client_id": client_id, "client_secret": secret},
                             timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _reason(token):
    with pytest.raises(MachineAuthError) as caught:
        machine_client_authenticate(token=token)
    return caught.value.reason


def test_a_token_from_the_provider_identifies_the_relay_and_keys_are_fetched_once(provider, relay_at_provider, org_a):
    client, secret = relay_at_provider
    token = _fetch_token(provider, client.client_id, secret)
    identity = machine_client_authenticate(token=token)
    assert identity.client == client and identity.organization_id == org_a.id and identity.kind == "relay"
    machine_client_authenticate(token=_fetch_token(provider, client.client_id, secret))
    assert provider.requests_seen["/.well-known/openid-configuration"] == 1
    assert provider.requests_seen["/certs"] == 1


def test_the_provider_token_opens_the_management_api(provider, relay_at_provider, event_a):
    client, secret = relay_at_provider
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {_fetch_token(provider, client.client_id, secret)}")
    response = api.get("/event-management/v1/Event/LoadEventSummaries")
    assert response.status_code == 200 and [e["id"] for e in response.json()] == [event_a.id]


def test_a_rotated_provider_key_is_picked_up_and_a_dropped_one_stops_working(provider, relay_at_provider, settings):
    settings.OIDC_JWKS_MIN_REFETCH_SECONDS = 0
    client, secret = relay_at_provider
    old_token = _fetch_token(provider, client.client_id, secret)
    machine_client_authenticate(token=old_token)
    provider.rotate(keep_old=False)
    new_token = _fetch_token(provider, client.client_id, secret)
    assert machine_client_authenticate(token=new_token).client == client
    assert provider.requests_seen["/certs"] == 2  # refetched once, for the unknown kid
    assert _reason(old_token) == "unknown signing key"
    assert provider.requests_seen["/certs"] == 3


def test_a_flood_of_unknown_key_ids_causes_at_most_one_refetch(provider, relay_at_provider, settings):
    settings.OIDC_JWKS_MIN_REFETCH_SECONDS = 60
    client, secret = relay_at_provider
    machine_client_authenticate(token=_fetch_token(provider, client.client_id, secret))
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    for _ in range(20):
        claims = {"iss": provider.issuer, "aud": "account", "azp": client.client_id, "iat": now, "exp": now + 60}
        forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": str(uuid.uuid4())})
        assert _reason(forged) == "unknown signing key"
    assert provider.requests_seen["/certs"] == 1  # the first fetch was just now: no refetch within a minute


def test_the_provider_being_down_does_not_break_cached_keys(provider, relay_at_provider):
    client, secret = relay_at_provider
    token = _fetch_token(provider, client.client_id, secret)
    machine_client_authenticate(token=token)
    provider.close()
    assert machine_client_authenticate(token=token).client == client


def test_a_discovery_document_naming_another_issuer_is_not_trusted(provider, relay_at_provider):
    client, secret = relay_at_provider
    provider.discovery_issuer_override = "https://evil.example/realms/redmist"
    assert _reason(_fetch_token(provider, client.client_id, secret)) == "signing keys unavailable"


def test_a_provider_token_for_another_audience_is_refused(provider, relay_at_provider):
    client, secret = relay_at_provider
    provider.audience = "some-other-api"
    assert _reason(_fetch_token(provider, client.client_id, secret)) == "wrong audience"


def test_a_token_from_another_provider_is_refused(provider, relay_at_provider):
    client, _ = relay_at_provider
    other = LocalOpenIDProvider()
    try:
        other_secret = other.register(client.client_id)
        token = _fetch_token(other, client.client_id, other_secret)
        assert _reason(token) in ("unknown signing key", "wrong issuer")
    finally:
        other.close()


def test_a_provider_client_without_a_relay_or_api_client_row_is_refused(provider, db):
    secret = provider.register("redmist-browser-ui")
    assert _reason(_fetch_token(provider, "redmist-browser-ui", secret)) == "unknown client"


def test_the_local_token_endpoint_is_closed_while_the_provider_issues_tokens(provider, relay_a, client):
    relay, secret = relay_a
    response = client.post("/oauth/token", {"grant_type": "client_credentials", "client_id": relay.client_id,
                                            "client_secret": secret})
    assert response.status_code == 404


# --- people: authorization-code sign-in through mozilla-django-oidc --------------------------------------------


@pytest.fixture
def oidc_people(provider, settings):
    settings.ROOT_URLCONF = "tests.orgs.oidc_urls"
    settings.OIDC_RP_CLIENT_ID = "redmist-admin"
    settings.OIDC_RP_CLIENT_SECRET = provider.register("redmist-admin")
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{provider.url}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{provider.url}/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{provider.url}/certs"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{provider.url}/auth"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.AUTHENTICATION_BACKENDS = ["apps.orgs.oidc.RedMistOIDCBackend",
                                        "django.contrib.auth.backends.ModelBackend"]
    return provider


def _sign_in(provider, user_claims):
    from apps.orgs.oidc import RedMistOIDCBackend

    code = provider.authorize(user={"sub": str(uuid.uuid4()), **user_claims}, nonce="n-1")
    request = RequestFactory().get("/oidc/callback/", {"code": code, "state": "s-1"})
    request.session = SessionStore()
    return RedMistOIDCBackend().authenticate(request, nonce="n-1")


def test_a_person_signing_in_for_the_first_time_gets_a_django_user(oidc_people, django_user_model):
    user = _sign_in(oidc_people, {"preferred_username": "carol", "email": "carol@example.org",
                                  "given_name": "Carol"})
    assert user is not None and user.username == "carol" and user.email == "carol@example.org"
    assert not user.is_superuser and user.first_name == "Carol"


def test_a_returning_person_is_matched_by_user_name(oidc_people, admin_a):
    user = _sign_in(oidc_people, {"preferred_username": "Alice", "email": "alice@new.example"})
    assert user.pk == admin_a.pk
    admin_a.refresh_from_db()
    assert admin_a.email == "alice@new.example"


def test_an_id_token_issued_to_another_client_is_refused(oidc_people, settings, django_user_model):
    from apps.orgs.oidc import RedMistOIDCBackend

    oidc_people.clients["someone-else"] = settings.OIDC_RP_CLIENT_SECRET
    code = oidc_people.authorize(user={"sub": "x", "preferred_username": "mallory"}, nonce="n-1")
    backend = RedMistOIDCBackend()
    backend.OIDC_RP_CLIENT_ID = "someone-else"  # the code is redeemed by another client: aud = someone-else
    request = RequestFactory().get("/oidc/callback/", {"code": code, "state": "s"})
    request.session = SessionStore()
    with pytest.raises(SuspiciousOperation, match="audience"):
        backend.authenticate(request, nonce="n-1")
    assert not django_user_model.objects.filter(username="mallory").exists()
