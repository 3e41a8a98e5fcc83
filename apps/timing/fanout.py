"""Fan-out of live timing to viewer sockets: one hub per server process, not one group member per socket.

The timing worker publishes each merged patch set once to the channel-layer group `evt-{event_id}` (see
`patches_publish`). Each server process joins that group with a single channel of its own (the hub), so a
`group_send` costs O(server processes), not O(viewers). For every event with viewers in this process the hub
keeps an `EventFeed`:

- the live state (`LiveState`), loaded from the worker's saved state and kept current by applying each patch set
  once per process; a short ring of recent patch sets bridges the gap between the saved state (written every
  0.25 s) and the stream, so a (re)load is state(seq S) + the ring's patch sets after S;
- each patch set is serialized once per wire format (JSON text, MessagePack binary) and framed once; the same
  bytes are written to every subscribed socket. On daphne the frame is an autobahn `PreparedMessage` written
  straight to each connection's transport; elsewhere (tests, other servers) it goes through the ASGI `send`;
- a gap in the stream (`from_seq` != the feed's seq) or a reset makes the feed reload and send every viewer the
  full state again (a reset is announced first);
- a viewer whose socket buffer grows past `HIGH_WATER` bytes stops getting patch sets; once it drains below
  `LOW_WATER` it gets the current full state and carries on. One that stays behind for `LAG_LIMIT_SECONDS` is
  disconnected, so a slow client can never grow the server's memory without bound.

Control-log updates arrive on the group `evt-{event_id}-cl` (see `control_log_publish`) and are forwarded the
same way; in-car payloads are computed once per subscribed car per patch set from the feed's live state.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import logging
import time
import weakref
from typing import Any, Awaitable, Callable, Iterable

import msgpack

from apps.timing.livestate import (
    LiveState,
    car_patches_to_msgpack,
    in_car_payload,
    in_car_to_msgpack,
    session_patch_to_msgpack,
)
from redmist.cancellation import task_stop

logger = logging.getLogger(__name__)

PATCH_TYPE = "timing.patches"
CONTROL_LOG_TYPE = "controllog.update"
HIGH_WATER = 64 * 1024
LOW_WATER = 16 * 1024
LAG_LIMIT_SECONDS = 30.0
RING_SIZE = 512
RESYNC_RETRY_SECONDS = 0.05
RESYNC_MAX_WAIT_SECONDS = 10.0


def event_group_name(event_id: int) -> str:
    return f"evt-{event_id}"


def control_log_group_name(event_id: int) -> str:
    return f"evt-{event_id}-cl"


async def patches_publish(*, channel_layer, event_id: int, message: dict) -> None:
    """What the timing worker calls for each merged patch set (one group_send, one member per server process)."""
    await channel_layer.group_send(event_group_name(event_id), message)


async def control_log_publish(*, channel_layer, event_id: int, log: dict) -> None:
    """Push a CarControlLogs (`{"cn": car or "", "entries": [...]}`, contract JSON names) to the viewers."""
    await channel_layer.group_send(control_log_group_name(event_id),
                                   {"type": CONTROL_LOG_TYPE, "event_id": event_id, "log": log})


# ---------------------------------------------------------------- frames

def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _msgpack_default(value: Any) -> Any:
    import datetime as dt

    if isinstance(value, dt.datetime):
        return msgpack.Timestamp.from_datetime(value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc))
    raise TypeError(f"cannot pack {type(value).__name__}")


def _msgpack_bytes(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_msgpack_default, use_bin_type=True, datetime=False)


class Frame:
    """One server→viewer message, serialized at most once per format and framed once per format."""

    __slots__ = ("_json", "_msgpack", "_json_bytes", "_msgpack_bytes", "_prepared")

    def __init__(self, json_obj: Callable[[], Any] | Any, msgpack_obj: Callable[[], Any] | Any | None = None) -> None:
        self._json = json_obj
        self._msgpack = msgpack_obj
        self._json_bytes: bytes | None = None
        self._msgpack_bytes: bytes | None = None
        self._prepared: dict[bool, Any] = {}

    def payload(self, binary: bool) -> bytes:
        if binary:
            if self._msgpack_bytes is None:
                source = self._msgpack if self._msgpack is not None else self._json
                obj = source() if callable(source) else source
                self._msgpack_bytes = obj if isinstance(obj, bytes) else _msgpack_bytes(obj)
            return self._msgpack_bytes
        if self._json_bytes is None:
            obj = self._json() if callable(self._json) else self._json
            self._json_bytes = obj if isinstance(obj, bytes) else _json_bytes(obj)
        return self._json_bytes

    def prepared(self, binary: bool):
        prepared = self._prepared.get(binary)
        if prepared is None:
            from autobahn.websocket.protocol import PreparedMessage

            # Server frames are unmasked, so one framing serves every connection; never compressed.
            prepared = self._prepared[binary] = PreparedMessage(self.payload(binary), binary, False, True)
        return prepared


# ---------------------------------------------------------------- viewers

class Viewer:
    """One socket as the hub sees it. `protocol` is daphne's autobahn protocol when the fast path is available."""

    __slots__ = ("send", "protocol", "transport", "sock", "binary", "lagging_since", "needs_state", "closed",
                 "subscriptions", "__weakref__")

    def __init__(self, *, send: Callable[[dict], Awaitable[None]], binary: bool) -> None:
        self.send = send
        self.binary = binary
        self.protocol = _daphne_protocol(send)
        self.transport = getattr(self.protocol, "transport", None)
        #: The plain TCP socket under the transport, for writing without a round trip through the reactor (None
        #: for TLS or anything else that is not a bare Twisted TCP connection).
        self.sock = _tcp_socket(self.transport)
        self.lagging_since: float | None = None
        self.needs_state: set[int] = set()
        self.closed = False
        self.subscriptions: set[tuple] = set()

    def pending(self) -> int:
        t = self.transport
        if t is None:
            return 0
        try:
            return len(t.dataBuffer) - t.offset + t._tempDataLen
        except AttributeError:
            return 0

    @property
    def fast(self) -> bool:
        return self.protocol is not None

    def write_now(self, frame: Frame) -> bool:
        """Fast path only: hand the prepared frame to the socket. False when the socket is not open."""
        protocol = self.protocol
        if protocol.state != 3:  # WebSocketProtocol.STATE_OPEN
            return False
        sock = self.sock
        t = self.transport
        if sock is None or protocol.send_queue or t.disconnecting or t._tempDataLen or len(t.dataBuffer) != t.offset:
            # Something is queued already (or no bare socket): keep the order by going through autobahn/Twisted.
            protocol.sendPreparedMessage(frame.prepared(self.binary))
            return True
        # Nothing queued: send straight away. Twisted's own transport.write would only buffer the bytes and register
        # the socket as a writer, costing an add_writer, a poll wake-up and a remove_writer per socket per message;
        # with thousands of sockets that reactor work, not the send itself, was most of the fan-out's time.
        data = frame.prepared(self.binary).payloadHybi
        try:
            sent = sock.send(data)
        except OSError:
            sent = 0  # would block, or the peer is gone: Twisted's write path finds out and handles it
        if sent < len(data):
            t.write(data[sent:])  # the rest waits in Twisted's buffer, counted by pending() like any other
        return True

    async def write(self, frame: Frame) -> None:
        if self.closed:
            return
        if self.protocol is not None:
            self.write_now(frame)
            return
        if self.binary:
            await self.send({"type": "websocket.send", "bytes": frame.payload(True)})
        else:
            await self.send({"type": "websocket.send", "text": frame.payload(False).decode()})

    async def close(self, code: int = 4008) -> None:
        if not self.closed:
            self.closed = True
            try:
                await self.send({"type": "websocket.close", "code": code})
            except Exception:  # already gone
                pass


