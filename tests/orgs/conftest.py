import time
import uuid

import jwt
import pytest

from apps.orgs.machine_auth import jwks_caches_clear
from apps.orgs.signing import public_jwk, secret_fingerprint, signing_key_load


@pytest.fixture(autouse=True)
def _fresh_key_caches():
    jwks_caches_clear()
    yield
    jwks_caches_clear()


@pytest.fixture
def forge(settings):
    """forge(client, **overrides) -> a token signed with the embedded key; overrides replace claims or headers."""

    def make(client, *, key=None, headers=None, drop=(), **claims):
        key = key or signing_key_load()
        now = int(time.time())
        body = {
            "iss": settings.JWT_LOCAL_ISSUER, "aud": settings.OIDC_AUDIENCE, "sub": "svc", "azp": client.client_id,
            "client_id": client.client_id, "iat": now, "nbf": now, "exp": now + 300, "jti": str(uuid.uuid4()),
            "sfp": secret_fingerprint(secret_hash=client.secret_hash),
        }
        body.update(claims)
        for name in drop:
            body.pop(name, None)
        head = {"kid": public_jwk(key=key)["kid"]}
        head.update(headers or {})
        return jwt.encode(body, key, algorithm="RS256", headers=head)

    return make
