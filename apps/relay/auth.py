"""Who is on the other end of a relay socket.

`Authorization: Bearer <JWT>` goes through the machine-token verifier of apps.orgs. `Authorization:
Basic <client_id:secret>` checks the relay client's hashed secret directly, for relays that cannot
fetch tokens. Either way the result is an active relay client and its organization.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses

from apps.orgs.models import RelayClient
from apps.orgs.secrets import secret_matches


class RelayAuthError(Exception):
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class RelayIdentity:
    client_pk: int
    client_id: str
    organization_id: int


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def relay_authenticate(*, scope: dict) -> RelayIdentity:
    """Synchronous (touches the database); call it through database_sync_to_async."""
    header = _header(scope, b"authorization")
    if not header:
        raise RelayAuthError("missing Authorization header (Bearer token or Basic client credentials)")
    scheme, _, credentials = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        from apps.orgs.machine_auth import MachineAuthError, machine_client_authenticate

        try:
            identity = machine_client_authenticate(token=credentials.strip())
        except MachineAuthError as exc:
            raise RelayAuthError(str(exc)) from None
        if identity.kind != "relay":
            raise RelayAuthError("this client is not a relay client")
        return RelayIdentity(identity.client.pk, identity.client_id, identity.organization_id)
    if scheme == "basic":
        try:
            client_id, _, secret = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise RelayAuthError("malformed Basic credentials") from None
        client = RelayClient.objects.filter(client_id=client_id).first()
        if client is None or not secret_matches(secret=secret, digest=client.secret_hash):
            raise RelayAuthError("unknown client or wrong secret")
        if not client.is_active:
            raise RelayAuthError("this relay client is disabled")
        return RelayIdentity(client.pk, client.client_id, client.organization_id)
    raise RelayAuthError(f"unsupported authorization scheme {scheme!r}")
