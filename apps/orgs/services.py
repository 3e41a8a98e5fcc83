"""Writes for organizations, members and machine clients.

Machine clients are created in Keycloak (through its admin REST API) when KEYCLOAK_ADMIN_URL is set, and locally
otherwise; either way a local row maps the client id to its organization and holds only a digest of the secret.
A new or rotated secret is returned to the caller once and never stored or logged.
"""

from __future__ import annotations

import logging
import re
from typing import Literal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.orgs.keycloak import RELAY_ROLE, KeycloakError, keycloak_admin
from apps.orgs.models import ApiClient, Membership, Organization, RelayClient, Role
from apps.orgs.secrets import field_encrypt, secret_generate, secret_hash

logger = logging.getLogger(__name__)

_CLIENT_ID_CLEAN = re.compile(r"[^a-z0-9_-]+")
_DASHES = re.compile(r"-{2,}")

MachineKind = Literal["relay", "api"]
MODELS: dict[str, type[RelayClient] | type[ApiClient]] = {"relay": RelayClient, "api": ApiClient}


def client_id_sanitize(*, raw: str) -> str:
    """The one rule for client ids everywhere (local and Keycloak): lower-case, [a-z0-9_-], single dashes,
    no dash or underscore at either end."""
    cleaned = _DASHES.sub("-", _CLIENT_ID_CLEAN.sub("-", raw.strip().lower())).strip("-_")
    return cleaned[:255]


def machine_client_id_for(*, kind: MachineKind, name: str) -> str:
    """`relay-{name}` / `api-{name}`, sanitized (the name may already carry the prefix)."""
    cleaned = client_id_sanitize(raw=name)
    prefix = f"{kind}-"
    return cleaned if cleaned.startswith(prefix) else client_id_sanitize(raw=prefix + cleaned)


def machine_client_id_exists(*, client_id: str) -> bool:
    if RelayClient.objects.filter(client_id=client_id).exists() or ApiClient.objects.filter(client_id=client_id).exists():
        return True
    admin = keycloak_admin()
    return bool(admin and admin.client_find(client_id=client_id))


@transaction.atomic
def organization_create(*, name: str, short_name: str, creator=None, **fields) -> Organization:
    organization = Organization(name=name, short_name=short_name, **fields)
    organization.full_clean()
    organization.save()
    if creator is not None:
        membership_set(user=creator, organization=organization, role=Role.ADMIN)
    return organization


def organization_provision(
    *, creator, name: str, short_name: str, website: str = "", logo: bytes | None = None,
    kind: MachineKind = "relay", description: str = "",
) -> tuple[Organization, RelayClient | ApiClient, str]:
    """Sign-up: a new organization whose creator is its admin, with its relay (or API) client.

    Returns (organization, client, secret); the secret is shown once.
    """
    with transaction.atomic():
        organization = organization_create(
            name=name, short_name=short_name, creator=creator, website=website, logo=logo or None,
            rmonitor_ip="127.0.0.1" if kind == "relay" else "",
        )
        client, secret = machine_client_create(
            organization=organization, kind=kind, name=short_name,
            description=description or getattr(creator, "email", "") or "",
        )
    return organization, client, secret


def organization_update_settings(*, organization: Organization, **changes) -> Organization:
    """Apply validated settings. `x2_password` / `flagtronics_api_key` are stored encrypted; a `logo` of b""
    clears the logo, None leaves it unchanged."""
    if "x2_password" in changes:
        organization.x2_password_encrypted = field_encrypt(value=changes.pop("x2_password") or "")
    if "flagtronics_api_key" in changes:
        organization.flagtronics_api_key_encrypted = field_encrypt(value=changes.pop("flagtronics_api_key") or "")
    if "logo" in changes:
        logo = changes.pop("logo")
        if logo is not None:
            organization.logo = logo or None
    for attr, value in changes.items():
        setattr(organization, attr, value)
    organization.full_clean()
    organization.save()
    return organization


# --- members ---------------------------------------------------------------------------------------------


def membership_set(*, user, organization: Organization, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        user=user, organization=organization, defaults={"role": role}
    )
    if not user.is_staff:
        # Organizers work in the Django admin; staff status only opens the door, roles decide the rest.
        get_user_model().objects.filter(pk=user.pk).update(is_staff=True)
        user.is_staff = True
    return membership


def _admins_left(*, organization: Organization, excluding_user_ids: set[int]) -> int:
    return (
        Membership.objects.filter(organization=organization, role=Role.ADMIN)
        .exclude(user_id__in=excluding_user_ids)
        .count()
    )


