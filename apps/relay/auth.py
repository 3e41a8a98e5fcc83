"""Who is on the other end of a relay socket.

`Authorization: Bearer <JWT>` goes through the machine-token verifier of apps.orgs. `Authorization:
Basic <client_id:secret>` goes through the same credential check as the token endpoint, for relays
that cannot fetch tokens. Either way the result is an active relay client and its organization.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses


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
    from apps.orgs.machine_auth import MachineAuthError, machine_client_authenticate, machine_client_by_credentials

    header = _header(scope, b"authorization")
    if not header:
        raise RelayAuthError("missing Authorization header (Bearer token or Basic client credentials)")
    scheme, _, credentials = header.partition(" ")
    scheme = scheme.lower()
    try:
        if scheme == "bearer":
            identity = machine_client_authenticate(token=credentials.strip())
            client, kind = identity.client, identity.kind
        elif scheme == "basic":
            try:
                client_id, _, secret = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise RelayAuthError("malformed Basic credentials") from None
            client, kind = machine_client_by_credentials(client_id=client_id, client_secret=secret)
        else:
            raise RelayAuthError(f"unsupported authorization scheme {scheme!r}")
    except MachineAuthError as exc:
        raise RelayAuthError(str(exc)) from None
    if kind != "relay":
        raise RelayAuthError("this client is not a relay client")
    return RelayIdentity(client.pk, client.client_id, client.organization_id)
