"""Flagtronics in-car data (`ftcar` stream entries, Feed Standard v3 vehicle records).

Four independent pieces, all pure (no I/O; state objects are owned by the caller and updated
in place, each call returning what changed - the engine's "apply and diff" style):

* Parsing: ``parse_vehicles(payload) -> (vehicles, rejections)``, ``flag_from_flagtronics``,
  ``full_course_flag(vehicles)``, ``effective_flag(rmonitor, full_course)``.
* Per-car update: ``apply_vehicle(state, car, vehicle, now) -> dict`` (changed CarPosition
  fields, snake_case), ``reapply_car(state, car, now)`` after a timing reset,
  ``owns_pit(state, number)`` (X2 must skip owned cars) and ``was_pit_lap(state, number, lap)``.
* Signal bars: ``record_tick(state, number, faulted, now)`` per record and
  ``signal_sweep(state, cars, now, has_source) -> (car_changes, session_changes)``.
* Purple override of the flag log: ``purple_reconcile(override, periods, rmonitor_flag,
  full_course_flag, time_of_day) -> (periods, changed)``.

``car`` arguments are read by attribute (or key) using the engine's snake_case CarPosition
names: number, is_in_pit, is_entered_pit, is_exited_pit, lap_included_pit, last_lap_completed,
signal_bars, latitude, longitude, speed_mph, local_flag, ... Missing names read as defaults.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence

from .flaglist import FlagPeriod, Flags, Rejection, as_period, json_array, parse_local_datetime

__all__ = [
    "FtVehicle",
    "FlagtronicsState",
    "PurpleOverride",
    "parse_vehicles",
    "flag_from_flagtronics",
    "full_course_flag",
    "effective_flag",
    "apply_vehicle",
    "reapply_car",
    "owns_pit",
    "was_pit_lap",
    "is_faulted",
    "record_tick",
    "signal_sweep",
    "parse_duration_ms",
    "parse_time_of_day",
    "purple_reconcile",
]

# ---------------------------------------------------------------------------------------------
# Constants (why each value: see docs/engine-inputs.md)
# ---------------------------------------------------------------------------------------------
SPEED_BAD_GPS = 255  # device sentinel: no usable GPS speed
SPEED_STOPPED = 254  # device sentinel: car stationary
MAX_ON_TRACK_ZONE = 127  # zones 1-127 are racing surface, 128+ pit/paddock, 0 = no fix
PIT_ZONE_GLITCH_SPEED_MPH = 80  # a pit zone at racing speed is a GPS mis-tag
MIN_TRUSTED_BARS = 3  # in-car pit data is trusted from this many signal bars
PIT_CONFIRM = timedelta(seconds=8)  # a new pit state must persist this long
PIT_EVIDENCE_GAP = timedelta(seconds=30)  # older evidence than this restarts the confirmation
MAX_PIT_DURATION_MS = 24 * 3600 * 1000
FLAGTRONICS_ID_VALIDATING = 4294967295  # driverId while the device validates the driver
DRIVER_NAME_MAX = 25
DRIVER_ID_MAX = 36

SIGNAL_WINDOW = timedelta(seconds=60)
SIGNAL_STALE_AFTER = timedelta(seconds=45)
SOURCE_STALE_AFTER = timedelta(seconds=90)
SIGNAL_WARM_UP = timedelta(seconds=15)
SIGNAL_CHANGE_CONFIRM = timedelta(seconds=10)

PURPLE_CONFIRM_S = 5  # a full-course change must hold this long on the timing clock
PURPLE_TAKEOVER_S = 5  # a purple this close to the caution's start replaces the caution
MAX_CLOCK_AHEAD = timedelta(hours=12)

# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------
_FLAG_NAMES: dict[str, Flags] = {
    name.lower(): flag
    for names, flag in (
        (("Green", "LocalGreen"), Flags.GREEN),
        (("FCYellow", "Yellow", "StYellow", "StYellowDB", "StYellowWhite", "WhiteStYellowDB"), Flags.YELLOW),
        (("Red",), Flags.RED),
        (("Black",), Flags.BLACK),
        (("MeatBall",), Flags.MEATBALL),
        (("Blue",), Flags.BLUE),
        (("Debris",), Flags.DEBRIS),
        (("White", "WhiteDB"), Flags.WHITE),
        (("Checkered", "LocalCheckered"), Flags.CHECKERED),
        (("Purple",), Flags.PURPLE35),
    )
    for name in names
}

_DRIVER_SOURCES = {"BleDrid": "blePuck", "HelmetDrid": "rfidHelmet", "Manual": "manualOverride", "None": "none"}


def flag_from_flagtronics(name: str | None) -> Flags:
    """Map a Flagtronics flag name (case-insensitive) to Flags; unknown names are UNKNOWN."""
    if not name:
        return Flags.UNKNOWN
    text = name.strip()
    if text.lower().startswith("wavingyel"):
        return Flags.WAVING_YELLOW
    return _FLAG_NAMES.get(text.lower(), Flags.UNKNOWN)


@dataclass(slots=True, frozen=True)
class FtVehicle:
    """The consumed fields of one v3 vehicle-info record (unknown fields are ignored)."""

    car_number: str
    device_id: int | None = None
    speed: int | None = None
    lat: float | None = None
    lon: float | None = None
    car_flag: str | None = None
    local_flag: str | None = None
    full_course_flag: str | None = None
    flagging_zone: int | None = None
    driver_id: int | None = None
    driver_name: str | None = None
    driver_source: str | None = None
    current_lap_number: int | None = None
    pit_entry_time: datetime | None = None
    pit_duration: str | None = None
    pit_active: bool = False
    enforced: bool = False
    speed_violation: bool = False


class _FieldError(ValueError):
    pass


def _as_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise _FieldError(f"{name} is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _FieldError(f"{name} is not an integer")


def _as_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _FieldError(f"{name} is not a number")
    return float(value)


def _as_str(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _FieldError(f"{name} is not a string")
    return value


def _as_bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _FieldError(f"{name} is not a boolean")
    return value


def _vehicle_from(obj: Mapping[str, Any]) -> FtVehicle:
    # Property names are matched case-insensitively, as the reference deserialiser does.
    low = {k.lower(): v for k, v in obj.items() if isinstance(k, str)}
    number = _as_str(low.get("carnumber"), "carNumber")
    if number is None or not number.strip():
        raise _FieldError("carNumber missing or blank")
    raw_entry = _as_str(low.get("pitentrytime"), "pitEntryTime")
    entry = parse_local_datetime(raw_entry) if raw_entry else None
    if raw_entry and entry is None:
        raise _FieldError("pitEntryTime is not ISO-8601")
    # Devices report placeholder dates such as 0001-04-11 when no real pit entry is known.
    if entry is not None and entry.year < 2000:
        entry = None
    return FtVehicle(
        car_number=number.strip(),
        device_id=_as_int(low.get("ft200deviceid"), "ft200DeviceId"),
        speed=_as_int(low.get("speed"), "speed"),
        lat=_as_float(low.get("lat"), "lat"),
        lon=_as_float(low.get("lon"), "lon"),
        car_flag=_as_str(low.get("carflag"), "carFlag"),
        local_flag=_as_str(low.get("localflag"), "localFlag"),
        full_course_flag=_as_str(low.get("fullcourseflag"), "fullCourseFlag"),
        flagging_zone=_as_int(low.get("flaggingzone"), "flaggingZone"),
        driver_id=_as_int(low.get("driverid"), "driverId"),
        driver_name=_as_str(low.get("drivername"), "driverName"),
        driver_source=_as_str(low.get("driversource"), "driverSource"),
        current_lap_number=_as_int(low.get("currentlapnumber"), "currentLapNumber"),
        pit_entry_time=entry,
        pit_duration=_as_str(low.get("pitduration"), "pitDuration"),
        pit_active=_as_bool(low.get("pitactive"), "pitActive"),
        enforced=_as_bool(low.get("enforced"), "enforced"),
        speed_violation=_as_bool(low.get("speedviolation"), "speedViolation"),
    )


def parse_vehicles(payload: str) -> tuple[list[FtVehicle], list[Rejection]]:
    """Parse an ``ftcar`` JSON array; a bad record is rejected, the others still parse."""
    data, rejected = json_array(payload, "vehicle payload")
    if data is None:
        return [], rejected
    vehicles: list[FtVehicle] = []
    rejections: list[Rejection] = []
    for item in data:
        line = json.dumps(item)[:200]
        if not isinstance(item, dict):
            rejections.append(Rejection("vehicle record is not an object", line))
            continue
        try:
            vehicles.append(_vehicle_from(item))
        except _FieldError as exc:
            rejections.append(Rejection(str(exc), line))
    return vehicles, rejections


def full_course_flag(vehicles: Sequence[FtVehicle]) -> Flags | None:
    """The message's full-course flag: the last record that carries one (None if none does)."""
    for vehicle in reversed(vehicles):
        if vehicle.full_course_flag:
            return flag_from_flagtronics(vehicle.full_course_flag)
    return None