def _users_by_username(*, usernames: list[str], field: str):
    users = get_user_model().objects
    found, missing = [], []
    for username in usernames:
        user = users.filter(username__iexact=username.strip(), is_active=True).first()
        (found.append(user) if user else missing.append(username))
    if missing:
        raise ValidationError({field: f"No such user: {', '.join(sorted(missing))}."})
    return found


@transaction.atomic
def membership_change(*, organization: Organization, username: str, role: str) -> Membership:
    """Add a person to the organization or change their role (by user name). The last admin stays an admin."""
    if role not in Role.values:
        raise ValidationError({"role": f"Role must be one of {', '.join(Role.values)}."})
    (user,) = _users_by_username(usernames=[username], field="username")
    current = Membership.objects.filter(organization=organization, user=user).first()
    if current and current.role == Role.ADMIN and role != Role.ADMIN and not _admins_left(
        organization=organization, excluding_user_ids={user.pk}
    ):
        raise ValidationError({"role": "The organization's last admin cannot be demoted."})
    return membership_set(user=user, organization=organization, role=role)


@transaction.atomic
def membership_remove(*, organization: Organization, username: str) -> None:
    (user,) = _users_by_username(usernames=[username], field="username")
    current = Membership.objects.filter(organization=organization, user=user).first()
    if current is None:
        raise ValidationError({"username": "This user is not a member of the organization."})
    if current.role == Role.ADMIN and not _admins_left(organization=organization, excluding_user_ids={user.pk}):
        raise ValidationError({"username": "The organization's last admin cannot be removed."})
    current.delete()


@transaction.atomic
def organization_admins_replace(*, organization: Organization, usernames: list[str]) -> list[str]:
    """SaveOrganizationAdministrators: exactly these people are admins; other roles are kept, people promoted in
    place, and admins left off the list lose their admin membership."""
    cleaned = [u.strip() for u in usernames if isinstance(u, str) and u.strip()]
    if not cleaned:
        raise ValidationError({"usernames": "At least one administrator is required."})
    users = _users_by_username(usernames=cleaned, field="usernames")
    keep = {user.pk for user in users}
    Membership.objects.filter(organization=organization, role=Role.ADMIN).exclude(user_id__in=keep).delete()
    for user in users:
        membership_set(user=user, organization=organization, role=Role.ADMIN)
    return sorted(user.username for user in users)


# --- machine clients ---------------------------------------------------------------------------------------


def machine_client_create(
    *, organization: Organization, kind: MachineKind, name: str | None = None, description: str = "",
) -> tuple[RelayClient | ApiClient, str]:
    """Create a relay or API client (in Keycloak when configured). Returns (client, secret), secret shown once."""
    if kind not in MODELS:
        raise ValidationError({"kind": "Kind must be relay or api."})
    client_id = machine_client_id_for(kind=kind, name=name or organization.short_name)
    if not client_id or client_id == f"{kind}":
        raise ValidationError({"name": "The name must contain letters or digits."})
    if RelayClient.objects.filter(client_id=client_id).exists() or ApiClient.objects.filter(client_id=client_id).exists():
        raise ValidationError({"clientId": "Client id already exists."})
    admin = keycloak_admin()
    internal_id = None
    if admin is None:
        secret = secret_generate()
    else:
        if admin.client_find(client_id=client_id):
            raise ValidationError({"clientId": "Client id already exists."})
        internal_id = admin.client_create(client_id=client_id, description=description[:255])
        try:
            if kind == "relay":
                admin.client_grant_realm_role(internal_id=internal_id, role_name=RELAY_ROLE)
            secret = admin.client_secret_get(internal_id=internal_id)
        except KeycloakError:
            admin.client_delete(internal_id=internal_id)
            raise
    client = MODELS[kind](
        organization=organization, client_id=client_id, description=description[:255],
        secret_hash=secret_hash(secret=secret),
    )
    try:
        client.full_clean()
        client.save()
    except Exception:
        if admin is not None and internal_id:
            admin.client_delete(internal_id=internal_id)
        raise
    logger.info("created %s client %s for organization %s", kind, client_id, organization.pk)
    return client, secret


def relay_client_create(*, organization: Organization, client_id: str | None = None, description: str = ""):
    """Returns (client, secret). The secret is shown to the caller once and never stored."""
    return machine_client_create(organization=organization, kind="relay", name=client_id, description=description)


