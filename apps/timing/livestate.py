"""A viewer-side copy of an event's live SessionState: load it from the worker's MessagePack state, apply
the worker's patch sets to it, and render it (and the patch sets) in the contract's JSON names or
MessagePack key numbers. The names and keys come from apps.timing.engine.wire, the one place that knows them.

Patch semantics (api-contract §5.4, §11.1): a field present in a patch changed and is replaced whole (lists and
maps included); a car patch always carries "n", and a car not seen before starts from CarPosition's defaults.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Mapping

from apps.timing.engine import wire
from apps.timing.engine.state import CarPosition, EventEntry, FlagDuration, SessionState

_MIN_DATETIME = dt.datetime(1, 1, 1)
_SESSION_DATETIMES = frozenset({"session_start_time", "session_end_time", "last_updated"})


def _naive(value: Any) -> Any:
    """MessagePack timestamps come back as aware UTC; the engine keeps track-local naive values."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def car_from_array(arr: list[Any]) -> CarPosition:
    car = CarPosition()
    n = len(arr)
    for attr, _, _, key in wire.CAR_FIELDS:
        if key < n and arr[key] is not None:
            value = arr[key]
            if attr == "pit_entry_time":
                value = _naive(value)
            setattr(car, attr, value)
    return car


def session_from_msgpack(data: bytes) -> SessionState:
    """Decode the worker's `TimingEngine.state_msgpack()` bytes."""
    arr = wire.unpackb(data)
    state = SessionState()
    n = len(arr)
    for attr, _, key in wire.SESSION_FIELDS:
        if key >= n:
            continue
        value = arr[key]
        if attr == "event_entries":
            value = [EventEntry(*(list(e) + ["", "", "", ""])[:4]) for e in value or []]
        elif attr == "car_positions":
            value = [car_from_array(c) for c in value or []]
        elif attr == "flag_durations":
            value = [FlagDuration(int(f[0]), _naive(f[1]), _naive(f[2] if len(f) > 2 else None)) for f in value or []]
        elif attr in _SESSION_DATETIMES:
            value = _naive(value)
            if attr == "session_start_time" and value == _MIN_DATETIME:
                value = None
        elif value is None and attr in ("sections", "announcements"):
            value = []
        elif value is None and attr in ("class_colors", "class_order"):
            value = {}
        setattr(state, attr, value)
    return state


def _session_value_from_json(attr: str, value: Any) -> Any:
    if attr == "event_entries":
        return [wire.entry_from_json(e) for e in value or []]
    if attr == "flag_durations":
        return [wire.flag_duration_from_json(f) for f in value or []]
    if attr == "car_positions":
        return [wire.car_from_json(c) for c in value or []]
    if attr in _SESSION_DATETIMES:
        parsed = wire.datetime_from_json(value)
        return None if attr == "session_start_time" and parsed == _MIN_DATETIME else parsed
    return value


