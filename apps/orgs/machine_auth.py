"""Machine authentication: client-credentials bearer JWTs for relays and API clients.

One verification path for both deployments:

* OIDC_ISSUER set (Keycloak): the key set comes from the issuer's discovery document (`jwks_uri`).
* No OIDC_ISSUER (embedded default): the key set is this server's own public JWKS (`apps.orgs.signing`),
  the same document served at /.well-known/jwks.json, read without an HTTP round trip.

Either way the token goes through `token_verify`: RS256 only (alg=none and HS* are refused before any key is
looked up), signature against the key set (cached; an unknown `kid` triggers a rate-limited refetch, which is
how key rotation is picked up), then issuer, audience, expiry and not-before with a small leeway. The client id
claim (`azp`, else `client_id`) must name an active relay or API client; the client is looked up on every call,
so deactivating or deleting a client revokes its tokens at once. Locally issued tokens also carry a fingerprint
of the client's secret digest, so rotating the secret revokes them too.

Consumers on the event loop call `machine_client_authenticate` through `database_sync_to_async`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import jwt
import requests
from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions

from apps.orgs.models import ApiClient, RelayClient
from apps.orgs.signing import local_jwks, secret_fingerprint

logger = logging.getLogger(__name__)

LEEWAY_SECONDS = 10
JWKS_TTL_SECONDS = 600
JWKS_MIN_REFETCH_SECONDS = 10
HTTP_TIMEOUT_SECONDS = 5
LAST_SEEN_RESOLUTION = timedelta(seconds=60)


class MachineAuthError(Exception):
    """Any reason a bearer token does not identify an active machine client. `reason` is safe to show."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class MachineIdentity:
    client: RelayClient | ApiClient
    kind: Literal["relay", "api"]
    organization_id: int
    client_id: str
    claims: dict[str, Any] = field(repr=False)

    # Lets a MachineIdentity stand in as `request.user` where DRF or Django expect a user-like object.
    is_authenticated = True
    is_active = True
    is_superuser = False
    is_staff = False
    is_anonymous = False

    @property
    def pk(self) -> None:  # never a Django user
        return None

    def __str__(self) -> str:
        return f"{self.kind} client {self.client_id}"


# --- key sets -----------------------------------------------------------------------------------------


class JwksCache:
    """The signing keys of one issuer, refreshed every JWKS_TTL_SECONDS or when an unknown kid shows up
    (at most once per JWKS_MIN_REFETCH_SECONDS, so a flood of made-up kids cannot hammer the provider)."""

    def __init__(self, *, fetch: Callable[[], dict], ttl: float = JWKS_TTL_SECONDS,
                 min_refetch_interval: float = JWKS_MIN_REFETCH_SECONDS):
        self._fetch = fetch
        self._ttl = ttl
        self._min_refetch = min_refetch_interval
        self._keys: dict[str | None, jwt.PyJWK] | None = None
        self._fetched_at = 0.0
        self._attempted_at = float("-inf")
        self._lock = threading.Lock()
        self.fetch_count = 0

    @staticmethod
    def _parse(document: dict) -> dict[str | None, jwt.PyJWK]:
        keys: dict[str | None, jwt.PyJWK] = {}
        for item in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(item, dict) or item.get("kty") != "RSA" or item.get("use", "sig") != "sig":
                continue
            if item.get("alg", "RS256") != "RS256":
                continue
            try:
                keys[item.get("kid")] = jwt.PyJWK(item, algorithm="RS256")
            except jwt.PyJWTError:
                continue
        return keys

    def _refresh(self, now: float) -> None:
        self._attempted_at = now
        self.fetch_count += 1
        try:
            keys = self._parse(self._fetch())
        except Exception as exc:  # network, JSON, discovery mismatch: keep serving the keys we have
            logger.warning("could not fetch the JWKS: %s", exc.__class__.__name__)
            if self._keys is None:
                raise MachineAuthError("signing keys unavailable") from None
            return
        self._keys = keys
        self._fetched_at = now

    def key_for(self, kid: str | None) -> jwt.PyJWK:
        with self._lock:
            now = time.monotonic()
            if self._keys is None or now - self._fetched_at > self._ttl:
                if self._keys is None or now - self._attempted_at >= self._min_refetch:
                    self._refresh(now)
            keys = self._keys or {}
            key = keys.get(kid) if kid is not None else (next(iter(keys.values())) if len(keys) == 1 else None)
            if key is None and now - self._attempted_at >= self._min_refetch:
                self._refresh(now)  # maybe the provider rotated its keys
                keys = self._keys or {}
                key = keys.get(kid) if kid is not None else None
            if key is None:
                raise MachineAuthError("unknown signing key")
            return key


def _remote_jwks_fetcher(issuer: str) -> Callable[[], dict]:
    def fetch() -> dict:
        discovery = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT_SECONDS)
        discovery.raise_for_status()
        document = discovery.json()
        if document.get("issuer", "").rstrip("/") != issuer:
            raise ValueError("the discovery document names another issuer")
        response = requests.get(document["jwks_uri"], timeout=HTTP_TIMEOUT_SECONDS)
        response.raise_for_status()
        return response.json()

    return fetch


_caches: dict[str, JwksCache] = {}
_caches_lock = threading.Lock()


def _expected_issuer() -> str:
    return settings.OIDC_ISSUER or settings.JWT_LOCAL_ISSUER