def api_client_create(*, organization: Organization, client_id: str | None = None, description: str = ""):
    return machine_client_create(organization=organization, kind="api", name=client_id, description=description)


def machine_client_rotate_secret(*, client: RelayClient | ApiClient) -> str:
    """A new secret (in Keycloak when configured); the old one and tokens issued under it stop working at once."""
    admin = keycloak_admin()
    if admin is None:
        secret = secret_generate()
    else:
        found = admin.client_find(client_id=client.client_id)
        if not found:
            raise ValidationError({"clientId": "The client does not exist in Keycloak."})
        secret = admin.client_secret_regenerate(internal_id=found["id"])
    client.secret_hash = secret_hash(secret=secret)
    client.save(update_fields=["secret_hash"])
    logger.info("rotated the secret of client %s", client.client_id)
    return secret


def machine_client_delete(*, client: RelayClient | ApiClient) -> None:
    """Revoke: the client and its tokens stop working at once (authentication looks the client up every time)."""
    admin = keycloak_admin()
    if admin is not None:
        found = admin.client_find(client_id=client.client_id)
        if found:
            admin.client_delete(internal_id=found["id"])
    client.delete()
    logger.info("deleted client %s", client.client_id)


# --- accounts ------------------------------------------------------------------------------------------------


def account_delete(*, user) -> list[int]:
    """Delete a person's account. Organizations left without members are removed (marked deleted), their events
    soft-deleted and their machine clients deleted (in Keycloak too). Returns the removed organizations' ids."""
    from apps.events.models import Event

    removed: list[int] = []
    with transaction.atomic():
        org_ids = list(Membership.objects.filter(user=user).values_list("organization_id", flat=True))
        Membership.objects.filter(user=user).delete()
        for organization in Organization.objects.filter(id__in=org_ids, is_deleted=False):
            if Membership.objects.filter(organization=organization).exists():
                continue
            Event.objects.filter(organization=organization).update(is_deleted=True, is_active=False)
            for model in (RelayClient, ApiClient):
                for client in model.objects.filter(organization=organization):
                    machine_client_delete(client=client)
            organization.is_deleted = True
            organization.save(update_fields=["is_deleted"])
            removed.append(organization.pk)
        username = user.get_username()
        user.delete()
    admin = keycloak_admin()
    if admin is not None:
        admin.user_delete_by_username(username=username)
    return removed


# --- control-log source test ("test this source") --------------------------------------------------------

GOOGLE_SHEETS_CSV_URL = "https://docs.google.com/spreadsheets/d/{spreadsheet}/gviz/tq?tqx=out:csv&sheet={worksheet}"
SHEET_TYPES = ("WRL Google Sheet", "ChampCar Google Sheet")


def control_log_params_validate(*, control_log_type: str, params: str) -> None:
    if control_log_type in SHEET_TYPES:
        parts = params.split(";")
        if len(parts) != 2 or not all(p.strip() for p in parts):
            raise ValidationError({"control_log_params": "Use \"{spreadsheet id};{worksheet name}\"."})


def control_log_source_test(*, organization: Organization, control_log_type: str, params: str) -> dict:
    """Try the control-log source once: {is_connected, total_entries, is_stale_warning}. Never raises for an
    unreachable source; a malformed configuration is a ValidationError naming the field."""
    import csv
    import io

    import requests
    from django.conf import settings

    from apps.controllog.models import ControlLogEntry

    control_log_params_validate(control_log_type=control_log_type, params=params)
    result = {"is_connected": False, "total_entries": 0, "is_stale_warning": False}
    if control_log_type == "Announcement":
        active = organization.events.filter(is_deleted=False, is_active=True).first()
        result["is_connected"] = True
        result["total_entries"] = ControlLogEntry.objects.filter(event=active).count() if active else 0
    elif control_log_type in SHEET_TYPES:
        spreadsheet, worksheet = (p.strip() for p in params.split(";"))
        template = getattr(settings, "GOOGLE_SHEETS_CSV_URL", GOOGLE_SHEETS_CSV_URL)
        url = template.format(spreadsheet=requests.utils.quote(spreadsheet, safe=""),
                              worksheet=requests.utils.quote(worksheet, safe=""))
        try:
            response = requests.get(url, timeout=10)
        except requests.RequestException:
            return result
        if response.status_code == 200:
            rows = [row for row in csv.reader(io.StringIO(response.text)) if any(cell.strip() for cell in row)]
            result["is_connected"] = True
            result["total_entries"] = max(len(rows) - 1, 0)  # the first row is the header
    return result
