"""Which organizations a person may act for. Every org-scoped path (admin, REST, sockets, tasks) asks here."""

from __future__ import annotations

from collections.abc import Iterable

from apps.orgs.models import Membership, Organization, Role

WRITE_ROLES = (Role.ADMIN, Role.EDITOR)
ALL_ROLES = (Role.ADMIN, Role.EDITOR, Role.VIEWER)


def organization_ids_for_user(*, user, roles: Iterable[str] = ALL_ROLES) -> set[int]:
    if user is None or not user.is_authenticated or not user.is_active:
        return set()
    return set(
        Membership.objects.filter(user=user, role__in=list(roles), organization__is_deleted=False).values_list(
            "organization_id", flat=True
        )
    )


def organization_list_for_user(*, user, roles: Iterable[str] = ALL_ROLES):
    if user is not None and user.is_active and user.is_superuser:
        return Organization.objects.filter(is_deleted=False)
    return Organization.objects.filter(id__in=organization_ids_for_user(user=user, roles=roles))


def user_role_in_organization(*, user, organization_id: int) -> str | None:
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    return (
        Membership.objects.filter(user=user, organization_id=organization_id).values_list("role", flat=True).first()
    )
