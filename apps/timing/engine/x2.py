"""MYLAPS X2 passings and loops (`x2pass` / `x2loop` stream entries) and the X2 pit rules.

Public API (pure, no I/O; ``X2PitState`` is owned by the caller and updated in place):

* ``parse_passings(payload) -> (passings, rejections)`` - short-key JSON (``o e i l t ts h tl
  tu p r``).
* ``parse_loops(payload) -> (loops, rejections)`` - the relay's loop list (camelCase).
* ``parse_loop_metadata(data) -> (metadata_by_loop_id, rejections)`` - an event's
  ``LoopsMetadata`` (loop id -> type and name), from JSON text or already-decoded lists.
* ``record_passing(state, passing)`` - remember the passing (only the latest per transponder).
* ``car_pit_changes(state, car, loops) -> dict`` - the pit rule for one car: changed
  CarPosition fields (snake_case). Call it after ``record_passing`` for the passing's car, and
  again after each RMonitor pass for touched cars (re-application; it never double counts).
* ``apply_passing(state, passing, car, loops) -> dict`` - both of the above.
* ``was_pit_lap(state, number, lap)`` - for lap logging.

The caller resolves transponder -> car, skips cars whose pit state Flagtronics owns, and skips
X2 entirely while Multiloop is active (spec §3.2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any, Mapping

from .flaglist import Rejection, json_array, parse_local_datetime

__all__ = [
    "LoopType",
    "LoopMetadata",
    "Passing",
    "X2Loop",
    "X2PitState",
    "parse_passings",
    "parse_loops",
    "parse_loop_metadata",
    "record_passing",
    "car_pit_changes",
    "apply_passing",
    "was_pit_lap",
]


class LoopType(IntEnum):
    START_FINISH = 0
    PIT_IN = 1
    PIT_EXIT = 2
    PIT_START_FINISH = 3
    PIT_OTHER = 4
    OTHER = 5


@dataclass(slots=True, frozen=True)
class LoopMetadata:
    """RedMist's per-event configuration of one X2 loop."""

    id: int
    type: LoopType
    name: str = ""
    event_id: int = 0


@dataclass(slots=True, frozen=True)
class Passing:
    """One X2 passing (contract §11.10 short keys in brackets)."""

    id: int  # [i] passing id
    loop_id: int  # [l]
    transponder_id: int  # [t]
    is_in_pit: bool = False  # [p] the loop is flagged as a pit loop in X2
    org_id: int = 0  # [o]
    event_id: int = 0  # [e]
    transponder_short_id: int = 0  # [ts]
    hits: int = 0  # [h]
    timestamp_local: datetime | None = None  # [tl]
    timestamp_utc: datetime | None = None  # [tu]
    is_resend: bool = False  # [r]


@dataclass(slots=True, frozen=True)
class X2Loop:
    """One loop as the relay reports it (logged only; pit rules use LoopMetadata)."""

    id: int
    name: str = ""
    description: str = ""
    latitude0: float | None = None
    longitude0: float | None = None
    latitude1: float | None = None
    longitude1: float | None = None
    order: int = 0
    is_in_pit: bool = False
    is_online: bool = False
    has_activity: bool = False
    is_sync_ok: bool = False
    has_device_warnings: bool = False
    has_device_errors: bool = False
    org_id: int = 0
    event_id: int = 0


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------
class _FieldError(ValueError):
    pass


def _int(obj: Mapping[str, Any], key: str, required: bool = False, minimum: int = 0) -> int:
    value = obj.get(key)
    if value is None:
        if required:
            raise _FieldError(f"'{key}' missing")
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise _FieldError(f"'{key}' is not an integer")
    if value < minimum:
        raise _FieldError(f"'{key}' is negative")
    return value


def _bool(obj: Mapping[str, Any], key: str) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _FieldError(f"'{key}' is not a boolean")
    return value


def _time(obj: Mapping[str, Any], key: str) -> datetime | None:
    value = obj.get(key)
    if value is None:
        return None
    parsed = parse_local_datetime(value)
    if parsed is None:
        raise _FieldError(f"'{key}' is not an ISO-8601 time")
    return parsed


