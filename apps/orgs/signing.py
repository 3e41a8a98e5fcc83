"""The embedded default's own token issuer: one RSA key, its public JWKS, and short-lived RS256 tokens.

Used only when no OIDC_ISSUER is configured. The key is generated once into settings.JWT_SIGNING_KEY_FILE
(default var/jwt_signing_key.pem, mode 0600). Replicas of a distributed deployment without Keycloak must share
that file (set JWT_SIGNING_KEY_FILE to a mounted secret), or tokens issued by one replica fail on another.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

_lock = threading.Lock()
_loaded: dict[str, tuple[float, rsa.RSAPrivateKey]] = {}


def _b64(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _key_file() -> Path:
    return Path(settings.JWT_SIGNING_KEY_FILE)


def signing_key_load() -> rsa.RSAPrivateKey:
    """The private key, generating it (mode 0600, never overwriting) on first use."""
    path = _key_file()
    with _lock:
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            mtime = None
        cached = _loaded.get(str(path))
        if cached is not None and mtime is not None and cached[0] == mtime:
            return cached[1]
        if mtime is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process won the race; use its key
                pass
            else:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(pem)
            mtime = path.stat().st_mtime
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key")
        _loaded[str(path)] = (mtime, key)
        return key


def public_jwk(*, key: rsa.RSAPrivateKey) -> dict:
    numbers = key.public_key().public_numbers()
    jwk = {"e": _b64(numbers.e), "kty": "RSA", "n": _b64(numbers.n)}
    # RFC 7638 thumbprint as the key id: stable for a key, different for the next one.
    thumbprint = hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest()
    jwk.update(kid=base64.urlsafe_b64encode(thumbprint).rstrip(b"=").decode(), use="sig", alg="RS256")
    return jwk


def local_jwks() -> dict:
    return {"keys": [public_jwk(key=signing_key_load())]}


def secret_fingerprint(*, secret_hash: str) -> str:
    """Bound into locally issued tokens so rotating a client's secret revokes its outstanding tokens at once."""
    return hashlib.sha256(("sfp:" + secret_hash).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    token_type: str = "Bearer"


def token_issue(*, client_id: str, kind: str, secret_hash: str) -> IssuedToken:
    key = signing_key_load()
    lifetime = int(settings.JWT_TOKEN_LIFETIME_SECONDS)
    now = int(time.time())
    claims = {
        "iss": settings.JWT_LOCAL_ISSUER,
        "aud": settings.OIDC_AUDIENCE,
        "sub": f"service-account-{client_id}",
        "azp": client_id,
        "client_id": client_id,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
        "typ": "Bearer",
        "roles": ["relay-svc"] if kind == "relay" else [],
        "sfp": secret_fingerprint(secret_hash=secret_hash),
    }
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": public_jwk(key=key)["kid"]})
    return IssuedToken(access_token=token, expires_in=lifetime)