def session_patch_from_json(patch: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-named session patch as attribute -> engine value."""
    out: dict[str, Any] = {}
    for name, value in patch.items():
        attr = wire.SESSION_ATTR_BY_JSON.get(name)
        if attr is not None:
            out[attr] = _session_value_from_json(attr, value)
    return out


def session_patch_to_msgpack(patch: Mapping[str, Any] | None) -> list[Any] | None:
    if patch is None:
        return None
    return wire.session_patch_to_msgpack(session_patch_from_json(patch))


def car_patches_to_msgpack(cars: Iterable[Mapping[str, Any]]) -> list[list[Any]]:
    return [wire.car_patch_to_msgpack(p) for p in cars]


class LiveState:
    """One event's SessionState as the viewers see it, at sequence number `seq`."""

    __slots__ = ("state", "cars", "seq")

    def __init__(self, state: SessionState, seq: int) -> None:
        self.state = state
        self.cars: dict[str, CarPosition] = {c.number: c for c in state.car_positions if c.number is not None}
        self.seq = seq

    @classmethod
    def from_msgpack(cls, data: bytes, seq: int) -> "LiveState":
        return cls(session_from_msgpack(data), seq)

    @classmethod
    def empty(cls, event_id: int, seq: int = 0) -> "LiveState":
        return cls(SessionState(event_id=event_id), seq)

    def apply(self, session_patch: Mapping[str, Any] | None, car_patches: Iterable[Mapping[str, Any]], seq: int) -> None:
        if session_patch:
            for attr, value in session_patch_from_json(session_patch).items():
                if attr == "car_positions":
                    self.cars = {c.number: c for c in value if c.number is not None}
                else:
                    setattr(self.state, attr, value)
        by_json = wire.CAR_ATTR_BY_JSON
        for patch in car_patches:
            number = patch.get("n")
            if not number:
                continue
            car = self.cars.get(number)
            if car is None:
                car = self.cars[number] = CarPosition(number=number)
            for name, value in patch.items():
                attr = by_json.get(name)
                if attr is None or attr == "lap_start_time":
                    continue
                if attr == "pit_entry_time" and isinstance(value, str):
                    value = wire.datetime_from_json(value)
                setattr(car, attr, value)
        self.seq = seq

    def session(self) -> SessionState:
        self.state.car_positions = list(self.cars.values())
        return self.state

    def to_json(self) -> dict[str, Any]:
        return wire.session_to_json(self.session())

    def to_msgpack_array(self) -> list[Any]:
        return wire.unpackb(self.to_msgpack())

    def to_msgpack(self) -> bytes:
        return wire.session_to_msgpack(self.session())


# ---------------------------------------------------------------- in-car driver mode (api-contract §11.8)

IN_CAR_JSON = ("n", "p", "o", "f", "c")
CAR_STATUS_JSON = ("n", "c", "t", "l", "gl", "g", "ct", "d", "id", "i")


def _short_time(text: str | None) -> str:
    """"00:02:23.425" -> "2:23.425"; "00:00:58.1" -> "58.100"; empty stays empty."""
    if not text:
        return ""
    parts = text.split(":")
    try:
        seconds = float(parts[-1])
        minutes = int(parts[-2]) if len(parts) > 1 else 0
        hours = int(parts[-3]) if len(parts) > 2 else 0
    except ValueError:
        return text
    minutes += hours * 60
    return f"{minutes}:{seconds:06.3f}" if minutes else f"{seconds:.3f}"


def _car_status(car: CarPosition | None, gap: str | None, teams: Mapping[str, str]) -> dict[str, Any] | None:
    if car is None:
        return None
    return {
        "n": car.number, "c": car.car_class or "", "t": teams.get(car.number or "", ""),
        "l": _short_time(car.last_lap_time), "gl": "", "g": gap or "", "ct": "",
        "d": car.driver_name or "", "id": car.transponder_id or 0, "i": None,
    }


def in_car_payload(live: LiveState, car_number: str) -> dict[str, Any] | None:
    """The driver's view of one car: [ahead in class, ahead overall (other class), own car, behind in class,
    behind overall (other class)], gaps, positions and the flag. None when the car is not in the session.

    The first four slots are the reference's; the fifth (car behind overall) is appended, as new keys may be.
    """
    own = live.cars.get(car_number)
    if own is None:
        return None
    ranked = sorted((c for c in live.cars.values() if c.overall_position > 0), key=lambda c: c.overall_position)
    teams = {e.number: (e.team or e.name) for e in live.state.event_entries}
    ahead_class = behind_class = ahead_overall = behind_overall = None
    if own in ranked:
        i = ranked.index(own)
        ahead_overall = ranked[i - 1] if i > 0 else None
        behind_overall = ranked[i + 1] if i + 1 < len(ranked) else None
        same_class = [c for c in ranked if c.car_class == own.car_class]
        j = same_class.index(own)
        ahead_class = same_class[j - 1] if j > 0 else None
        behind_class = same_class[j + 1] if j + 1 < len(same_class) else None
    if ahead_overall is not None and ahead_overall is ahead_class:
        ahead_overall = None
    if behind_overall is not None and behind_overall is behind_class:
        behind_overall = None
    flag = own.local_flag or own.track_flag or live.state.current_flag
    return {
        "n": own.number,
        "p": str(own.class_position or ""),
        "o": str(own.overall_position or ""),
        "f": int(flag or 0),
        "c": [
            _car_status(ahead_class, own.in_class_gap, teams),
            _car_status(ahead_overall, own.overall_gap, teams),
            _car_status(own, "", teams),
            _car_status(behind_class, behind_class.in_class_gap if behind_class else None, teams),
            _car_status(behind_overall, behind_overall.overall_gap if behind_overall else None, teams),
        ],
    }


def in_car_to_msgpack(payload: Mapping[str, Any] | None) -> list[Any] | None:
    if payload is None:
        return None
    cars = [None if c is None else [c[k] for k in CAR_STATUS_JSON] for c in payload["c"]]
    return [payload["n"], payload["p"], payload["o"], payload["f"], cars]
