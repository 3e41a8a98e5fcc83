"""Build a TimingWorker for this process from settings: Redis-backed when REDIS_URL is set, else in-process."""

from __future__ import annotations

import asyncio
import logging

from channels.layers import get_channel_layer
from django.conf import settings

from apps.relay.bus import bus_get
from apps.timing.worker.coordination import RedisCoordinator, memory_coordinator
from apps.timing.worker.runner import TimingWorker, WorkerConfig, worker_id_new

logger = logging.getLogger(__name__)


def worker_build(*, worker_id: str | None = None, max_events: int | None = None) -> TimingWorker:
    bus = bus_get()
    if settings.REDIS_URL:
        coordinator = RedisCoordinator(redis=bus.redis, worker_id=worker_id or worker_id_new(),
                                       lease_ms=settings.WORKER_LEASE_MS)
    else:
        coordinator = memory_coordinator()
    config = WorkerConfig(
        snapshot_seconds=settings.WORKER_SNAPSHOT_SECONDS,
        max_events=max_events or settings.WORKER_MAX_EVENTS,
    )
    return TimingWorker(bus=bus, coordinator=coordinator, channel_layer=get_channel_layer(), config=config)


_embedded_task: asyncio.Task | None = None


def embedded_worker_ensure_started() -> None:
    """Embedded default: run the worker inside the server's event loop, started on the first connection."""
    global _embedded_task
    if _embedded_task is None or _embedded_task.done():
        worker = worker_build()
        _embedded_task = asyncio.get_running_loop().create_task(worker.run(), name="embedded-timing-worker")
        logger.info("embedded timing worker started")
