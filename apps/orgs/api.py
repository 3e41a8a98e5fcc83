"""Organization endpoints of the management API.

Event Management (`/event-management/[v1/]Organization/{action}`, §8.2): for relays, API clients and people.
User Management (`/user-management/[v1/]Organization/{action}`, §9): people only (browser session + CSRF).
See docs/api-management.md for every path.
"""

from __future__ import annotations

import base64
import binascii

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from apps.orgs import services, wire
from apps.orgs.api_base import ManagementView
from apps.orgs.models import ApiClient, ControlLogType, Membership, Organization, RelayClient, Role
from apps.orgs.permissions import (
    Capability,
    IsPerson,
    organization_for_principal,
    organizations_for_principal,
    principal_can,
)
from apps.orgs.secrets import field_decrypt

CONTROL_LOG_WIRE = {
    "": ControlLogType.NONE,
    "None": ControlLogType.NONE,
    "Default": ControlLogType.NONE,
    "WrlGoogleSheet": ControlLogType.GOOGLE_SHEETS,
    "ChampCarGoogleSheet": ControlLogType.GOOGLE_SHEETS_CHAMPCAR,
    "Announcement": ControlLogType.ANNOUNCEMENT,
}
CONTROL_LOG_OUT = {ControlLogType.NONE: "", ControlLogType.GOOGLE_SHEETS: "WrlGoogleSheet",
                   ControlLogType.GOOGLE_SHEETS_CHAMPCAR: "ChampCarGoogleSheet",
                   ControlLogType.ANNOUNCEMENT: "Announcement"}
ORG_WIRE_NAMES = {
    "website": "website", "logo": "logo", "control_log_type": "controlLogType",
    "control_log_params": "controlLogParams", "rmonitor_ip": "rMonitorIp", "rmonitor_port": "rMonitorPort",
    "multiloop_ip": "multiloopIp", "multiloop_port": "multiloopPort", "orbits_logs_path": "orbitsLogsPath",
    "flagtronics_url": "flagtronicsUrl", "classes": "classes", "x2_server": "x2.server",
    "x2_username": "x2.username", "name": "name", "short_name": "shortName",
}


def _bytes(value) -> bytes | None:
    return bytes(value) if value is not None else None


def organization_wire(*, organization: Organization, principal) -> wire.Keyed:
    """Organization (§11.6). X2 password and Flagtronics key only for those who may change them."""
    show_secrets = principal_can(principal=principal, organization_id=organization.id, capability=Capability.MANAGE_ORG)
    relay = RelayClient.objects.filter(organization=organization).order_by("id").first()
    api = ApiClient.objects.filter(organization=organization).order_by("id").first()
    return wire.ORGANIZATION.out({
        "id": organization.id,
        "clientId": (relay or api).client_id if (relay or api) else "",
        "name": organization.name,
        "shortName": organization.short_name,
        "website": organization.website,
        "logo": _bytes(organization.logo),
        "controlLogType": CONTROL_LOG_OUT.get(organization.control_log_type, organization.control_log_type),
        "controlLogParams": organization.control_log_params,
        "x2": {
            "username": organization.x2_username,
            "password": field_decrypt(token=organization.x2_password_encrypted) if show_secrets else None,
            "server": organization.x2_server,
        },
        "rMonitorIp": organization.rmonitor_ip,
        "rMonitorPort": organization.rmonitor_port,
        "multiloopIp": organization.multiloop_ip,
        "multiloopPort": organization.multiloop_port,
        "orbitsLogsPath": organization.orbits_logs_path,
        "flagtronicsUrl": organization.flagtronics_url,
        "flagtronicsApiKey": field_decrypt(token=organization.flagtronics_api_key_encrypted) if show_secrets else None,
        "classes": [{"name": c.get("name"), "order": c.get("order", 0), "colorHex": c.get("color", "")}
                    for c in organization.classes or []],
        "showMultiloopConnection": organization.show_multiloop_connection,
        "showOrbitsLogsConnection": organization.show_orbits_logs_connection,
        "showControlLogConnection": organization.show_control_log_connection,
        "showX2Connection": organization.show_x2_connection,
        "showFlagtronicsConnection": organization.show_flagtronics_connection,
        "relayVersion": organization.relay_version,
        "relayLastConnected": organization.relay_last_connected,
    })


