"""The embedded default issues its own short-lived client-credentials tokens, verified by the same code path."""

import base64
import os
import secrets
import stat

import jwt
import pytest

from apps.orgs.machine_auth import machine_client_authenticate
from apps.orgs.services import machine_client_rotate_secret

TOKEN_PATHS = ["/oauth/token", "/realms/redmist/protocol/openid-connect/token"]


@pytest.mark.parametrize("path", TOKEN_PATHS)
def test_a_relay_trades_its_id_and_secret_for_a_bearer_token(client, relay_a, path, settings):
    relay, secret = relay_a
    response = client.post(path, {"grant_type": "client_credentials", "client_id": relay.client_id,
                                  "client_secret": secret})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert response["Cache-Control"] == "no-store"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["iss"] == settings.JWT_LOCAL_ISSUER and claims["aud"] == "account"
    assert claims["azp"] == claims["client_id"] == relay.client_id
    assert claims["exp"] - claims["iat"] == 300 and claims["nbf"] == claims["iat"]
    assert claims["jti"] and claims["sub"] and claims["roles"] == ["relay-svc"]
    assert machine_client_authenticate(token=body["access_token"]).client == relay


def test_http_basic_client_authentication_works_too(client, api_client_a):
    api, secret = api_client_a
    basic = base64.b64encode(f"{api.client_id}:{secret}".encode()).decode()
    response = client.post("/oauth/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 200
    assert machine_client_authenticate(token=response.json()["access_token"]).kind == "api"


def test_the_token_lifetime_follows_the_setting(client, relay_a, settings):
    settings.JWT_TOKEN_LIFETIME_SECONDS = 120
    relay, secret = relay_a
    body = client.post("/oauth/token", {"grant_type": "client_credentials", "client_id": relay.client_id,
                                        "client_secret": secret}).json()
    assert body["expires_in"] == 120


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({}, 400, "invalid_request"),
        ({"grant_type": "password", "client_id": "x", "client_secret": "y"}, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials", "client_secret": "y"}, 400, "invalid_request"),
        ({"grant_type": "client_credentials", "client_id": "relay-alpha"}, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "relay-alpha", "client_secret": "wrong"}, 401,
         "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "relay-nobody", "client_secret": "x"}, 401,
         "invalid_client"),
    ],
)
def test_bad_token_requests_get_oauth_errors(client, relay_a, form, status, error):
    response = client.post("/oauth/token", form)
    assert response.status_code == status
    assert response.json()["error"] == error


def test_an_inactive_client_gets_no_token(client, relay_a):
    relay, secret = relay_a
    relay.is_active = False
    relay.save()
    response = client.post("/oauth/token", {"grant_type": "client_credentials", "client_id": relay.client_id,
                                            "client_secret": secret})
    assert response.status_code == 401


def test_a_rotated_secret_stops_working_immediately(client, relay_a):
    relay, old_secret = relay_a
    new_secret = machine_client_rotate_secret(client=relay)
    form = {"grant_type": "client_credentials", "client_id": relay.client_id}
    assert client.post("/oauth/token", {**form, "client_secret": old_secret}).status_code == 401
    assert client.post("/oauth/token", {**form, "client_secret": new_secret}).status_code == 200


def test_the_token_endpoint_is_throttled_per_address(client, relay_a, settings):
    settings.THROTTLE_RATES = {"token": "3/min", "write": None}
    address = "10.%d.%d.%d" % tuple(secrets.randbelow(250) for _ in range(3))  # fresh bucket, even on Redis
    codes = [client.post("/oauth/token", {"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
                         REMOTE_ADDR=address).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_the_local_key_set_and_discovery_document_are_served(client, settings):
    jwks = client.get("/.well-known/jwks.json").json()
    assert len(jwks["keys"]) == 1 and jwks["keys"][0]["kty"] == "RSA" and "d" not in jwks["keys"][0]
    discovery = client.get("/.well-known/openid-configuration").json()
    assert discovery["issuer"] == settings.JWT_LOCAL_ISSUER
    assert discovery["jwks_uri"].endswith("/.well-known/jwks.json")
    assert discovery["token_endpoint"].endswith("/oauth/token")


def test_the_signing_key_is_generated_once_and_readable_only_by_the_owner(tmp_path, settings, relay_a):
    settings.JWT_SIGNING_KEY_FILE = tmp_path / "key.pem"
    from apps.orgs.signing import local_jwks

    first = local_jwks()
    mode = stat.S_IMODE(os.stat(tmp_path / "key.pem").st_mode)
    assert mode == 0o600
    assert local_jwks() == first


def test_with_an_external_issuer_the_local_token_endpoint_is_closed(client, relay_a, settings):
    settings.OIDC_ISSUER = "https://auth.example.org/realms/redmist"
    relay, secret = relay_a
    response = client.post("/oauth/token", {"grant_type": "client_credentials", "client_id": relay.client_id,
                                            "client_secret": secret})
    assert response.status_code == 404
    assert client.get("/.well-known/jwks.json").status_code == 404