def _tcp_socket(transport) -> Any:
    try:
        from twisted.internet.tcp import Connection
    except ImportError:  # pragma: no cover - daphne always brings Twisted
        return None
    if isinstance(transport, Connection) and hasattr(transport, "dataBuffer"):
        return transport.socket
    return None


def _daphne_protocol(send) -> Any:
    """daphne hands each application `functools.partial(server.handle_reply, protocol)`; find the protocol."""
    args = getattr(send, "args", None)
    if not args:
        return None
    protocol = args[0]
    if hasattr(protocol, "sendPreparedMessage") and hasattr(protocol, "transport") and hasattr(protocol, "state"):
        return protocol
    return None


# ---------------------------------------------------------------- per-event feed

class PatchSet:
    __slots__ = ("from_seq", "seq", "reset", "session", "cars", "relay_at", "frame")

    def __init__(self, message: dict) -> None:
        self.from_seq = int(message.get("from_seq") or 0)
        self.seq = int(message["seq"])
        self.reset = bool(message.get("reset"))
        self.session = message.get("session")
        self.cars = message.get("cars") or []
        self.relay_at = message.get("relay_at")
        self.frame: Frame | None = None


def patches_frame(event_id: int, ps: PatchSet) -> Frame:
    def as_json():
        # relayAt first: benchmarks read it from a fixed prefix without parsing the message.
        return {"type": "patches", "relayAt": ps.relay_at, "eventId": event_id, "fromSeq": ps.from_seq,
                "seq": ps.seq, "sessionPatch": ps.session, "carPatches": ps.cars}

    def as_msgpack():
        return {"type": "patches", "relayAt": ps.relay_at, "eventId": event_id, "fromSeq": ps.from_seq,
                "seq": ps.seq, "sessionPatch": session_patch_to_msgpack(ps.session),
                "carPatches": car_patches_to_msgpack(ps.cars)}

    return Frame(as_json, as_msgpack)


