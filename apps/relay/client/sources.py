"""Where a relay's timing data comes from: an Orbits TCP feed or a recording replayed at N× speed.

A source yields SourceMessage items: (kind, payload, source_time as unix seconds). Recording times are
naive (track clock); they are labelled UTC so the server's engine sees the same clock as a replay.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

from apps.timing.engine.replayfile import read_messages

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class SourceMessage:
    kind: str
    payload: str
    source_time: float


def _unix(when: dt.datetime) -> float:
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


class FileSource:
    """Replay a recording; `speed=None` sends as fast as the connection takes it.

    Gaps longer than `max_gap` seconds of feed time (between sessions, between recordings) are shortened
    to `max_gap`, so a demo does not sit silent for an hour.
    """

    def __init__(self, paths: list[Path], *, speed: float | None = 1.0, max_gap: float = 10.0) -> None:
        self.paths = paths
        self.speed = speed
        self.max_gap = max_gap
        self.total = 0
        self.sent = 0

    def load(self) -> list[SourceMessage]:
        messages = []
        for path in self.paths:
            messages += [SourceMessage(m.kind, m.payload, _unix(m.received_at)) for m in read_messages(path)]
        self.total = len(messages)
        return messages

    async def messages(self) -> AsyncIterator[SourceMessage]:
        messages = self.load()
        due = time.monotonic()
        previous = messages[0].source_time if messages else 0.0
        for message in messages:
            if self.speed:
                due += min(max(message.source_time - previous, 0.0), self.max_gap) / self.speed
                previous = message.source_time
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            self.sent += 1
            yield message


class TcpLineSource:
    """An Orbits RMonitor (default port 50000) or Multiloop feed: lines that arrive together form one message."""

    def __init__(self, host: str, port: int, *, kind: str = "rmonitor", reconnect_seconds: float = 2.0) -> None:
        self.host, self.port, self.kind = host, port, kind
        self.reconnect_seconds = reconnect_seconds
        self.total = 0
        self.sent = 0
        self.connected = False

    async def messages(self) -> AsyncIterator[SourceMessage]:
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                logger.warning("timing feed %s:%s unreachable (%s); retrying", self.host, self.port, exc)
                await asyncio.sleep(self.reconnect_seconds)
                continue
            self.connected = True
            partial = b""
            try:
                while True:
                    chunk = await reader.read(65536)
                    if not chunk:
                        break
                    partial += chunk
                    complete, _, partial = partial.rpartition(b"\n")
                    if complete:
                        text = complete.decode("utf-8", errors="replace")
                        self.sent += 1
                        yield SourceMessage(self.kind, text, time.time())
            finally:
                self.connected = False
                writer.close()
            logger.warning("timing feed %s:%s closed; reconnecting", self.host, self.port)
            await asyncio.sleep(self.reconnect_seconds)
