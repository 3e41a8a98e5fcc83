"""Redis Streams ingest bus: stream `evt-st-{event}`, consumer group `processor`, dedup hash per event."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from apps.relay.bus import AppendResult, BusMessage

GROUP = "processor"
DEDUP_TTL_SECONDS = 2 * 24 * 3600

# Dedup check and append in one round trip and atomically: a resend racing the original must not
# slip in between the check and the XADD.
_APPEND = """
if ARGV[1] ~= '' then
  local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
  local id = tonumber(ARGV[2])
  if id <= last then return false end
  if id > last + 1 then return {'gap', last} end
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 5))
"""


def stream_key(event_id: int) -> str:
    return f"evt-st-{event_id}"


def dedup_hash_key(event_id: int) -> str:
    return f"evt-{event_id}-relay-dedup"


class RedisStreamBus:
    def __init__(self, *, url: str, maxlen: int = 100_000) -> None:
        # No socket timeout: XREADGROUP blocks on purpose (redis-py 8's 5 s default would cut it).
        self._redis = aioredis.Redis.from_url(url, socket_timeout=None, socket_connect_timeout=2,
                                              health_check_interval=15, max_connections=1000)
        self._maxlen = maxlen
        self._append = self._redis.register_script(_APPEND)

    @property
    def redis(self) -> aioredis.Redis:
        return self._redis

    async def append(self, *, event_id, message, dedup_key=None, dedup_id=None) -> AppendResult:
        return (await self.append_many(event_id=event_id, items=[(message, dedup_key, dedup_id)]))[0]

    async def append_many(self, *, event_id, items) -> list[AppendResult]:
        """Append in order in one round trip; each item is still deduplicated and sequenced on its own."""
        keys = [stream_key(event_id), dedup_hash_key(event_id)]
        pipe = self._redis.pipeline(transaction=False)
        for message, dedup_key, dedup_id in items:
            args: list = [dedup_key or "", dedup_id or 0, self._maxlen, DEDUP_TTL_SECONDS]
            for field, value in message.to_fields().items():
                args += [field, value]
            await self._append(keys=keys, args=args, client=pipe)  # queues it on the pipeline
        results = []
        for entry_id in await pipe.execute():
            if entry_id is None:
                results.append(AppendResult(entry_id=None, duplicate=True))
            elif isinstance(entry_id, list):
                results.append(AppendResult(entry_id=None, duplicate=False, expected_id=int(entry_id[1]) + 1))
            else:
                results.append(AppendResult(entry_id=entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
                                            duplicate=False))
        return results

    async def last_dedup_id(self, *, event_id, dedup_key) -> int:
        value = await self._redis.hget(dedup_hash_key(event_id), dedup_key)
        return int(value or 0)

    async def ensure_group(self, *, event_id) -> None:
        try:
            await self._redis.xgroup_create(stream_key(event_id), GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    @staticmethod
    def _decode(entries) -> list[tuple[str, BusMessage]]:
        decoded = []
        for entry_id, fields in entries:
            if not fields:  # trimmed away while pending
                continue
            decoded.append((entry_id.decode() if isinstance(entry_id, bytes) else entry_id, BusMessage.from_fields(fields)))
        return decoded

    async def read_new(self, *, event_id, consumer, count=100, block_ms=50):
        try:
            response = await self._redis.xreadgroup(GROUP, consumer, {stream_key(event_id): ">"}, count=count, block=block_ms)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group(event_id=event_id)
            return []
        if not response:
            return []
        return self._decode(response[0][1])

    async def claim_pending(self, *, event_id, consumer):
        claimed: list[tuple[str, BusMessage]] = []
        cursor = "0-0"
        await self.ensure_group(event_id=event_id)
        while True:
            result = await self._redis.xautoclaim(stream_key(event_id), GROUP, consumer, min_idle_time=0,
                                                  start_id=cursor, count=1000)
            cursor, entries = result[0], result[1]
            claimed += self._decode(entries)
            if cursor in (b"0-0", "0-0"):
                return claimed

    async def ack(self, *, event_id, entry_ids) -> None:
        if entry_ids:
            await self._redis.xack(stream_key(event_id), GROUP, *entry_ids)

    async def length(self, *, event_id) -> int:
        return await self._redis.xlen(stream_key(event_id))

    async def close(self) -> None:
        await self._redis.aclose()