def state_frame(event_id: int, live: LiveState) -> Frame:
    seq = live.seq

    def as_json():
        head = _json_bytes({"type": "state", "eventId": event_id, "seq": seq})
        return head[:-1] + b',"state":' + _json_bytes(live.to_json()) + b"}"

    def as_msgpack():
        # Splice the state's MessagePack bytes in as the map's last value: no re-encoding.
        return (b"\x84" + _msgpack_bytes("type") + _msgpack_bytes("state") + _msgpack_bytes("eventId")
                + _msgpack_bytes(event_id) + _msgpack_bytes("seq") + _msgpack_bytes(seq)
                + _msgpack_bytes("state") + live.to_msgpack())

    frame = Frame(as_json, as_msgpack)
    # Render eagerly: the live state moves on with the next patch set.
    frame.payload(False)
    frame.payload(True)
    return frame


def message_frame(obj: dict, msgpack_obj: dict | None = None) -> Frame:
    return Frame(obj, msgpack_obj)


class EventFeed:
    def __init__(self, hub: "Hub", event_id: int) -> None:
        self.hub = hub
        self.event_id = event_id
        self.live: LiveState | None = None
        self.synced = False
        self.ring: collections.deque[PatchSet] = collections.deque(maxlen=RING_SIZE)
        self.viewers: set[Viewer] = set()
        self.in_car: dict[str, set[Viewer]] = {}
        self.in_car_last: dict[str, Any] = {}
        self._state_frame: Frame | None = None
        self._resync_task: asyncio.Task | None = None
        self.resyncs = 0
        #: Serializes patch application, (re)loads and state hand-outs, so no viewer sees a patch before its state.
        self.lock = asyncio.Lock()

    # -- state ---------------------------------------------------------------------------------

    def current_state_frame(self) -> Frame | None:
        if not self.synced or self.live is None:
            return None
        if self._state_frame is None:
            self._state_frame = state_frame(self.event_id, self.live)
        return self._state_frame

    def resync_start(self) -> None:
        self.synced = False
        self._state_frame = None
        if self._resync_task is None or self._resync_task.done():
            self._resync_task = asyncio.get_running_loop().create_task(self._resync(), name=f"resync-{self.event_id}")

    async def _resync(self) -> None:
        """state(seq S) + ring patch sets after S, once the saved state covers the last reset and chains on."""
        deadline = time.monotonic() + RESYNC_MAX_WAIT_SECONDS
        delay = RESYNC_RETRY_SECONDS
        while True:
            try:
                loaded = await self.hub.state_load(event_id=self.event_id)
            except Exception:
                logger.exception("event %s: loading the live state failed", self.event_id)
                loaded = None
            async with self.lock:
                live = self._rebuild(loaded)
                if live is None and time.monotonic() > deadline:
                    # The worker is gone or not saving: serve what the ring can prove, else an empty state.
                    live = self._rebuild(loaded, give_up=True)
                if live is not None:
                    await self._install(live)
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _install(self, live: LiveState) -> None:
        self.live = live
        self.synced = True
        self._state_frame = None
        self.resyncs += 1
        frame = self.current_state_frame()
        for viewer in list(self.viewers):
            if viewer.lagging_since is None:
                await self.hub.write(viewer, frame)
            else:
                viewer.needs_state.add(self.event_id)
        await self._in_car_refresh(force=True)

    def _rebuild(self, loaded: tuple[bytes, int] | None, give_up: bool = False) -> LiveState | None:
        last_reset = max((p.seq for p in self.ring if p.reset), default=None)
        if loaded is None:
            if self.ring and not give_up:
                # Patches are flowing but no state was saved yet: a fresh event starts from seq 0.
                if self.ring[0].from_seq != 0:
                    return None
                live = LiveState.empty(self.event_id)
            else:
                live = LiveState.empty(self.event_id)
                if give_up:
                    return live
        else:
            data, seq = loaded
            if last_reset is not None and seq < last_reset and not give_up:
                return None  # the saved state predates a reset we know of
            live = LiveState.from_msgpack(data, seq)
        for ps in self.ring:
            if ps.seq <= live.seq:
                continue
            if ps.from_seq != live.seq:
                if give_up:
                    break
                return None  # a hole between the saved state and the ring: wait for a newer state
            if ps.reset:
                if give_up:
                    break
                return None
            live.apply(ps.session, ps.cars, ps.seq)
        return live

    # -- patches -------------------------------------------------------------------------------

    async def on_patches(self, message: dict) -> None:
        async with self.lock:
            await self._on_patches(message)

    async def _on_patches(self, message: dict) -> None:
        ps = PatchSet(message)
        self.ring.append(ps)
        if not self.synced:
            return  # the resync in progress picks it up from the ring
        live = self.live
        if ps.seq <= live.seq:
            return  # old or repeated
        if ps.reset or ps.from_seq != live.seq:
            if ps.reset:
                await self.hub.broadcast(self, message_frame({"type": "reset", "eventId": self.event_id, "seq": ps.seq}))
            else:
                logger.info("event %s: patch gap (have %s, got %s→%s); reloading", self.event_id, live.seq,
                            ps.from_seq, ps.seq)
            self.resync_start()
            return
        live.apply(ps.session, ps.cars, ps.seq)
        self._state_frame = None
        ps.frame = patches_frame(self.event_id, ps)
        await self.hub.broadcast(self, ps.frame)
        if self.in_car and ps.cars:
            await self._in_car_refresh()

    # -- in-car --------------------------------------------------------------------------------

    def in_car_frame(self, car: str) -> Frame | None:
        if not self.synced:
            return None
        payload = in_car_payload(self.live, car)
        self.in_car_last[car] = payload
        return _in_car_frame(self.event_id, payload)

    async def _in_car_refresh(self, force: bool = False) -> None:
        for car, viewers in list(self.in_car.items()):
            if not viewers:
                continue
            payload = in_car_payload(self.live, car)
            if not force and payload == self.in_car_last.get(car):
                continue
            self.in_car_last[car] = payload
            frame = _in_car_frame(self.event_id, payload)
            for viewer in list(viewers):
                await self.hub.write(viewer, frame)


