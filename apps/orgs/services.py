"""Writes for organizations, members and machine clients."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.db import transaction

from apps.orgs.models import ApiClient, Membership, Organization, RelayClient, Role
from apps.orgs.secrets import secret_generate, secret_hash

_CLIENT_ID_CLEAN = re.compile(r"[^a-z0-9_-]+")


def client_id_sanitize(*, raw: str) -> str:
    """The one rule for client ids everywhere (local and Keycloak): lower-case, [a-z0-9_-], no edge dashes."""
    cleaned = _CLIENT_ID_CLEAN.sub("-", raw.strip().lower()).strip("-_")
    return cleaned[:255]


@transaction.atomic
def organization_create(*, name: str, short_name: str, creator=None, **fields) -> Organization:
    organization = Organization(name=name, short_name=short_name, **fields)
    organization.full_clean()
    organization.save()
    if creator is not None:
        membership_set(user=creator, organization=organization, role=Role.ADMIN)
    return organization


def membership_set(*, user, organization: Organization, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        user=user, organization=organization, defaults={"role": role}
    )
    if not user.is_staff:
        # Organizers work in the Django admin; staff status only opens the door, roles decide the rest.
        get_user_model().objects.filter(pk=user.pk).update(is_staff=True)
        user.is_staff = True
    return membership


def _machine_client_create(model, *, organization: Organization, client_id: str, description: str = ""):
    secret = secret_generate()
    client = model(
        organization=organization,
        client_id=client_id_sanitize(raw=client_id),
        description=description,
        secret_hash=secret_hash(secret=secret),
    )
    client.full_clean()
    client.save()
    return client, secret


def relay_client_create(*, organization: Organization, client_id: str | None = None, description: str = ""):
    """Returns (client, secret). The secret is shown to the caller once and never stored."""
    return _machine_client_create(
        RelayClient,
        organization=organization,
        client_id=client_id or f"relay-{organization.short_name}",
        description=description,
    )


def api_client_create(*, organization: Organization, client_id: str | None = None, description: str = ""):
    return _machine_client_create(
        ApiClient,
        organization=organization,
        client_id=client_id or f"api-{organization.short_name}",
        description=description,
    )


def machine_client_rotate_secret(*, client: RelayClient | ApiClient) -> str:
    secret = secret_generate()
    client.secret_hash = secret_hash(secret=secret)
    client.save(update_fields=["secret_hash"])
    return secret
