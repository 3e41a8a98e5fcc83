"""People signing in through OpenID Connect (Keycloak), mapped to Django users.

A returning person is found by `preferred_username` (the Keycloak user name), else by e-mail; a new one gets a
Django user named after `preferred_username`. Roles come from memberships, never from the provider's claims, and
superuser status is never granted through OIDC.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

LEEWAY_SECONDS = 10


def _username_from_claims(claims: dict) -> str:
    return (claims.get("preferred_username") or claims.get("email") or claims.get("sub") or "")[:150]


class RedMistOIDCBackend(OIDCAuthenticationBackend):
    def verify_token(self, token, **kwargs):
        """mozilla-django-oidc checks the signature and nonce; the ID token's issuer, audience and expiry too."""
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        now = time.time()
        if payload.get("iss", "").rstrip("/") != settings.OIDC_ISSUER:
            raise SuspiciousOperation("ID token from another issuer.")
        if settings.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token for another audience.")
        if not isinstance(payload.get("exp"), (int, float)) or payload["exp"] < now - LEEWAY_SECONDS:
            raise SuspiciousOperation("ID token expired.")
        if isinstance(payload.get("nbf"), (int, float)) and payload["nbf"] > now + LEEWAY_SECONDS:
            raise SuspiciousOperation("ID token not yet valid.")
        return payload

    def filter_users_by_claims(self, claims):
        users = get_user_model().objects
        username = claims.get("preferred_username")
        if username:
            found = users.filter(username__iexact=username)
            if found.exists():
                return found
        email = claims.get("email")
        if email and claims.get("email_verified", True):
            return users.filter(email__iexact=email)
        return users.none()

    def verify_claims(self, claims):
        return bool(_username_from_claims(claims))

    def create_user(self, claims):
        return get_user_model().objects.create_user(
            username=_username_from_claims(claims),
            email=claims.get("email", ""),
            first_name=claims.get("given_name", "")[:150],
            last_name=claims.get("family_name", "")[:150],
        )

    def update_user(self, user, claims):
        changed = False
        for attr, claim in (("email", "email"), ("first_name", "given_name"), ("last_name", "family_name")):
            value = (claims.get(claim) or "")[:150]
            if value and getattr(user, attr) != value:
                setattr(user, attr, value)
                changed = True
        if changed:
            user.save(update_fields=["email", "first_name", "last_name"])
        return user
