"""Event Management API, Event controller (api-contract §8.1): `/event-management/[v1/]Event/{action}`.

Callers: relays and API clients (bearer tokens; their own organization) and people (session; `organizationId`
names the organization when they belong to several). Reads need any role, writes editor or admin.
"""

from __future__ import annotations

import datetime as dt
import re

from django.db.models import Q
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from apps.events.models import Event
from apps.events.services import event_activate, event_create, event_soft_delete, event_update
from apps.orgs import wire
from apps.orgs.api_base import ManagementView
from apps.orgs.machine_auth import MachineIdentity
from apps.orgs.permissions import Capability, event_for_principal, organization_for_principal

EVENT_WIRE_NAMES = {
    "name": "name", "start_date": "startDate", "end_date": "endDate", "event_url": "eventUrl",
    "track_name": "trackName", "course_configuration": "courseConfiguration", "distance": "distance",
    "access_code": "accessCode", "schedule": "schedule", "broadcast": "broadcast", "loops_metadata": "loopsMetadata",
}


def _midnight(value: dt.date) -> dt.datetime:
    return dt.datetime(value.year, value.month, value.day)


def event_wire(event: Event) -> wire.Keyed:
    return wire.EVENT.out({
        "id": event.id, "organizationId": event.organization_id, "name": event.name,
        "startDate": _midnight(event.start_date), "endDate": _midnight(event.end_date), "isActive": event.is_active,
        "isLive": event.is_live, "eventUrl": event.event_url, "schedule": event.schedule or None,
        "enableSourceDataLogging": event.enable_source_data_logging, "trackName": event.track_name,
        "courseConfiguration": event.course_configuration, "distance": event.distance,
        "broadcast": event.broadcast or None, "loopsMetadata": event.loops_metadata or [],
        "isDeleted": event.is_deleted, "isSimulation": event.is_simulation, "isArchived": event.is_archived,
        "isPrivate": event.is_private, "hideName": event.hide_name, "accessCode": event.access_code or None,
        "timingSource": 0, "externalConfig": None,
    })


def event_summary_wire(event: Event) -> wire.Keyed:
    return wire.EVENT_SUMMARY.out({
        "id": event.id, "name": event.name, "startDate": _midnight(event.start_date), "isActive": event.is_active,
        "isSimulation": event.is_simulation, "isArchived": event.is_archived, "endDate": _midnight(event.end_date),
    })


class DateLikeField(serializers.Field):
    """A date: "2026-05-01", "2026-05-01T00:00:00[Z]", or a MessagePack timestamp."""

    default_error_messages = {"invalid": "Must be a date like 2026-05-01 or 2026-05-01T00:00:00."}

    def to_internal_value(self, data):
        if isinstance(data, dt.datetime):
            return data.date()
        if isinstance(data, dt.date):
            return data
        if isinstance(data, str):
            text = data.strip()
            try:
                if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                    return dt.date.fromisoformat(text)
                return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
            except ValueError:
                pass
        self.fail("invalid")

    def to_representation(self, value):
        return value


class LoopSerializer(serializers.Serializer):
    id = serializers.IntegerField(min_value=0, max_value=2**32 - 1)
    eventId = serializers.IntegerField(required=False, allow_null=True)
    type = serializers.IntegerField(min_value=0, max_value=5)
    name = serializers.CharField(max_length=128, allow_blank=True, required=False, allow_null=True)


def _text(max_length: int, **kwargs) -> serializers.CharField:
    return serializers.CharField(max_length=max_length, allow_blank=True, allow_null=True, required=False, **kwargs)


class EventInSerializer(serializers.Serializer):
    id = serializers.IntegerField(required=False, allow_null=True)
    name = serializers.CharField(max_length=512, required=False)
    startDate = DateLikeField(required=False)
    endDate = DateLikeField(required=False, allow_null=True)
    isActive = serializers.BooleanField(required=False, allow_null=True)
    eventUrl = serializers.URLField(max_length=512, allow_blank=True, allow_null=True, required=False)
    schedule = serializers.DictField(allow_null=True, required=False)
    enableSourceDataLogging = serializers.BooleanField(required=False, allow_null=True)
    trackName = _text(128)
    courseConfiguration = _text(64)
    distance = _text(20)
    broadcast = serializers.DictField(allow_null=True, required=False)
    loopsMetadata = LoopSerializer(many=True, allow_null=True, required=False)
    isSimulation = serializers.BooleanField(required=False, allow_null=True)
    isArchived = serializers.BooleanField(required=False, allow_null=True)
    isPrivate = serializers.BooleanField(required=False, allow_null=True)
    hideName = serializers.BooleanField(required=False, allow_null=True)
    accessCode = _text(7)
    timingSource = serializers.IntegerField(required=False, allow_null=True)
    externalConfig = serializers.CharField(required=False, allow_null=True, allow_blank=True)

    FIELD_MAP = {
        "name": "name", "startDate": "start_date", "endDate": "end_date", "isActive": "is_active",
        "eventUrl": "event_url", "schedule": "schedule", "enableSourceDataLogging": "enable_source_data_logging",
        "trackName": "track_name", "courseConfiguration": "course_configuration", "distance": "distance",
        "broadcast": "broadcast", "loopsMetadata": "loops_metadata", "isSimulation": "is_simulation",
        "isArchived": "is_archived", "isPrivate": "is_private", "hideName": "hide_name", "accessCode": "access_code",
    }

    def validate_timingSource(self, value):
        if value not in (None, 0):
            raise serializers.ValidationError("Only relay timing (0) is supported.")
        return value

    def validate_accessCode(self, value):
        if value and not re.fullmatch(r"[0-9]{1,7}", value):
            raise serializers.ValidationError("The access code is 1 to 7 digits.")
        return value

    def validate(self, attrs):
        if attrs.get("isPrivate") and not attrs.get("accessCode"):
            raise serializers.ValidationError({"accessCode": "A private event needs an access code."})
        return attrs

    def changes(self) -> dict:
        data = self.validated_data
        out = {model: data[name] for name, model in self.FIELD_MAP.items() if data.get(name) is not None}
        if "loops_metadata" in out:
            out["loops_metadata"] = [dict(loop) for loop in out["loops_metadata"]]
        if data.get("isPrivate") is False:
            out["access_code"] = ""
        return out


