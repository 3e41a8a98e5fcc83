"""The one place that knows the contract's JSON names and MessagePack key numbers.

JSON: SessionState fields are camelCase, the cars and small types use their terse explicit
names (api-contract §2.3). "db" style is what the reference writes to Redis and jsonb columns:
the same, except names without an explicit JSON name are PascalCase (`LastLapPitted`).
MessagePack: every object is a positional array indexed by key number, holes are nil, and
CarPosition key 61 (retired HasGps) is always written as false (§2.4).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

import msgpack

from .multiloop import Announcement, CompletedSection, Section
from .state import CarPosition, EventEntry, FlagDuration, SessionState

__all__ = [
    "CAR_FIELDS", "SESSION_FIELDS", "CAR_JSON", "SESSION_JSON",
    "car_to_json", "car_to_db_json", "car_from_json", "car_to_msgpack", "car_value_json", "car_patch_to_json",
    "car_patches_from_record", "car_patch_to_msgpack",
    "session_to_json", "session_to_msgpack", "session_patch_to_json", "session_patch_to_msgpack",
    "entry_to_json", "entries_to_json", "entry_from_json", "flag_duration_to_json", "flag_duration_from_json",
    "packb", "unpackb", "datetime_to_json", "datetime_from_json",
]

# (attribute, web JSON name, db JSON name, MessagePack key)
CAR_FIELDS: tuple[tuple[str, str, str, int], ...] = tuple(
    (a, j, d if d else j, k)
    for a, j, d, k in (
        ("event_id", "eid", None, 0),
        ("session_id", "sid", None, 1),
        ("number", "n", None, 2),
        ("transponder_id", "tp", None, 3),
        ("car_class", "class", None, 4),
        ("best_time", "bt", None, 5),
        ("best_lap", "bl", None, 6),
        ("is_best_time", "ibt", None, 7),
        ("is_best_time_class", "btc", None, 8),
        ("in_class_gap", "cg", None, 9),
        ("in_class_difference", "cd", None, 10),
        ("overall_gap", "og", None, 11),
        ("overall_difference", "od", None, 12),
        ("total_time", "ttm", None, 13),
        ("last_lap_time", "ltm", None, 14),
        ("last_lap_completed", "llp", None, 15),
        ("pit_stop_count", "psc", None, 16),
        ("last_lap_pitted", "lastLapPitted", "LastLapPitted", 17),
        ("laps_led_overall", "llo", None, 18),
        ("laps_led_in_class", "llic", None, 19),
        ("overall_position", "ovp", None, 20),
        ("class_position", "clp", None, 21),
        ("overall_starting_position", "osp", None, 22),
        ("overall_positions_gained", "opg", None, 23),
        ("in_class_starting_position", "icsp", None, 24),
        ("in_class_positions_gained", "cpg", None, 25),
        ("is_overall_most_positions_gained", "ompg", None, 26),
        ("is_class_most_positions_gained", "cmpg", None, 27),
        ("penality_laps", "pl", None, 28),
        ("penality_warnings", "pw", None, 29),
        ("black_flags", "bf", None, 30),
        ("is_entered_pit", "enp", None, 31),
        ("is_pit_start_finish", "psf", None, 32),
        ("is_exited_pit", "exp", None, 33),
        ("is_in_pit", "ip", None, 34),
        ("lap_included_pit", "lip", None, 35),
        ("last_loop_name", "ln", None, 36),
        ("is_stale", "st", None, 37),
        ("track_flag", "flg", None, 38),
        ("local_flag", "lflg", None, 39),
        ("lap_had_local_flag", "lhlf", None, 40),
        ("completed_sections", "csec", None, 41),
        ("projected_lap_time_ms", "plt", None, 42),
        ("lap_start_time", "lstt", None, 43),
        ("driver_name", "dn", None, 44),
        ("driver_id", "did", None, 45),
        ("in_car_video", "vid", None, 46),
        ("latitude", "lat", None, 47),
        ("longitude", "lon", None, 48),
        ("current_status", "mcs", None, 49),
        ("impact_warning", "iw", None, 50),
        ("in_class_fastest_average_pace", "faic", None, 51),
        ("track_temp_deg_f", "temp", None, 52),
        ("track_precipitation_perc", "precip", None, 53),
        ("speed_mph", "spd", None, 54),
        ("pit_entry_time", "pet", None, 55),
        ("pit_duration_ms", "pdm", None, 56),
        ("speed_violation", "sv", None, 57),
        ("pit_speed_enforced", "pse", None, 58),
        ("flagging_zone", "fz", None, 59),
        ("driver_source", "ds", None, 60),
        ("in_class_gap_by_fast_time", "cgft", None, 62),
        ("in_class_difference_by_fast_time", "cdft", None, 63),
        ("overall_gap_by_fast_time", "ogft", None, 64),
        ("overall_difference_by_fast_time", "odft", None, 65),
        ("lap_position_percent", "lapposp", None, 66),
        ("signal_bars", "sb", None, 67),
    )
)
CAR_JSON = {a: j for a, j, _, _ in CAR_FIELDS}
CAR_JSON_DB = {a: d for a, _, d, _ in CAR_FIELDS}
CAR_KEY = {a: k for a, _, _, k in CAR_FIELDS}
CAR_ATTR_BY_JSON = {j: a for a, j, _, _ in CAR_FIELDS} | {d: a for a, _, d, _ in CAR_FIELDS}
CAR_ARRAY_LEN = 68
HAS_GPS_KEY = 61  # retired: always false, never reused

# (attribute, JSON name, MessagePack key)
SESSION_FIELDS: tuple[tuple[str, str, int], ...] = (
    ("event_id", "eventId", 0),
    ("event_name", "eventName", 1),
    ("session_id", "sessionId", 2),
    ("session_name", "sessionName", 3),
    ("laps_to_go", "lapsToGo", 4),
    ("time_to_go", "timeToGo", 5),
    ("local_time_of_day", "localTimeOfDay", 6),
    ("running_race_time", "runningRaceTime", 7),
    ("is_practice_qualifying", "isPracticeQualifying", 8),
    ("session_start_time", "sessionStartTime", 9),
    ("session_end_time", "sessionEndTime", 10),
    ("local_time_zone_offset", "localTimeZoneOffset", 11),
    ("is_live", "isLive", 12),
    ("event_entries", "eventEntries", 13),
    ("car_positions", "carPositions", 14),
    ("current_flag", "currentFlag", 15),
    ("flag_durations", "flagDurations", 16),
    ("green_time_ms", "greenTimeMs", 17),
    ("green_laps", "greenLaps", 18),
    ("yellow_time_ms", "yellowTimeMs", 19),
    ("yellow_laps", "yellowLaps", 20),
    ("number_of_yellows", "numberOfYellows", 21),
    ("red_time_ms", "redTimeMs", 22),
    ("average_race_speed", "averageRaceSpeed", 23),
    ("lead_changes", "leadChanges", 24),
    ("sections", "sections", 25),
    ("class_colors", "classColors", 26),
    ("announcements", "announcements", 27),
    ("last_updated", "lastUpdated", 28),
    ("class_order", "classOrder", 29),
    ("is_simulation", "isSimulation", 30),
    ("is_archived", "isArchived", 31),
    ("track_temp_deg_f", "trackTempDegF", 32),
    ("track_precipitation_perc", "trackPrecipitationPerc", 33),
    ("has_telemetry_source", "hasTelemetrySource", 34),
)
SESSION_JSON = {a: j for a, j, _ in SESSION_FIELDS}
SESSION_KEY = {a: k for a, _, k in SESSION_FIELDS}
SESSION_ATTR_BY_JSON = {j: a for a, j, _ in SESSION_FIELDS}
SESSION_ARRAY_LEN = 35

# .NET DateTime.MinValue: what a non-nullable DateTime holds when never set.
_MIN_DATETIME = datetime(1, 1, 1)
_NON_NULL_DATETIMES = frozenset({"session_start_time"})
_TICKS_PER_MS = 10_000


# ---------------------------------------------------------------- scalars

def datetime_to_json(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
        text = value.isoformat()
        return text + "Z"
    return value.isoformat()


def datetime_from_json(text: str | None) -> datetime | None:
    if not text:
        return None
    utc = text.endswith("Z")
    value = datetime.fromisoformat(text[:-1] if utc else text)
    return value.replace(tzinfo=timezone.utc) if utc else value


def _time_only_json(ticks: int) -> str:
    ms_total, rem = divmod(ticks, _TICKS_PER_MS)
    secs, _ = divmod(ms_total, 1000)
    frac = ticks % 10_000_000
    text = f"{secs // 3600 % 24:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
    return f"{text}.{frac:07d}".rstrip("0").rstrip(".") if frac else text


def _msgpack_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            # Naive values are track-local or UTC by convention; the reference writes them
            # with DateTimeKind lost, so treat the wall clock as UTC.
            value = value.replace(tzinfo=timezone.utc)
        return msgpack.Timestamp.from_datetime(value)
    raise TypeError(f"cannot pack {type(value).__name__}")


def packb(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_msgpack_default, use_bin_type=True, datetime=False)


def unpackb(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False, timestamp=3)


# ---------------------------------------------------------------- small types

def entry_to_json(e: EventEntry) -> dict[str, Any]:
    return {"no": e.number, "nm": e.name, "t": e.team, "c": e.car_class}


def entries_to_json(entries: Iterable[EventEntry]) -> list[dict[str, Any]]:
    """[entry_to_json(e) for e in entries], without a call per entry: the engine sends the whole
    entry list whenever one entry changes (every new car of a forming field)."""
    return [{"no": e.number, "nm": e.name, "t": e.team, "c": e.car_class} for e in entries]


def entry_from_json(d: Mapping[str, Any]) -> EventEntry:
    return EventEntry(d.get("no", ""), d.get("nm", ""), d.get("t", ""), d.get("c", ""))


def _entry_array(e: EventEntry) -> list[Any]:
    return [e.number, e.name, e.team, e.car_class]


def flag_duration_to_json(f: FlagDuration) -> dict[str, Any]:
    return {"f": int(f.flag), "s": datetime_to_json(f.start), "e": datetime_to_json(f.end)}


def flag_duration_from_json(d: Mapping[str, Any]) -> FlagDuration:
    return FlagDuration(int(d.get("f", 0)), datetime_from_json(d.get("s")) or _MIN_DATETIME,
                        datetime_from_json(d.get("e")))


def _flag_array(f: FlagDuration) -> list[Any]:
    return [int(f.flag), f.start, f.end]


# Multiloop value types (contract §11.3): camelCase JSON, positional MessagePack arrays.
# Dicts (e.g. from an external patch) pass through unchanged.

def completed_section_to_json(c: Any) -> dict[str, Any]:
    # The engine's own sections first: isinstance() against the Mapping ABC is slow, and this
    # runs for every section of every car snapshot.
    if type(c) is not CompletedSection and isinstance(c, Mapping):
        return dict(c)
    return {"number": c.number, "sectionId": c.section_id, "elapsedTimeMs": c.elapsed_time_ms,
            "lastSectionTimeMs": c.last_section_time_ms, "lastLap": c.last_lap}


def completed_section_from_json(d: Mapping[str, Any]) -> CompletedSection:
    return CompletedSection(d.get("number", ""), d.get("sectionId", ""), d.get("elapsedTimeMs", 0) or 0,
                            d.get("lastSectionTimeMs", 0) or 0, d.get("lastLap", 0) or 0)


def section_to_json(s: Any) -> dict[str, Any]:
    if isinstance(s, Mapping):
        return dict(s)
    return {"name": s.name, "lengthInches": s.length_inches, "startLabel": s.start_label, "endLabel": s.end_label}


def section_from_json(d: Mapping[str, Any]) -> Section:
    return Section(d.get("name", ""), d.get("lengthInches", 0) or 0, d.get("startLabel", ""), d.get("endLabel", ""))


def announcement_to_json(a: Any) -> dict[str, Any]:
    if isinstance(a, Mapping):
        return dict(a)
    return {"timestamp": datetime_to_json(a.timestamp), "priority": a.priority, "text": a.text}


def announcement_from_json(d: Mapping[str, Any]) -> Announcement:
    return Announcement(datetime_from_json(d.get("timestamp")), d.get("priority", ""), d.get("text", ""))


_SMALL_ARRAY = {
    "completed_sections": (completed_section_from_json,
                           lambda c: [c.number, c.section_id, c.elapsed_time_ms, c.last_section_time_ms, c.last_lap]),
    "sections": (section_from_json, lambda s: [s.name, s.length_inches, s.start_label, s.end_label]),
    "announcements": (announcement_from_json, lambda a: [a.timestamp, a.priority, a.text]),
}


def _small_arrays(attr: str, values: Iterable[Any]) -> list[Any]:
    from_json, to_array = _SMALL_ARRAY[attr]
    return [to_array(from_json(v) if isinstance(v, Mapping) else v) for v in values]


# ---------------------------------------------------------------- cars

def car_value_json(attr: str, value: Any) -> Any:
    """A car field's JSON value: the attribute's value, except for CONVERTED_CAR_ATTRS."""
    if attr == "lap_start_time":
        return _time_only_json(value or 0)
    if attr == "pit_entry_time":
        return datetime_to_json(value)
    if attr == "completed_sections":
        return [completed_section_to_json(c) for c in value]
    return value


_CAR_ATTRS = tuple(a for a, _, _, _ in CAR_FIELDS)
_LSTT_ZERO = _time_only_json(0)  # lap_start_time is never set by RMonitor: nearly every snapshot
# The fields a timing feed sets on every car: their defaults rarely reach a lap snapshot.
_USUALLY_SET = frozenset({
    "event_id", "session_id", "number", "transponder_id", "car_class", "best_time", "best_lap",
    "in_class_gap", "in_class_difference", "overall_gap", "overall_difference", "total_time", "last_lap_time",
    "last_lap_completed", "overall_position", "class_position", "overall_starting_position",
    "overall_positions_gained", "in_class_starting_position", "in_class_positions_gained", "track_flag",
    "projected_lap_time_ms", "in_class_gap_by_fast_time", "in_class_difference_by_fast_time",
    "overall_gap_by_fast_time", "overall_difference_by_fast_time"})
_CAR_DEFAULTS = {f.name: f.default for f in dataclasses.fields(CarPosition)}


def _car_to_json_function(names: tuple[str, ...]) -> Callable[[CarPosition], dict[str, Any]]:
    # A lap snapshot (every car, every lap) must be cheap. A dict display of 68 entries is not
    # built in one step: CPython compiles it as chunks of 16 insertions into growing dicts,
    # merged one into the next. Copying a template that already holds every key in order
    # clones its table in one go; the stores then only replace values (half the instructions).
    # Most fields still hold their default (pit, weather, video, penalties): the template
    # holds it already, so such a field is only stored when it is not that very object (an
    # identity test costs a fraction of a dict store, and an equal but distinct value, say
    # 0.0 for 0, is stored as before).
    # lap_start_time's usual "00:00:00" is written in place rather than through a call per snapshot.
    special = {"lap_start_time": "_lstt(car.lap_start_time) if car.lap_start_time else _LSTT_ZERO",
               "pit_entry_time": "None if car.pit_entry_time is None else _dt(car.pit_entry_time)",
               "completed_sections": "[_csec(c) for c in car.completed_sections] if car.completed_sections else []"}
    ns: dict[str, Any] = {"_lstt": _time_only_json, "_LSTT_ZERO": _LSTT_ZERO,
                          "_dt": datetime_to_json, "_csec": completed_section_to_json}
    template: dict[str, Any] = {}
    stores = []
    for n, a in zip(names, _CAR_ATTRS):
        default = _CAR_DEFAULTS[a]
        if a in special or a in _USUALLY_SET or not (default is None or type(default) in (bool, int, str)):
            template[n] = None
            stores.append(f"    d[{n!r}] = {special.get(a, 'car.' + a)}\n")
            continue
        template[n] = default
        if default is None or type(default) is bool:
            stores.append(f"    if car.{a} is not {default}: d[{n!r}] = car.{a}\n")
        else:  # (a name: `is` with an int or str literal draws a SyntaxWarning)
            ns[f"_default_{a}"] = default
            stores.append(f"    if car.{a} is not _default_{a}: d[{n!r}] = car.{a}\n")
    ns["_template"] = template
    exec(f"def car_json(car):\n    d = _template.copy()\n{''.join(stores)}    return d\n", ns)
    return ns["car_json"]


_CAR_TO_JSON = {"web": _car_to_json_function(tuple(CAR_JSON[a] for a in _CAR_ATTRS)),
                "db": _car_to_json_function(tuple(CAR_JSON_DB[a] for a in _CAR_ATTRS))}


def car_to_json(car: CarPosition, style: str = "web") -> dict[str, Any]:
    return _CAR_TO_JSON[style](car)


car_to_db_json: Callable[[CarPosition], dict[str, Any]] = _CAR_TO_JSON["db"]  # car_to_json(car, "db")


def car_from_json(d: Mapping[str, Any]) -> CarPosition:
    car = CarPosition()
    for key, value in d.items():
        attr = CAR_ATTR_BY_JSON.get(key)
        if attr is None:
            continue
        if attr == "lap_start_time":
            continue  # never set by the engine; keep the default
        if attr == "pit_entry_time":
            value = datetime_from_json(value)
        elif attr == "completed_sections":
            value = [completed_section_from_json(c) if isinstance(c, Mapping) else c for c in value or ()]
        setattr(car, attr, value)
    return car


def car_to_msgpack(car: CarPosition) -> list[Any]:
    arr: list[Any] = [None] * CAR_ARRAY_LEN
    for a, _, _, k in CAR_FIELDS:
        arr[k] = getattr(car, a)
    if car.completed_sections:
        arr[CAR_KEY["completed_sections"]] = _small_arrays("completed_sections", car.completed_sections)
    arr[HAS_GPS_KEY] = False
    return arr


# The car fields whose JSON value is not the attribute's value (see car_value_json).
CONVERTED_CAR_ATTRS = frozenset({"lap_start_time", "pit_entry_time", "completed_sections"})


def car_patch_to_json(number: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """One car's patch from changed fields by attribute name: "n", then the fields by contract
    name in `changes`' order."""
    names = CAR_JSON
    patch: dict[str, Any] = {"n": number}
    for a, v in changes.items():
        patch[names[a]] = car_value_json(a, v)
    return patch


