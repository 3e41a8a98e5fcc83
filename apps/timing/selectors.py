"""Reads of live timing: the state the timing worker saves (MessagePack SessionState + its patch sequence number).

Distributed mode: the Redis hash `evt-{id}-state` (fields `state`, `seq`) written by the worker's RedisCoordinator.
Embedded mode: the in-process coordinator the embedded worker shares with the server.
"""

from __future__ import annotations

import asyncio
import threading
import weakref

from django.conf import settings

from apps.timing.worker.coordination import memory_coordinator, state_key

_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, object]" = weakref.WeakKeyDictionary()
_sync_client = None
_sync_lock = threading.Lock()


def _async_redis():
    import redis.asyncio as aioredis

    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2,
                                                                socket_timeout=5)
    return client


def _sync_redis():
    global _sync_client
    with _sync_lock:
        if _sync_client is None:
            import redis

            _sync_client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
        return _sync_client


def _decode(data: dict) -> tuple[bytes, int] | None:
    if not data or b"state" not in data:
        return None
    return data[b"state"], int(data.get(b"seq") or 0)


async def live_state_load(*, event_id: int) -> tuple[bytes, int] | None:
    """(MessagePack SessionState, seq) as last saved by the event's timing worker, or None."""
    if settings.REDIS_URL:
        return _decode(await _async_redis().hgetall(state_key(event_id)))
    return await memory_coordinator().state_load(event_id=event_id)


def live_state_get(*, event_id: int) -> tuple[bytes, int] | None:
    """The same, for synchronous callers (REST views)."""
    if settings.REDIS_URL:
        return _decode(_sync_redis().hgetall(state_key(event_id)))
    return memory_coordinator()._states.get(event_id)
