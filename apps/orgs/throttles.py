"""Cache-backed DRF throttles for the token endpoint and write endpoints.

Rates come from settings.THROTTLE_RATES (env THROTTLE_TOKEN_RATE / THROTTLE_WRITE_RATE) and are read per
request, so tests and operators can change them without re-importing DRF's settings. A rate of None disables.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class _SettingsRateThrottle(SimpleRateThrottle):
    def __init__(self):  # defer the rate lookup to each request
        pass

    def get_rate(self):
        return (getattr(settings, "THROTTLE_RATES", None) or {}).get(self.scope)

    def allow_request(self, request, view):
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class TokenEndpointThrottle(_SettingsRateThrottle):
    """Per client address: guessing client secrets is slow."""

    scope = "token"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class WriteThrottle(_SettingsRateThrottle):
    """Per caller (user, or machine client id, else address) on unsafe methods only."""

    scope = "write"

    def get_cache_key(self, request, view):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        user = getattr(request, "user", None)
        if getattr(user, "client_id", None):
            ident = "client:" + user.client_id
        elif user is not None and getattr(user, "is_authenticated", False) and user.pk is not None:
            ident = f"user:{user.pk}"
        else:
            ident = "ip:" + self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