def _in_car_frame(event_id: int, payload: dict | None) -> Frame:
    return Frame({"type": "inCar", "eventId": event_id, "payload": payload},
                 lambda: {"type": "inCar", "eventId": event_id, "payload": in_car_to_msgpack(payload)})


# ---------------------------------------------------------------- the hub (one per process and event loop)

_gc_frozen = False


def _gc_freeze_start_up() -> None:
    """Once per process, when the first viewer subscribes: move everything start-up created (Django, the apps, the
    imported modules: ~120k tracked objects on daphne) out of the collector's reach. Each full collection then walks
    only what the connections themselves hold. Those full collections happen while thousands of viewers connect and
    stall every socket's delivery for their whole duration (100-270 ms at 2,000 viewers before this; the frozen
    objects were ~40 % of what each one walked). Start-up objects (nearly) all live as long as the process, so
    freezing them leaks next to nothing; garbage already present is collected first."""
    global _gc_frozen
    if not _gc_frozen:
        _gc_frozen = True
        gc.collect()
        gc.freeze()


StateLoader = Callable[..., Awaitable["tuple[bytes, int] | None"]]


class Hub:
    def __init__(self, *, channel_layer, state_loader: StateLoader) -> None:
        self.channel_layer = channel_layer
        self._state_loader = state_loader
        self.channel: str | None = None
        self.feeds: dict[int, EventFeed] = {}
        self.control_logs: dict[tuple[int, str], set[Viewer]] = {}
        self._groups: set[str] = set()
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self.stats = collections.Counter()

    async def state_load(self, *, event_id: int):
        return await self._state_loader(event_id=event_id)

    async def _ensure_running(self) -> None:
        if self.channel is None:
            _gc_freeze_start_up()
            self.channel = await self.channel_layer.new_channel("viewers.")
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._receive_loop(), name="viewer-hub")

    async def _group_join(self, group: str) -> None:
        if group not in self._groups:
            await self.channel_layer.group_add(group, self.channel)
            self._groups.add(group)

    async def _group_leave(self, group: str) -> None:
        if group in self._groups:
            self._groups.discard(group)
            try:
                await self.channel_layer.group_discard(group, self.channel)
            except Exception:
                logger.exception("leaving %s failed", group)

    async def _receive_loop(self) -> None:
        refreshed = time.monotonic()
        while True:
            try:
                message = await self.channel_layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("viewer hub: receiving from the channel layer failed; retrying")
                await asyncio.sleep(0.5)
                continue
            try:
                await self._dispatch(message)
            except Exception:
                logger.exception("viewer hub: handling %s failed", message.get("type"))
            now = time.monotonic()
            if now - refreshed > 3600:  # group membership expires after a day on channels-redis
                refreshed = now
                for group in list(self._groups):
                    await self.channel_layer.group_add(group, self.channel)

    async def _dispatch(self, message: dict) -> None:
        kind = message.get("type")
        if kind == PATCH_TYPE:
            self.stats["patch_sets"] += 1
            feed = self.feeds.get(int(message["event_id"]))
            if feed is not None:
                await feed.on_patches(message)
        elif kind == CONTROL_LOG_TYPE:
            event_id = int(message["event_id"])
            log = message.get("log") or {}
            viewers = self.control_logs.get((event_id, log.get("cn") or ""))
            if viewers:
                frame = control_log_frame(event_id, log)
                for viewer in list(viewers):
                    await self.write(viewer, frame)

    # -- writing ---------------------------------------------------------------------------------

    async def write(self, viewer: Viewer, frame: Frame | None) -> None:
        if frame is None or viewer.closed:
            return
        await viewer.write(frame)

    async def broadcast(self, feed: EventFeed, frame: Frame) -> None:
        """The hot path: the same framed bytes to every subscribed socket of this process."""
        slow: list[Viewer] = []
        fallback: list[Viewer] = []
        high = HIGH_WATER
        delivered = 0
        for viewer in feed.viewers:
            if viewer.protocol is None:
                fallback.append(viewer)
                continue
            if viewer.lagging_since is not None or viewer.pending() > high:
                slow.append(viewer)
                continue
            if viewer.write_now(frame):
                delivered += 1
        for viewer in fallback:
            await viewer.write(frame)
        self.stats["deliveries"] += delivered + len(fallback)
        if slow:
            await self._slow_viewers(feed, slow)

    async def _slow_viewers(self, feed: EventFeed, slow: list[Viewer]) -> None:
        now = time.monotonic()
        state = None
        for viewer in slow:
            if viewer.lagging_since is None:
                viewer.lagging_since = now
                self.stats["lagging"] += 1
                continue
            if viewer.pending() < LOW_WATER:
                # Caught up: the full state replaces everything it skipped.
                state = state or feed.current_state_frame()
                if state is not None:
                    viewer.lagging_since = None
                    viewer.needs_state.discard(feed.event_id)
                    self.stats["resynced_viewers"] += 1
                    await self.write(viewer, state)
            elif now - viewer.lagging_since > LAG_LIMIT_SECONDS:
                self.stats["dropped_viewers"] += 1
                await self.viewer_remove(viewer)
                await viewer.close(4008)

    # -- subscriptions ---------------------------------------------------------------------------

    async def subscribe_event(self, viewer: Viewer, event_id: int) -> None:
        async with self._lock:
            await self._ensure_running()
            feed = self.feeds.get(event_id)
            if feed is None:
                feed = self.feeds[event_id] = EventFeed(self, event_id)
                # Join first, then load: patch sets that arrive meanwhile wait in the ring.
                await self._group_join(event_group_name(event_id))
                feed.resync_start()
        viewer.subscriptions.add(("event", event_id))
        async with feed.lock:
            feed.viewers.add(viewer)
            # Not synced yet: the resync in progress sends the state to every viewer of the feed.
            await self.write(viewer, feed.current_state_frame())

    async def resync(self, viewer: Viewer, event_id: int) -> bool:
        feed = self.feeds.get(event_id)
        if feed is None or viewer not in feed.viewers:
            return False
        async with feed.lock:
            await self.write(viewer, feed.current_state_frame())
        return True

    async def unsubscribe_event(self, viewer: Viewer, event_id: int) -> None:
        viewer.subscriptions.discard(("event", event_id))
        feed = self.feeds.get(event_id)
        if feed is not None:
            feed.viewers.discard(viewer)
            await self._feed_release(feed)

    async def subscribe_in_car(self, viewer: Viewer, event_id: int, car: str) -> None:
        async with self._lock:
            await self._ensure_running()
            feed = self.feeds.get(event_id)
            if feed is None:
                feed = self.feeds[event_id] = EventFeed(self, event_id)
                await self._group_join(event_group_name(event_id))
                feed.resync_start()
        viewer.subscriptions.add(("incar", event_id, car))
        async with feed.lock:
            feed.in_car.setdefault(car, set()).add(viewer)
            await self.write(viewer, feed.in_car_frame(car))

    async def unsubscribe_in_car(self, viewer: Viewer, event_id: int, car: str) -> None:
        viewer.subscriptions.discard(("incar", event_id, car))
        feed = self.feeds.get(event_id)
        if feed is not None:
            viewers = feed.in_car.get(car)
            if viewers is not None:
                viewers.discard(viewer)
                if not viewers:
                    feed.in_car.pop(car, None)
                    feed.in_car_last.pop(car, None)
            await self._feed_release(feed)

    async def subscribe_control_log(self, viewer: Viewer, event_id: int, car: str, initial: dict) -> None:
        async with self._lock:
            await self._ensure_running()
            await self._group_join(control_log_group_name(event_id))
        viewer.subscriptions.add(("cl", event_id, car))
        self.control_logs.setdefault((event_id, car), set()).add(viewer)
        await self.write(viewer, control_log_frame(event_id, initial))

    async def unsubscribe_control_log(self, viewer: Viewer, event_id: int, car: str) -> None:
        viewer.subscriptions.discard(("cl", event_id, car))
        viewers = self.control_logs.get((event_id, car))
        if viewers is not None:
            viewers.discard(viewer)
            if not viewers:
                self.control_logs.pop((event_id, car), None)
        if not any(key[0] == event_id for key in self.control_logs):
            async with self._lock:
                await self._group_leave(control_log_group_name(event_id))

    async def _feed_release(self, feed: EventFeed) -> None:
        if feed.viewers or any(feed.in_car.values()):
            return
        async with self._lock:
            if feed.viewers or any(feed.in_car.values()) or self.feeds.get(feed.event_id) is not feed:
                return
            del self.feeds[feed.event_id]
            if feed._resync_task is not None:
                feed._resync_task.cancel()
            await self._group_leave(event_group_name(feed.event_id))

    async def viewer_remove(self, viewer: Viewer) -> None:
        for sub in list(viewer.subscriptions):
            if sub[0] == "event":
                await self.unsubscribe_event(viewer, sub[1])
            elif sub[0] == "incar":
                await self.unsubscribe_in_car(viewer, sub[1], sub[2])
            elif sub[0] == "cl":
                await self.unsubscribe_control_log(viewer, sub[1], sub[2])

    def viewer_count(self) -> int:
        return len({v for feed in self.feeds.values() for v in feed.viewers})


