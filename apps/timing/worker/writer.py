"""Database writes of the timing worker, off the live path: queued, batched, retried until they succeed.

`flush()` resolves once everything queued before it is in the database; the runner waits on it
before saving a snapshot, so a snapshot (and the stream acks that follow it) never gets ahead of the
laps, flags and results it implies.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from apps.events.selectors import status_cache_bump
from apps.timing import services
from redmist.cancellation import task_stop

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 10.0


class PersistenceWriter:
    def __init__(self, *, event_id: int) -> None:
        self.event_id = event_id
        self._queue: list[tuple[str, Any]] = []
        self._wake = asyncio.Event()
        self._written = 0  # items written so far
        self._enqueued = 0
        self._progress = asyncio.Condition()
        self.failures = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"writer-{self.event_id}")

    async def stop(self) -> None:
        await task_stop(self._task)

    def put(self, kind: str, item: Any) -> None:
        self._queue.append((kind, item))
        self._enqueued += 1
        self._wake.set()

    @property
    def backlog(self) -> int:
        return self._enqueued - self._written

    def marker(self) -> int:
        return self._enqueued

    async def flush(self, marker: int | None = None) -> None:
        target = self._enqueued if marker is None else marker
        async with self._progress:
            await self._progress.wait_for(lambda: self._written >= target)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue, []
                delay = 0.2
                while True:
                    try:
                        await sync_to_async(self._write, thread_sensitive=False)(batch)
                        break
                    except Exception:
                        self.failures += 1
                        logger.exception("event %s: database write failed; retrying in %.1f s", self.event_id, delay)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, MAX_BACKOFF_SECONDS)
                async with self._progress:
                    self._written += len(batch)
                    self._progress.notify_all()

    def _write(self, batch: list[tuple[str, Any]]) -> None:
        close_old_connections()
        try:
            laps: list = []
            flags: dict[int, list] = {}
            sources: list = []
            results: list = []
            for kind, item in batch:
                if kind == "laps":
                    laps.extend(item)
                elif kind == "flags":
                    session_id, periods = item
                    flags[session_id] = periods  # only the newest list per session matters
                elif kind == "source":
                    sources.extend(item)
                elif kind == "result":
                    results.append(item)
            if laps:
                services.car_laps_store(event_id=self.event_id, laps=laps)
            for session_id, periods in flags.items():
                services.flag_periods_store(event_id=self.event_id, session_id=session_id, periods=periods)
            for state in results:
                services.session_result_store(event_id=self.event_id, state=state)
            if sources:
                services.source_logs_store(event_id=self.event_id, messages=sources)
            if laps or flags or results:
                # Bulk writes fire no model signals: tell the status API's cache directly.
                status_cache_bump(event_id=self.event_id)
        finally:
            close_old_connections()


