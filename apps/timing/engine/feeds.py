"""The non-RMonitor inputs wired into `TimingEngine`: Multiloop, X2, relay flag lists, Flagtronics.

The parsers and state helpers live in `multiloop.py`, `x2.py`, `flaglist.py` and
`flagtronics.py` (pure, each returning the fields that changed). This module owns their
per-engine state (`FeedState`) and the message handlers that turn those changes into engine
deltas through `engine._set` / `engine._set_session`, so every input goes through the same
patch + sequence-number path as RMonitor (`TimingEngine._finish`).

Message kinds handled: `multiloop`, `x2pass`, `x2loop`, `flags`, `ftcar`, `loopsmetadata`,
`evtconfchanged` (plus a wrapper around `rmonitor` for the work that follows each RMonitor
message). Precedence (spec §2.2, §3.2, §3.4, docs/engine-inputs.md):

* RMonitor is authoritative for laps, times, positions and the flag; Multiloop adds sections,
  pit counts, status, laps led, starting position and the `$F` flag statistics.
* X2 pit processing is off while Multiloop is active; when Multiloop becomes active the X2
  state is dropped and the fields X2 set are taken back (so the result does not depend on
  whether X2 data arrived before or after the first Multiloop record).
* Flagtronics owns the pit state of cars with a trusted in-car device; X2 skips them.
* After every RMonitor message that touched cars, each touched car gets the feeds' values
  again (§2.3, §3.2), *before* enrichment and lap logging run.
* Once the relay's flag list arrives in a session it owns `FlagDurations` (the heartbeat-
  derived log is dropped), and the Flagtronics purple override rewrites it (§6.4).
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from functools import partial
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from . import flaglist as _flaglist
from . import flagtronics as _ft
from . import multiloop as _ml
from . import x2 as _x2
from .flaglist import FlagPeriod, Flags, Rejection, flaglist_reconcile, parse_flag_list
from .flagtronics import (FlagtronicsState, PurpleOverride, apply_vehicle, full_course_flag, is_faulted,
                          parse_vehicles, purple_reconcile, reapply_car, record_tick, signal_sweep)
from .multiloop import MultiloopState, apply_text, car_values
from .state import FlagDuration
from .wire import CAR_JSON

if TYPE_CHECKING:  # pragma: no cover
    from .engine import TimingEngine

__all__ = ["FeedState", "install", "FEED_KINDS"]

FEED_KINDS = ("multiloop", "x2pass", "x2loop", "flags", "ftcar", "loopsmetadata", "evtconfchanged")

# Fields X2 writes; taken back when Multiloop takes over (see retire_x2).
_X2_FIELDS = {"is_in_pit": False, "is_entered_pit": False, "is_exited_pit": False, "is_pit_start_finish": False,
              "last_loop_name": "", "lap_included_pit": False, "pit_stop_count": None, "last_lap_pitted": None,
              "pit_entry_time": None, "pit_duration_ms": None}
# The fields the Multiloop in-class starting ranks read, and those Multiloop writes, by the
# names they have in the engine's change record (contract JSON names)
_STARTING_KEYS = frozenset(CAR_JSON[a] for a in ("overall_starting_position", "in_class_starting_position",
                                                 "car_class"))
_ML_CAR_KEYS = frozenset(CAR_JSON[a] for a in _ml.CAR_FIELDS)


@dataclass(slots=True)
class FeedState:
    """Everything the non-RMonitor inputs remember for one engine.

    Per session (dropped when the engine's session id changes): the Multiloop car tables,
    the X2 pit tables, Flagtronics tracking and purple override, the relay-flags switch.
    Per event (kept): the X2 loop metadata and the "Multiloop is active" switch (spec §2.1:
    active for the rest of the process's life).
    """

    session_id: int | None = None
    active: bool = False  # any feed has data: the RMonitor hooks have work to do
    multiloop: MultiloopState = field(default_factory=MultiloopState)
    x2: _x2.X2PitState = field(default_factory=_x2.X2PitState)
    loops: dict[int, Any] = field(default_factory=dict)  # loop id -> x2.LoopMetadata
    ft: FlagtronicsState = field(default_factory=FlagtronicsState)
    purple: PurpleOverride = field(default_factory=PurpleOverride)
    full_course: Flags | None = None  # the last full-course flag Flagtronics reported
    relay_flags: bool = False  # the relay's flag list owns FlagDurations this session
    # What recent Multiloop lines read as (multiloop.apply_text). It depends on the lines alone,
    # so it outlives sessions and is left out of snapshots.
    multiloop_lines: dict[str, Any] = field(default_factory=dict, repr=False, compare=False,
                                            metadata={"cache": True})

    # ---------------------------------------------------------------- session

    def sync(self, eng: "TimingEngine") -> None:
        """Drop the per-session state when the engine moved to another session (§6.1)."""
        sid = eng.session.session_id
        if self.session_id == sid:
            return
        if self.session_id is not None:
            ml_active = self.multiloop.active
            self.multiloop = MultiloopState(active=ml_active)
            self.x2 = _x2.X2PitState()
            self.ft = FlagtronicsState()
            self.purple = PurpleOverride()
            self.full_course = None
            self.relay_flags = False
            self.active = ml_active
        self.session_id = sid

    def owns_flags(self, eng: "TimingEngine") -> bool:
        """True while the relay's flag list owns FlagDurations (the heartbeat log stands aside)."""
        return self.relay_flags and self.session_id == eng.session.session_id

    # ---------------------------------------------------------------- snapshot

    def snapshot(self) -> dict[str, Any]:
        return {f.name: _enc(getattr(self, f.name)) for f in fields(self) if not f.metadata.get("cache")}

    @classmethod
    def restore(cls, data: dict[str, Any] | None) -> "FeedState":
        fs = cls()
        for name, value in (data or {}).items():
            if name in cls.__dataclass_fields__:
                setattr(fs, name, _dec(value))
        return fs


# ------------------------------------------------------------------------------------------------
# Handlers
# ------------------------------------------------------------------------------------------------

def install(eng: "TimingEngine") -> None:
    """Register the feed handlers on an engine (called from TimingEngine.__init__).

    RMonitor itself is dispatched by the engine, which calls `after_rmonitor_message` after
    each RMonitor message while a feed is active."""
    eng.register_handler("multiloop", partial(on_multiloop, eng))  # no lambda frame: one per Multiloop message
    eng.register_handler("x2pass", lambda p, t: on_x2pass(eng, p, t))
    eng.register_handler("x2loop", lambda p, t: on_x2loop(eng, p, t))
    eng.register_handler("flags", lambda p, t: on_flags(eng, p, t))
    eng.register_handler("ftcar", lambda p, t: on_ftcar(eng, p, t))
    eng.register_handler("loopsmetadata", lambda p, t: on_loop_metadata(eng, p, t))
    eng.register_handler("evtconfchanged", lambda p, t: on_evtconfchanged(eng, p, t))


def _reject_all(eng: "TimingEngine", kind: str, rejections: list[Rejection]) -> None:
    for r in rejections:
        eng._reject(f"{kind}: {r.reason}")


def _apply(eng: "TimingEngine", car: Any, changes: dict[str, Any]) -> None:
    for attr, value in changes.items():
        eng._set(car, attr, value)


# -- Multiloop -----------------------------------------------------------------------------

def on_multiloop(eng: "TimingEngine", payload: str, received_at: datetime) -> None:
    fs = eng.feeds
    if fs.session_id != eng.session.session_id:
        fs.sync(eng)
    was_active = fs.multiloop.active
    rejections: list[Rejection] = []
    try:
        update = apply_text(fs.multiloop, payload or "", rejections, fs.multiloop_lines)
    finally:
        if rejections:
            # Reported even when a record failed to apply, as when the whole text was parsed first.
            _reject_all(eng, "multiloop", rejections)
    if not fs.multiloop.active:
        return
    fs.active = True
    if not was_active:
        retire_x2(eng)
    for name, value in update.session.items():
        eng._set_session(name, list(value) if isinstance(value, list) else value)
    starting = False
    for number, changes in update.cars.items():
        car = eng.cars.get(number)
        if car is None:
            # Kept in the Multiloop tables; applied when RMonitor names the car (§2.3).
            eng.counters["multiloop:car_not_found"] += 1
            continue
        _apply(eng, car, changes)
        starting = starting or "overall_starting_position" in changes
    for event in update.events:
        eng.counters[f"multiloop:{type(event).__name__}"] += 1
    if starting:
        _multiloop_in_class_starting(eng)
        eng._enrich()  # positions gained follow the new starting positions


_START_ORDER = attrgetter("overall_starting_position", "_seq")


def _multiloop_in_class_starting(eng: "TimingEngine") -> None:
    """§5.6 Multiloop mode: in-class starting positions ranked by OverallStartingPosition.

    Cars without a starting position (0) are not ranked and get 0 (the reference sorts 0 first).
    """
    by_class: dict[str | None, list[Any]] = {}
    for car in eng.cars.values():
        if car.car_class is not None and car.overall_starting_position > 0:
            by_class.setdefault(car.car_class, []).append(car)
    ranked: dict[Any, int] = {}
    for cars in by_class.values():
        cars.sort(key=_START_ORDER)
        for i, car in enumerate(cars, 1):
            ranked[car] = i
    for car in eng.cars.values():
        rank = ranked.get(car, 0)
        # Compared here first: this runs for every car whenever a starting position moves, and
        # nearly every car keeps its rank (eng._set would compare the same way).
        if car.in_class_starting_position != rank:
            eng._set(car, "in_class_starting_position", rank)


def retire_x2(eng: "TimingEngine") -> None:
    """Multiloop took over: forget X2 and take back what it set (Multiloop's values win)."""
    fs = eng.feeds
    touched = [n for n in fs.x2.cars if n in eng.cars]
    fs.x2 = _x2.X2PitState()
    for number in touched:
        car = eng.cars[number]
        values = dict(_X2_FIELDS)
        values.update({k: v for k, v in car_values(fs.multiloop, number).items() if k in values})
        if _ft.owns_pit(fs.ft, number):
            for k in ("is_in_pit", "is_entered_pit", "is_exited_pit", "lap_included_pit"):
                values.pop(k, None)
        _apply(eng, car, values)
        _apply(eng, car, reapply_car(fs.ft, car))
    if touched:
        eng.counters["x2:retired_by_multiloop"] += 1


# -- X2 ------------------------------------------------------------------------------------

def on_x2pass(eng: "TimingEngine", payload: str, received_at: datetime) -> None:
    fs = eng.feeds
    fs.sync(eng)
    if fs.multiloop.active:
        eng.counters["x2:skipped_multiloop"] += 1  # §3.2: Multiloop owns the pit data
        return
    passings, rejections = _x2.parse_passings(payload)
    _reject_all(eng, "x2pass", rejections)
    if passings:
        fs.active = True
    for passing in passings:
        _x2.record_passing(fs.x2, passing)  # kept even for unknown cars: re-applied once known
        number = eng.transponders.get(passing.transponder_id)
        car = eng.cars.get(number) if number is not None else None
        if car is None:
            eng.counters["x2:unknown_transponder"] += 1
            continue
        if _ft.owns_pit(fs.ft, number):
            eng.counters["x2:skipped_flagtronics"] += 1
            continue
        _apply(eng, car, _x2.car_pit_changes(fs.x2, car, fs.loops))


def on_x2loop(eng: "TimingEngine", payload: str, received_at: datetime) -> None:
    loops, rejections = _x2.parse_loops(payload)
    _reject_all(eng, "x2loop", rejections)
    eng.counters["x2:loops"] += len(loops)  # logged by the reference, not used by the pit rules


def set_loop_metadata(eng: "TimingEngine", data: Any) -> list[Rejection]:
    """Replace the event's loop metadata and re-evaluate every car X2 has seen."""
    fs = eng.feeds
    fs.sync(eng)
    loops, rejections = _x2.parse_loop_metadata(data)
    _reject_all(eng, "loopsmetadata", rejections)
    if data is not None and (loops or not rejections):
        fs.loops = loops
    if fs.multiloop.active or not fs.x2.latest:
        return rejections
    for car in list(eng.cars.values()):
        if car.transponder_id in fs.x2.latest and not _ft.owns_pit(fs.ft, car.number):
            _apply(eng, car, _x2.car_pit_changes(fs.x2, car, fs.loops))
    return rejections


def on_loop_metadata(eng: "TimingEngine", payload: str, received_at: datetime) -> None:
    set_loop_metadata(eng, payload)


def on_evtconfchanged(eng: "TimingEngine", payload: str, received_at: datetime) -> None:
    """The event's configuration changed (§3.1, checklist 83).

    The relay's payload is the event id: a matching id is counted as a reload request for the
    worker (the engine does no I/O), which then passes the loops via `set_loop_metadata` or a
    `loopsmetadata` message. A JSON list payload is taken as the loop metadata itself.
    """
    text = (payload or "").strip()
    if text.startswith("["):
        set_loop_metadata(eng, text)
        return
    try:
        event_id = int(text)
    except ValueError:
        eng.counters["evtconfchanged:invalid"] += 1
        return
    if event_id == eng.event_id:
        eng.counters["evtconfchanged:reload_loops"] += 1
    else:
        eng.counters["evtconfchanged:other_event"] += 1


# -- flags -----------------------------------------------------------------------------------

def _track_now(eng: "TimingEngine", received_at: datetime) -> datetime:
    local = received_at + timedelta(hours=eng.session.local_time_zone_offset)
    return local.replace(tzinfo=None)


def _publish_flags(eng: "TimingEngine", periods: list[FlagPeriod]) -> None:
    new = [FlagDuration(int(p.flag), p.start, p.end) for p in periods]
    if eng.flag_log.replace(new):
        eng._flags_changed = eng._touched = True


def _purple(eng: "TimingEngine", periods: list[Any]) -> tuple[list[Any], bool]:
    fs = eng.feeds
    if fs.full_course is None:
        return periods, False
    return purple_reconcile(fs.purple, periods, int(eng.rm_flag), fs.full_course, eng.session.local_time_of_day)


def on_flags(eng: "TimingEngine", payload: str, received_at: datetime) -> None:
    fs = eng.feeds
    fs.sync(eng)
    incoming, rejections = parse_flag_list(payload)
    _reject_all(eng, "flags", rejections)
    if not incoming and not fs.relay_flags:
        return  # an empty list does not take the log over from the heartbeat
    # The first list of a session replaces the heartbeat-derived periods.
    existing = eng.flag_log.periods if fs.relay_flags else []
    fs.relay_flags = fs.active = True
    periods, _ = flaglist_reconcile(existing, incoming, _track_now(eng, received_at))
    periods, _ = _purple(eng, periods)
    _publish_flags(eng, periods)


# -- Flagtronics -----------------------------------------------------------------------------

def on_ftcar(eng: "TimingEngine", payload: str, received_at: datetime) -> None:
    fs = eng.feeds
    fs.sync(eng)
    vehicles, rejections = parse_vehicles(payload)
    _reject_all(eng, "ftcar", rejections)
    if not vehicles:
        return
    fs.active = True
    for v in vehicles:
        car = eng.cars.get(v.car_number)
        if car is None:
            eng.counters["ftcar:car_not_found"] += 1
            continue
        record_tick(fs.ft, v.car_number, is_faulted(v), received_at)
        _apply(eng, car, apply_vehicle(fs.ft, car, v, received_at))
    full_course = full_course_flag(vehicles)
    if full_course is not None:
        fs.full_course = full_course
        if eng.ft_flag != full_course:
            eng.ft_flag = _engine_flag(full_course)
            eng._set_current_flag(received_at)
    if fs.owns_flags(eng):
        periods, changed = _purple(eng, eng.flag_log.periods)
        if changed:
            _publish_flags(eng, periods)


def _engine_flag(flag: Flags) -> Any:
    from .flags import Flags as EngineFlags
    return EngineFlags(int(flag))


# -- after RMonitor --------------------------------------------------------------------------

def after_rmonitor_records(eng: "TimingEngine") -> None:
    """Re-apply the feeds to the cars this RMonitor message touched (§2.3, §3.2, §3.4).

    Runs inside the RMonitor pass, after its records and before enrichment and lap logging,
    so an RMonitor reset that recreated a car does not drop its sections or pit state.
    """
    fs = eng.feeds
    if fs.session_id != eng.session.session_id:
        fs.sync(eng)
    changes = eng._car_changes
    if not changes:
        return
    ml, x2, ft = fs.multiloop, fs.x2, fs.ft
    # A car that existed before this pass and whose Multiloop-owned fields RMonitor did not
    # touch still holds Multiloop's values (every Multiloop change is applied to the car as
    # it arrives), so re-applying them would change nothing. With in-car data the two feeds
    # can hand a field back and forth within the pass, so then every car is re-applied.
    settled_before = eng.car_seq_at_pass_start if not ft.cars else -1
    ml_active = ml.active
    starting = False  # a field the Multiloop in-class starting ranks read changed
    for car in list(changes):
        number = car.number
        if number is not None:
            if ml_active:
                if car._seq > settled_before or not _ML_CAR_KEYS.isdisjoint(changes[car]):
                    _apply(eng, car, car_values(ml, number))
            elif x2.latest and car.transponder_id in x2.latest and not _ft.owns_pit(ft, number):
                _apply(eng, car, _x2.car_pit_changes(x2, car, fs.loops))
            if ft.cars:
                _apply(eng, car, reapply_car(ft, car))
        # Tested once this car's own re-application is done (it may set a starting position);
        # nothing here changes another car's fields.
        if ml_active and not starting:
            starting = not _STARTING_KEYS.isdisjoint(changes[car])
    if ml_active:
        if ml.run is not None:
            eng._set_session("is_practice_qualifying",
                             ml.run.run_type.upper() in _ml.PRACTICE_QUALIFYING_RUN_TYPES)
        if starting:
            _multiloop_in_class_starting(eng)


def after_rmonitor_message(eng: "TimingEngine", received_at: datetime) -> None:
    """Work after each RMonitor message: pit laps on the logged laps, purple, signal bars."""
    fs = eng.feeds
    if fs.session_id != eng.session.session_id:
        fs.sync(eng)
    x2, ft = fs.x2, fs.ft
    if eng._completed and (x2.cars or ft.cars):
        # §5.11: a logged lap includes a pit stop when X2 or Flagtronics says so.
        for lap in eng._completed:
            if _x2.was_pit_lap(x2, lap.car_number, lap.lap_number) or \
                    _ft.was_pit_lap(ft, lap.car_number, lap.lap_number):
                lap.car["lip"] = True
    if fs.full_course is not None and fs.owns_flags(eng):
        periods, changed = _purple(eng, eng.flag_log.periods)
        if changed:
            _publish_flags(eng, periods)
    if ft.signals:
        car_changes, session_changes = signal_sweep(ft, eng.cars.values(), received_at,
                                                    eng.session.has_telemetry_source)
        for number, ch in car_changes.items():
            car = eng.cars.get(number)
            if car is not None:
                _apply(eng, car, ch)
        for name, value in session_changes.items():
            eng._set_session(name, value)


# ------------------------------------------------------------------------------------------------
# Snapshot codec: the feed state is plain dataclasses, enums, datetimes and containers.
# ------------------------------------------------------------------------------------------------

_TYPES: dict[str, type] = {"flags.Flags": Flags}
for _mod in (_ml, _x2, _ft, _flaglist):
    for _name in dir(_mod):
        _obj = getattr(_mod, _name)
        if isinstance(_obj, type) and _obj.__module__ == _mod.__name__ and (
                is_dataclass(_obj) or issubclass(_obj, IntEnum)):
            _TYPES[f"{_mod.__name__.rsplit('.', 1)[-1]}.{_name}"] = _obj


def _type_key(obj: Any) -> str:
    cls = type(obj)
    key = f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}"
    if _TYPES.get(key) is not cls:
        raise TypeError(f"feed snapshot: unsupported type {cls.__name__}")
    return key


def _enc(obj: Any) -> Any:
    if obj is None or isinstance(obj, (str, float)) or type(obj) in (int, bool):
        return obj
    if isinstance(obj, IntEnum):
        return {"$e": _type_key(obj), "v": int(obj)}
    if isinstance(obj, datetime):
        return {"$dt": obj.isoformat()}
    if is_dataclass(obj):
        return {"$dc": _type_key(obj), "f": {f.name: _enc(getattr(obj, f.name)) for f in fields(obj)}}
    if isinstance(obj, list):
        return [_enc(x) for x in obj]
    if isinstance(obj, tuple):
        return {"$t": [_enc(x) for x in obj]}
    if isinstance(obj, (set, frozenset)):
        return {"$s": [_enc(x) for x in obj]}
    if isinstance(obj, deque):
        return {"$q": [_enc(x) for x in obj]}
    if isinstance(obj, dict):
        return {"$d": [[_enc(k), _enc(v)] for k, v in obj.items()]}
    raise TypeError(f"feed snapshot: unsupported value {type(obj).__name__}")


def _dec(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_dec(x) for x in obj]
    if not isinstance(obj, dict):
        return obj
    if "$dc" in obj:
        cls = _TYPES[obj["$dc"]]
        return cls(**{k: _dec(v) for k, v in obj["f"].items()})
    if "$e" in obj:
        return _TYPES[obj["$e"]](obj["v"])
    if "$dt" in obj:
        return datetime.fromisoformat(obj["$dt"])
    if "$t" in obj:
        return tuple(_dec(x) for x in obj["$t"])
    if "$s" in obj:
        return {_dec(x) for x in obj["$s"]}
    if "$q" in obj:
        return deque(_dec(x) for x in obj["$q"])
    if "$d" in obj:
        return {_dec(k): _dec(v) for k, v in obj["$d"]}
    raise ValueError(f"feed snapshot: unknown encoding {sorted(obj)!r}")


def snapshot_json(fs: FeedState) -> str:
    """The feed state as JSON text (debugging aid)."""
    return json.dumps(fs.snapshot(), default=str)
