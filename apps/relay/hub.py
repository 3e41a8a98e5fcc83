"""The reference's RelayHub (`/relay/hub`) over the ASP.NET Core SignalR hub protocol, for existing RedMist relays.

A SignalR relay negotiates (`POST /relay/hub/negotiate?negotiateVersion=1`), opens a WebSocket on
`/relay/hub?id=<connectionToken>` with `Authorization: Bearer <JWT>`, sends the handshake and then invokes the
hub methods of api-contract §7. Each invocation goes through the same ingest path as our own relay socket
(apps/relay/consumers.py): the same authentication, the ownership check on its eventId, the same bus appends,
the session/competitor/log services. An invocation with an id gets a completion (an error string for a
refusal); one without an id gets nothing (the protocol forbids a reply).

SignalR relays do not number their messages, so nothing can be deduplicated: appends carry no dedup key and a
relay that re-invokes after a reconnect may store a message twice (at-least-once). Our own relay socket is
exactly-once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import secrets
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core import signing
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from apps.relay import services
from apps.relay import signalr as sr
from apps.relay.auth import RelayAuthError, relay_authenticate
from apps.relay.bus import NO_SESSION, BusMessage, bus_get
from apps.relay.frames import FrameError, frame_parse
from apps.relay.groups import relay_group_name
from apps.relay.liveness import live_event_mark
from apps.relay.metrics import relay_metrics
from apps.relay.ratelimit import TokenBucket

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0  # the ASP.NET default KeepAliveInterval; clients time out after 30 s of silence
CLIENT_TIMEOUT_SECONDS = 30.0  # ClientTimeoutInterval
EVENT_RECHECK_SECONDS = 60.0  # how long one ownership check of an event is trusted on a connection
PASSING_CHUNK = 25
_TOKEN_SALT = "relay-hub-negotiate"
_TOKEN_MAX_AGE = 300

# MessagePack sends the reference's models as positional arrays (api-contract §2.4, §11); these are their keys,
# by the JSON names the engine reads. The X2 Loop order follows the X2Loops table (keys 0-15; unverified).
PASSING_KEYS = ("o", "e", "i", "l", "t", "ts", "h", "tl", "tu", "p", "r")
FLAG_KEYS = ("f", "s", "e")
COMPETITOR_KEYS = ("e", "n", "lu", "t", "t2", "cl", "fn", "ln", "ns", "s", "mk", "h", "c", "mo", "tr", "a")
LOOP_KEYS = ("organizationId", "eventId", "id", "name", "description", "latitude0", "longitude0", "latitude1",
             "longitude1", "order", "isInPit", "isOnline", "hasActivity", "isSyncOk", "hasDeviceWarnings",
             "hasDeviceErrors")
LOG_LEVELS = ("Trace", "Debug", "Information", "Warning", "Error", "Critical", "None")


class HubRefusal(Exception):
    """An invocation the hub refuses; the message goes back in the completion's error."""


# ---------------------------------------------------------------------------------------------- negotiate


def connection_token_create(*, client_id: str) -> str:
    return signing.dumps({"c": secrets.token_urlsafe(12), "cl": client_id}, salt=_TOKEN_SALT, compress=True)