def car_patches_from_record(record: Mapping[CarPosition, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A pass's car patches from the engine's change record, in its order; cars without a number
    or without changes get none. Each patch is "n", then the car's changed fields in the record's
    order.

    The record holds every changed field already as its patch shows it (car -> {contract JSON
    name: JSON value}), so a patch is one dict copy: a loop translating each field's name was a
    few percent of a replay.
    """
    return [{"n": car.number, **changes} for car, changes in record.items() if changes and car.number is not None]


def car_patch_to_msgpack(patch_json: Mapping[str, Any]) -> list[Any]:
    """A JSON-named car patch as a positional array (nil = unchanged)."""
    arr: list[Any] = [None] * CAR_ARRAY_LEN
    for name, v in patch_json.items():
        attr = CAR_ATTR_BY_JSON.get(name)
        if attr is None:
            continue
        if attr == "pit_entry_time" and isinstance(v, str):
            v = datetime_from_json(v)
        elif attr == "lap_start_time":
            continue
        elif attr == "completed_sections" and v:
            v = _small_arrays(attr, v)
        arr[CAR_KEY[attr]] = v
    return arr


# ---------------------------------------------------------------- session

def _session_value_json(attr: str, value: Any, style: str) -> Any:
    if attr == "event_entries":
        return [entry_to_json(e) for e in value]
    if attr == "car_positions":
        return [car_to_json(c, style) for c in value]
    if attr == "flag_durations":
        return [flag_duration_to_json(f) for f in value]
    if attr in _NON_NULL_DATETIMES:
        return datetime_to_json(value or _MIN_DATETIME)
    if attr in ("session_end_time", "last_updated"):
        return datetime_to_json(value)
    if attr in ("class_colors", "class_order"):
        return dict(value)
    if attr == "sections":
        return [section_to_json(x) for x in value]
    if attr == "announcements":
        return [announcement_to_json(x) for x in value]
    return value


def _session_value_msgpack(attr: str, value: Any) -> Any:
    if attr == "event_entries":
        return [_entry_array(e) for e in value]
    if attr == "car_positions":
        return [car_to_msgpack(c) for c in value]
    if attr == "flag_durations":
        return [_flag_array(f) for f in value]
    if attr in _NON_NULL_DATETIMES:
        return value or _MIN_DATETIME
    if attr in ("sections", "announcements"):
        return _small_arrays(attr, value or ())
    return value


def session_to_json(state: SessionState, style: str = "web") -> dict[str, Any]:
    return {j: _session_value_json(a, getattr(state, a), style) for a, j, _ in SESSION_FIELDS}


def session_to_msgpack(state: SessionState) -> bytes:
    arr: list[Any] = [None] * SESSION_ARRAY_LEN
    for a, _, k in SESSION_FIELDS:
        arr[k] = _session_value_msgpack(a, getattr(state, a))
    return packb(arr)


_PLAIN_SESSION_ATTRS = frozenset(a for a, _, _ in SESSION_FIELDS) - {
    "event_entries", "car_positions", "flag_durations", "session_start_time", "session_end_time",
    "last_updated", "class_colors", "class_order", "sections", "announcements"}


def session_patch_to_json(changes: Mapping[str, Any]) -> dict[str, Any]:
    plain = _PLAIN_SESSION_ATTRS
    return {SESSION_JSON[a]: (v if a in plain else _session_value_json(a, v, "web")) for a, v in changes.items()}


def session_patch_to_msgpack(changes: Mapping[str, Any]) -> list[Any]:
    arr: list[Any] = [None] * SESSION_ARRAY_LEN
    for a, v in changes.items():
        arr[SESSION_KEY[a]] = _session_value_msgpack(a, v)
    return arr


def session_from_json(d: Mapping[str, Any]) -> SessionState:
    s = SessionState()
    for key, value in d.items():
        attr = SESSION_ATTR_BY_JSON.get(key)
        if attr is None:
            continue
        if attr == "event_entries":
            value = [entry_from_json(e) for e in value]
        elif attr == "car_positions":
            value = [car_from_json(c) for c in value]
        elif attr == "flag_durations":
            value = [flag_duration_from_json(f) for f in value]
        elif attr in ("session_start_time", "session_end_time", "last_updated"):
            value = datetime_from_json(value)
            if attr == "session_start_time" and value == _MIN_DATETIME:
                value = None
        elif attr == "sections":
            value = [section_from_json(x) if isinstance(x, Mapping) else x for x in value or ()]
        elif attr == "announcements":
            value = [announcement_from_json(x) if isinstance(x, Mapping) else x for x in value or ()]
        setattr(s, attr, value)
    return s


def iter_car_json(cars: Iterable[CarPosition], style: str = "web") -> list[dict[str, Any]]:
    return [car_to_json(c, style) for c in cars]