class LogoField(serializers.Field):
    """bytes: MessagePack bin, or base64 text in JSON. Empty clears the logo, null leaves it."""

    def to_internal_value(self, data):
        if isinstance(data, (bytes, bytearray)):
            raw = bytes(data)
        elif isinstance(data, str):
            try:
                raw = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise serializers.ValidationError("Must be base64-encoded image bytes.") from None
        else:
            raise serializers.ValidationError("Must be image bytes.")
        if len(raw) > 2 * 1024 * 1024:
            raise serializers.ValidationError("The logo may be at most 2 MiB.")
        return raw

    def to_representation(self, value):
        return value


class X2Serializer(serializers.Serializer):
    username = serializers.CharField(max_length=255, allow_blank=True, allow_null=True, required=False)
    password = serializers.CharField(max_length=255, allow_blank=True, allow_null=True, required=False,
                                     trim_whitespace=False)
    server = serializers.CharField(max_length=255, allow_blank=True, allow_null=True, required=False)


class ClassSerializer(serializers.Serializer):
    name = serializers.CharField(min_length=1, max_length=40)
    order = serializers.IntegerField(required=False, default=0)
    colorHex = serializers.RegexField(r"^(#[0-9A-Fa-f]{6})?$", required=False, allow_blank=True, allow_null=True,
                                      error_messages={"invalid": "Must look like #1A2B3C."})


def _text(max_length: int) -> serializers.CharField:
    return serializers.CharField(max_length=max_length, allow_blank=True, allow_null=True, required=False)


class OrganizationSettingsSerializer(serializers.Serializer):
    website = serializers.URLField(max_length=1024, allow_blank=True, allow_null=True, required=False)
    logo = LogoField(allow_null=True, required=False)
    controlLogType = serializers.ChoiceField(choices=list(CONTROL_LOG_WIRE), allow_null=True, required=False)
    controlLogParams = _text(512)
    x2 = X2Serializer(allow_null=True, required=False)
    rMonitorIp = _text(40)
    rMonitorPort = serializers.IntegerField(min_value=0, max_value=65535, required=False, allow_null=True)
    multiloopIp = _text(40)
    multiloopPort = serializers.IntegerField(min_value=0, max_value=65535, required=False, allow_null=True)
    orbitsLogsPath = _text(512)
    flagtronicsUrl = _text(512)
    flagtronicsApiKey = serializers.CharField(max_length=42, allow_blank=True, allow_null=True, required=False)
    classes = ClassSerializer(many=True, required=False, allow_null=True)
    showMultiloopConnection = serializers.BooleanField(required=False, allow_null=True)
    showOrbitsLogsConnection = serializers.BooleanField(required=False, allow_null=True)
    showControlLogConnection = serializers.BooleanField(required=False, allow_null=True)
    showX2Connection = serializers.BooleanField(required=False, allow_null=True)
    showFlagtronicsConnection = serializers.BooleanField(required=False, allow_null=True)

    FIELD_MAP = {
        "website": "website", "controlLogParams": "control_log_params", "rMonitorIp": "rmonitor_ip",
        "rMonitorPort": "rmonitor_port", "multiloopIp": "multiloop_ip", "multiloopPort": "multiloop_port",
        "orbitsLogsPath": "orbits_logs_path", "flagtronicsUrl": "flagtronics_url",
        "showMultiloopConnection": "show_multiloop_connection", "showOrbitsLogsConnection": "show_orbits_logs_connection",
        "showControlLogConnection": "show_control_log_connection", "showX2Connection": "show_x2_connection",
        "showFlagtronicsConnection": "show_flagtronics_connection",
    }

    def changes(self) -> dict:
        """Model-level changes: fields sent as null (or left out) stay as they are."""
        data = self.validated_data
        changes = {model: data[name] for name, model in self.FIELD_MAP.items() if data.get(name) is not None}
        if data.get("controlLogType") is not None:
            changes["control_log_type"] = CONTROL_LOG_WIRE[data["controlLogType"]]
        if "logo" in data:
            changes["logo"] = data["logo"]
        if data.get("x2") is not None:
            for part in ("username", "server"):
                if data["x2"].get(part) is not None:
                    changes[f"x2_{part}"] = data["x2"][part]
            if data["x2"].get("password") is not None:
                changes["x2_password"] = data["x2"]["password"]
        if data.get("flagtronicsApiKey") is not None:
            changes["flagtronics_api_key"] = data["flagtronicsApiKey"]
        if data.get("classes") is not None:
            changes["classes"] = [{"name": c["name"], "order": c.get("order") or 0, "color": c.get("colorHex") or ""}
                                  for c in data["classes"]]
        return changes


