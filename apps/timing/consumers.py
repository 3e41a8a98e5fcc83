"""The viewer socket (`ws/status/`): anonymous, JSON by default, MessagePack on request. Protocol: docs/api-status.md.

The consumer is deliberately thin and has no channel-layer channel of its own: subscriptions go to this
process's hub (apps.timing.fanout), which receives each patch set once and writes the same bytes to every socket.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import weakref
from typing import Any
from urllib.parse import parse_qs

import msgpack
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from apps.events.selectors import ACCESS_DENIED_MESSAGE, Access, event_access_check
from apps.timing.fanout import Frame, Viewer, hub_get

logger = logging.getLogger(__name__)

MSGPACK_SUBPROTOCOLS = ("redmist.msgpack", "messagepack", "msgpack")
JSON_SUBPROTOCOLS = ("redmist.json", "json")
MAX_CLIENT_MESSAGE_BYTES = 64 * 1024

EVENT_METHODS = {"subscribetoevent", "subscribetoeventv2", "subscribetoeventv2withcode"}
EVENT_UNSUB = {"unsubscribefromevent", "unsubscribefromeventv2"}
INCAR_METHODS = {"subscribetoincardriverevent", "subscribetoincardrivereventv2"}
INCAR_UNSUB = {"unsubscribefromincardriverevent", "unsubscribefromincardrivereventv2"}


# Django keeps its cache clients in an asgiref Local, i.e. per asyncio context, and a sync call run from a socket's
# own task hands what it created back to that task's context. So every viewer whose access check touched the cache
# kept its own Redis client, connection pool and open connection for as long as the socket lived (several KiB and
# one Redis connection per viewer). The viewers' sync calls therefore run in one context per event loop, shared by
# all its sockets: one cache client in all. They run one at a time (they share asgiref's single database thread
# anyway), because asgiref marks that thread as busy in the calling context and would refuse a second call in the
# same context while the first is running.
_sync_contexts: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[contextvars.Context, asyncio.Lock]]" = (
    weakref.WeakKeyDictionary())


async def _run_sync(func, **kwargs):
    loop = asyncio.get_running_loop()
    shared = _sync_contexts.get(loop)
    if shared is None:
        shared = _sync_contexts[loop] = (contextvars.Context(), asyncio.Lock())
    context, lock = shared
    async with lock:
        return await loop.create_task(database_sync_to_async(func)(**kwargs), context=context)


class ProtocolError(Exception):
    pass


def _int_arg(args: list, index: int, name: str) -> int:
    try:
        return int(args[index])
    except (IndexError, TypeError, ValueError):
        raise ProtocolError(f"{name} must be an integer") from None


def _str_arg(args: list, index: int, name: str, *, optional: bool = False) -> str | None:
    if index >= len(args) or args[index] is None:
        if optional:
            return None
        raise ProtocolError(f"{name} is required")
    return str(args[index])


class StatusConsumer(AsyncWebsocketConsumer):
    """One viewer. Thin: parse an invocation, check access, hand it to the hub."""

    async def __call__(self, scope, receive, send):
        # No per-socket channel-layer channel (the hub has one per process) and no extra dispatch task.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message):
        handler = getattr(self, message["type"].replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # -- lifecycle ----------------------------------------------------------------------------------

    async def connect(self):
        offered = [p.lower() for p in self.scope.get("subprotocols") or []]
        query = parse_qs((self.scope.get("query_string") or b"").decode())
        wanted = (query.get("protocol") or query.get("format") or [""])[0].lower()
        subprotocol = None
        binary = wanted in MSGPACK_SUBPROTOCOLS
        for name in offered:
            if name in MSGPACK_SUBPROTOCOLS or name in JSON_SUBPROTOCOLS:
                subprotocol = name
                binary = name in MSGPACK_SUBPROTOCOLS
                break
        await self.accept(subprotocol)
        self.viewer = Viewer(send=self.base_send, binary=binary)

    async def disconnect(self, code):
        viewer = getattr(self, "viewer", None)
        if viewer is not None:
            viewer.closed = True
            await hub_get().viewer_remove(viewer)

    # -- invocations ----------------------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        size = len(text_data or "") + len(bytes_data or b"")
        if size > MAX_CLIENT_MESSAGE_BYTES:
            await self._reply({"type": "error", "id": None, "error": "Message too large."})
            return
        try:
            message = json.loads(text_data) if text_data is not None else msgpack.unpackb(bytes_data, raw=False)
            if not isinstance(message, dict):
                raise ProtocolError("expected an object with method and args")
            invocation_id = message.get("id")
            method = str(message.get("method") or message.get("target") or "")
            args = message.get("args", message.get("arguments", []))
            if not isinstance(args, list):
                raise ProtocolError("args must be a list")
        except (ValueError, ProtocolError, msgpack.UnpackException) as exc:
            await self._reply({"type": "error", "id": None, "error": f"Bad message: {exc}"})
            return
        try:
            error = await self._invoke(method, args, invocation_id)
        except ProtocolError as exc:
            error = str(exc)
        if error is not None:
            await self._reply({"type": "error", "id": invocation_id, "method": method, "error": error})

    async def _reply(self, obj: dict) -> None:
        await self.viewer.write(Frame(obj))

    async def _ok(self, method: str, invocation_id: Any = None) -> None:
        await self._reply({"type": "ok", "id": invocation_id, "method": method})

    async def _check(self, event_id: int, code: str | None) -> str | None:
        access = await _run_sync(event_access_check, event_id=event_id, access_code=code)
        if access is Access.NOT_FOUND:
            return "Event not found."
        if access is Access.DENIED:
            return ACCESS_DENIED_MESSAGE
        return None

    async def _invoke(self, method: str, args: list, invocation_id: Any = None) -> str | None:
        hub = hub_get()
        viewer = self.viewer
        name = method.lower()
        if name in EVENT_METHODS:
            event_id = _int_arg(args, 0, "eventId")
            error = await self._check(event_id, _str_arg(args, 1, "accessCode", optional=True))
            if error:
                return error
            await self._ok(method, invocation_id)
            if event_id > 0:
                await hub.subscribe_event(viewer, event_id)
        elif name in EVENT_UNSUB:
            await hub.unsubscribe_event(viewer, _int_arg(args, 0, "eventId"))
            await self._ok(method, invocation_id)
        elif name == "resync":
            if not await hub.resync(viewer, _int_arg(args, 0, "eventId")):
                return "Not subscribed to this event."
            await self._ok(method, invocation_id)
        elif name in ("subscribetocontrollogs", "subscribetocarcontrollogs"):
            event_id = _int_arg(args, 0, "eventId")
            car = _str_arg(args, 1, "carNum") if name == "subscribetocarcontrollogs" else ""
            code = _str_arg(args, 2 if car else 1, "accessCode", optional=True)
            error = await self._check(event_id, code)
            if error:
                return error
            from apps.controllog.selectors import car_control_logs

            initial = await _run_sync(car_control_logs, event_id=event_id, car_number=car)
            await self._ok(method, invocation_id)
            await hub.subscribe_control_log(viewer, event_id, car, initial)
        elif name in ("unsubscribefromcontrollogs", "unsubscribefromcarcontrollogs"):
            car = _str_arg(args, 1, "carNum") if name == "unsubscribefromcarcontrollogs" else ""
            await hub.unsubscribe_control_log(viewer, _int_arg(args, 0, "eventId"), car)
            await self._ok(method, invocation_id)
        elif name in INCAR_METHODS:
            event_id = _int_arg(args, 0, "eventId")
            car = _str_arg(args, 1, "car")
            error = await self._check(event_id, _str_arg(args, 2, "accessCode", optional=True))
            if error:
                return error
            await self._ok(method, invocation_id)
            await hub.subscribe_in_car(viewer, event_id, car)
        elif name in INCAR_UNSUB:
            await hub.unsubscribe_in_car(viewer, _int_arg(args, 0, "eventId"), _str_arg(args, 1, "car"))
            await self._ok(method, invocation_id)
        else:
            return f"Unknown method {method!r}."
        return None