def connection_token_client(token: str) -> str | None:
    """The relay client a negotiated connection token was issued to, or None if it is invalid or expired."""
    try:
        body = signing.loads(token, salt=_TOKEN_SALT, max_age=_TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    return body.get("cl") if isinstance(body, dict) else None


@csrf_exempt
def relay_hub_negotiate(request):
    """`POST /relay/hub/negotiate[?negotiateVersion=1]`: WebSockets only, Text (JSON) or Binary (MessagePack).

    The token is signed, not stored, so the WebSocket may land on any server process (no sticky sessions).
    """
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST"})
    header = request.headers.get("Authorization", "")
    try:
        identity = relay_authenticate(scope={"headers": [(b"authorization", header.encode("latin-1", "replace"))]})
    except RelayAuthError as exc:
        relay_metrics.rejected_auth += 1
        return HttpResponse(str(exc), status=401, content_type="text/plain", headers={"WWW-Authenticate": "Bearer"})
    try:
        version = int(request.GET.get("negotiateVersion", "0"))
    except ValueError:
        version = 0
    token = connection_token_create(client_id=identity.client_id)
    body: dict = {
        "connectionId": secrets.token_urlsafe(16),
        "negotiateVersion": 1 if version >= 1 else 0,
        "availableTransports": [{"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}],
    }
    if version >= 1:
        body["connectionToken"] = token
    else:
        body["connectionId"] = token  # version 0 clients connect with ?id=<connectionId>
    return JsonResponse(body)


# ---------------------------------------------------------------------------------------------- argument binding


def _int_arg(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise HubRefusal(f"argument '{name}' must be an integer")
    return value


def _str_arg(value, name: str, *, allow_none: bool = True) -> str:
    if value is None and allow_none:
        return ""
    if not isinstance(value, str):
        raise HubRefusal(f"argument '{name}' must be a string")
    return value


def _plain(value):
    """MessagePack values made JSON-ready: timestamps to ISO 8601, bytes to text."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(value).decode()
    return value


def models_list(value, keys: tuple[str, ...], name: str) -> list[dict]:
    """A list of the reference's objects: JSON objects, MessagePack positional arrays, or JSON text of either."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise HubRefusal(f"argument '{name}' is not valid JSON") from None
    if value is None:
        return []
    if not isinstance(value, list):
        raise HubRefusal(f"argument '{name}' must be a list")
    items = []
    for index, item in enumerate(value):
        if isinstance(item, list):
            item = {key: element for key, element in zip(keys, item)}
        if not isinstance(item, dict):
            raise HubRefusal(f"argument '{name}': item {index} is not an object")
        items.append(_plain(item))
    return items


def _timestamp_arg(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise HubRefusal("argument 'timestamp' must be an ISO 8601 date and time") from None
    elif value is None:
        when = dt.datetime.now(dt.UTC)
    else:
        raise HubRefusal("argument 'timestamp' must be a date and time")
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


# ---------------------------------------------------------------------------------------------- the hub


#: Hub method → (argument count, handler name). Method names match case-insensitively, as in ASP.NET.
METHODS = {
    "sendheartbeat": (2, "_heartbeat"),
    "sendheartbeatv2": (2, "_heartbeat_v2"),
    "sendrmonitor": (3, "_rmonitor"),
    "sendmultiloop": (3, "_multiloop"),
    "sendflagtronics": (3, "_flagtronics"),
    "sendsessionchange": (4, "_session_change"),
    "sendpassings": (3, "_passings"),
    "sendloopchange": (2, "_loop_change"),
    "sendflags": (3, "_flags"),
    "sendcompetitormetadata": (2, "_competitors"),
    "saveloggermessage": (4, "_logger_message"),
}
#: Methods that only append to the bus: consecutive ones in a frame share one append.
BATCHABLE = {"sendrmonitor", "sendmultiloop", "sendflagtronics", "sendflags", "sendpassings", "sendloopchange",
             "sendcompetitormetadata"}


class RelayHubConsumer(AsyncWebsocketConsumer):
    identity = None
    codec: sr.HubCodec | None = None
    _closing = False
    _keepalive: asyncio.Task | None = None

    async def connect(self):
        try:
            self.identity = await database_sync_to_async(relay_authenticate)(scope=self.scope)
        except RelayAuthError as exc:
            # ASP.NET answers an unauthenticated upgrade with HTTP 401; Channels can refuse only with 403.
            relay_metrics.rejected_auth += 1
            logger.info("signalr relay refused: %s", exc)
            await self.close()
            return
        token = self._query("id")
        if token is not None and connection_token_client(token) != self.identity.client_id:
            logger.info("signalr relay refused: unknown or expired connection id")
            self.identity = None
            await self.close()
            return
        self._handshake = b""
        self._events: dict[int, tuple[float, object]] = {}
        self._groups: set[int] = set()
        self.bucket = TokenBucket(rate=settings.RELAY_RATE_PER_SECOND, burst=settings.RELAY_RATE_BURST)
        self._last_received = time.monotonic()
        await self.accept()
        relay_metrics.connections += 1

    def _query(self, name: str) -> str | None:
        from urllib.parse import parse_qs

        values = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get(name)
        return values[0] if values else None

    async def disconnect(self, code):
        if self._keepalive is not None:
            self._keepalive.cancel()
        if self.identity is not None:
            relay_metrics.connections -= 1
            for event_id in getattr(self, "_groups", ()):
                await self.channel_layer.group_discard(relay_group_name(event_id), self.channel_name)

    # -- transport

    async def _send_raw(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            await self.send(bytes_data=frame)
        else:
            await self.send(text_data=frame)

    async def _close_with(self, error: str) -> None:
        if self.codec is not None:
            await self._send_raw(self.codec.close(error))
        self._closing = True
        await self.close()

    async def _keepalive_loop(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_SECONDS)
            if time.monotonic() - self._last_received > CLIENT_TIMEOUT_SECONDS:
                await self._close_with("Server timeout elapsed without receiving a message from the client.")
                return
            await self._send_raw(self.codec.ping())

    async def receive(self, text_data=None, bytes_data=None):
        if self.identity is None or self._closing:
            return  # refused, or closing after a protocol error: nothing more is read
        self._last_received = time.monotonic()
        if self.codec is None:
            await self._receive_handshake(text_data, bytes_data)
            return
        try:
            messages = self.codec.feed(text=text_data, data=bytes_data)
        except sr.SignalRProtocolError as exc:
            relay_metrics.rejected_frames += 1
            await self._close_with(f"Connection closed with an error. InvalidDataException: {exc}")
            return
        await self._handle_messages(messages)

    async def _receive_handshake(self, text_data, bytes_data) -> None:
        self._handshake += bytes_data if bytes_data is not None else (text_data or "").encode("utf-8")
        binary = bytes_data is not None
        try:
            protocol, rest = sr.handshake_parse(self._handshake)
        except sr.SignalRProtocolError as exc:
            reply = sr.handshake_response(str(exc))
            await self._send_raw(reply.encode() if binary else reply)
            self._closing = True
            await self.close()
            return
        if protocol is None:
            return
        self._handshake = b""
        self.codec = sr.HubCodec(protocol, max_message_bytes=settings.RELAY_MAX_FRAME_BYTES)
        reply = sr.handshake_response()
        await self._send_raw(reply.encode() if binary else reply)
        self._keepalive = asyncio.create_task(self._keepalive_loop())
        if rest:
            try:
                messages = self.codec.feed(data=rest) if self.codec.binary else self.codec.feed(text=rest.decode("utf-8"))
            except (sr.SignalRProtocolError, UnicodeDecodeError) as exc:
                await self._close_with(f"Connection closed with an error. InvalidDataException: {exc}")
                return
            await self._handle_messages(messages)

    # -- messages

    async def _handle_messages(self, messages: list[sr.HubMessage]) -> None:
        # Plain data invocations in one frame are appended together (one bus round trip), in order.
        pending: list[tuple[sr.HubMessage, int, list[BusMessage]]] = []
        for message in messages:
            batchable = message.type == sr.INVOCATION and (message.target or "").lower() in BATCHABLE
            if pending and not batchable:
                await self._append_pending(pending)
                pending = []
            if message.type == sr.INVOCATION:
                entry = await self._invoke(message)
                if entry is not None:
                    pending.append(entry)
                continue
            if message.type == sr.STREAM_INVOCATION:
                await self._send_raw(self.codec.completion(
                    message.invocation_id, error=f"Streaming is not supported by '{message.target}'."))
            elif message.type == sr.CLOSE:
                self._closing = True
                await self.close()
                return
            # Ping: nothing to do (any message resets the timeout). Completion, StreamItem, CancelInvocation,
            # Ack, Sequence: the hub never invokes the relay for a result nor offers stateful reconnect.
        if pending:
            await self._append_pending(pending)

    async def _invoke(self, message: sr.HubMessage):
        """Handle one invocation; returns (message, event id, bus messages) when it is a plain append to batch."""
        target = message.target
        spec = METHODS.get(target.lower())
        try:
            if spec is None:
                raise HubRefusal(f"Failed to invoke '{target}' because the method does not exist.")
            count, handler = spec
            if len(message.arguments) != count:
                raise HubRefusal(f"Failed to invoke '{target}': invocation provides {len(message.arguments)} "
                                 f"argument(s) but target expects {count}.")
            outcome = await getattr(self, handler)(*message.arguments)
        except (HubRefusal, FrameError) as exc:
            relay_metrics.rejected_frames += 1
            text = exc.message if isinstance(exc, FrameError) else str(exc)
            logger.info("signalr relay %s: %s refused: %s", self.identity.client_id, target, text)
            await self._complete(message, error=text)
            return None
        except Exception:
            logger.exception("signalr relay invocation %s failed", target)
            relay_metrics.failed += 1
            await self._complete(message, error=f"An unexpected error occurred invoking '{target}' on the server: "
                                                "it could not store this message; send it again later.")
            return None
        if isinstance(outcome, tuple):
            return (message,) + outcome
        if outcome is _VOID:
            await self._complete(message)
        else:
            await self._complete(message, result=outcome, has_result=True)
        return None

    async def _complete(self, message: sr.HubMessage, **kwargs) -> None:
        if message.invocation_id is not None:  # non-blocking invocations must not be answered
            await self._send_raw(self.codec.completion(message.invocation_id, **kwargs))

    async def _append_pending(self, pending) -> None:
        by_event: dict[int, list] = {}
        for _, event_id, bus_messages in pending:
            by_event.setdefault(event_id, []).extend((m, None, None) for m in bus_messages)
        error = None
        try:
            for event_id, items in by_event.items():
                await bus_get().append_many(event_id=event_id, items=items)
                await live_event_mark(event_id=event_id)
            relay_metrics.accepted += sum(len(items) for items in by_event.values())
        except Exception:
            logger.exception("signalr relay data could not be stored")
            relay_metrics.failed += len(pending)
            error = "the server could not store this message; send it again later"
        for message, _, _ in pending:
            if error:
                await self._complete(message, error=error)
            else:
                await self._complete(message)

    # -- ownership

    async def _event(self, event_id) -> object | None:
        """The caller's event, or None for eventId ≤ 0 (a relay with no event configured: ignored, as the reference does)."""
        event_id = _int_arg(event_id, "eventId")
        if event_id <= 0:
            return None
        cached = self._events.get(event_id)
        if cached is not None and time.monotonic() - cached[0] < EVENT_RECHECK_SECONDS:
            return cached[1]
        event = await database_sync_to_async(services.relay_event_for_organization)(
            event_id=event_id, organization_id=self.identity.organization_id
        )
        if event is None:
            relay_metrics.rejected_event += 1
            self._events.pop(event_id, None)
            raise HubRefusal(f"event {event_id} is not one of your organization's events (or it is deleted or archived)")
        self._events[event_id] = (time.monotonic(), event)
        if event_id not in self._groups:
            self._groups.add(event_id)
            await self.channel_layer.group_add(relay_group_name(event_id), self.channel_name)
        return event

    def _rate(self) -> None:
        wait = self.bucket.take()
        if wait:
            relay_metrics.rate_limited += 1
            raise HubRefusal(f"too many messages; retry after {wait:.3f} s")

    # -- methods (each returns _VOID, a result, or (event id, [BusMessage]) to append)

    async def _heartbeat(self, event_id, version):
        event = await self._event(event_id)
        if event is not None:
            await live_event_mark(event_id=event.pk)
            await database_sync_to_async(services.relay_heartbeat_record)(
                event_id=event.pk, organization_id=self.identity.organization_id,
                version=_str_arg(version, "relayVersion")[:18],
            )
        return _VOID

    async def _heartbeat_v2(self, event_id, version):
        await self._heartbeat(event_id, version)
        # RelayTelemetry: there are no per-event pods to report here, and viewer counts are not tracked per client type.
        if self.codec.binary:
            return [[], []]
        return {"serviceStatuses": [], "eventConnections": []}

    async def _text_feed(self, kind: str, event_id, session_id, data):
        event = await self._event(event_id)
        if event is None:
            return _VOID
        self._rate()
        frame = frame_parse({"type": kind, "id": 1, "session_id": _int_arg(session_id, "sessionId"),
                             "data": data if isinstance(data, str) else _plain(data)})
        return event.pk, [BusMessage(kind=frame.bus_kind, session_id=frame.session_id, payload=frame.data)]

    async def _rmonitor(self, event_id, session_id, command):
        return await self._text_feed("rmonitor", event_id, session_id, command)

    async def _multiloop(self, event_id, session_id, command):
        return await self._text_feed("multiloop", event_id, session_id, command)

    async def _flagtronics(self, event_id, session_id, data):
        return await self._text_feed("ftcar", event_id, session_id, data)

    async def _flags(self, event_id, session_id, flags):
        return await self._text_feed("flags", event_id, session_id, models_list(flags, FLAG_KEYS, "flags"))

    async def _passings(self, event_id, session_id, passings):
        event = await self._event(event_id)
        if event is None:
            return _VOID
        self._rate()
        session_id = _int_arg(session_id, "sessionId")
        items = models_list(passings, PASSING_KEYS, "passings")
        for item in items:
            item["o"] = self.identity.organization_id
        messages = []
        for start in range(0, len(items), PASSING_CHUNK):
            frame = frame_parse({"type": "x2pass", "id": 1, "session_id": session_id,
                                 "data": items[start:start + PASSING_CHUNK]})
            messages.append(BusMessage(kind="x2pass", session_id=session_id, payload=frame.data))
        return (event.pk, messages) if messages else _VOID

    async def _loop_change(self, event_id, loops):
        event = await self._event(event_id)
        if event is None:
            return _VOID
        self._rate()
        items = models_list(loops, LOOP_KEYS, "loops")
        for item in items:
            item["organizationId"] = self.identity.organization_id
        frame = frame_parse({"type": "x2loop", "id": 1, "session_id": NO_SESSION, "data": items})
        return event.pk, [BusMessage(kind="x2loop", session_id=NO_SESSION, payload=frame.data)]

    async def _session_change(self, event_id, session_id, session_name, tz_offset):
        event = await self._event(event_id)
        if event is None:
            return _VOID
        self._rate()
        if isinstance(tz_offset, int) and not isinstance(tz_offset, bool):
            tz_offset = float(tz_offset)
        frame = frame_parse({"type": "session", "id": 1, "session_id": _int_arg(session_id, "sessionId"),
                             "name": _str_arg(session_name, "sessionName")[:64], "tz_offset": tz_offset})
        payload = await database_sync_to_async(services.relay_session_change)(
            event=event, session_id=frame.session_id, **frame.fields
        )
        # Appended at once (not batched): later data of this session must follow its session row.
        await bus_get().append_many(event_id=event.pk, items=[
            (BusMessage(kind="evtsessionchanged", session_id=frame.session_id, payload=payload), None, None)])
        await live_event_mark(event_id=event.pk)
        relay_metrics.accepted += 1
        return _VOID

    async def _competitors(self, event_id, competitors):
        event = await self._event(event_id)
        if event is None:
            return _VOID
        self._rate()
        items = models_list(competitors, COMPETITOR_KEYS, "competitors")
        frame = frame_parse({"type": "competitors", "id": 1, "session_id": NO_SESSION, "data": items})
        _, skipped = await database_sync_to_async(services.competitors_upsert)(event=event, competitors=items)
        if skipped:
            logger.info("signalr relay %s: competitors skipped: %s", self.identity.client_id, skipped[:20])
        return event.pk, [BusMessage(kind="competitors", session_id=NO_SESSION, payload=frame.data)]

    async def _logger_message(self, timestamp, level, state, exception):
        if isinstance(level, int) and not isinstance(level, bool):
            level = LOG_LEVELS[level] if 0 <= level < len(LOG_LEVELS) else str(level)
        await database_sync_to_async(services.relay_log_record)(
            organization_id=self.identity.organization_id, timestamp=_timestamp_arg(timestamp),
            level=_str_arg(level, "level")[:20], message=_str_arg(state, "state")[:1024],
            exception=_str_arg(exception, "exception")[:4096],
        )
        return _VOID

    # -- server → relay

    async def relay_resend(self, message):
        """The timing worker asks for the relay's data again: the reference's SendEventData(forceTimingDataReset)."""
        if self.codec is not None:
            await self._send_raw(self.codec.invocation("SendEventData", [bool(message.get("force", False))]))


_VOID = object()
