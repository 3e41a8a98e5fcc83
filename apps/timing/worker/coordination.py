"""Event ownership (leases) and snapshots, in Redis for the distributed mode and in memory when embedded.

A lease makes one worker the owner of an event. Snapshots carry a fencing check: only the current
owner may write one, so a worker that stalled past its lease cannot overwrite its successor's state.
"""

from __future__ import annotations

import dataclasses

import redis.asyncio as aioredis

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_SAVE_SNAPSHOT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'engine', ARGV[2], 'last_entry', ARGV[3], 'seq', ARGV[4])
return 1
"""
_SAVE_STATE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'state', ARGV[2], 'seq', ARGV[3])
return 1
"""


def owner_key(event_id: int) -> str:
    return f"evt-{event_id}-owner"


def snapshot_key(event_id: int) -> str:
    return f"evt-{event_id}-snapshot"


def state_key(event_id: int) -> str:
    return f"evt-{event_id}-state"


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot:
    engine: bytes
    last_entry: str
    seq: int


class RedisCoordinator:
    def __init__(self, *, redis: aioredis.Redis, worker_id: str, lease_ms: int) -> None:
        self.redis = redis
        self.worker_id = worker_id
        self.lease_ms = lease_ms
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._save_snapshot = redis.register_script(_SAVE_SNAPSHOT)
        self._save_state = redis.register_script(_SAVE_STATE)

    async def lease_acquire(self, *, event_id: int) -> bool:
        return bool(await self.redis.set(owner_key(event_id), self.worker_id, nx=True, px=self.lease_ms))

    async def lease_renew(self, *, event_id: int) -> bool:
        return bool(await self._renew(keys=[owner_key(event_id)], args=[self.worker_id, self.lease_ms]))

    async def lease_release(self, *, event_id: int) -> None:
        await self._release(keys=[owner_key(event_id)], args=[self.worker_id])

    async def snapshot_load(self, *, event_id: int) -> Snapshot | None:
        data = await self.redis.hgetall(snapshot_key(event_id))
        if not data or b"engine" not in data:
            return None
        return Snapshot(engine=data[b"engine"], last_entry=data[b"last_entry"].decode(), seq=int(data[b"seq"]))

    async def snapshot_save(self, *, event_id: int, snapshot: Snapshot) -> bool:
        return bool(await self._save_snapshot(
            keys=[owner_key(event_id), snapshot_key(event_id)],
            args=[self.worker_id, snapshot.engine, snapshot.last_entry, snapshot.seq],
        ))

    async def state_save(self, *, event_id: int, state: bytes, seq: int) -> bool:
        return bool(await self._save_state(keys=[owner_key(event_id), state_key(event_id)], args=[self.worker_id, state, seq]))

    async def state_load(self, *, event_id: int) -> tuple[bytes, int] | None:
        data = await self.redis.hgetall(state_key(event_id))
        if not data:
            return None
        return data[b"state"], int(data[b"seq"])


class MemoryCoordinator:
    """Embedded default: one process, so this worker always owns every event."""

    def __init__(self) -> None:
        self.worker_id = "embedded"
        self.lease_ms = 15_000  # nothing expires in one process; only sets how often the no-op renewal runs
        self._snapshots: dict[int, Snapshot] = {}
        self._states: dict[int, tuple[bytes, int]] = {}

    async def lease_acquire(self, *, event_id: int) -> bool:
        return True

    async def lease_renew(self, *, event_id: int) -> bool:
        return True

    async def lease_release(self, *, event_id: int) -> None:
        return None

    async def snapshot_load(self, *, event_id: int) -> Snapshot | None:
        return self._snapshots.get(event_id)

    async def snapshot_save(self, *, event_id: int, snapshot: Snapshot) -> bool:
        self._snapshots[event_id] = snapshot
        return True

    async def state_save(self, *, event_id: int, state: bytes, seq: int) -> bool:
        self._states[event_id] = (state, seq)
        return True

    async def state_load(self, *, event_id: int) -> tuple[bytes, int] | None:
        return self._states.get(event_id)


_memory: MemoryCoordinator | None = None


def memory_coordinator() -> MemoryCoordinator:
    """The embedded process shares one coordinator between the worker and the status views."""
    global _memory
    if _memory is None:
        _memory = MemoryCoordinator()
    return _memory