def jwks_cache_for_issuer() -> JwksCache:
    issuer = settings.OIDC_ISSUER
    cache_key = f"remote:{issuer}" if issuer else f"local:{settings.JWT_SIGNING_KEY_FILE}"
    with _caches_lock:
        cache = _caches.get(cache_key)
        if cache is None:
            if issuer:
                cache = JwksCache(
                    fetch=_remote_jwks_fetcher(issuer),
                    min_refetch_interval=getattr(settings, "OIDC_JWKS_MIN_REFETCH_SECONDS", JWKS_MIN_REFETCH_SECONDS),
                )
            else:
                # The local key file is read on each refresh; a replaced key file shows up as an unknown kid.
                cache = JwksCache(fetch=local_jwks, min_refetch_interval=1)
            _caches[cache_key] = cache
        return cache


def jwks_caches_clear() -> None:
    with _caches_lock:
        _caches.clear()


# --- verification ---------------------------------------------------------------------------------------


def token_verify(*, token: str) -> dict[str, Any]:
    """The verified claims of an RS256 bearer token from the configured issuer, or MachineAuthError."""
    if not token or not isinstance(token, str):
        raise MachineAuthError("missing token")
    if token.count(".") != 2:
        raise MachineAuthError("malformed token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise MachineAuthError("malformed token") from None
    alg = header.get("alg")
    if alg != "RS256":
        raise MachineAuthError("unsupported algorithm" if str(alg).lower() != "none" else "unsigned token (alg none)")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise MachineAuthError("malformed token")
    key = jwks_cache_for_issuer().key_for(kid)
    try:
        return jwt.decode(
            token,
            key=key.key,
            algorithms=["RS256"],
            audience=settings.OIDC_AUDIENCE,
            issuer=_expected_issuer(),
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise MachineAuthError("token expired") from None
    except jwt.ImmatureSignatureError:
        raise MachineAuthError("token not yet valid") from None
    except jwt.InvalidAudienceError:
        raise MachineAuthError("wrong audience") from None
    except jwt.InvalidIssuerError:
        raise MachineAuthError("wrong issuer") from None
    except jwt.InvalidSignatureError:
        raise MachineAuthError("bad signature") from None
    except jwt.MissingRequiredClaimError as exc:
        raise MachineAuthError(f"missing claim {exc.claim}") from None
    except jwt.PyJWTError:
        raise MachineAuthError("invalid token") from None


def machine_client_lookup(*, client_id: str) -> tuple[RelayClient | ApiClient, Literal["relay", "api"]] | None:
    relay = RelayClient.objects.select_related("organization").filter(client_id=client_id).first()
    if relay is not None:
        return relay, "relay"
    api = ApiClient.objects.select_related("organization").filter(client_id=client_id).first()
    if api is not None:
        return api, "api"
    return None


def machine_client_authenticate(*, token: str) -> MachineIdentity:
    """Verify a bearer token and map its client id claim to an active relay or API client."""
    claims = token_verify(token=token)
    azp, cid = claims.get("azp"), claims.get("client_id")
    if azp and cid and azp != cid:
        raise MachineAuthError("conflicting client id claims")
    client_id = azp or cid
    if not isinstance(client_id, str) or not client_id:
        raise MachineAuthError("no client id claim")
    found = machine_client_lookup(client_id=client_id)
    if found is None:
        raise MachineAuthError("unknown client")
    client, kind = found
    if not client.is_active:
        raise MachineAuthError("inactive client")
    if not settings.OIDC_ISSUER and claims.get("sfp") != secret_fingerprint(secret_hash=client.secret_hash):
        raise MachineAuthError("client secret was rotated")
    now = timezone.now()
    if client.last_seen is None or now - client.last_seen > LAST_SEEN_RESOLUTION:
        type(client).objects.filter(pk=client.pk).update(last_seen=now)
        client.last_seen = now
    return MachineIdentity(client=client, kind=kind, organization_id=client.organization_id,
                           client_id=client.client_id, claims=claims)


def bearer_token_from_header(value: str | bytes | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, '' for a malformed one, None if not Bearer."""
    if not value:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    parts = value.split()
    if not parts or parts[0].lower() != "bearer":
        return None
    return parts[1] if len(parts) == 2 else ""


class BearerMachineAuthentication(authentication.BaseAuthentication):
    """DRF authentication for relays and API clients. `request.user` becomes the MachineIdentity."""

    www_authenticate_realm = "redmist"

    def authenticate(self, request):
        token = bearer_token_from_header(request.META.get("HTTP_AUTHORIZATION"))
        if token is None:
            return None
        try:
            identity = machine_client_authenticate(token=token)
        except MachineAuthError as exc:
            raise exceptions.AuthenticationFailed(f"Invalid bearer token: {exc.reason}.") from None
        return identity, identity

    def authenticate_header(self, request):
        return f'Bearer realm="{self.www_authenticate_realm}"'


# --- the embedded token endpoint's logic ----------------------------------------------------------------

_DUMMY_DIGEST = "sha256$" + "0" * 64


def machine_client_by_credentials(*, client_id: str, client_secret: str):
    """(client, kind) for an active client whose secret matches; MachineAuthError otherwise."""
    from apps.orgs.secrets import secret_matches

    found = machine_client_lookup(client_id=client_id) if client_id else None
    digest = found[0].secret_hash if found else _DUMMY_DIGEST
    matches = secret_matches(secret=client_secret or "", digest=digest)  # same work whether or not the id exists
    if found is None or not matches or not found[0].is_active:
        raise MachineAuthError("invalid client credentials")
    return found


def client_credentials_exchange(*, client_id: str, client_secret: str):
    """Trade a client id and secret for a locally signed token (embedded default only)."""
    from apps.orgs.signing import token_issue

    client, kind = machine_client_by_credentials(client_id=client_id, client_secret=client_secret)
    return token_issue(client_id=client.client_id, kind=kind, secret_hash=client.secret_hash)