def effective_flag(rmonitor_flag: int, full_course: int | None) -> Flags:
    """Overall CurrentFlag: RMonitor's, upgraded to Purple35 when Flagtronics shows purple under its yellow."""
    if rmonitor_flag == Flags.YELLOW and full_course == Flags.PURPLE35:
        return Flags.PURPLE35
    return Flags(int(rmonitor_flag))


_DURATION = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$")


def parse_duration_ms(text: str | None) -> int | None:
    """``[d.]hh:mm:ss[.fff]`` to ms; None when unparsable or longer than 24 h."""
    if not text:
        return None
    match = _DURATION.match(text.strip())
    if not match:
        return None
    days, hours, minutes, seconds, frac = match.groups()
    if int(minutes) > 59 or int(seconds) > 59:
        return None
    ms = (((int(days or 0) * 24 + int(hours)) * 60 + int(minutes)) * 60 + int(seconds)) * 1000
    if frac:
        ms += int((frac + "000")[:3])
    return ms if ms <= MAX_PIT_DURATION_MS else None


# ---------------------------------------------------------------------------------------------
# Per-car state
# ---------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _PitTracker:
    confirmed: bool
    candidate: bool | None = None
    candidate_first: datetime | None = None
    candidate_last: datetime | None = None
    owned: bool = False
    hold_lap: int | None = None
    seen_on_track: bool = False
    pit_laps: set[int] = field(default_factory=set)
    last_vehicle: FtVehicle | None = None


