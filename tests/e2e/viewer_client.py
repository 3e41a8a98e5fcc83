"""A viewer of `ws/status/` over a real WebSocket (the `websockets` library), as a browser or an app would be.

It keeps its own copy of the event's SessionState from the server's `state` messages and applies each `patches`
message by the contract (docs/api-status.md), written here independently of the server's hub:

- JSON: a field present in `sessionPatch` or in a car patch replaces the old value whole (lists too); car
  patches are keyed by `n`; a car not seen before starts from CarPosition's defaults.
- MessagePack: the same on positional arrays (SessionState key numbers, CarPosition key numbers, the car's
  number at key 2); nil means unchanged.
- a `patches` message applies only when its `fromSeq` equals the client's `seq`; on a gap the client sends
  `Resync` once and ignores patches until the next `state`. A `reset` clears the state; a `state` follows.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import time
from typing import Any

import msgpack
from websockets.asyncio.client import connect

from apps.timing.engine import wire
from apps.timing.engine.state import CarPosition

SESSION_CARS_KEY = 14  # SessionState.carPositions in MessagePack
CAR_NUMBER_KEY = 2  # CarPosition.n in MessagePack


def default_car_json(number: str) -> dict[str, Any]:
    return wire.car_to_json(CarPosition(number=number))


def default_car_msgpack(number: str) -> list[Any]:
    return wire.car_to_msgpack(CarPosition(number=number))


def json_patches_apply(state: dict, message: dict) -> None:
    for name, value in (message.get("sessionPatch") or {}).items():
        state[name] = copy.deepcopy(value)
    cars = state["carPositions"]
    by_number = {c["n"]: c for c in cars}
    for patch in message.get("carPatches") or []:
        number = patch.get("n")
        if not number:
            continue
        car = by_number.get(number)
        if car is None:
            car = by_number[number] = default_car_json(number)
            cars.append(car)
        for name, value in patch.items():
            car[name] = copy.deepcopy(value)


def msgpack_patches_apply(state: list, message: dict) -> None:
    for key, value in enumerate(message.get("sessionPatch") or []):
        if value is not None:
            state[key] = copy.deepcopy(value)
    cars = state[SESSION_CARS_KEY]
    by_number = {c[CAR_NUMBER_KEY]: c for c in cars}
    for patch in message.get("carPatches") or []:
        number = patch[CAR_NUMBER_KEY] if len(patch) > CAR_NUMBER_KEY else None
        if not number:
            continue
        car = by_number.get(number)
        if car is None:
            car = by_number[number] = default_car_msgpack(number)
            cars.append(car)
        if len(car) < len(patch):
            car.extend([None] * (len(patch) - len(car)))
        for key, value in enumerate(patch):
            if value is not None:
                car[key] = copy.deepcopy(value)


def msgpack_state_as_json(state: list) -> dict:
    """A positional MessagePack SessionState in the contract's JSON names (through the server's decoder)."""
    from apps.timing.livestate import session_from_msgpack

    return wire.session_to_json(session_from_msgpack(wire.packb(copy.deepcopy(state))))


def normalized(state: dict) -> dict:
    """Car order is not part of the contract: compare cars by number."""
    out = dict(state)
    out["carPositions"] = sorted(state["carPositions"], key=lambda c: c["n"] or "")
    return out


class ViewerClient:
    """One viewer socket. `start()` connects and reads in the background; everything it gets is recorded."""

    _ids = itertools.count(1)

    def __init__(self, url: str, *, binary: bool = False, subprotocols: list[str] | None = None,
                 name: str = "viewer") -> None:
        self.url = url
        self.binary = binary
        self.subprotocols = subprotocols
        self.name = name
        self.ws = None
        self.state: Any = None
        self.seq: int | None = None
        self.kinds: list[str] = []
        self.replies: list[dict] = []
        self.applied = 0
        self.gaps: list[tuple[int | None, int]] = []  # (my seq, the patch set's fromSeq) when they did not chain
        self.drop_next = 0  # lose this many of the next patch sets (client side), as a UI hiccup would
        self.dropped = 0
        self.resyncs_sent = 0
        self.data_messages = 0  # state, patches, reset, inCar, controlLog
        self._awaiting_state = False
        self._reader: asyncio.Task | None = None
        self._changed = asyncio.Event()

    # -- connection --------------------------------------------------------------------------------

    async def start(self) -> "ViewerClient":
        self.ws = await connect(self.url, subprotocols=self.subprotocols, max_size=None, open_timeout=30,
                                ping_interval=None, compression=None)
        self._reader = asyncio.create_task(self._read(), name=f"{self.name}-reader")
        return self

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, timeout=10)
            except (asyncio.TimeoutError, Exception):
                self._reader.cancel()

    async def _read(self) -> None:
        async for raw in self.ws:
            if isinstance(raw, bytes):
                assert self.binary, f"{self.name}: a binary frame on a JSON socket"
                message = msgpack.unpackb(raw, raw=False, strict_map_key=False, timestamp=3)
            else:
                assert not self.binary, f"{self.name}: a text frame on a MessagePack socket"
                message = json.loads(raw)
            await self._handle(message)
            self._changed.set()

    # -- invocations -------------------------------------------------------------------------------

    async def send(self, obj: dict) -> None:
        await self.ws.send(wire.packb(obj) if self.binary else json.dumps(obj))

    async def call(self, method: str, *args: Any, timeout: float = 30) -> dict:
        """Invoke a hub method and return its reply (`ok` or `error`), matched by the invocation id."""
        invocation_id = next(self._ids)
        await self.send({"id": invocation_id, "method": method, "args": list(args)})
        return await self.until(lambda: next((r for r in self.replies if r.get("id") == invocation_id), None),
                                timeout=timeout, what=f"the reply to {method} #{invocation_id}")

    async def until(self, predicate, *, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.name}: timed out after {timeout} s waiting for {what} "
                                     f"(seq {self.seq}, kinds {self.kinds[-5:]}, replies {self.replies[-3:]})")
            self._changed.clear()
            if self._reader is not None and self._reader.done():
                self._reader.result()  # raise what stopped the reader
                raise AssertionError(f"{self.name}: the socket closed while waiting for {what}")
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 0.5))
            except asyncio.TimeoutError:
                pass

    # -- messages ----------------------------------------------------------------------------------

    async def _handle(self, message: dict) -> None:
        kind = message.get("type")
        self.kinds.append(kind)
        if kind in ("ok", "error"):
            self.replies.append(message)
            return
        self.data_messages += 1
        if kind == "state":
            self.state, self.seq = message["state"], message["seq"]
            self._awaiting_state = False
        elif kind == "reset":
            self.state = None
            self._awaiting_state = True
        elif kind == "patches":
            await self._patches(message)

    async def _patches(self, message: dict) -> None:
        if self.state is None or self._awaiting_state:
            return  # useless until the next full state
        if self.drop_next > 0:
            self.drop_next -= 1
            self.dropped += 1
            return
        if message["fromSeq"] != self.seq:
            self.gaps.append((self.seq, message["fromSeq"]))
            self._awaiting_state = True
            self.resyncs_sent += 1
            await self.send({"id": next(self._ids), "method": "Resync", "args": [message["eventId"]]})
            return
        if self.binary:
            msgpack_patches_apply(self.state, message)
        else:
            json_patches_apply(self.state, message)
        self.seq = message["seq"]
        self.applied += 1

    def as_json(self) -> dict:
        return msgpack_state_as_json(self.state) if self.binary else self.state