def _event_changes(request, *, creating: bool) -> tuple[int | None, dict]:
    serializer = EventInSerializer(data=wire.EVENT.into(request.data))
    serializer.is_valid(raise_exception=True)
    changes = serializer.changes()
    if creating:
        missing = {"name": "name", "startDate": "start_date"}
        for wire_name, model_name in missing.items():
            if model_name not in changes:
                raise exceptions.ValidationError({wire_name: "This field is required."})
    principal = request.user
    if isinstance(principal, MachineIdentity) and principal.kind == "api":
        changes["is_simulation"] = True  # API clients only ever create simulations (as the reference does)
        if creating:
            changes["enable_source_data_logging"] = False
    return serializer.validated_data.get("id"), changes


class LoadEventSummaries(ManagementView):
    def get(self, request):
        organization = organization_for_principal(principal=request.user, capability=Capability.READ,
                                                  organization_id=self.query_int("organizationId", required=False))
        events = Event.objects.visible().filter(organization=organization).order_by("-start_date", "-id")
        return Response([event_summary_wire(e) for e in events])


class LoadEvent(ManagementView):
    def get(self, request):
        event = event_for_principal(principal=request.user, event_id=self.query_int("eventId"),
                                    capability=Capability.READ)
        return Response(event_wire(event))


class SaveNewEvent(ManagementView):
    capability = Capability.EDIT_EVENTS
    wire_names = EVENT_WIRE_NAMES

    def post(self, request):
        organization = organization_for_principal(principal=request.user, capability=self.capability,
                                                  organization_id=self.query_int("organizationId", required=False))
        _, changes = _event_changes(request, creating=True)
        changes.setdefault("end_date", changes["start_date"])
        make_active = changes.pop("is_active", False)
        event = event_create(organization=organization, **changes)
        if make_active:
            event_activate(event=event)
        return Response(event.id)


class UpdateEvent(ManagementView):
    capability = Capability.EDIT_EVENTS
    wire_names = EVENT_WIRE_NAMES

    def post(self, request):
        event_id, changes = _event_changes(request, creating=False)
        if not event_id:
            raise exceptions.ValidationError({"id": "The event id is required."})
        event = event_for_principal(principal=request.user, event_id=event_id, capability=self.capability)
        event_update(event=event, **changes)
        return Response(status=200)


class UpdateEventStatusActive(ManagementView):
    capability = Capability.EDIT_EVENTS

    def put(self, request):
        event = event_for_principal(principal=request.user, event_id=self.query_int("eventId"),
                                    capability=self.capability)
        event_activate(event=event)
        return Response(status=200)


class DeleteEvent(ManagementView):
    capability = Capability.EDIT_EVENTS

    def put(self, request):
        event = event_for_principal(principal=request.user, event_id=self.query_int("eventId"),
                                    capability=self.capability)
        event_soft_delete(event=event)
        return Response(status=200)


def _event_logs(view: ManagementView):
    from apps.relay.models import SourceLog

    event = event_for_principal(principal=view.request.user, event_id=view.query_int("eventId"),
                                capability=Capability.READ)
    session_id = view.query_int("sessionId", required=False)
    logs = SourceLog.objects.filter(event=event)
    if session_id is not None:
        logs = logs.filter(Q(session_id=session_id))
    return logs


class LoadEventLogs(ManagementView):
    """The raw feed log, newest first, paged with skip/take (take ≤ 10000). Unlike the reference, scoped to the
    caller's organization."""

    def get(self, request):
        skip = self.query_int("skip", required=False, default=0, minimum=0)
        take = self.query_int("take", required=False, default=1000, minimum=1, maximum=10000)
        rows = _event_logs(self).order_by("-timestamp", "-id")[skip:skip + take]
        return Response([
            {"id": r.id, "type": r.message_type, "eventId": r.event_id, "sessionId": r.session_id,
             "timestamp": r.timestamp, "data": r.data}
            for r in rows
        ])


class LoadEventLogsCount(ManagementView):
    def get(self, request):
        return Response(_event_logs(self).count())