@dataclass(slots=True)
class _Signal:
    first_seen: datetime
    last_seen: datetime
    window: deque[tuple[datetime, bool]] = field(default_factory=deque)
    pending_bars: int | None = None
    pending_since: datetime | None = None


@dataclass(slots=True)
class FlagtronicsState:
    """Everything Flagtronics remembers for one session; make a new one on session change."""

    cars: dict[str, _PitTracker] = field(default_factory=dict)
    signals: dict[str, _Signal] = field(default_factory=dict)
    last_telemetry: datetime | None = None


def _get(car: Any, name: str, default: Any = None) -> Any:
    if isinstance(car, Mapping):
        return car.get(name, default)
    return getattr(car, name, default)


def owns_pit(state: FlagtronicsState, number: str) -> bool:
    """True while Flagtronics owns the car's pit state (X2 passings must then be ignored)."""
    tracker = state.cars.get(number)
    return tracker is not None and tracker.owned


def was_pit_lap(state: FlagtronicsState, number: str, lap: int) -> bool:
    tracker = state.cars.get(number)
    return tracker is not None and lap in tracker.pit_laps


def _raw_in_pit(vehicle: FtVehicle) -> bool:
    # The device's pitActive latches and lags; the GPS flagging zone is the better witness.
    zone = vehicle.flagging_zone
    if zone is None or zone < 1:
        return vehicle.pit_active
    if zone <= MAX_ON_TRACK_ZONE:
        return False
    speed = vehicle.speed if vehicle.speed is not None and vehicle.speed < SPEED_STOPPED else None
    if speed is not None and speed >= PIT_ZONE_GLITCH_SPEED_MPH:
        return vehicle.pit_active
    return True


