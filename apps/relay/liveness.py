"""Which events are live: a relay heartbeat or data frame in the last EVENT_LIVE_TIMEOUT_SECONDS.

Distributed: Redis hash `relay-evt-hb` (field = event id, value = unix time), readable by every worker.
Embedded: a dict in this process. Writes are throttled so a busy relay costs one HSET every few seconds.
"""

from __future__ import annotations

import time

from django.conf import settings

HASH_KEY = "relay-evt-hb"
_WRITE_EVERY_SECONDS = 2.0

_local: dict[int, float] = {}
_last_write: dict[int, float] = {}


def _redis():
    from apps.relay.bus import bus_get

    bus = bus_get()
    return getattr(bus, "redis", None)


async def live_event_mark(*, event_id: int, now: float | None = None) -> bool:
    """Record activity for an event. Returns True when the mark was actually written (not throttled)."""
    now = time.time() if now is None else now
    if now - _last_write.get(event_id, 0.0) < _WRITE_EVERY_SECONDS:
        return False
    _last_write[event_id] = now
    _local[event_id] = now
    client = _redis()
    if client is not None:
        await client.hset(HASH_KEY, str(event_id), repr(now))
    return True


async def live_events_list(*, now: float | None = None) -> dict[int, float]:
    """Live event ids with their last activity time; expired entries are dropped from the registry."""
    now = time.time() if now is None else now
    timeout = settings.EVENT_LIVE_TIMEOUT_SECONDS
    client = _redis()
    if client is not None:
        raw = await client.hgetall(HASH_KEY)
        marks = {int(k): float(v) for k, v in raw.items()}
    else:
        marks = dict(_local)
    expired = [event_id for event_id, seen in marks.items() if now - seen > timeout]
    if expired:
        if client is not None:
            await client.hdel(HASH_KEY, *[str(e) for e in expired])
        for event_id in expired:
            _local.pop(event_id, None)
    return {event_id: seen for event_id, seen in marks.items() if event_id not in expired}


def liveness_reset() -> None:
    _local.clear()
    _last_write.clear()
