"""The ingest bus: one ordered, durable stream of relay messages per event.

Two implementations share this interface: Redis Streams (distributed) and an in-process log (embedded).
Delivery contract, which the timing worker relies on:
- `append` is idempotent and ordered per (relay epoch, relay message id): ids must arrive as 1, 2, 3, …;
  a resend of an accepted id gets `duplicate=True` and nothing is appended twice, and an id past the
  next expected one is refused with `expected_id`, so messages can never be stored out of order.
- `read_new` hands each entry to one consumer of the event's group; entries stay pending until `ack`.
- `claim_pending` gives a new owner every entry the previous owner read but never acked, in order.
The worker acks only what a saved snapshot covers, so a crash never loses an applied-but-unsaved entry.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Protocol

#: Message kinds on the bus; the names follow the reference's stream field tags.
KINDS = frozenset(
    {"rmonitor", "multiloop", "x2pass", "x2loop", "flags", "evtsessionchanged", "competitors", "ftcar"}
)
NO_SESSION = 999999


@dataclasses.dataclass(frozen=True, slots=True)
class BusMessage:
    kind: str
    session_id: int
    payload: str
    received_at: float = dataclasses.field(default_factory=time.time)
    #: When the relay got it from the timing system (unix time); the engine's clock when present.
    source_time: float | None = None

    @property
    def engine_time(self) -> float:
        return self.source_time if self.source_time is not None else self.received_at

    def to_fields(self) -> dict[str, str]:
        fields = {"k": self.kind, "s": str(self.session_id), "p": self.payload, "t": repr(self.received_at)}
        if self.source_time is not None:
            fields["st"] = repr(self.source_time)
        return fields

    @classmethod
    def from_fields(cls, fields: dict) -> "BusMessage":
        def text(key: str) -> str | None:
            value = fields.get(key, fields.get(key.encode()))
            return value.decode() if isinstance(value, bytes) else value

        source_time = text("st")
        return cls(kind=text("k"), session_id=int(text("s")), payload=text("p"), received_at=float(text("t")),
                   source_time=float(source_time) if source_time is not None else None)


@dataclasses.dataclass(frozen=True, slots=True)
class AppendResult:
    entry_id: str | None
    duplicate: bool
    #: Set when the message skipped ahead of the relay's sequence: nothing was appended, resend from here.
    expected_id: int | None = None


class IngestBus(Protocol):
    async def append(
        self, *, event_id: int, message: BusMessage, dedup_key: str | None = None, dedup_id: int | None = None
    ) -> AppendResult: ...

    async def append_many(
        self, *, event_id: int, items: list[tuple[BusMessage, str | None, int | None]]
    ) -> list[AppendResult]: ...

    async def last_dedup_id(self, *, event_id: int, dedup_key: str) -> int: ...

    async def ensure_group(self, *, event_id: int) -> None: ...

    async def read_new(
        self, *, event_id: int, consumer: str, count: int = 100, block_ms: int = 50
    ) -> list[tuple[str, BusMessage]]: ...

    async def claim_pending(self, *, event_id: int, consumer: str) -> list[tuple[str, BusMessage]]: ...

    async def ack(self, *, event_id: int, entry_ids: list[str]) -> None: ...

    async def length(self, *, event_id: int) -> int: ...

    async def close(self) -> None: ...


def entry_id_key(entry_id: str) -> tuple[int, int]:
    """Stream ids compare as (milliseconds, sequence), not as strings."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


_bus: IngestBus | None = None


def bus_get() -> IngestBus:
    """The process-wide bus, chosen by settings.REDIS_URL."""
    global _bus
    if _bus is None:
        from django.conf import settings

        if settings.REDIS_URL:
            from apps.relay.bus_redis import RedisStreamBus

            _bus = RedisStreamBus(url=settings.REDIS_URL, maxlen=settings.INGEST_STREAM_MAXLEN)
        else:
            from apps.relay.bus_memory import InProcessBus

            _bus = InProcessBus()
    return _bus


def bus_reset() -> None:
    """Forget the process-wide bus (tests and forked workers)."""
    global _bus
    _bus = None


def bus_append_sync(*, event_id: int, message: BusMessage) -> None:
    """Append from synchronous code (views, tasks): configuration changes the worker must see in order."""
    from django.conf import settings

    if settings.REDIS_URL:
        import redis

        from apps.relay.bus_redis import stream_key

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
        try:
            client.xadd(stream_key(event_id), message.to_fields(), maxlen=settings.INGEST_STREAM_MAXLEN, approximate=True)
        finally:
            client.close()
    else:
        from asgiref.sync import async_to_sync

        async_to_sync(bus_get().append)(event_id=event_id, message=message)