def _debounce(tracker: _PitTracker, raw: bool, now: datetime) -> bool:
    """Confirm a changed pit state only after it has persisted for PIT_CONFIRM."""
    if raw == tracker.confirmed:
        tracker.candidate = tracker.candidate_first = tracker.candidate_last = None
        return tracker.confirmed
    stale = tracker.candidate_last is not None and now - tracker.candidate_last > PIT_EVIDENCE_GAP
    if tracker.candidate != raw or stale:
        tracker.candidate, tracker.candidate_first = raw, now
    tracker.candidate_last = now
    assert tracker.candidate_first is not None
    if now - tracker.candidate_first >= PIT_CONFIRM:
        tracker.confirmed = raw
        tracker.candidate = tracker.candidate_first = tracker.candidate_last = None
    return tracker.confirmed


def _update_ownership(tracker: _PitTracker, car: Any) -> None:
    bars = _get(car, "signal_bars")
    trusted = bars is not None and bars >= MIN_TRUSTED_BARS
    if trusted == tracker.owned:
        tracker.hold_lap = None
        return
    lap = _get(car, "last_lap_completed", 0) or 0
    # Switching source mid-stop would flip IsInPit under the viewer; wait for the car to be
    # out of the pit or to complete a lap.
    if not _get(car, "is_in_pit", False) or (tracker.hold_lap is not None and lap > tracker.hold_lap):
        tracker.owned = trusted
        tracker.hold_lap = None
    elif tracker.hold_lap is None:
        tracker.hold_lap = lap


def _set(changes: dict[str, Any], car: Any, name: str, value: Any) -> None:
    if _get(car, name) != value:
        changes[name] = value


def _build(tracker: _PitTracker, car: Any, vehicle: FtVehicle,
           confirmed: bool, derive_edges: bool) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    zone = vehicle.flagging_zone
    on_track_zone = zone is not None and 1 <= zone <= MAX_ON_TRACK_ZONE
    if on_track_zone:
        tracker.seen_on_track = True

    if tracker.owned:
        was_in_pit = bool(_get(car, "is_in_pit", False))
        _set(changes, car, "is_in_pit", confirmed)
        if derive_edges:
            _set(changes, car, "is_entered_pit", confirmed and not was_in_pit)
            _set(changes, car, "is_exited_pit", was_in_pit and not confirmed)
        lap = _get(car, "last_lap_completed", 0) or 0
        # The pre-race grid sits in pit zones; only count it once the car has raced or the
        # device itself says it is pitting.
        if confirmed and (vehicle.pit_active or tracker.seen_on_track):
            tracker.pit_laps.add(lap + 1)
            _set(changes, car, "lap_included_pit", True)
        else:
            _set(changes, car, "lap_included_pit", lap in tracker.pit_laps)

    # A pitActive stuck on while the car is on track reports runaway times; drop them.
    stuck = vehicle.pit_active and on_track_zone
    if not stuck:
        if vehicle.pit_entry_time is not None:
            _set(changes, car, "pit_entry_time", vehicle.pit_entry_time)
        duration = parse_duration_ms(vehicle.pit_duration)
        if duration is not None:
            _set(changes, car, "pit_duration_ms", duration)

    _set(changes, car, "pit_speed_enforced", vehicle.enforced)
    _set(changes, car, "speed_violation", vehicle.speed_violation)
    if zone is not None:
        _set(changes, car, "flagging_zone", zone)

    if vehicle.lat is not None and vehicle.lon is not None and (vehicle.lat != 0 or vehicle.lon != 0):
        _set(changes, car, "latitude", vehicle.lat)
        _set(changes, car, "longitude", vehicle.lon)

    if vehicle.speed is not None and vehicle.speed != SPEED_BAD_GPS:
        _set(changes, car, "speed_mph", 0 if vehicle.speed == SPEED_STOPPED else vehicle.speed)

    if vehicle.car_flag:
        _set(changes, car, "local_flag", flag_from_flagtronics(vehicle.car_flag))

    if vehicle.driver_source:
        _set(changes, car, "driver_source", _DRIVER_SOURCES.get(vehicle.driver_source, vehicle.driver_source))

    if vehicle.driver_name and vehicle.driver_name.strip():
        _set(changes, car, "driver_name", vehicle.driver_name.strip()[:DRIVER_NAME_MAX])
    if vehicle.driver_id not in (None, 0, FLAGTRONICS_ID_VALIDATING):
        _set(changes, car, "driver_id", str(vehicle.driver_id)[:DRIVER_ID_MAX])
    return changes


