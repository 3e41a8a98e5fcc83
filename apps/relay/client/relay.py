"""The track-side relay: reads a timing source and streams it to the server's relay socket.

It never loses a message: everything goes through the numbered Outbox, is sent in order within a window
of unacked frames, and after any disconnect or refusal it goes back to the first unacked number and
resends from there (the server drops what it already has). It reconnects with back-off, sends
heartbeats, and answers the server's request for its cached data.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import websockets

from apps.relay.client.outbox import Outbox
from apps.relay.client.sources import SourceMessage

logger = logging.getLogger(__name__)

NO_SESSION = 999999
BATCH = 100
BATCH_BYTES = 256 * 1024  # well under the server's default 1 MiB frame limit
_RUN_RE = re.compile(r'^\$B,\s*"?(\d+)"?\s*,\s*"?([^"\r\n]*)"?')
# Records whose latest value per key makes up the relay's cached picture of the session.
_CACHED = ("$B", "$C", "$E", "$A", "$COMP", "$G", "$H", "$J")


@dataclasses.dataclass
class RelayStatus:
    state: str = "starting"
    sent: int = 0
    acked: int = 0
    resent: int = 0
    refused: int = 0
    reconnects: int = 0
    source_total: int = 0
    source_read: int = 0
    last_error: str = ""


class RmonitorCache:
    def __init__(self) -> None:
        self._lines: dict[tuple[str, str], str] = {}

    def update(self, payload: str) -> None:
        for line in payload.splitlines():
            line = line.strip().lstrip("\ufeff")
            record, _, rest = line.partition(",")
            if record in _CACHED:
                key = "" if record == "$B" else rest.split(",", 1)[0]
                self._lines[(record, key)] = line

    def dump(self) -> str:
        order = {record: index for index, record in enumerate(_CACHED)}
        return "\n".join(line for (record, _), line in sorted(self._lines.items(), key=lambda kv: order[kv[0][0]]))


class Relay:
    def __init__(
        self,
        *,
        url: str,
        event_id: int,
        headers: Callable[[], dict[str, str]],
        source,
        version: str = "py-relay-0.1",
        heartbeat_seconds: float = 10.0,
        window: int = 500,
        spill_dir: Path | None = None,
        exit_when_done: bool = True,
    ) -> None:
        self.url = url
        self.event_id = event_id
        self.headers = headers
        self.source = source
        self.version = version
        self.heartbeat_seconds = heartbeat_seconds
        self.window = window
        self.exit_when_done = exit_when_done
        self.epoch = uuid.uuid4().hex
        spill = spill_dir / f"relay-{self.epoch}.jsonl" if spill_dir else None
        self.outbox = Outbox(spill_path=spill)
        self.cache = RmonitorCache()
        self.session_id = NO_SESSION
        self.session_name = ""
        self.status = RelayStatus()
        self._more = asyncio.Event()
        self._source_done = False
        self._stop = asyncio.Event()

    # ------------------------------------------------------------ producing

    def _enqueue(self, frame: dict) -> None:
        self.outbox.add(frame)
        self._more.set()

    def _on_source(self, message: SourceMessage) -> None:
        if message.kind == "rmonitor":
            for line in message.payload.splitlines():
                match = _RUN_RE.match(line.strip().lstrip("\ufeff"))
                if match and int(match.group(1)) != self.session_id:
                    self.session_id, self.session_name = int(match.group(1)), match.group(2).strip()[:64]
                    self._enqueue({"type": "session", "session_id": self.session_id, "name": self.session_name,
                                   "tz_offset": 0.0, "ts": message.source_time})
            self.cache.update(message.payload)
        self._enqueue({"type": message.kind, "session_id": self.session_id, "data": message.payload,
                       "ts": message.source_time})

    async def _produce(self) -> None:
        async for message in self.source.messages():
            self._on_source(message)
            self.status.source_read += 1
            self.status.source_total = getattr(self.source, "total", 0)
        self._source_done = True
        self._more.set()

    def resend_cached(self, *, force: bool) -> None:
        if self.session_id != NO_SESSION:
            self._enqueue({"type": "session", "session_id": self.session_id, "name": self.session_name, "tz_offset": 0.0})
        if force:
            cached = self.cache.dump()
            if cached:
                self._enqueue({"type": "rmonitor", "session_id": self.session_id, "data": cached})

    @property
    def finished(self) -> bool:
        return self._source_done and len(self.outbox) == 0

    # ------------------------------------------------------------ connection

    async def run(self) -> RelayStatus:
        producer = asyncio.create_task(self._produce(), name="relay-source")
        backoff = 0.5
        try:
            while not self._stop.is_set():
                if self.exit_when_done and self.finished:
                    break
                try:
                    self.status.state = "connecting"
                    async with websockets.connect(self.url, additional_headers=self.headers(), compression=None,
                                                  max_size=2**24, open_timeout=10, ping_interval=20) as socket:
                        backoff = 0.5
                        await self._session(socket)
                except (OSError, websockets.WebSocketException, asyncio.TimeoutError, RelayRefused) as exc:
                    # OSError covers an unreachable token endpoint too: retried like a lost connection.
                    self.status.last_error = f"{type(exc).__name__}: {exc}"
                    if isinstance(exc, RelayRefused) and exc.fatal:
                        self.status.state = "refused"
                        raise
                if self.exit_when_done and self.finished:
                    break
                self.status.state = "disconnected"
                self.status.reconnects += 1
                logger.warning("relay disconnected (%s); reconnecting in about %.1f s, %d messages waiting",
                               self.status.last_error or "connection closed", backoff, len(self.outbox))
                await asyncio.sleep(backoff + random.uniform(0, backoff / 2))
                backoff = min(backoff * 2, 30.0)
        finally:
            producer.cancel()
        self.status.state = "done"
        return self.status

    def stop(self) -> None:
        self._stop.set()
        self._more.set()

    async def _session(self, socket) -> None:
        await socket.send(json.dumps({"type": "hello", "event_id": self.event_id, "epoch": self.epoch,
                                      "version": self.version}))
        welcome = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
        if welcome.get("type") != "welcome":
            fatal = welcome.get("code") in ("unauthorized", "forbidden", "bad_frame")
            raise RelayRefused(f"{welcome.get('code')}: {welcome.get('error')}", fatal=fatal)
        self.outbox.ack_through(int(welcome.get("last_id", 0)))
        self.status.state = "connected"
        self._sent_through = self.outbox.acked_through
        self._pause_until = 0.0
        reader = asyncio.create_task(self._read(socket))
        heartbeat = asyncio.create_task(self._heartbeat(socket))
        try:
            await self._write(socket, reader)
        finally:
            reader.cancel()
            heartbeat.cancel()

    async def _write(self, socket, reader: asyncio.Task) -> None:
        while not reader.done() and not self._stop.is_set():
            if self.exit_when_done and self.finished:
                await socket.close()
                return
            wait = self._pause_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            room = self.window - (self._sent_through - self.outbox.acked_through)
            frames = self.outbox.unacked(after=self._sent_through, limit=room) if room > 0 else []
            if not frames:
                self._more.clear()
                try:
                    await asyncio.wait_for(self._more.wait(), timeout=0.5)
                except TimeoutError:
                    pass
                continue
            # A backlog goes out packed: up to BATCH messages and BATCH_BYTES per WebSocket frame.
            for chunk in _chunks(frames):
                body = chunk[0] if len(chunk) == 1 else {"type": "batch", "frames": chunk}
                await socket.send(json.dumps(body, separators=(",", ":")))
                self.status.sent += len(chunk)
            self._sent_through = frames[-1]["id"]
        if reader.done() and reader.exception():
            raise reader.exception()

    async def _read(self, socket) -> None:
        async for raw in socket:
            reply = json.loads(raw)
            kind = reply.get("type")
            if kind == "ack":
                self.outbox.ack_through(reply["id"])
                self.status.acked = self.outbox.acked_through
                self._more.set()
            elif kind == "error":
                code = reply.get("code")
                self.status.refused += 1
                self.status.last_error = f"{code}: {reply.get('error')}"
                frame_id = reply.get("id")
                if code == "unauthorized":
                    raise RelayRefused(self.status.last_error, fatal=True)
                if frame_id is None and self._sent_through > self.outbox.acked_through:
                    frame_id = self.outbox.acked_through + 1  # a refused batch: go back to its start
                if frame_id is not None and frame_id > self.outbox.acked_through:
                    # Go back: everything from the first refused number is sent again, in order.
                    resend_from = reply.get("expected", frame_id)
                    if resend_from - 1 < self._sent_through:
                        self.status.resent += self._sent_through - (resend_from - 1)
                        self._sent_through = max(self.outbox.acked_through, resend_from - 1)
                    if code != "out_of_order":
                        self._pause_until = time.monotonic() + float(reply.get("retry_after", 1.0))
                    self._more.set()
            elif kind == "send_event_data":
                self.resend_cached(force=bool(reply.get("force")))

    async def _heartbeat(self, socket) -> None:
        while True:
            await socket.send(json.dumps({"type": "heartbeat", "version": self.version}))
            await asyncio.sleep(self.heartbeat_seconds)


def _chunks(frames: list[dict]):
    chunk: list[dict] = []
    size = 0
    for frame in frames:
        length = len(frame.get("data") or "") + 100
        if chunk and (len(chunk) >= BATCH or size + length > BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(frame)
        size += length
    if chunk:
        yield chunk


class RelayRefused(Exception):
    def __init__(self, message: str, *, fatal: bool) -> None:
        super().__init__(message)
        self.fatal = fatal
