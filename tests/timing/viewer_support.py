"""Helpers for the viewer tests: a stand-in timing worker and client-side patch application (JSON and MessagePack)."""

from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path

from django.conf import settings

from apps.timing.engine import wire
from apps.timing.engine.engine import TimingEngine
from apps.timing.engine.replayfile import read_messages
from apps.timing.engine.state import CarPosition
from apps.timing.fanout import patches_publish
from apps.timing.livestate import session_from_msgpack
from apps.timing.worker.coordination import memory_coordinator, state_key
from redmist.cancellation import task_stop

RECORDINGS = Path(__file__).resolve().parents[2] / "data" / "recordings" / "redmist"
RACE = ["TestEntries.txt", "TestInitialPositions.txt", "TestStart.txt"]


def race_messages(names=RACE):
    return [m for name in names for m in read_messages(RECORDINGS / name)]


async def state_store(*, event_id: int, state: bytes, seq: int) -> None:
    """Write the live state where the worker's coordinator keeps it (Redis hash or the embedded coordinator)."""
    if settings.REDIS_URL:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(settings.REDIS_URL)
        await client.hset(state_key(event_id), mapping={"state": state, "seq": seq})
        await client.aclose()
    else:
        await memory_coordinator().state_save(event_id=event_id, state=state, seq=seq)


def state_store_reset() -> None:
    memory_coordinator()._states.clear()


class FakeWorker:
    """Runs an engine pass by pass, publishes each changed pass as the timing worker does, and saves the state
    in the background every `state_seconds` (as the worker's 0.25 s save, so the saved state lags)."""

    def __init__(self, *, event_id: int, channel_layer, state_seconds: float = 0.03) -> None:
        self.event_id = event_id
        self.layer = channel_layer
        self.engine = TimingEngine(event_id)
        self.published_seq = 0
        self.state_seconds = state_seconds
        self._saver: asyncio.Task | None = None

    async def __aenter__(self):
        self._saver = asyncio.create_task(self._save_loop())
        return self

    async def __aexit__(self, *exc):
        await task_stop(self._saver)

    async def save(self) -> None:
        await state_store(event_id=self.event_id, state=self.engine.state_msgpack(), seq=self.published_seq)

    async def _save_loop(self) -> None:
        while True:
            await asyncio.sleep(self.state_seconds)
            await self.save()

    def apply(self, message):
        return self.engine.apply(message.kind, message.payload, session_id=0, received_at=message.received_at)

    async def publish(self, result, *, drop: bool = False) -> dict | None:
        """Publish one pass (None if it changed nothing); `drop` loses it on the way, as a failed publish would."""
        if not result.changed:
            return None
        message = {
            "type": "timing.patches", "event_id": self.event_id, "from_seq": self.published_seq, "seq": result.seq,
            "reset": result.reset, "session": result.session_patch or None, "cars": list(result.car_patches),
            "relay_at": time.time(), "sent_at": time.time(),
        }
        self.published_seq = result.seq
        if not drop:
            await patches_publish(channel_layer=self.layer, event_id=self.event_id, message=message)
        return message


# ---------------------------------------------------------------- client side

def default_car_json(number: str) -> dict:
    return wire.car_to_json(CarPosition(number=number))


def json_apply(state: dict, message: dict) -> None:
    """What a JSON viewer does with a `patches` message."""
    patch = message.get("sessionPatch")
    if patch:
        state.update(patch)
    cars = {c["n"]: c for c in state["carPositions"]}
    for p in message.get("carPatches") or []:
        car = cars.get(p["n"])
        if car is None:
            car = cars[p["n"]] = default_car_json(p["n"])
            state["carPositions"].append(car)
        car.update(p)


def msgpack_apply(state: list, message: dict) -> None:
    """What a MessagePack viewer does: positional arrays, nil means unchanged."""
    patch = message.get("sessionPatch")
    if patch:
        for i, v in enumerate(patch):
            if v is not None:
                state[i] = v
    cars = {c[2]: c for c in state[14]}
    for p in message.get("carPatches") or []:
        car = cars.get(p[2])
        if car is None:
            car = cars[p[2]] = wire.car_to_msgpack(CarPosition(number=p[2]))
            state[14].append(car)
        for i, v in enumerate(p):
            if v is not None:
                car[i] = v


def msgpack_state_as_json(state: list) -> dict:
    return wire.session_to_json(session_from_msgpack(wire.packb(copy.deepcopy(state))))


class Viewer:
    """A test client: keeps its own copy of the state from `state` and `patches` messages."""

    def __init__(self, communicator, *, binary: bool = False) -> None:
        self.communicator = communicator
        self.binary = binary
        self.state = None
        self.seq = None
        self.kinds: list[str] = []

    async def recv(self, timeout: float = 5) -> dict:
        if self.binary:
            return wire.unpackb(await self.communicator.receive_from(timeout=timeout))
        return await self.communicator.receive_json_from(timeout=timeout)

    async def send(self, obj: dict) -> None:
        if self.binary:
            await self.communicator.send_to(bytes_data=wire.packb(obj))
        else:
            await self.communicator.send_json_to(obj)

    def handle(self, message: dict) -> None:
        self.kinds.append(message["type"])
        if message["type"] == "state":
            self.state, self.seq = message["state"], message["seq"]
        elif message["type"] == "patches":
            assert message["fromSeq"] == self.seq, (message["fromSeq"], self.seq)
            (msgpack_apply if self.binary else json_apply)(self.state, message)
            self.seq = message["seq"]
        elif message["type"] == "reset":
            self.state = None

    async def until_seq(self, seq: int, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while self.seq is None or self.seq < seq or self.state is None:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"viewer stuck at {self.seq}, wanted {seq}"
            self.handle(await self.recv(timeout=remaining))

    def as_json(self) -> dict:
        return msgpack_state_as_json(self.state) if self.binary else self.state