def _settings_from_request(request) -> OrganizationSettingsSerializer:
    serializer = OrganizationSettingsSerializer(data=wire.ORGANIZATION.into(request.data))
    serializer.is_valid(raise_exception=True)
    return serializer


def _org_id_from_body(request) -> int | None:
    data = request.data
    raw = data.get("id") if isinstance(data, dict) else (data[0] if isinstance(data, list) and data else None)
    if raw in (None, 0, ""):
        return None
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise exceptions.ValidationError({"id": "Must be a whole number."})
    return raw


# --- Event Management: Organization controller (§8.2) ---------------------------------------------------------


class LoadOrganization(ManagementView):
    def get(self, request):
        organization = organization_for_principal(principal=request.user, capability=Capability.READ,
                                                  organization_id=self.query_int("organizationId", required=False))
        return Response(organization_wire(organization=organization, principal=request.user))


class UpdateOrganization(ManagementView):
    capability = Capability.MANAGE_ORG
    wire_names = ORG_WIRE_NAMES

    def post(self, request):
        organization = organization_for_principal(principal=request.user, capability=self.capability,
                                                  organization_id=_org_id_from_body(request))
        changes = _settings_from_request(request).changes()
        services.control_log_params_validate(
            control_log_type=changes.get("control_log_type", organization.control_log_type),
            params=changes.get("control_log_params", organization.control_log_params),
        )
        services.organization_update_settings(organization=organization, **changes)
        return Response(status=200)


class GetControlLogStatistics(ManagementView):
    """"Test this source": tries the control-log type and parameters in the body without saving them."""

    capability = Capability.EDIT_EVENTS
    wire_names = ORG_WIRE_NAMES

    def post(self, request):
        organization = organization_for_principal(principal=request.user, capability=self.capability,
                                                  organization_id=_org_id_from_body(request))
        changes = _settings_from_request(request).changes()
        stats = services.control_log_source_test(
            organization=organization,
            control_log_type=changes.get("control_log_type", organization.control_log_type),
            params=changes.get("control_log_params", organization.control_log_params),
        )
        return Response(wire.CONTROL_LOG_STATISTICS.out({
            "isConnected": stats["is_connected"], "totalEntries": stats["total_entries"],
            "isStaleWarning": stats["is_stale_warning"],
        }))


class LoadOrganizationAdministrators(ManagementView):
    def get(self, request):
        organization = organization_for_principal(principal=request.user, capability=Capability.READ,
                                                  organization_id=self.query_int("organizationId", required=False))
        names = Membership.objects.filter(organization=organization, role=Role.ADMIN).values_list(
            "user__username", flat=True)
        return Response(sorted(names))


class SaveOrganizationAdministrators(ManagementView):
    """People only (admins): a machine token must not be able to hand out admin rights."""

    capability = Capability.MANAGE_PEOPLE
    permission_classes = [IsPerson] + ManagementView.permission_classes

    def post(self, request):
        organization = organization_for_principal(principal=request.user, capability=self.capability,
                                                  organization_id=self.query_int("organizationId", required=False))
        if not isinstance(request.data, list):
            raise exceptions.ValidationError({"usernames": "Expected a list of user names."})
        return Response(services.organization_admins_replace(organization=organization, usernames=request.data))


# --- User Management: Organization controller (§9), people only ------------------------------------------------


class PersonView(ManagementView):
    """Bearer first so anonymous callers get 401 with a challenge; a machine token then gets 403 from IsPerson."""

    permission_classes = [IsPerson]


def _organization_dto(organization: Organization) -> dict:
    client = (RelayClient.objects.filter(organization=organization).order_by("id").first()
              or ApiClient.objects.filter(organization=organization).order_by("id").first())
    return {"id": organization.id, "name": organization.name, "shortName": organization.short_name,
            "website": organization.website, "logo": _bytes(organization.logo),
            "clientId": client.client_id if client else ""}


class OrganizationDtoSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    shortName = serializers.RegexField(r"^[A-Za-z0-9_-]{3,8}$", error_messages={
        "invalid": "3 to 8 letters, digits, '-' or '_'."})
    website = serializers.URLField(max_length=1024, required=False, allow_blank=True, allow_null=True)
    logo = LogoField(required=False, allow_null=True)


def _dto_from_request(request) -> dict:
    data = request.data
    if isinstance(data, list):  # contractless MessagePack would send a map; accept a positional array too
        data = dict(zip(("id", "name", "shortName", "website", "logo", "clientId"), data))
    serializer = OrganizationDtoSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _with_field_errors(callable_, *args, **kwargs):
    try:
        return callable_(*args, **kwargs)
    except DjangoValidationError as exc:
        if hasattr(exc, "error_dict"):
            raise exceptions.ValidationError(
                {ORG_WIRE_NAMES.get(k, k): v for k, v in exc.message_dict.items()}) from None
        raise


class LoadUserOrganization(PersonView):
    def get(self, request):
        organization = organizations_for_principal(principal=request.user).order_by("id").first()
        if organization is None:
            raise exceptions.NotFound("You do not belong to an organization.")
        return Response(_organization_dto(organization))


class LoadUserOrganizationRoles(PersonView):
    def get(self, request):
        rows = Membership.objects.filter(user=request.user, organization__is_deleted=False).order_by("organization_id")
        return Response([{"organizationId": m.organization_id, "role": m.role} for m in rows])


class _NameExists(PersonView):
    kind = "relay"

    def get(self, request):
        name = self.query("name")
        if not name or not services.client_id_sanitize(raw=name):
            raise exceptions.ValidationError({"name": "This query parameter is required."})
        client_id = services.machine_client_id_for(kind=self.kind, name=name)
        return Response(services.machine_client_id_exists(client_id=client_id))


class RelayClientNameExists(_NameExists):
    kind = "relay"


class ApiClientNameExists(_NameExists):
    kind = "api"


class _SaveNew(PersonView):
    kind = "relay"

    def post(self, request):
        data = _dto_from_request(request)
        client_id = services.machine_client_id_for(kind=self.kind, name=data["shortName"])
        if Organization.objects.filter(short_name__iexact=data["shortName"]).exists():
            raise exceptions.ValidationError({"shortName": "This short name is taken."})
        if services.machine_client_id_exists(client_id=client_id):
            raise exceptions.ValidationError({"shortName": f"The client id {client_id} is taken."})
        organization, client, secret = _with_field_errors(
            services.organization_provision, creator=request.user, name=data["name"], short_name=data["shortName"],
            website=data.get("website") or "", logo=data.get("logo"), kind=self.kind,
        )
        # The contract answers with the new id; the secret is shown here once (the reference e-mails it).
        return Response({"id": organization.id, "clientId": client.client_id, "clientSecret": secret}, status=200)


class SaveNewOrganization(_SaveNew):
    kind = "relay"


class SaveNewApiUser(_SaveNew):
    kind = "api"


class UpdateUserOrganization(PersonView):
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        raw_id = data.get("id")
        if not isinstance(raw_id, int) or isinstance(raw_id, bool):
            raise exceptions.ValidationError({"id": "The organization id is required."})
        organization = organization_for_principal(principal=request.user, capability=Capability.MANAGE_ORG,
                                                  organization_id=raw_id)
        serializer = OrganizationDtoSerializer(data={**data, "shortName": organization.short_name})
        serializer.is_valid(raise_exception=True)
        changes = {"name": serializer.validated_data["name"]}
        if serializer.validated_data.get("website") is not None:
            changes["website"] = serializer.validated_data["website"]
        if "logo" in serializer.validated_data:
            changes["logo"] = serializer.validated_data["logo"]
        _with_field_errors(services.organization_update_settings, organization=organization, **changes)
        return Response(status=200)


def _client_row(client, kind: str) -> dict:
    return {"clientId": client.client_id, "kind": kind, "description": client.description,
            "isActive": client.is_active, "lastSeen": client.last_seen, "created": client.created}


class LoadRelayConnection(PersonView):
    """{orgId, clientId, clientSecret}: the secret is never stored, so it is always null here (see
    RotateClientSecret)."""

    def get(self, request):
        organization = organization_for_principal(principal=request.user, capability=Capability.MANAGE_PEOPLE,
                                                  organization_id=self.query_int("organizationId", required=False))
        client = RelayClient.objects.filter(organization=organization).order_by("id").first()
        return Response({"orgId": organization.id, "clientId": client.client_id if client else None,
                         "clientSecret": None})


