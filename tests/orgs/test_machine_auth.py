"""Bearer JWTs for relays and API clients are verified for real and map to the client and its organization."""

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from apps.orgs.machine_auth import JwksCache, MachineAuthError, machine_client_authenticate
from apps.orgs.services import machine_client_rotate_secret
from apps.orgs.signing import public_jwk


def _reason(token):
    with pytest.raises(MachineAuthError) as caught:
        machine_client_authenticate(token=token)
    return caught.value.reason


def test_a_valid_relay_token_identifies_the_relay_and_its_organization(relay_a, machine_token, org_a):
    client, _ = relay_a
    identity = machine_client_authenticate(token=machine_token(client))
    assert identity.kind == "relay"
    assert identity.client == client
    assert identity.organization_id == org_a.id
    assert identity.client_id == client.client_id
    assert identity.claims["azp"] == client.client_id


def test_a_valid_api_client_token_identifies_an_api_client(api_client_a, machine_token):
    client, _ = api_client_a
    identity = machine_client_authenticate(token=machine_token(client))
    assert identity.kind == "api" and identity.client == client


def test_authentication_records_when_the_client_was_last_seen(relay_a, machine_token):
    client, _ = relay_a
    assert client.last_seen is None
    machine_client_authenticate(token=machine_token(client))
    client.refresh_from_db()
    assert client.last_seen is not None


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(time.time()) - 60}, "token expired"),
        ({"nbf": int(time.time()) + 120}, "token not yet valid"),
        ({"aud": "someone-else"}, "wrong audience"),
        ({"iss": "https://evil.example/realms/redmist"}, "wrong issuer"),
        ({"azp": None, "client_id": None}, "no client id claim"),
        ({"azp": "relay-nobody", "client_id": "relay-nobody"}, "unknown client"),
        ({"azp": "relay-alpha", "client_id": "api-alpha"}, "conflicting client id claims"),
        ({"sfp": "0000000000000000"}, "client secret was rotated"),
    ],
)
def test_a_token_with_a_bad_claim_is_refused_with_its_reason(relay_a, forge, overrides, reason):
    client, _ = relay_a
    assert _reason(forge(client, **overrides)) == reason


def test_a_token_missing_its_expiry_is_refused(relay_a, forge):
    client, _ = relay_a
    assert _reason(forge(client, drop=("exp",))) == "missing claim exp"


def test_the_client_id_claim_alone_is_enough_when_azp_is_absent(relay_a, forge):
    client, _ = relay_a
    assert machine_client_authenticate(token=forge(client, drop=("azp",))).client == client


def test_a_token_signed_by_another_key_with_the_same_kid_fails_the_signature_check(relay_a, forge):
    client, _ = relay_a
    from apps.orgs.signing import signing_key_load

    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = forge(client, key=impostor, headers={"kid": public_jwk(key=signing_key_load())["kid"]})
    assert _reason(token) == "bad signature"


def test_a_token_signed_by_an_unknown_key_is_refused(relay_a, forge):
    client, _ = relay_a
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _reason(forge(client, key=impostor)) == "unknown signing key"


def test_a_tampered_payload_fails_the_signature_check(relay_b, relay_a, machine_token):
    client_a, _ = relay_a
    client_b, _ = relay_b
    header, payload, signature = machine_token(client_b).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["azp"] = claims["client_id"] = client_a.client_id  # try to pass as org A's relay
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert _reason(f"{header}.{forged}.{signature}") == "bad signature"


def test_an_unsigned_alg_none_token_is_refused(relay_a, forge):
    client, _ = relay_a
    valid = jwt.decode(forge(client), options={"verify_signature": False})
    unsigned = jwt.encode(valid, None, algorithm="none")
    assert _reason(unsigned) == "unsigned token (alg none)"


def test_an_hmac_token_keyed_with_the_public_key_is_refused(relay_a, forge):
    client, _ = relay_a
    from apps.orgs.signing import signing_key_load

    valid = jwt.decode(forge(client), options={"verify_signature": False})
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(valid).encode()).rstrip(b"=")
    public_pem = signing_key_load().public_key().public_bytes(
        encoding=serialization.Encoding.PEM, format=serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = header + b"." + body
    mac = base64.urlsafe_b64encode(hmac.new(public_pem, signing_input, hashlib.sha256).digest()).rstrip(b"=")
    assert _reason((signing_input + b"." + mac).decode()) == "unsupported algorithm"


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "...."])
def test_missing_or_malformed_tokens_are_refused(db, token):
    assert _reason(token) in ("missing token", "malformed token")


def test_deactivating_a_client_revokes_its_tokens_at_once(relay_a, machine_token):
    client, _ = relay_a
    token = machine_token(client)
    machine_client_authenticate(token=token)
    client.is_active = False
    client.save(update_fields=["is_active"])
    assert _reason(token) == "inactive client"


def test_deleting_a_client_revokes_its_tokens_at_once(relay_a, machine_token):
    client, _ = relay_a
    token = machine_token(client)
    client.delete()
    assert _reason(token) == "unknown client"


def test_rotating_a_secret_revokes_tokens_issued_under_the_old_one(relay_a, machine_token):
    client, _ = relay_a
    old_token = machine_token(client)
    machine_client_rotate_secret(client=client)
    assert _reason(old_token) == "client secret was rotated"
    assert machine_client_authenticate(token=machine_token(client)).client == client


def test_the_key_cache_refetches_once_for_an_unknown_kid_and_not_again_within_the_interval():
    documents = [{"keys": []}]
    cache = JwksCache(fetch=lambda: documents[-1], min_refetch_interval=60)
    with pytest.raises(MachineAuthError):
        cache.key_for("k1")
    assert cache.fetch_count == 1  # the first fetch; a refetch right after would be within the interval
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    documents.append({"keys": [public_jwk(key=key)]})
    with pytest.raises(MachineAuthError):
        cache.key_for(public_jwk(key=key)["kid"])
    assert cache.fetch_count == 1


def test_the_key_cache_picks_up_a_rotated_key_on_an_unknown_kid():
    old, new = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    documents = [{"keys": [public_jwk(key=old)]}]
    cache = JwksCache(fetch=lambda: documents[-1], min_refetch_interval=0)
    assert cache.key_for(public_jwk(key=old)["kid"])
    documents.append({"keys": [public_jwk(key=old), public_jwk(key=new)]})
    assert cache.key_for(public_jwk(key=new)["kid"])
    assert cache.fetch_count == 2


def test_the_key_cache_keeps_serving_known_keys_when_the_provider_is_down():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    calls = {"n": 0}

    def fetch():
        calls["n"] += 1
        if calls["n"] > 1:
            raise ConnectionError("down")
        return {"keys": [public_jwk(key=key)]}

    cache = JwksCache(fetch=fetch, ttl=0, min_refetch_interval=0)
    kid = public_jwk(key=key)["kid"]
    assert cache.key_for(kid) and cache.key_for(kid)
    assert calls["n"] >= 2


def test_encryption_keys_and_other_algorithms_in_the_key_set_are_ignored():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    enc = dict(public_jwk(key=key), use="enc", alg="RSA-OAEP")
    cache = JwksCache(fetch=lambda: {"keys": [enc]}, min_refetch_interval=60)
    with pytest.raises(MachineAuthError):
        cache.key_for(enc["kid"])