def _float(obj: Mapping[str, Any], key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _FieldError(f"'{key}' is not a number")
    return float(value)


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _FieldError(f"'{key}' is not a string")
    return value


def _parse_each(payload: Any, what: str, build) -> tuple[list[Any], list[Rejection]]:
    data, rejections = json_array(payload, what)
    if data is None:
        return [], rejections
    items: list[Any] = []
    for item in data:
        line = json.dumps(item, default=str)[:200]
        if not isinstance(item, dict):
            rejections.append(Rejection(f"{what} element is not an object", line))
            continue
        try:
            items.append(build(item))
        except _FieldError as exc:
            rejections.append(Rejection(str(exc), line))
    return items, rejections


def _passing(obj: Mapping[str, Any]) -> Passing:
    # Short keys are the wire format; transponder and loop are the two the pit rule cannot do without.
    return Passing(
        id=_int(obj, "i"),
        loop_id=_int(obj, "l", required=True),
        transponder_id=_int(obj, "t", required=True),
        is_in_pit=_bool(obj, "p"),
        org_id=_int(obj, "o"),
        event_id=_int(obj, "e"),
        transponder_short_id=_int(obj, "ts"),
        hits=_int(obj, "h"),
        timestamp_local=_time(obj, "tl"),
        timestamp_utc=_time(obj, "tu"),
        is_resend=_bool(obj, "r"),
    )


def parse_passings(payload: Any) -> tuple[list[Passing], list[Rejection]]:
    """Parse an ``x2pass`` JSON array; each bad element is rejected with a reason."""
    return _parse_each(payload, "passing list", _passing)


def _lower(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in obj.items() if isinstance(k, str)}


def _loop(obj: Mapping[str, Any]) -> X2Loop:
    low = _lower(obj)
    return X2Loop(
        id=_int(low, "id", required=True),
        name=_str(low, "name"),
        description=_str(low, "description"),
        latitude0=_float(low, "latitude0"),
        longitude0=_float(low, "longitude0"),
        latitude1=_float(low, "latitude1"),
        longitude1=_float(low, "longitude1"),
        order=_int(low, "order", minimum=-(2**31)),
        is_in_pit=_bool(low, "isinpit"),
        is_online=_bool(low, "isonline"),
        has_activity=_bool(low, "hasactivity"),
        is_sync_ok=_bool(low, "issyncok"),
        has_device_warnings=_bool(low, "hasdevicewarnings"),
        has_device_errors=_bool(low, "hasdeviceerrors"),
        org_id=_int(low, "organizationid"),
        event_id=_int(low, "eventid"),
    )


def parse_loops(payload: Any) -> tuple[list[X2Loop], list[Rejection]]:
    """Parse an ``x2loop`` JSON array (property names case-insensitive)."""
    return _parse_each(payload, "loop list", _loop)


def _metadata(obj: Mapping[str, Any]) -> LoopMetadata:
    low = _lower(obj)
    raw_type = low.get("type")
    if isinstance(raw_type, bool) or not isinstance(raw_type, int):
        raise _FieldError("'type' is not an integer")
    try:
        loop_type = LoopType(raw_type)
    except ValueError:
        raise _FieldError(f"unknown loop type {raw_type}") from None
    return LoopMetadata(id=_int(low, "id", required=True), type=loop_type, name=_str(low, "name"),
                        event_id=_int(low, "eventid"))


def parse_loop_metadata(data: Any) -> tuple[dict[int, LoopMetadata], list[Rejection]]:
    """An event's LoopsMetadata (JSON text or decoded list) keyed by loop id; later ids win."""
    items, rejections = _parse_each(data, "loop metadata", _metadata)
    return {m.id: m for m in items}, rejections


# ---------------------------------------------------------------------------------------------
# Pit rules
# ---------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _X2Car:
    in_pit: bool | None = None  # X2's own last decision; None until the car's first passing
    pit_laps: set[int] = field(default_factory=set)
    pit_stop_count: int = 0
    last_lap_pitted: int | None = None
    pit_entry_time: datetime | None = None
    pit_duration_ms: int | None = None
    last_passing_id: int | None = None


@dataclass(slots=True)
class X2PitState:
    """X2 memory for one session; make a new one when the session changes."""

    latest: dict[int, Passing] = field(default_factory=dict)  # transponder -> latest passing
    cars: dict[str, _X2Car] = field(default_factory=dict)


def _get(car: Any, name: str, default: Any = None) -> Any:
    if isinstance(car, Mapping):
        return car.get(name, default)
    return getattr(car, name, default)


def record_passing(state: X2PitState, passing: Passing) -> None:
    """Remember a passing; only the latest per transponder matters to the pit rule."""
    state.latest[passing.transponder_id] = passing


def was_pit_lap(state: X2PitState, number: str, lap: int) -> bool:
    car = state.cars.get(number)
    return car is not None and lap in car.pit_laps


def _stamp(passing: Passing) -> datetime | None:
    return passing.timestamp_utc or passing.timestamp_local


def _elapsed_ms(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None or end < start:
        return None
    return int((end - start) / timedelta(milliseconds=1))


def car_pit_changes(state: X2PitState, car: Any, loops: Mapping[int, LoopMetadata]) -> dict[str, Any]:
    """Apply the pit rule to one car from its transponder's latest passing.

    Returns the changed fields among is_in_pit, is_entered_pit, is_exited_pit,
    is_pit_start_finish, last_loop_name, lap_included_pit, and (derived here, not in the
    reference) pit_stop_count, last_lap_pitted, pit_entry_time, pit_duration_ms.
    Empty when the transponder has never passed a loop.
    """
    number = _get(car, "number")
    passing = state.latest.get(_get(car, "transponder_id", 0) or 0)
    if not number or passing is None:
        return {}
    memory = state.cars.setdefault(number, _X2Car())
    meta = loops.get(passing.loop_id)
    loop_type = meta.type if meta is not None else None
    lap = _get(car, "last_lap_completed", 0) or 0

    # An entrance or pit start/finish loop keeps a car in the pit but never puts it there:
    # those loops are also crossed by cars driving straight through the pit lane entry.
    in_pit = passing.is_in_pit or (bool(memory.in_pit) and loop_type in (LoopType.PIT_IN, LoopType.PIT_START_FINISH))

    new_passing = passing.id != memory.last_passing_id or memory.in_pit is None
    if new_passing:
        _track_stop(memory, passing, in_pit, lap)
    memory.last_passing_id = passing.id
    memory.in_pit = in_pit
    if in_pit:
        memory.pit_laps.add(lap + 1)

    values: dict[str, Any] = {
        "is_in_pit": in_pit,
        "is_entered_pit": loop_type == LoopType.PIT_IN,
        "is_exited_pit": loop_type == LoopType.PIT_EXIT,
        "is_pit_start_finish": loop_type == LoopType.PIT_START_FINISH,
        # Fixed: the loop's name is found by the passing's loop id, not its passing id.
        "last_loop_name": meta.name if loop_type == LoopType.OTHER else "",
        "lap_included_pit": True if in_pit else lap in memory.pit_laps,
    }
    if memory.pit_stop_count:
        values["pit_stop_count"] = memory.pit_stop_count
        values["last_lap_pitted"] = memory.last_lap_pitted
    if memory.pit_entry_time is not None:
        values["pit_entry_time"] = memory.pit_entry_time
    if memory.pit_duration_ms is not None:
        values["pit_duration_ms"] = memory.pit_duration_ms
    return {name: value for name, value in values.items() if _get(car, name) != value}


def _track_stop(memory: _X2Car, passing: Passing, in_pit: bool, lap: int) -> None:
    """Count stops and time the pit lane from X2's own in/out transitions."""
    stamp = _stamp(passing)
    if in_pit and not memory.in_pit:
        # A car first seen in the pit before it has completed a lap is staging for the
        # start, not stopping.
        if memory.in_pit is None and lap == 0:
            return
        memory.pit_stop_count += 1
        memory.last_lap_pitted = lap + 1
        memory.pit_entry_time = stamp
        memory.pit_duration_ms = 0 if stamp is not None else None
    elif memory.in_pit and memory.pit_entry_time is not None:
        # Still in the pit, or just left it: the lane time so far / in total.
        elapsed = _elapsed_ms(memory.pit_entry_time, stamp)
        if elapsed is not None:
            memory.pit_duration_ms = elapsed


def apply_passing(state: X2PitState, passing: Passing, car: Any, loops: Mapping[int, LoopMetadata]) -> dict[str, Any]:
    """Record a passing and return the changes for its car (``car`` already resolved)."""
    record_passing(state, passing)
    return car_pit_changes(state, car, loops)
