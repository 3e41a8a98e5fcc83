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
