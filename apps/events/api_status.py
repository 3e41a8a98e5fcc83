"""Status REST API (api-contract §3): read-only, mostly anonymous, JSON or MessagePack by Accept.

Views are thin: parameters and access codes here, reads in apps.events.selectors, shapes in serializers_status.
Cacheable responses are rendered once per format, kept in a two-level cache and served with ETag and
Last-Modified; `If-None-Match` / `If-Modified-Since` get 304.
"""

from __future__ import annotations

import base64
import datetime as dt

from django.http import HttpResponse
from django.utils.http import http_date, parse_http_date_safe
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from apps.events import selectors
from apps.events import serializers_status as shapes
from apps.events.selectors import ACCESS_DENIED_MESSAGE, Access
from apps.orgs.machine_auth import BearerMachineAuthentication
from redmist.env import env_str
from redmist.renderers import (
    MSGPACK_MEDIA_TYPE,
    FallbackToJsonNegotiation,
    Rendered,
    StatusJSONRenderer,
    StatusMsgPackRenderer,
)

ACCESS_HEADER = "HTTP_X_EVENT_ACCESS_CODE"
#: Overridable with settings.STATUS_THROTTLE_RATES; None disables a rate.
STATUS_THROTTLE_DEFAULTS = {
    "status": env_str("THROTTLE_STATUS_RATE", "120/min"),
    "status_client": env_str("THROTTLE_STATUS_CLIENT_RATE", "600/min"),
}
MAX_ARCHIVE_PAGE = 100


class StatusThrottle(SimpleRateThrottle):
    """Polling clients: anonymous callers by address (CF-Connecting-IP, X-Forwarded-For, socket), authenticated
    ones by client. Rates: settings.STATUS_THROTTLE_RATES, else env THROTTLE_STATUS_RATE (120/min) and
    THROTTLE_STATUS_CLIENT_RATE (600/min)."""

    def __init__(self):
        pass

    def allow_request(self, request, view):
        from django.conf import settings

        rates = getattr(settings, "STATUS_THROTTLE_RATES", STATUS_THROTTLE_DEFAULTS)
        user = getattr(request, "user", None)
        client_id = getattr(user, "client_id", None)
        if client_id or (user is not None and getattr(user, "is_authenticated", False)):
            self.scope, ident = "status_client", f"client:{client_id or user.pk}"
        else:
            self.scope, ident = "status", "ip:" + self._address(request)
        self.rate = rates.get(self.scope)
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self._ident = ident
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self._ident}

    def _address(self, request) -> str:
        cf = request.META.get("HTTP_CF_CONNECTING_IP")
        if cf:
            return cf.strip()
        return self.get_ident(request)


def _params(*names: tuple[str, type, bool]) -> list[OpenApiParameter]:
    return [OpenApiParameter(n, t, OpenApiParameter.QUERY, required=r) for n, t, r in names]


EVENT_ID = ("eventId", int, True)
SESSION_ID = ("sessionId", int, True)
CAR = ("car", str, True)
CODE_HEADER = OpenApiParameter("X-Event-Access-Code", str, OpenApiParameter.HEADER, required=False,
                               description="Access code of a private event")


ERROR_BODY = {"type": "object", "properties": {"detail": {"type": "string"}}}
ERROR_RESPONSES = (("400", "A missing or malformed parameter"),
                   ("401", "Access code required or invalid, or authentication required"),
                   ("404", "No such event or organization"), ("429", "Too many requests (see Retry-After)"))