def control_log_frame(event_id: int, log: dict) -> Frame:
    from apps.controllog.selectors import car_control_logs_to_msgpack

    return Frame({"type": "controlLog", "eventId": event_id, "log": log},
                 lambda: {"type": "controlLog", "eventId": event_id, "log": car_control_logs_to_msgpack(log)})


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub]" = weakref.WeakKeyDictionary()


def hub_get() -> Hub:
    """This process's hub for the running event loop (tests run one loop per test)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        from channels.layers import get_channel_layer

        from apps.timing.selectors import live_state_load

        hub = _hubs[loop] = Hub(channel_layer=get_channel_layer(), state_loader=live_state_load)
    return hub


def hubs_reset() -> None:
    _hubs.clear()


async def hubs_close(*, timeout: float = 5.0) -> None:
    """Stop the running event loop's hub: cancel its receive loop and wait for it to end.

    For code that closes its event loop while the hub lives (tests): the loop's shutdown waits
    for every task still running, and a single cancel can be swallowed (redmist.cancellation),
    so the receive loop is stopped here, with task_stop, before that."""
    hub = _hubs.pop(asyncio.get_running_loop(), None)
    if hub is not None:
        await task_stop(hub._task, timeout=timeout)


def frames_for(items: Iterable[Any]) -> list[Frame]:  # pragma: no cover - convenience for benchmarks
    return [Frame(item) for item in items]
