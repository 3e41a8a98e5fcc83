"""Client secrets: generated once, shown once, stored only as a digest.

Secrets are 256-bit random tokens, so a keyed SHA-256 is enough: there is nothing to brute-force, and a
relay reconnecting dozens of times must not pay PBKDF2's deliberate slowness on every handshake.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "sha256$"


def secret_generate() -> str:
    return secrets.token_urlsafe(32)


def secret_hash(*, secret: str) -> str:
    return PREFIX + hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(*, secret: str, digest: str) -> bool:
    if not digest.startswith(PREFIX):
        return False
    return hmac.compare_digest(secret_hash(secret=secret), digest)


# --- reversible secrets (X2 password, Flagtronics API key) ---------------------------------------------
# The relay needs these back in clear, so they cannot be hashed; they are encrypted with a key derived from
# SECRET_KEY. Changing SECRET_KEY makes them unreadable (they read back as empty and must be entered again).


def _fernet():
    import base64

    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from django.conf import settings

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"redmist-field-encryption", info=b"v1").derive(
        settings.SECRET_KEY.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def field_encrypt(*, value: str) -> str:
    return _fernet().encrypt(value.encode()).decode() if value else ""


def field_decrypt(*, token: str) -> str:
    from cryptography.fernet import InvalidToken

    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return ""
