"""In-process ingest bus for the embedded default: same contract as Redis Streams, nothing survives a restart."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from apps.relay.bus import AppendResult, BusMessage


class _EventLog:
    def __init__(self) -> None:
        self.entries: list[tuple[str, BusMessage]] = []
        self.delivered = 0  # index of the first entry not yet handed to any consumer
        self.pending: dict[str, BusMessage] = {}
        self.dedup: dict[str, int] = {}
        self.changed = asyncio.Event()
        self.last_ms = 0
        self.seq = 0


class InProcessBus:
    def __init__(self) -> None:
        self._logs: dict[int, _EventLog] = defaultdict(_EventLog)

    def _next_id(self, log: _EventLog) -> str:
        now = int(time.time() * 1000)
        if now <= log.last_ms:
            log.seq += 1
        else:
            log.last_ms, log.seq = now, 0
        return f"{log.last_ms}-{log.seq}"

    async def append(self, *, event_id, message, dedup_key=None, dedup_id=None) -> AppendResult:
        log = self._logs[event_id]
        if dedup_key is not None and dedup_id is not None:
            last = log.dedup.get(dedup_key, 0)
            if dedup_id <= last:
                return AppendResult(entry_id=None, duplicate=True)
            if dedup_id > last + 1:
                return AppendResult(entry_id=None, duplicate=False, expected_id=last + 1)
            log.dedup[dedup_key] = dedup_id
        entry_id = self._next_id(log)
        log.entries.append((entry_id, message))
        log.changed.set()
        return AppendResult(entry_id=entry_id, duplicate=False)

    async def append_many(self, *, event_id, items):
        return [await self.append(event_id=event_id, message=message, dedup_key=key, dedup_id=frame_id)
                for message, key, frame_id in items]

    async def last_dedup_id(self, *, event_id, dedup_key) -> int:
        return self._logs[event_id].dedup.get(dedup_key, 0)

    async def ensure_group(self, *, event_id) -> None:
        self._logs[event_id]

    async def read_new(self, *, event_id, consumer, count=100, block_ms=50):
        log = self._logs[event_id]
        if log.delivered >= len(log.entries):
            log.changed.clear()
            try:
                await asyncio.wait_for(log.changed.wait(), timeout=block_ms / 1000)
            except TimeoutError:
                return []
        batch = log.entries[log.delivered : log.delivered + count]
        log.delivered += len(batch)
        for entry_id, message in batch:
            log.pending[entry_id] = message
        return batch

    async def claim_pending(self, *, event_id, consumer):
        return list(self._logs[event_id].pending.items())

    async def ack(self, *, event_id, entry_ids) -> None:
        log = self._logs[event_id]
        for entry_id in entry_ids:
            log.pending.pop(entry_id, None)
        # Acked entries at the front are never needed again; keep memory flat over an 8-hour race.
        drop = 0
        while drop < log.delivered and log.entries[drop][0] not in log.pending:
            drop += 1
        if drop:
            del log.entries[:drop]
            log.delivered -= drop

    async def length(self, *, event_id) -> int:
        return len(self._logs[event_id].entries)

    async def close(self) -> None:
        return None