def apply_vehicle(state: FlagtronicsState, car: Any, vehicle: FtVehicle, now: datetime) -> dict[str, Any]:
    """Update the car's Flagtronics tracking with one record; return the changed car fields.

    ``now`` is the message time (any monotonic clock works; only differences are used).
    The caller applies the returned fields to the car. Records for cars the timing system does
    not know should not be passed in (the reference ignores them).
    """
    number = vehicle.car_number
    tracker = state.cars.get(number)
    if tracker is None:
        tracker = _PitTracker(confirmed=bool(_get(car, "is_in_pit", False)))
        state.cars[number] = tracker
    tracker.last_vehicle = vehicle
    _update_ownership(tracker, car)
    confirmed = _debounce(tracker, _raw_in_pit(vehicle), now)
    return _build(tracker, car, vehicle, confirmed, derive_edges=True)


def reapply_car(state: FlagtronicsState, car: Any) -> dict[str, Any]:
    """Re-apply the latest record after a timing reset recreated the car (no edges derived)."""
    number = _get(car, "number")
    tracker = state.cars.get(number) if number else None
    if tracker is None or tracker.last_vehicle is None:
        return {}
    return _build(tracker, car, tracker.last_vehicle, tracker.confirmed, derive_edges=False)


# ---------------------------------------------------------------------------------------------
# Signal bars
# ---------------------------------------------------------------------------------------------
def is_faulted(vehicle: FtVehicle) -> bool:
    """A record that cannot be true of a properly tracked car: no fix, bad speed, pit zone at speed."""
    if vehicle.lat is None or vehicle.lon is None or (vehicle.lat == 0 and vehicle.lon == 0):
        return True
    if vehicle.speed == SPEED_BAD_GPS:
        return True
    zone = vehicle.flagging_zone
    speed = vehicle.speed
    return (zone is not None and zone > MAX_ON_TRACK_ZONE and speed is not None
            and PIT_ZONE_GLITCH_SPEED_MPH <= speed < SPEED_STOPPED)


def record_tick(state: FlagtronicsState, number: str, faulted: bool, now: datetime) -> None:
    """Record one observation of a car's telemetry link."""
    if not number or not number.strip():
        return
    state.last_telemetry = now
    signal = state.signals.get(number)
    if signal is None:
        signal = _Signal(first_seen=now, last_seen=now)
        state.signals[number] = signal
    signal.last_seen = now
    signal.window.append((now, faulted))
    _trim(signal, now)


def _trim(signal: _Signal, now: datetime) -> None:
    while signal.window and signal.window[0][0] < now - SIGNAL_WINDOW:
        signal.window.popleft()


def _bars(signal: _Signal, now: datetime) -> int:
    if now - signal.last_seen > SIGNAL_STALE_AFTER:
        return 0
    if now - signal.first_seen < SIGNAL_WARM_UP:
        return 5
    _trim(signal, now)
    if not signal.window:
        return 0
    clean = sum(1 for _, faulted in signal.window if not faulted) / len(signal.window)
    for threshold, bars in ((0.95, 5), (0.80, 4), (0.60, 3), (0.35, 2)):
        if clean >= threshold:
            return bars
    return 1 if clean > 0 else 0


