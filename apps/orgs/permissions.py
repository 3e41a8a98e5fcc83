"""Org scoping in one place: who (a person or a machine client) may do what in which organization.

REST views, sockets, the admin and tasks all ask here (the admin through `apps.orgs.selectors`, which this builds
on). A *principal* is a Django user or a `MachineIdentity` (a relay or API client holding a verified bearer token).

Capabilities by role:

=============  ======  ======  =====  =========================
capability     viewer  editor  admin  relay / API client (own org)
=============  ======  ======  =====  =========================
read           yes     yes     yes    yes
edit_events    –       yes     yes    yes
manage_org     –       –       yes    yes (the relay edits its org's connection settings, as in the reference)
manage_people  –       –       yes    –   (members, admins and machine credentials are for people only)
=============  ======  ======  =====  =========================

Superusers may do everything everywhere. Nothing in another organization is ever visible: lookups scoped here
answer "not found" rather than "forbidden", so ids of other organizations' rows leak nothing.
"""

from __future__ import annotations

from enum import StrEnum

from rest_framework import exceptions, permissions

from apps.orgs.machine_auth import MachineIdentity
from apps.orgs.models import Organization, Role
from apps.orgs.selectors import organization_ids_for_user


class Capability(StrEnum):
    READ = "read"
    EDIT_EVENTS = "edit_events"
    MANAGE_ORG = "manage_org"
    MANAGE_PEOPLE = "manage_people"


ROLES_WITH: dict[Capability, tuple[str, ...]] = {
    Capability.READ: (Role.ADMIN, Role.EDITOR, Role.VIEWER),
    Capability.EDIT_EVENTS: (Role.ADMIN, Role.EDITOR),
    Capability.MANAGE_ORG: (Role.ADMIN,),
    Capability.MANAGE_PEOPLE: (Role.ADMIN,),
}
MACHINE_CAPABILITIES = frozenset({Capability.READ, Capability.EDIT_EVENTS, Capability.MANAGE_ORG})


def principal_is_machine(principal) -> bool:
    return isinstance(principal, MachineIdentity)


def principal_is_person(principal) -> bool:
    return (
        principal is not None
        and not principal_is_machine(principal)
        and getattr(principal, "is_authenticated", False)
        and getattr(principal, "is_active", False)
    )


def principal_is_superuser(principal) -> bool:
    return principal_is_person(principal) and bool(principal.is_superuser)


def organization_ids_for_principal(*, principal, capability: Capability) -> set[int] | None:
    """The organizations the principal may act in with this capability; None means all (superuser)."""
    if principal_is_machine(principal):
        return {principal.organization_id} if capability in MACHINE_CAPABILITIES else set()
    if not principal_is_person(principal):
        return set()
    if principal.is_superuser:
        return None
    return organization_ids_for_user(user=principal, roles=ROLES_WITH[capability])


def principal_can(*, principal, organization_id: int, capability: Capability) -> bool:
    org_ids = organization_ids_for_principal(principal=principal, capability=capability)
    return org_ids is None or organization_id in org_ids


def organizations_for_principal(*, principal, capability: Capability = Capability.READ):
    org_ids = organization_ids_for_principal(principal=principal, capability=capability)
    queryset = Organization.objects.filter(is_deleted=False)
    return queryset if org_ids is None else queryset.filter(id__in=org_ids)


def organization_for_principal(*, principal, capability: Capability, organization_id: int | None = None) -> Organization:
    """The one organization a request acts in.

    A machine client always acts in its own organization (an `organizationId` naming another one is 404). A person
    names it with `organizationId`, or may leave it out when they belong to exactly one organization.
    Raises NotFound (no such organization visible to the principal), PermissionDenied (visible but the capability
    is missing) or ValidationError naming `organizationId`.
    """
    if principal_is_machine(principal):
        if organization_id is not None and organization_id != principal.organization_id:
            raise exceptions.NotFound({"organizationId": "No such organization."})
        organization_id = principal.organization_id
    visible = organizations_for_principal(principal=principal, capability=Capability.READ)
    if organization_id is None:
        candidates = list(visible[:2])
        if len(candidates) != 1:
            raise exceptions.ValidationError(
                {"organizationId": "Name the organization (you belong to several, or to none)."}
            )
        organization = candidates[0]
    else:
        organization = visible.filter(id=organization_id).first()
        if organization is None:
            raise exceptions.NotFound({"organizationId": "No such organization."})
    if not principal_can(principal=principal, organization_id=organization.id, capability=capability):
        raise exceptions.PermissionDenied("Your role in this organization does not allow this.")
    return organization


def event_for_principal(*, principal, event_id: int, capability: Capability):
    """A non-deleted event the principal may see (else NotFound) and act on with `capability` (else 403)."""
    from apps.events.models import Event

    org_ids = organization_ids_for_principal(principal=principal, capability=Capability.READ)
    queryset = Event.objects.visible().select_related("organization").filter(organization__is_deleted=False)
    if org_ids is not None:
        queryset = queryset.filter(organization_id__in=org_ids)
    event = queryset.filter(pk=event_id).first()
    if event is None:
        raise exceptions.NotFound({"eventId": "No such event."})
    if not principal_can(principal=principal, organization_id=event.organization_id, capability=capability):
        raise exceptions.PermissionDenied("Your role in this organization does not allow this.")
    return event


# --- DRF permission classes --------------------------------------------------------------------------------


class IsPrincipal(permissions.BasePermission):
    """A signed-in person or an authenticated machine client (the org check happens when the view scopes)."""

    message = "Authentication credentials were not provided."

    def has_permission(self, request, view):
        return principal_is_machine(request.user) or principal_is_person(request.user)


class IsPerson(permissions.BasePermission):
    """People only: membership, credential and account management are never done with a machine token."""

    message = "This action is for signed-in people, not machine clients."

    def has_permission(self, request, view):
        if principal_is_machine(request.user):
            return False
        return principal_is_person(request.user)


class HasCapabilitySomewhere(permissions.BasePermission):
    """The principal holds the view's `capability` in at least one organization (fast 403 for viewers)."""

    def has_permission(self, request, view):
        capability = getattr(view, "capability", Capability.READ)
        org_ids = organization_ids_for_principal(principal=request.user, capability=capability)
        return org_ids is None or bool(org_ids)
