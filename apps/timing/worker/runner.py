"""The always-on timing worker: owns live events through leases and runs the engine for each.

Per event (EventRunner): restore the last snapshot, re-apply the stream entries it does not cover,
then read new entries, apply them one at a time, publish one merged patch set per batch, hand laps,
flags and results to the database writer, and every second save a snapshot and ack what it covers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import os
import socket
import time
import uuid
from typing import Any

from asgiref.sync import sync_to_async

from apps.relay.bus import IngestBus, entry_id_key
from apps.relay.groups import relay_group_name
from apps.relay.liveness import live_events_list
from apps.timing import services
from apps.timing.engine.engine import PassResult, TimingEngine
from apps.timing.fanout import patches_publish
from apps.timing.worker.coordination import Snapshot
from apps.timing.worker.writer import PersistenceWriter
from redmist.cancellation import task_stop

logger = logging.getLogger(__name__)


def engine_clock(unix_seconds: float) -> dt.datetime:
    """The engine works in naive UTC datetimes (recordings carry no zone)."""
    return dt.datetime.fromtimestamp(unix_seconds, dt.UTC).replace(tzinfo=None)


@dataclasses.dataclass
class WorkerConfig:
    snapshot_seconds: float = 1.0
    state_seconds: float = 0.25
    tick_seconds: float = 1.0
    read_count: int = 200
    read_block_ms: int = 50
    poll_seconds: float = 1.0
    max_events: int = 50


@dataclasses.dataclass
class RunnerStats:
    applied: int = 0
    published: int = 0
    snapshots: int = 0
    skipped_replayed: int = 0
    latencies_ms: list[float] = dataclasses.field(default_factory=list)


def _merge(into: dict[str, Any], car_patches: list[dict]) -> None:
    for patch in car_patches:
        existing = into.get(patch["n"])
        if existing is None:
            into[patch["n"]] = dict(patch)
        else:
            existing.update(patch)


class EventRunner:
    def __init__(self, *, event_id: int, bus: IngestBus, coordinator, channel_layer, config: WorkerConfig) -> None:
        self.event_id = event_id
        self.bus = bus
        self.coordinator = coordinator
        self.channel_layer = channel_layer
        self.config = config
        self.consumer = coordinator.worker_id
        self.writer = PersistenceWriter(event_id=event_id)
        self.stats = RunnerStats()
        self.engine: TimingEngine | None = None
        self.last_entry = "0-0"
        self._unacked: list[str] = []
        self._published_seq = 0
        self._snapshot_task: asyncio.Task | None = None
        self._stopping = False
        self.lost_lease = False
        self.source_logging = False
        self._clock: tuple[float, float] | None = None  # (feed time of the last message, monotonic then)

    # ---------------------------------------------------------------- lifecycle

    async def run(self) -> None:
        self.writer.start()
        renew = asyncio.create_task(self._renew_lease(), name=f"lease-{self.event_id}")
        try:
            await self._start()
            last_snapshot = last_state = last_tick = time.monotonic()
            while not self._stopping and not self.lost_lease:
                try:
                    entries = await self.bus.read_new(event_id=self.event_id, consumer=self.consumer,
                                                      count=self.config.read_count, block_ms=self.config.read_block_ms)
                except Exception:
                    logger.exception("event %s: reading the ingest bus failed; retrying", self.event_id)
                    await asyncio.sleep(0.5)
                    continue
                if entries:
                    await self._apply_batch(entries)
                now = time.monotonic()
                if now - last_tick >= self.config.tick_seconds:
                    last_tick = now
                    await self._publish([self.engine.tick(self._idle_clock())], relay_at=None)
                if now - last_state >= self.config.state_seconds:
                    last_state = now
                    await self._save_state()
                if now - last_snapshot >= self.config.snapshot_seconds and self._unacked:
                    last_snapshot = now
                    self._schedule_snapshot()
        finally:
            await task_stop(renew)
            if not self.lost_lease:
                await self._final_snapshot()
            await self.writer.stop()

    def _idle_clock(self) -> dt.datetime:
        """Feed time advanced by the wall time since the last message, so quiet periods still count."""
        if self._clock is None:
            return engine_clock(time.time())
        feed_time, seen = self._clock
        return engine_clock(feed_time + (time.monotonic() - seen))

    async def stop(self, *, finish_session: bool = False) -> None:
        """Stop after the current batch; when the event is over, close its session with a result."""
        if finish_session and self.engine is not None and self.engine.cars:
            self.writer.put("result", self.engine.state_json())
        self._stopping = True

    async def _start(self) -> None:
        await self.bus.ensure_group(event_id=self.event_id)
        snapshot = await self.coordinator.snapshot_load(event_id=self.event_id)
        if snapshot is not None:
            self.engine = TimingEngine.restore(snapshot.engine)
            self.last_entry = snapshot.last_entry
            self._published_seq = snapshot.seq
        else:
            self.engine = TimingEngine(self.event_id)
        await self._publish(await self._load_event_settings(), relay_at=None)
        # Entries the previous owner read but never covered with a snapshot are applied again, in order.
        pending = await self.bus.claim_pending(event_id=self.event_id, consumer=self.consumer)
        if pending:
            await self._apply_batch(pending)
        await self._ask_relay_to_resend(force=False)
        logger.info("event %s: timing worker %s took over at entry %s (seq %s, %d pending re-applied)",
                    self.event_id, self.consumer, self.last_entry, self._published_seq, len(pending))

    async def _load_event_settings(self) -> list[PassResult]:
        row = await sync_to_async(services.event_worker_settings)(event_id=self.event_id)
        self.source_logging = bool(row and row["enable_source_data_logging"])
        loops = (row or {}).get("loops_metadata") or []
        if loops:
            # X2 loop roles come from the event row; the engine itself does no I/O.
            return [self.engine.apply("loopsmetadata", json.dumps(loops), session_id=self.engine.session.session_id,
                                      received_at=self._idle_clock())]
        return []

    async def _renew_lease(self) -> None:
        interval = self.coordinator.lease_ms / 3000
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self.coordinator.lease_renew(event_id=self.event_id):
                    logger.warning("event %s: lease lost; stopping without writing a snapshot", self.event_id)
                    self.lost_lease = True
                    return
            except Exception:
                logger.exception("event %s: lease renewal failed; will retry", self.event_id)

    # ---------------------------------------------------------------- applying

    async def _apply_batch(self, entries) -> None:
        engine = self.engine
        results: list[PassResult] = []
        sources = []
        earliest = None
        last_key = entry_id_key(self.last_entry)
        for entry_id, message in entries:
            self._unacked.append(entry_id)
            if entry_id_key(entry_id) <= last_key:
                self.stats.skipped_replayed += 1  # already inside the restored snapshot
                continue
            if message.source_time is not None:
                when = engine_clock(message.source_time)
                self._clock = (message.source_time, time.monotonic())
            else:
                when = self._idle_clock()  # never mix the feed's clock with the server's
            results.append(engine.apply(message.kind, message.payload, session_id=message.session_id, received_at=when))
            # Time-based rules run on the feed's clock after every message, exactly as a replay does.
            results.append(engine.tick(when))
            if message.kind == "evtconfchanged":
                results += await self._load_event_settings()
            self.last_entry = entry_id
            last_key = entry_id_key(entry_id)
            self.stats.applied += 1
            earliest = message.received_at if earliest is None else min(earliest, message.received_at)
            if self.source_logging:
                sources.append((message.kind, message.session_id, message.received_at, message.payload))
        if sources:
            self.writer.put("source", sources)
        await self._publish(results, relay_at=earliest)

    async def _publish(self, results: list[PassResult], *, relay_at: float | None) -> None:
        changed = [r for r in results if r.changed]
        if not changed:
            return
        session_patch: dict[str, Any] = {}
        cars: dict[str, Any] = {}
        reset = False
        for result in changed:
            if result.reset:
                # A reset replaces the state: earlier patches in this batch no longer matter.
                reset, session_patch, cars = True, {}, {}
            if result.session_patch:
                session_patch.update(result.session_patch)
            _merge(cars, result.car_patches)
            if result.completed_laps:
                self.writer.put("laps", result.completed_laps)
            if result.flag_periods is not None:
                self.writer.put("flags", (self.engine.session.session_id or 0, result.flag_periods))
            if result.finished_session is not None:
                self.writer.put("result", result.finished_session)
            if result.relay_reset_request:
                await self._ask_relay_to_resend(force=result.relay_reset_force)
        seq = changed[-1].seq
        message = {
            "type": "timing.patches",
            "event_id": self.event_id,
            "from_seq": self._published_seq,
            "seq": seq,
            "reset": reset,
            "session": session_patch or None,
            "cars": list(cars.values()),
            "relay_at": relay_at,
            "sent_at": time.time(),
        }
        self._published_seq = seq
        if relay_at is not None:
            self.stats.latencies_ms.append((time.time() - relay_at) * 1000)
            del self.stats.latencies_ms[:-10000]
        try:
            await patches_publish(channel_layer=self.channel_layer, event_id=self.event_id, message=message)
            self.stats.published += 1
        except Exception:
            # Viewers notice the sequence gap and reload the state; the data itself is safe.
            logger.exception("event %s: publishing patches failed", self.event_id)

    async def _ask_relay_to_resend(self, *, force: bool) -> None:
        try:
            await self.channel_layer.group_send(relay_group_name(self.event_id), {"type": "relay.resend", "force": force})
        except Exception:
            logger.exception("event %s: could not ask the relay to resend", self.event_id)

    # ---------------------------------------------------------------- snapshots

    async def _save_state(self) -> None:
        try:
            await self.coordinator.state_save(event_id=self.event_id, state=self.engine.state_msgpack(),
                                              seq=self._published_seq)
        except Exception:
            logger.exception("event %s: saving the live state failed", self.event_id)

    def _capture(self) -> tuple[Snapshot, list[str], int]:
        snapshot = Snapshot(engine=self.engine.snapshot(), last_entry=self.last_entry, seq=self._published_seq)
        covered, self._unacked = self._unacked, []
        return snapshot, covered, self.writer.marker()

    def _schedule_snapshot(self) -> None:
        if self._snapshot_task is not None and not self._snapshot_task.done():
            return  # the previous one still waits for the database; entries stay pending meanwhile
        snapshot, covered, marker = self._capture()
        self._snapshot_task = asyncio.create_task(self._commit_snapshot(snapshot, covered, marker))

    async def _commit_snapshot(self, snapshot: Snapshot, covered: list[str], marker: int) -> None:
        await self.writer.flush(marker)
        while True:
            try:
                if not await self.coordinator.snapshot_save(event_id=self.event_id, snapshot=snapshot):
                    self.lost_lease = True
                    return
                await self.bus.ack(event_id=self.event_id, entry_ids=covered)
                self.stats.snapshots += 1
                return
            except Exception:
                logger.exception("event %s: saving the snapshot failed; retrying", self.event_id)
                await asyncio.sleep(0.5)

    async def _final_snapshot(self) -> None:
        if self.engine is None:
            return
        if self._snapshot_task is not None:
            await asyncio.shield(self._snapshot_task)
        snapshot, covered, marker = self._capture()
        await self._save_state()
        await self._commit_snapshot(snapshot, covered, marker)


class TimingWorker:
    """Claims live events and runs one EventRunner per owned event."""

    def __init__(self, *, bus: IngestBus, coordinator, channel_layer, config: WorkerConfig | None = None) -> None:
        self.bus = bus
        self.coordinator = coordinator
        self.channel_layer = channel_layer
        self.config = config or WorkerConfig()
        self.runners: dict[int, EventRunner] = {}
        self.tasks: dict[int, asyncio.Task] = {}
        self.closing: set[int] = set()
        self.to_mark_not_live: set[int] = set()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        logger.info("timing worker %s started", self.coordinator.worker_id)
        try:
            while not self._stop.is_set():
                try:
                    await self._poll()
                except Exception:
                    logger.exception("timing worker: polling live events failed; retrying")
                try:
                    await asyncio.wait_for(self._stop.wait(), timeout=self.config.poll_seconds)
                except TimeoutError:
                    pass
        finally:
            for runner in self.runners.values():
                await runner.stop()
            if self.tasks:
                await asyncio.gather(*self.tasks.values(), return_exceptions=True)
            for event_id in list(self.runners):
                await self.coordinator.lease_release(event_id=event_id)

    async def _poll(self) -> None:
        live = await live_events_list()
        for event_id, task in list(self.tasks.items()):
            if task.done():
                if not task.cancelled() and task.exception() is not None:
                    logger.error("event %s: runner crashed", event_id, exc_info=task.exception())
                self.tasks.pop(event_id)
                self.runners.pop(event_id)
                await self.coordinator.lease_release(event_id=event_id)
                if event_id in self.closing:
                    self.closing.discard(event_id)
                    self.to_mark_not_live.add(event_id)
            elif event_id not in live and event_id not in self.closing:
                logger.info("event %s: no relay activity for the live timeout; closing it", event_id)
                self.closing.add(event_id)
                await self.runners[event_id].stop(finish_session=True)
        for event_id in list(self.to_mark_not_live):
            # Marked only once the runner has stored the final result; retried until the database takes it.
            await sync_to_async(services.event_mark_not_live)(event_id=event_id)
            self.to_mark_not_live.discard(event_id)
        for event_id in live:
            if event_id in self.tasks or len(self.tasks) >= self.config.max_events:
                continue
            if await self.coordinator.lease_acquire(event_id=event_id):
                runner = EventRunner(event_id=event_id, bus=self.bus, coordinator=self.coordinator,
                                     channel_layer=self.channel_layer, config=self.config)
                self.runners[event_id] = runner
                self.tasks[event_id] = asyncio.create_task(runner.run(), name=f"event-{event_id}")


def worker_id_new() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