class StatusAutoSchema(AutoSchema):
    """Documents the error answers every status action can give: 400, 401, 404 and 429 with `{"detail": ...}`."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        media_types = self.map_renderers("media_type") or ["application/json"]
        for code, description in ERROR_RESPONSES:
            response = responses.setdefault(code, {"description": description})
            response.setdefault("content", {m: {"schema": ERROR_BODY if "json" in m else {}} for m in media_types})
        return responses


class StatusView(APIView):
    schema = StatusAutoSchema()
    authentication_classes = [BearerMachineAuthentication, SessionAuthentication]
    permission_classes = [AllowAny]
    renderer_classes = [StatusJSONRenderer, StatusMsgPackRenderer]
    content_negotiation_class = FallbackToJsonNegotiation
    throttle_classes = [StatusThrottle]

    # -- parameters (query-string, names matched case-insensitively as ASP.NET binds them) -------------

    def param(self, name: str, kind: type = str, *, required: bool = True, default=None):
        lowered = name.lower()
        for key, value in self.request.query_params.items():
            if key.lower() == lowered:
                try:
                    return kind(value)
                except (TypeError, ValueError):
                    raise exceptions.ValidationError({name: f"{name} must be {kind.__name__}"}) from None
        if required:
            raise exceptions.ValidationError({name: f"{name} is required"})
        return default

    def event_checked(self, event_id: int) -> None:
        """404 for a missing or deleted event; 401 for a private event without its exact code."""
        access = selectors.event_access_check(event_id=event_id, access_code=self.request.META.get(ACCESS_HEADER))
        if access is Access.NOT_FOUND:
            raise exceptions.NotFound("event")
        if access is Access.DENIED:
            raise AccessDenied()
        privacy = selectors.event_privacy_get(event_id=event_id)
        if privacy is None:  # ids <= 0 pass the access check (as on the hub) but are no event here
            raise exceptions.NotFound("event")
        self.private = privacy[0]

    # -- responses ------------------------------------------------------------------------------

    def cached(self, name: str, scopes: list[str], build, ttl: int | None = None) -> Response:
        rendered = selectors.status_cached(name=name, scopes=scopes, build=build, ttl=ttl,
                                           stats=getattr(self.request, "_status_cache_stats", None))
        return self.conditional(rendered)

    def conditional(self, rendered: Rendered) -> Response:
        fmt = getattr(self.request.accepted_renderer, "format", "json")
        etag = f'"{rendered.etag}-{fmt}"'
        headers = {
            "ETag": etag, "Last-Modified": http_date(rendered.modified),
            "Cache-Control": ("private, " if getattr(self, "private", False) else "") + "no-cache",
            "Vary": "Accept, X-Event-Access-Code",
        }
        match = self.request.META.get("HTTP_IF_NONE_MATCH")
        if match is not None:
            if etag in [m.strip() for m in match.split(",")] or match.strip() == "*":
                return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        else:
            since = parse_http_date_safe(self.request.META.get("HTTP_IF_MODIFIED_SINCE", ""))
            if since is not None and int(rendered.modified) <= since:
                return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(rendered, headers=headers)


class AccessDenied(exceptions.APIException):
    status_code = 401
    default_detail = ACCESS_DENIED_MESSAGE
    default_code = "access_code"


def _summaries(events) -> tuple[list, list]:
    items = [shapes.event_summary_json(e, has_results=getattr(e, "has_results", False)) for e in events]
    return items, shapes.positional_many(items, shapes.EVENT_SUMMARY)


LIST_RESPONSE = {200: {"type": "array", "items": {"type": "object", "additionalProperties": {}}}}
NULLABLE_OBJECT = {"type": "object", "additionalProperties": {}, "nullable": True}


# ---------------------------------------------------------------- events


class LoadLiveEvents(StatusView):
    @extend_schema(operation_id="LoadLiveEvents", responses=LIST_RESPONSE, summary="Live events")
    def get(self, request, **kwargs):
        return self.cached("live-events", ["lists"], lambda: _summaries(selectors.events_live_list()), ttl=60)


class LoadLiveAndRecentEvents(StatusView):
    @extend_schema(operation_id="LoadLiveAndRecentEvents", responses=LIST_RESPONSE,
                   summary="Live events first, then the 25 most recent")
    def get(self, request, **kwargs):
        return self.cached("live-recent-events", ["lists"],
                           lambda: _summaries(selectors.events_live_and_recent_list()), ttl=60)


class LoadArchivedEvents(StatusView):
    @extend_schema(operation_id="LoadArchivedEvents", responses=LIST_RESPONSE, summary="Archived events, paged",
                   parameters=_params(("offset", int, False), ("take", int, False)))
    def get(self, request, **kwargs):
        offset = self.param("offset", int, required=False, default=0)
        take = self.param("take", int, required=False, default=25)
        if take > MAX_ARCHIVE_PAGE or take < 0 or offset < 0:
            raise exceptions.ValidationError({"take": f"take must be 0..{MAX_ARCHIVE_PAGE}, offset ≥ 0"})
        return self.cached(f"archived:{offset}:{take}", ["lists"],
                           lambda: _summaries(selectors.events_archived_list(offset=offset, take=take)))


class LoadEvents(StatusView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="LoadEvents", responses=LIST_RESPONSE, summary="Events since a date (authenticated)",
                   parameters=_params(("startDateUtc", str, True)))
    def get(self, request, **kwargs):
        raw = self.param("startDateUtc")
        try:
            start = dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).date()
        except ValueError:
            raise exceptions.ValidationError({"startDateUtc": "not a date"}) from None
        if start < dt.date.today() - dt.timedelta(days=30):
            raise exceptions.ValidationError({"startDateUtc": "must be within the last 30 days"})

        def build():
            items = [shapes.event_json(e, selectors.sessions_shown_list(event_id=e.pk))
                     for e in selectors.events_since_list(start_date=start)]
            return items, shapes.positional_many(items, shapes.EVENT)

        return self.cached(f"events-since:{start}", ["lists"], build)


class LoadEvent(StatusView):
    @extend_schema(operation_id="LoadEvent", responses={200: OpenApiTypes.OBJECT, 401: None, 404: None},
                   parameters=_params(EVENT_ID) + [CODE_HEADER], summary="One event with its sessions")
    def get(self, request, **kwargs):
        event_id = self.param("eventId", int)
        self.event_checked(event_id)
        org_id = selectors.event_facts_get(event_id=event_id)["organization_id"]

        def build():
            event = selectors.event_get(event_id=event_id)
            item = shapes.event_json(event, selectors.sessions_shown_list(event_id=event_id))
            return item, shapes.positional(item, shapes.EVENT)

        return self.cached(f"event:{event_id}", [f"evt:{event_id}", f"org:{org_id}"], build)


def _ttl(event_id: int) -> int | None:
    """Laps and flags are written in bulk by the timing worker (no signals): short lifetime while live."""
    facts = selectors.event_facts_get(event_id=event_id)
    return selectors.LIVE_TTL_SECONDS if facts is not None and facts["is_live"] else None


class LoadSessions(StatusView):
    @extend_schema(operation_id="LoadSessions", responses=LIST_RESPONSE, parameters=_params(EVENT_ID) + [CODE_HEADER],
                   summary="Sessions that have something to show")
    def get(self, request, **kwargs):
        event_id = self.param("eventId", int)
        self.event_checked(event_id)

        def build():
            items = [shapes.session_json(s) for s in selectors.sessions_shown_list(event_id=event_id)]
            return items, shapes.positional_many(items, shapes.SESSION)

        return self.cached(f"sessions:{event_id}", [f"evt:{event_id}"], build, ttl=_ttl(event_id))


class GetCurrentSessionState(StatusView):
    @extend_schema(operation_id="GetCurrentSessionState", parameters=_params(EVENT_ID) + [CODE_HEADER],
                   responses={(200, MSGPACK_MEDIA_TYPE): OpenApiTypes.BINARY, 404: None},
                   summary="The live SessionState (always MessagePack); header X-RedMist-Seq is its patch sequence")
    def get(self, request, **kwargs):
        from apps.timing.selectors import live_state_get

        event_id = self.param("eventId", int)
        self.event_checked(event_id)
        loaded = live_state_get(event_id=event_id)
        if loaded is None:
            raise exceptions.NotFound("No live state for this event.")
        response = HttpResponse(loaded[0], content_type=MSGPACK_MEDIA_TYPE)
        response["X-RedMist-Seq"] = str(loaded[1])
        response["Cache-Control"] = "no-store"
        return response


class GetCurrentSessionStateJson(StatusView):
    @extend_schema(operation_id="GetCurrentSessionStateJson", parameters=_params(EVENT_ID) + [CODE_HEADER],
                   responses={200: OpenApiTypes.OBJECT, 404: None}, summary="The live SessionState as JSON")
    def get(self, request, **kwargs):
        import json

        from apps.timing.livestate import LiveState
        from apps.timing.selectors import live_state_get

        event_id = self.param("eventId", int)
        self.event_checked(event_id)
        loaded = live_state_get(event_id=event_id)
        if loaded is None:
            raise exceptions.NotFound("No live state for this event.")
        body = json.dumps(LiveState.from_msgpack(*loaded).to_json(), separators=(",", ":")).encode()
        response = HttpResponse(body, content_type="application/json")
        response["X-RedMist-Seq"] = str(loaded[1])
        response["Cache-Control"] = "no-store"
        return response


class LoadInCarPayload(StatusView):
    @extend_schema(operation_id="LoadInCarPayload", parameters=_params(EVENT_ID, CAR) + [CODE_HEADER],
                   responses={200: NULLABLE_OBJECT}, summary="Driver mode: one car, its neighbours, the flag")
    def get(self, request, **kwargs):
        from apps.timing.livestate import LiveState, in_car_payload, in_car_to_msgpack
        from apps.timing.selectors import live_state_get

        event_id = self.param("eventId", int)
        car = self.param("car")
        self.event_checked(event_id)
        loaded = live_state_get(event_id=event_id)
        payload = in_car_payload(LiveState.from_msgpack(*loaded), car) if loaded else None
        return _uncached(request, payload, in_car_to_msgpack(payload))


def _uncached(request, json_data, msgpack_data) -> Response:
    import json

    import msgpack

    if getattr(request.accepted_renderer, "format", "json") == "msgpack":
        return Response(Rendered(json=b"", msgpack=msgpack.packb(msgpack_data, use_bin_type=True), etag="", modified=0))
    return Response(Rendered(json=json.dumps(json_data).encode(), msgpack=b"", etag="", modified=0))


class LoadSessionResults(StatusView):
    @extend_schema(operation_id="LoadSessionResults", parameters=_params(EVENT_ID, SESSION_ID) + [CODE_HEADER],
                   responses={200: NULLABLE_OBJECT}, summary="A session's final SessionState (null if none)")
    def get(self, request, **kwargs):
        event_id, session_id = self.param("eventId", int), self.param("sessionId", int)
        self.event_checked(event_id)

        def build():
            row = selectors.session_result_get(event_id=event_id, session_id=session_id)
            if row is None:
                return None, None
            return row.session_state, shapes.session_state_msgpack_array(row.session_state)

        return self.cached(f"results:{event_id}:{session_id}", [f"evt:{event_id}"], build)


class LoadCarLaps(StatusView):
    @extend_schema(operation_id="LoadCarLaps", responses=LIST_RESPONSE, summary="One car's laps (a CarPosition per lap)",
                   parameters=_params(EVENT_ID, SESSION_ID, ("carNumber", str, True)) + [CODE_HEADER])
    def get(self, request, **kwargs):
        event_id, session_id = self.param("eventId", int), self.param("sessionId", int)
        car = self.param("carNumber")
        self.event_checked(event_id)

        def build():
            laps = selectors.car_laps_list(event_id=event_id, session_id=session_id, car_number=car)
            return [shapes.lap_car_json(c) for c in laps], [shapes.lap_car_msgpack(c) for c in laps]

        return self.cached(f"car-laps:{event_id}:{session_id}:{car}", [f"evt:{event_id}"], build, ttl=_ttl(event_id))


class LoadSessionLaps(StatusView):
    @extend_schema(operation_id="LoadSessionLaps", responses=LIST_RESPONSE, summary="All laps of a session",
                   parameters=_params(EVENT_ID, SESSION_ID) + [CODE_HEADER])
    def get(self, request, **kwargs):
        event_id, session_id = self.param("eventId", int), self.param("sessionId", int)
        self.event_checked(event_id)

        def build():
            laps = selectors.car_laps_list(event_id=event_id, session_id=session_id)
            return [shapes.lap_car_json(c) for c in laps], [shapes.lap_car_msgpack(c) for c in laps]

        return self.cached(f"session-laps:{event_id}:{session_id}", [f"evt:{event_id}"], build, ttl=_ttl(event_id))


class LoadFlags(StatusView):
    @extend_schema(operation_id="LoadFlags", responses=LIST_RESPONSE, summary="Flag periods of a session",
                   parameters=_params(EVENT_ID, SESSION_ID) + [CODE_HEADER])
    def get(self, request, **kwargs):
        event_id, session_id = self.param("eventId", int), self.param("sessionId", int)
        self.event_checked(event_id)

        def build():
            items = [shapes.flag_period_json(f) for f in selectors.flag_periods_list(event_id=event_id, session_id=session_id)]
            return items, shapes.positional_many(items, shapes.FLAG_DURATION)

        return self.cached(f"flags:{event_id}:{session_id}", [f"evt:{event_id}"], build, ttl=_ttl(event_id))


class LoadControlLog(StatusView):
    @extend_schema(operation_id="LoadControlLog", responses=LIST_RESPONSE, summary="The live control log",
                   parameters=_params(EVENT_ID) + [CODE_HEADER])
    def get(self, request, **kwargs):
        from apps.controllog.selectors import control_log_list

        event_id = self.param("eventId", int)
        self.event_checked(event_id)

        def build():
            items = control_log_list(event_id=event_id)
            return items, shapes.positional_many(items, shapes.CONTROL_LOG_ENTRY)

        return self.cached(f"control-log:{event_id}", [f"evt:{event_id}"], build)


class LoadSessionHistoricalControlLog(StatusView):
    @extend_schema(operation_id="LoadSessionHistoricalControlLog", responses=LIST_RESPONSE,
                   parameters=_params(EVENT_ID, SESSION_ID) + [CODE_HEADER], summary="A finished session's control log")
    def get(self, request, **kwargs):
        event_id, session_id = self.param("eventId", int), self.param("sessionId", int)
        self.event_checked(event_id)

        def build():
            row = selectors.session_result_get(event_id=event_id, session_id=session_id)
            items = list(row.control_logs or []) if row is not None else []
            return items, shapes.positional_many(items, shapes.CONTROL_LOG_ENTRY)

        return self.cached(f"hist-control-log:{event_id}:{session_id}", [f"evt:{event_id}"], build)


class LoadCarControlLogs(StatusView):
    @extend_schema(operation_id="LoadCarControlLogs", responses={200: OpenApiTypes.OBJECT},
                   parameters=_params(EVENT_ID, CAR) + [CODE_HEADER], summary="One car's control log")
    def get(self, request, **kwargs):
        from apps.controllog.selectors import car_control_logs

        event_id, car = self.param("eventId", int), self.param("car")
        self.event_checked(event_id)

        def build():
            item = car_control_logs(event_id=event_id, car_number=car)
            return item, shapes.positional(item, shapes.CAR_CONTROL_LOGS)

        return self.cached(f"car-control-log:{event_id}:{car}", [f"evt:{event_id}"], build)


class LoadCompetitorMetadata(StatusView):
    @extend_schema(operation_id="LoadCompetitorMetadata", responses={200: NULLABLE_OBJECT},
                   parameters=_params(EVENT_ID, CAR) + [CODE_HEADER], summary="One competitor (null if unknown)")
    def get(self, request, **kwargs):
        event_id, car = self.param("eventId", int), self.param("car")
        self.event_checked(event_id)

        def build():
            row = selectors.competitor_get(event_id=event_id, car_number=car)
            item = shapes.competitor_json(row) if row is not None else None
            return item, shapes.positional(item, shapes.COMPETITOR)

        return self.cached(f"competitor:{event_id}:{car}", [f"evt:{event_id}"], build)


class LoadEventCompetitorMetadata(StatusView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="LoadEventCompetitorMetadata", responses=LIST_RESPONSE,
                   parameters=_params(EVENT_ID) + [CODE_HEADER], summary="Every competitor (authenticated)")
    def get(self, request, **kwargs):
        event_id = self.param("eventId", int)
        self.event_checked(event_id)

        def build():
            items = [shapes.competitor_json(r) for r in selectors.competitors_list(event_id=event_id)]
            return items, shapes.positional_many(items, shapes.COMPETITOR)

        return self.cached(f"competitors:{event_id}", [f"evt:{event_id}"], build)


# ---------------------------------------------------------------- organization


class GetOrganizations(StatusView):
    @extend_schema(operation_id="GetOrganizations", responses=LIST_RESPONSE, summary="Organizations")
    def get(self, request, **kwargs):
        from apps.orgs.models import Organization

        def build():
            items = [{"id": o.pk, "name": o.name, "website": o.website}
                     for o in Organization.objects.filter(is_deleted=False).order_by("name")]
            return items, shapes.positional_many(items, shapes.ORGANIZATION_SUMMARY)

        return self.cached("organizations", ["lists"], build)


class LoadOrganization(StatusView):
    @extend_schema(operation_id="LoadOrganization", responses={200: OpenApiTypes.OBJECT, 404: None},
                   parameters=_params(("organizationId", int, True)), summary="One organization with its logo")
    def get(self, request, **kwargs):
        from apps.orgs.models import Organization

        org_id = self.param("organizationId", int)
        org = Organization.objects.filter(pk=org_id, is_deleted=False).first()
        if org is None:
            raise exceptions.NotFound("organization")

        def build():
            logo = bytes(org.logo) if org.logo else None
            item = {"id": org.pk, "name": org.name, "shortName": org.short_name, "website": org.website,
                    "logo": base64.b64encode(logo).decode() if logo else None}
            return item, [org.pk, org.name, org.short_name, org.website, logo]

        return self.cached(f"organization:{org_id}", [f"org:{org_id}"], build)


def _image_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] in (b"GIF8",):
        return "image/gif"
    if data.startswith(b"BM"):
        return "image/bmp"
    return "application/octet-stream"


class GetOrganizationIcon(StatusView):
    @extend_schema(operation_id="GetOrganizationIcon", parameters=_params(("organizationId", int, True)),
                   responses={(200, "image/*"): OpenApiTypes.BINARY, 404: None}, summary="The organization's logo")
    def get(self, request, **kwargs):
        from apps.orgs.models import Organization

        org = Organization.objects.filter(pk=self.param("organizationId", int), is_deleted=False).first()
        if org is None or not org.logo:
            raise exceptions.NotFound("logo")
        data = bytes(org.logo)
        response = HttpResponse(data, content_type=_image_type(data))
        response["Cache-Control"] = "public, max-age=1800"
        return response


EVENT_ACTIONS = {
    "LoadLiveEvents": LoadLiveEvents, "LoadLiveAndRecentEvents": LoadLiveAndRecentEvents, "LoadEvents": LoadEvents,
    "LoadEvent": LoadEvent, "LoadSessions": LoadSessions, "GetCurrentSessionState": GetCurrentSessionState,
    "GetCurrentSessionStateJson": GetCurrentSessionStateJson, "LoadInCarPayload": LoadInCarPayload,
    "LoadSessionResults": LoadSessionResults, "LoadCarLaps": LoadCarLaps, "LoadSessionLaps": LoadSessionLaps,
    "LoadFlags": LoadFlags, "LoadControlLog": LoadControlLog,
    "LoadSessionHistoricalControlLog": LoadSessionHistoricalControlLog, "LoadCarControlLogs": LoadCarControlLogs,
    "LoadCompetitorMetadata": LoadCompetitorMetadata, "LoadEventCompetitorMetadata": LoadEventCompetitorMetadata,
}
V2_ONLY = {"LoadArchivedEvents": LoadArchivedEvents}
ORGANIZATION_ACTIONS = {"GetOrganizations": GetOrganizations, "GetOrganizationIcon": GetOrganizationIcon,
                        "LoadOrganization": LoadOrganization}