def signal_sweep(state: FlagtronicsState, cars: Iterable[Any], now: datetime,
                 has_telemetry_source: bool) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Recompute bars for the known cars; returns ``({number: {"signal_bars": n}}, session_changes)``.

    A car's first value is published at once; later changes must hold SIGNAL_CHANGE_CONFIRM so
    a car sitting on a threshold does not flicker.
    """
    car_changes: dict[str, dict[str, Any]] = {}
    for car in cars:
        number = _get(car, "number")
        signal = state.signals.get(number) if number else None
        if signal is None:
            continue
        bars = _bars(signal, now)
        current = _get(car, "signal_bars")
        if current == bars:
            signal.pending_bars = signal.pending_since = None
            continue
        if current is not None:
            if signal.pending_bars != bars:
                signal.pending_bars, signal.pending_since = bars, now
                continue
            assert signal.pending_since is not None
            if now - signal.pending_since < SIGNAL_CHANGE_CONFIRM:
                continue
        signal.pending_bars = signal.pending_since = None
        car_changes[number] = {"signal_bars": bars}
    has_source = state.last_telemetry is not None and now - state.last_telemetry <= SOURCE_STALE_AFTER
    session = {"has_telemetry_source": has_source} if has_source != has_telemetry_source else {}
    return car_changes, session


# ---------------------------------------------------------------------------------------------
# Purple override of the flag log
# ---------------------------------------------------------------------------------------------
@dataclass(slots=True)
class PurpleOverride:
    """What the Flagtronics full-course flag has been showing, and since when (timing clock)."""

    seen_flag: Flags | None = None
    seen_since_s: int | None = None  # seconds since midnight on the timing system clock


def parse_time_of_day(text: str | None) -> int | None:
    """``HH:MM:SS`` (the heartbeat's LocalTimeOfDay) to seconds since midnight."""
    if not text:
        return None
    match = re.match(r"^\s*(\d{1,2}):(\d{2}):(\d{2})(?:\.\d+)?\s*$", text)
    if not match:
        return None
    h, m, s = (int(x) for x in match.groups())
    if h > 23 or m > 59 or s > 59:
        return None
    return h * 3600 + m * 60 + s


def _clock_on(entry_start: datetime, seconds: int) -> datetime | None:
    """The clock as a datetime on the entry's date, rolled forward a day if earlier; None if >12 h ahead."""
    now = entry_start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(seconds=seconds)
    if now < entry_start:
        now += timedelta(days=1)
    return None if now - entry_start > MAX_CLOCK_AHEAD else now


def purple_reconcile(
    override: PurpleOverride,
    periods: Sequence[Any],
    rmonitor_flag: int,
    full_course: int | None,
    time_of_day: str | None,
) -> tuple[list[FlagPeriod], bool]:
    """Write a Flagtronics purple (slow zone) into the flag log while RMonitor shows yellow.

    Call on every message that may move the clock or the full-course flag. RMonitor cannot
    express purple, so the relay's log shows one long yellow; this splits it. See
    docs/engine-inputs.md for the rules (5 s confirmation, back-dating, take-over, release).
    Returns the (possibly rewritten) periods and whether they changed.
    """
    current = sorted((as_period(p) for p in periods), key=lambda p: (p.start, int(p.flag)))
    seconds = parse_time_of_day(time_of_day)
    if seconds is None:
        return current, False

    try:
        observed = Flags(int(full_course)) if full_course is not None else Flags.UNKNOWN
    except (TypeError, ValueError):
        observed = Flags.UNKNOWN
    if observed != override.seen_flag or override.seen_since_s is None:
        override.seen_flag, override.seen_since_s = observed, seconds
    held = (seconds - override.seen_since_s) % 86400

    if rmonitor_flag != Flags.YELLOW or held < PURPLE_CONFIRM_S or observed == Flags.UNKNOWN:
        return current, False
    open_index = next((i for i in range(len(current) - 1, -1, -1) if current[i].end is None), None)
    if open_index is None:
        return current, False
    entry = current[open_index]
    now = _clock_on(entry.start, seconds)
    if now is None:
        return current, False
    seen = now - timedelta(seconds=held)
    one = timedelta(seconds=1)

    if observed == Flags.PURPLE35 and entry.flag == Flags.YELLOW:
        # A yellow that this override resumed after a purple is a real caution the field ran
        # under; only a fresh caution is taken over by a purple called with it.
        resumed = any(p.flag == Flags.PURPLE35 and p.end == entry.start - one for p in current)
        if not resumed and seen - entry.start <= timedelta(seconds=PURPLE_TAKEOVER_S):
            if any(p.start > entry.start for p in current):
                return current, False
            current[open_index] = FlagPeriod(Flags.PURPLE35, entry.start, None)
            return current, True
        new_flag = Flags.PURPLE35
    elif observed != Flags.PURPLE35 and entry.flag == Flags.PURPLE35:
        new_flag = Flags.YELLOW
    else:
        return current, False

    boundary = max(seen, entry.start + one)
    if any(p.start >= boundary for p in current):
        return current, False
    current[open_index] = FlagPeriod(entry.flag, entry.start, boundary - one)
    current.append(FlagPeriod(new_flag, boundary, None))
    return current, True