class LoadMembers(PersonView):
    def get(self, request):
        organization = organization_for_principal(principal=request.user, capability=Capability.READ,
                                                  organization_id=self.query_int("organizationId", required=False))
        rows = Membership.objects.filter(organization=organization).select_related("user").order_by("user__username")
        return Response([{"username": m.user.username, "email": m.user.email, "role": m.role} for m in rows])


class MemberSerializer(serializers.Serializer):
    organizationId = serializers.IntegerField(required=False)
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.values, required=False)


class SaveMember(PersonView):
    capability = Capability.MANAGE_PEOPLE

    def post(self, request):
        serializer = MemberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "role" not in data:
            raise exceptions.ValidationError({"role": "This field is required."})
        organization = organization_for_principal(principal=request.user, capability=self.capability,
                                                  organization_id=data.get("organizationId"))
        _with_field_errors(services.membership_change, organization=organization, username=data["username"],
                           role=data["role"])
        return Response(status=200)


class RemoveMember(PersonView):
    capability = Capability.MANAGE_PEOPLE

    def post(self, request):
        serializer = MemberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = organization_for_principal(principal=request.user, capability=self.capability,
                                                  organization_id=data.get("organizationId"))
        _with_field_errors(services.membership_remove, organization=organization, username=data["username"])
        return Response(status=200)


class LoadClients(PersonView):
    def get(self, request):
        organization = organization_for_principal(principal=request.user, capability=Capability.MANAGE_PEOPLE,
                                                  organization_id=self.query_int("organizationId", required=False))
        rows = [_client_row(c, "relay") for c in RelayClient.objects.filter(organization=organization)]
        rows += [_client_row(c, "api") for c in ApiClient.objects.filter(organization=organization)]
        return Response(rows)


class ClientSerializer(serializers.Serializer):
    organizationId = serializers.IntegerField(required=False)
    kind = serializers.ChoiceField(choices=["relay", "api"], required=False)
    name = serializers.CharField(max_length=200, required=False)
    clientId = serializers.CharField(max_length=255, required=False)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)


def _client_in_org(*, organization: Organization, client_id: str | None):
    if not client_id:
        raise exceptions.ValidationError({"clientId": "This field is required."})
    for model in (RelayClient, ApiClient):
        client = model.objects.filter(organization=organization, client_id=client_id).first()
        if client is not None:
            return client
    raise exceptions.NotFound({"clientId": "No such client in this organization."})


class CreateClient(PersonView):
    capability = Capability.MANAGE_PEOPLE

    def post(self, request):
        serializer = ClientSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "kind" not in data:
            raise exceptions.ValidationError({"kind": "This field is required."})
        organization = organization_for_principal(principal=request.user, capability=self.capability,
                                                  organization_id=data.get("organizationId"))
        client, secret = _with_field_errors(
            services.machine_client_create, organization=organization, kind=data["kind"],
            name=data.get("name") or organization.short_name, description=data.get("description", ""))
        return Response({"orgId": organization.id, "clientId": client.client_id, "clientSecret": secret})


def _client_from_request(request, *, capability):
    """The organization the caller acts in and the machine client the body names, checked together."""
    serializer = ClientSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    organization = organization_for_principal(principal=request.user, capability=capability,
                                              organization_id=serializer.validated_data.get("organizationId"))
    return organization, _client_in_org(organization=organization, client_id=serializer.validated_data.get("clientId"))


class RotateClientSecret(PersonView):
    capability = Capability.MANAGE_PEOPLE

    def post(self, request):
        organization, client = _client_from_request(request, capability=self.capability)
        secret = _with_field_errors(services.machine_client_rotate_secret, client=client)
        return Response({"orgId": organization.id, "clientId": client.client_id, "clientSecret": secret})


class RevokeClient(PersonView):
    capability = Capability.MANAGE_PEOPLE

    def post(self, request):
        _, client = _client_from_request(request, capability=self.capability)
        services.machine_client_delete(client=client)
        return Response(status=200)


class DeleteUserAccount(PersonView):
    def delete(self, request):
        from django.contrib.auth import logout

        user = request.user
        with transaction.atomic():
            removed = services.account_delete(user=user)
        logout(request._request)
        return Response({"removedOrganizationIds": removed})

