"""Orbits Multiloop feed (`multiloop` stream entries): parser and state updates.

Wire format (spec §2.1): newline-separated records ``$X<d>state<d>seq<d>preamble<d>payload...``
where ``<d>`` is the field delimiter. It reaches us as U+FFFD (the relay decodes a non-UTF-8
byte); we also accept U+00A6 and ``|``. The delimiter is whatever character follows the record
letter, so each line may use its own. Numbers are hexadecimal (laps-to-go in ``$H`` is decimal),
times are ms, epoch times are seconds since 1970 UTC.

Public API (pure, no I/O; ``MultiloopState`` is owned by the caller and updated in place):

* ``parse_multiloop(text) -> list[Record | Rejection]`` - one item per non-blank line.
* ``apply_multiloop(state, records) -> MultiloopUpdate`` - folds records into the state and
  returns the changed session fields, changed car fields (per car number) and events
  (new leader, invalidated lap). Rejections in ``records`` are skipped.
* ``apply_text(state, text, rejections, memo) -> MultiloopUpdate`` - the two above in one pass
  (what the engine calls): the same state, update and rejections, with a memo of what the
  per-lap lines read as.
* ``car_values(state, number) -> dict`` - everything Multiloop knows about a car, for
  re-application after an RMonitor reset (spec §2.3).
"""

from __future__ import annotations

import re
from operator import itemgetter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Union

from .flaglist import Rejection

__all__ = [
    "DELIMITERS",
    "Header",
    "Heartbeat",
    "Entry",
    "CompletedLap",
    "CompletedSectionRecord",
    "LineCrossing",
    "InvalidatedLap",
    "FlagInformation",
    "NewLeader",
    "RunInformation",
    "TrackSection",
    "TrackInformation",
    "AnnouncementRecord",
    "Version",
    "Record",
    "CompletedSection",
    "Section",
    "Announcement",
    "LeaderChanged",
    "LapInvalidated",
    "MultiloopState",
    "MultiloopUpdate",
    "parse_multiloop",
    "parse_line",
    "apply_multiloop",
    "apply_text",
    "car_values",
    "epoch_to_datetime",
]

DELIMITERS = ("\ufffd", "\u00a6", "|")
CURRENT_STATUS_MAX = 12  # CarPosition.CurrentStatus is at most 12 characters
PRACTICE_QUALIFYING_RUN_TYPES = frozenset({"P", "Q", "S"})  # practice, qualifying, single-car qualifying

_EPOCH = datetime(1970, 1, 1)


def epoch_to_datetime(seconds: int | None) -> datetime | None:
    """Epoch seconds to a naive UTC datetime (None stays None)."""
    return None if seconds is None else _EPOCH + timedelta(seconds=seconds)


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------
# Parsed records are plain slotted dataclasses, not frozen ones: a frozen slotted dataclass sets
# every field through object.__setattr__, which made building a 22-field `$C` cost twice as much.
# Nothing mutates a record after parsing; the state-side values below stay frozen.
@dataclass(slots=True)
class Header:
    record: str  # record letter, e.g. "C"
    state: str  # "N" new, "R" repeated, "U" updated (anything else is read as "N")
    sequence: int
    preamble: str


@dataclass(slots=True)
class Heartbeat:
    header: Header
    track_status: str
    time_date_sec: int | None
    elapsed_ms: int | None
    laps_to_go: int | None
    time_to_go_ms: int | None


@dataclass(slots=True)
class Entry:
    header: Header
    number: str
    unique_id: int | None
    driver_name: str
    start_position: int | None
    field_count: int
    fields: tuple[str, ...]
    competitor_id: int | None


@dataclass(slots=True)
class CompletedLap:
    header: Header
    rank: int | None
    number: str
    unique_id: int | None
    completed_laps: int | None
    elapsed_ms: int | None
    last_lap_ms: int | None
    lap_status: str
    fastest_lap_ms: int | None
    fastest_lap: int | None
    time_behind_leader_ms: int | None
    laps_behind_leader: int | None
    time_behind_preceding_ms: int | None
    laps_behind_preceding: int | None
    overall_rank: int | None
    overall_best_lap_ms: int | None
    current_status: str
    track_status: str
    pit_stop_count: int | None
    last_lap_pitted: int | None
    start_position: int | None
    laps_led: int | None


@dataclass(slots=True)
class CompletedSectionRecord:
    header: Header
    number: str
    unique_id: int | None
    section_id: str
    elapsed_ms: int | None
    last_section_ms: int | None
    last_lap: int | None


@dataclass(slots=True)
class LineCrossing:
    header: Header
    number: str
    unique_id: int | None
    time_line: str
    source: str  # A antenna, M manual, other = photocell
    elapsed_ms: int | None
    track_status: str
    crossing_status: str  # P pit lane, otherwise track


@dataclass(slots=True)
class InvalidatedLap:
    header: Header
    number: str  # may be "??" when the timing system does not know the car
    unique_id: int | None
    elapsed_ms: int | None


@dataclass(slots=True)
class FlagInformation:
    header: Header
    track_status: str
    lap_number: int | None
    green_time_ms: int | None
    green_laps: int | None
    yellow_time_ms: int | None
    yellow_laps: int | None
    red_time_ms: int | None
    number_of_yellows: int | None
    current_leader: str
    lead_changes: int | None
    average_speed: str  # mph, as text


@dataclass(slots=True)
class NewLeader:
    header: Header
    number: str
    unique_id: int | None
    lap_number: int | None
    elapsed_ms: int | None
    lead_change_index: int | None


@dataclass(slots=True)
class RunInformation:
    header: Header
    event_name: str
    short_name: str
    run_name: str
    run_type: str  # P practice, Q qualifying, S single-car qualifying, R race
    start_time_sec: int | None


@dataclass(slots=True)
class TrackSection:
    name: str
    length_inches: int | None
    start_label: str
    end_label: str


@dataclass(slots=True)
class TrackInformation:
    header: Header
    name: str
    venue: str
    length_mi: str
    section_count: int
    sections: tuple[TrackSection, ...]


@dataclass(slots=True)
class AnnouncementRecord:
    header: Header
    message_number: int
    action: str  # D deletes; anything else adds or replaces
    priority: str
    timestamp_sec: int | None
    text: str


@dataclass(slots=True)
class Version:
    header: Header
    major: int | None
    minor: int | None
    info: str


Record = Union[Heartbeat, Entry, CompletedLap, CompletedSectionRecord, LineCrossing, InvalidatedLap,
               FlagInformation, NewLeader, RunInformation, TrackInformation, AnnouncementRecord, Version]


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------
class _FieldError(ValueError):
    pass


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


_HEX_MATCH = re.compile(r"[0-9A-Fa-f]+\Z").match


def _hex(value: str, name: str) -> int | None:
    text = value.strip()
    if not text:
        return None  # Orbits leaves unknown numbers empty; "no information", not an error
    # Digits only: int() would also take signs, "0x" prefixes and underscores.
    if _HEX_MATCH(text) is None:
        raise _FieldError(f"{name}: not hexadecimal: {value!r}")
    return int(text, 16)


def _dec(value: str, name: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise _FieldError(f"{name}: not a decimal number: {value!r}")
    return int(text, 10)


# Fixed-layout payloads: (field name, kind) with kind "s" text, "x" hex, "d" decimal.
_LAYOUTS: dict[str, tuple[type, tuple[tuple[str, str], ...]]] = {
    "H": (Heartbeat, (("track_status", "s"), ("time_date_sec", "x"), ("elapsed_ms", "x"),
                      ("laps_to_go", "d"), ("time_to_go_ms", "x"))),
    "C": (CompletedLap, (("rank", "x"), ("number", "s"), ("unique_id", "x"), ("completed_laps", "x"),
                         ("elapsed_ms", "x"), ("last_lap_ms", "x"), ("lap_status", "s"), ("fastest_lap_ms", "x"),
                         ("fastest_lap", "x"), ("time_behind_leader_ms", "x"), ("laps_behind_leader", "x"),
                         ("time_behind_preceding_ms", "x"), ("laps_behind_preceding", "x"), ("overall_rank", "x"),
                         ("overall_best_lap_ms", "x"), ("current_status", "s"), ("track_status", "s"),
                         ("pit_stop_count", "x"), ("last_lap_pitted", "x"), ("start_position", "x"),
                         ("laps_led", "x"))),
    "S": (CompletedSectionRecord, (("number", "s"), ("unique_id", "x"), ("section_id", "s"), ("elapsed_ms", "x"),
                                   ("last_section_ms", "x"), ("last_lap", "x"))),
    "L": (LineCrossing, (("number", "s"), ("unique_id", "x"), ("time_line", "s"), ("source", "s"),
                         ("elapsed_ms", "x"), ("track_status", "s"), ("crossing_status", "s"))),
    "I": (InvalidatedLap, (("number", "s"), ("unique_id", "x"), ("elapsed_ms", "x"))),
    "F": (FlagInformation, (("track_status", "s"), ("lap_number", "x"), ("green_time_ms", "x"), ("green_laps", "x"),
                            ("yellow_time_ms", "x"), ("yellow_laps", "x"), ("red_time_ms", "x"),
                            ("number_of_yellows", "x"), ("current_leader", "s"), ("lead_changes", "x"),
                            ("average_speed", "s"))),
    "N": (NewLeader, (("number", "s"), ("unique_id", "x"), ("lap_number", "x"), ("elapsed_ms", "x"),
                      ("lead_change_index", "x"))),
    "R": (RunInformation, (("event_name", "s"), ("short_name", "s"), ("run_name", "s"), ("run_type", "s"),
                           ("start_time_sec", "x"))),
    "V": (Version, (("major", "x"), ("minor", "x"), ("info", "s"))),
}


def _hex_fields(layout: tuple[tuple[str, str], ...]) -> tuple[tuple[int, ...], Any]:
    idx = tuple(i for i, (_, kind) in enumerate(layout) if kind == "x")
    get = itemgetter(*idx) if len(idx) > 1 else (lambda texts, _i=idx[0]: (texts[_i],))
    return idx, get


# Per layout: the record class, the number of payload fields, the positions of the hexadecimal
# ones and a getter for them, and whether the fast path applies (layouts with decimal fields
# always take the checked path).
_FAST_LAYOUTS: dict[str, tuple[type, int, tuple[int, ...], Any, bool]] = {
    record: (cls, len(layout), *_hex_fields(layout), all(kind != "d" for _, kind in layout))
    for record, (cls, layout) in _LAYOUTS.items()
}


def _fixed(record: str, header: Header, parts: list[str], clean: bool) -> Record:
    """A fixed-layout record from its split line (the payload starts after the 4 header fields).

    `clean`: the line holds no whitespace, so no field needs stripping."""
    cls, count, hex_idx, hex_get, fast = _FAST_LAYOUTS[record]
    if len(parts) - 4 < count:
        raise _FieldError(f"${record} needs {count} payload fields, got {len(parts) - 4}")
    if fast:
        texts = parts[4:4 + count] if clean else [raw.strip() for raw in parts[4:4 + count]]
        # One digit check for all hex fields together; a failure (or an empty field) takes the
        # checked path below, which names the first offending field.
        hexes = hex_get(texts)
        joined = "".join(hexes)
        if not joined or _HEX_MATCH(joined) is not None:
            for i in hex_idx:
                t = texts[i]
                texts[i] = int(t, 16) if t else None  # empty: "no information", not an error
            return cls(header, *texts)
    return _fixed_checked(record, header, parts[4:])


def _fixed_checked(record: str, header: Header, payload: list[str]) -> Record:
    cls, layout = _LAYOUTS[record]
    values: list[Any] = [header]
    append = values.append
    for (name, kind), raw in zip(layout, payload):
        if kind == "x":
            append(_hex(raw, name))
        elif kind == "d":
            append(_dec(raw, name))
        else:
            append(raw.strip())
    return cls(*values)  # the layouts list the fields in declaration order


def _entry(header: Header, payload: list[str]) -> Entry:
    if len(payload) < 5:
        raise _FieldError(f"$E needs at least 6 payload fields, got {len(payload)}")
    count = _hex(payload[4], "field_count") or 0
    if len(payload) < 6 + count:
        raise _FieldError(f"$E declares {count} extra fields but has {len(payload) - 5} after the count")
    return Entry(header, payload[0].strip(), _hex(payload[1], "unique_id"), payload[2].strip(),
                 _hex(payload[3], "start_position"), count, tuple(f.strip() for f in payload[5:5 + count]),
                 _hex(payload[5 + count], "competitor_id"))


def _track(header: Header, payload: list[str]) -> TrackInformation:
    if len(payload) < 4:
        raise _FieldError(f"$T needs at least 4 payload fields, got {len(payload)}")
    count = _hex(payload[3], "section_count") or 0
    if len(payload) < 4 + 4 * count:
        raise _FieldError(f"$T declares {count} sections but has fields for {(len(payload) - 4) // 4}")
    sections = tuple(
        TrackSection(payload[i].strip(), _hex(payload[i + 1], "length_inches"), payload[i + 2].strip(),
                     payload[i + 3].strip())
        for i in range(4, 4 + 4 * count, 4)
    )
    return TrackInformation(header, payload[0].strip(), payload[1].strip(), payload[2].strip(), count, sections)


def _announcement(header: Header, payload: list[str], delimiter: str) -> AnnouncementRecord:
    if len(payload) < 5:
        raise _FieldError(f"$A needs 5 payload fields, got {len(payload)}")
    number = _hex(payload[0], "message_number")
    if number is None:
        raise _FieldError("message_number missing")
    # The text is last; keep any delimiter inside it rather than losing the tail.
    return AnnouncementRecord(header, number, payload[1].strip(), payload[2].strip(), _hex(payload[3], "timestamp"),
                              delimiter.join(payload[4:]).strip())


_RECORD_STATES = frozenset({"N", "R", "U"})
_VARIABLE_LAYOUTS = frozenset("ETA")  # records whose field count depends on their content


def parse_line(line: str) -> Record | Rejection | None:
    """Parse one record; None for a blank line."""
    text = line if line[:1] == "$" and line[-1:] not in "\r\n" else line.lstrip("\ufeff").rstrip("\r\n")
    if not text or text.isspace():  # blank (isspace: no stripped copy of every line)
        return None
    if text[0] != "$" or len(text) < 2:
        return Rejection("not a Multiloop record (must start with $ and a record letter)", line)
    record = text[1]
    if record not in "HECSLIFNRTAV":
        return Rejection(f"unknown record type ${record}", line)
    if len(text) < 3 or text[2] not in DELIMITERS:
        return Rejection(f"no field delimiter after ${record}", line)
    delimiter = text[2]
    parts = text.split(delimiter)
    if len(parts) < 4:
        return Rejection(f"${record} header needs 4 fields, got {len(parts)}", line)
    # Feeds almost never pad fields: with no whitespace anywhere (isprintable() is False for
    # every whitespace character but the space) nothing needs stripping.
    clean = " " not in text and text.isprintable()
    try:
        seq_text = parts[2]
        if clean and seq_text and _HEX_MATCH(seq_text) is not None:
            sequence: int | None = int(seq_text, 16)
        else:
            sequence = _hex(seq_text, "sequence")
        if sequence is None:
            raise _FieldError("sequence: missing")
        state = parts[1] if clean else parts[1].strip()
        header = Header(record, state if state in _RECORD_STATES else "N", sequence, parts[3] if clean else parts[3].strip())
        if record in _VARIABLE_LAYOUTS:
            payload = parts[4:]
            if record == "E":
                return _entry(header, payload)
            if record == "T":
                return _track(header, payload)
            return _announcement(header, payload, delimiter)
        return _fixed(record, header, parts, clean)
    except _FieldError as exc:
        return Rejection(str(exc), line)


def parse_multiloop(text: str) -> list[Record | Rejection]:
    """Parse every non-blank line; malformed lines become Rejections, the rest still parse."""
    out: list[Record | Rejection] = []
    for line in text.splitlines():
        item = parse_line(line)
        if item is not None:
            out.append(item)
    return out


# ---------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class CompletedSection:
    """CarPosition.CompletedSections element (contract §11.3)."""

    number: str
    section_id: str
    elapsed_time_ms: int
    last_section_time_ms: int
    last_lap: int


@dataclass(slots=True, frozen=True)
class Section:
    """SessionState.Sections element (contract §11.3)."""

    name: str
    length_inches: int
    start_label: str
    end_label: str


@dataclass(slots=True, frozen=True)
class Announcement:
    """SessionState.Announcements element (contract §11.3); timestamp is naive UTC."""

    timestamp: datetime | None
    priority: str
    text: str


@dataclass(slots=True, frozen=True)
class LeaderChanged:
    number: str
    lap_number: int | None
    elapsed_ms: int | None
    lead_change_index: int | None


@dataclass(slots=True, frozen=True)
class LapInvalidated:
    number: str | None  # None when neither the record nor the unique id names the car
    unique_id: int | None
    elapsed_ms: int | None


@dataclass(slots=True)
class _Car:
    sections: dict[str, CompletedSection] = field(default_factory=dict)
    pit_stop_count: int | None = None
    last_lap_pitted: int | None = None
    start_position: int | None = None
    laps_led: int | None = None
    current_status: str | None = None
    crossing_status: str | None = None
    invalidated_elapsed_ms: list[int] = field(default_factory=list)


@dataclass(slots=True)
class MultiloopState:
    """What Multiloop has told us this process; any record makes the source active."""

    active: bool = False  # once true, X2 pit processing is disabled (spec §3.2)
    cars: dict[str, _Car] = field(default_factory=dict)
    entries: dict[str, Entry] = field(default_factory=dict)
    numbers_by_uid: dict[int, str] = field(default_factory=dict)
    session: dict[str, Any] = field(default_factory=dict)  # last value of each session field we emitted
    announcements: dict[int, Announcement] = field(default_factory=dict)
    leader: str | None = None
    leader_history: list[LeaderChanged] = field(default_factory=list)
    heartbeat: Heartbeat | None = None
    run: RunInformation | None = None
    track: TrackInformation | None = None
    version: Version | None = None


@dataclass(slots=True)
class MultiloopUpdate:
    session: dict[str, Any] = field(default_factory=dict)
    cars: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[LeaderChanged | LapInvalidated] = field(default_factory=list)

    def car(self, number: str) -> dict[str, Any]:
        return self.cars.setdefault(number, {})


def _car(state: MultiloopState, number: str) -> _Car:
    # Not setdefault(number, _Car()): that builds a throw-away _Car for every record.
    car = state.cars.get(number)
    if car is None:
        car = state.cars[number] = _Car()
    return car


def _sections_list(car: _Car) -> list[CompletedSection]:
    return list(car.sections.values())


def _session(state: MultiloopState, update: MultiloopUpdate, name: str, value: Any) -> None:
    if value is not None and state.session.get(name) != value:
        state.session[name] = value
        update.session[name] = value


def _remember_uid(state: MultiloopState, uid: int | None, number: str) -> None:
    if uid is not None and number:
        state.numbers_by_uid[uid] = number


def _numbered_car(state: MultiloopState, uid: int | None, number: str) -> _Car:
    """The car a per-lap record names (`number` is not empty), remembering its unique id.

    One call for what every `$C`, `$S` and `$L` needs first: _remember_uid, then _car."""
    if uid is not None:
        state.numbers_by_uid[uid] = number
    car = state.cars.get(number)
    if car is None:
        car = state.cars[number] = _Car()
    return car


def _completed_lap(state: MultiloopState, rec: CompletedLap, update: MultiloopUpdate) -> None:
    if rec.number:
        _lap(state, update, rec.number, rec.unique_id, rec.current_status, rec.pit_stop_count, rec.last_lap_pitted,
             rec.start_position, rec.laps_led)


def _lap(state: MultiloopState, update: MultiloopUpdate, number: str, uid: int | None, current_status: str,
         pit_stop_count: int | None, last_lap_pitted: int | None, start_position: int | None,
         laps_led: int | None) -> None:
    """A `$C` for a numbered car, from the fields the state keeps (both parsing paths end here)."""
    car = _numbered_car(state, uid, number)
    # RMonitor stays authoritative for laps, times, positions and gaps; Multiloop adds the rest.
    # (Written out field by field: one of these arrives for every car on every lap.)
    out: dict[str, Any] = {}
    if start_position is not None and car.start_position != start_position:
        car.start_position = out["overall_starting_position"] = start_position
    if laps_led is not None and car.laps_led != laps_led:
        car.laps_led = out["laps_led_overall"] = laps_led
    v = current_status[:CURRENT_STATUS_MAX]
    if car.current_status != v:
        car.current_status = out["current_status"] = v
    if pit_stop_count is not None and car.pit_stop_count != pit_stop_count:
        car.pit_stop_count = out["pit_stop_count"] = pit_stop_count
    if last_lap_pitted is not None and car.last_lap_pitted != last_lap_pitted:
        car.last_lap_pitted = out["last_lap_pitted"] = last_lap_pitted
    if car.sections:
        # A completed lap starts a new set of sections.
        car.sections.clear()
        out["completed_sections"] = []
    if out:
        update.car(number).update(out)


def _completed_section(state: MultiloopState, rec: CompletedSectionRecord, update: MultiloopUpdate) -> None:
    if rec.number and rec.section_id:
        _section(state, update, rec.unique_id, CompletedSection(rec.number, rec.section_id, rec.elapsed_ms or 0,
                                                                rec.last_section_ms or 0, rec.last_lap or 0))


def _section(state: MultiloopState, update: MultiloopUpdate, uid: int | None, value: CompletedSection) -> None:
    """A `$S` naming a car and a section (both parsing paths end here)."""
    number = value.number
    car = _numbered_car(state, uid, number)
    old = car.sections.get(value.section_id)
    if old is not None and (old is value or old == value):
        return  # Multiloop repeats sections
    car.sections[value.section_id] = value
    update.car(number)["completed_sections"] = _sections_list(car)


def _line_crossing(state: MultiloopState, rec: LineCrossing, update: MultiloopUpdate) -> None:
    if rec.number:
        _crossing(state, update, rec.number, rec.unique_id, rec.crossing_status)


def _crossing(state: MultiloopState, update: MultiloopUpdate, number: str, uid: int | None,
              crossing_status: str) -> None:
    """A `$L` naming a car (both parsing paths end here)."""
    car = _numbered_car(state, uid, number)
    if car.crossing_status != crossing_status:
        car.crossing_status = crossing_status
        in_pit = crossing_status == "P"
        out = update.car(number)
        out["is_pit_start_finish"] = in_pit
        out["is_in_pit"] = in_pit


def _invalidated(state: MultiloopState, rec: InvalidatedLap, update: MultiloopUpdate) -> None:
    number = rec.number if rec.number and rec.number != "??" else None
    if number is None and rec.unique_id is not None:
        number = state.numbers_by_uid.get(rec.unique_id)
    if number is not None and rec.elapsed_ms is not None:
        _car(state, number).invalidated_elapsed_ms.append(rec.elapsed_ms)
    update.events.append(LapInvalidated(number, rec.unique_id, rec.elapsed_ms))


def _flag_info(state: MultiloopState, rec: FlagInformation, update: MultiloopUpdate) -> None:
    # CurrentFlag is deliberately not taken from Multiloop: RMonitor owns it.
    for name in ("green_time_ms", "green_laps", "yellow_time_ms", "yellow_laps", "number_of_yellows",
                 "red_time_ms", "lead_changes"):
        _session(state, update, name, getattr(rec, name))
    if rec.average_speed:
        _session(state, update, "average_race_speed", rec.average_speed)


def _new_leader(state: MultiloopState, rec: NewLeader, update: MultiloopUpdate) -> None:
    if not rec.number:
        return
    _remember_uid(state, rec.unique_id, rec.number)
    event = LeaderChanged(rec.number, rec.lap_number, rec.elapsed_ms, rec.lead_change_index)
    if state.leader_history and state.leader_history[-1] == event:
        return  # a repeated record, not a new change
    state.leader = rec.number
    state.leader_history.append(event)
    update.events.append(event)


def _run_info(state: MultiloopState, rec: RunInformation, update: MultiloopUpdate) -> None:
    state.run = rec
    _session(state, update, "is_practice_qualifying", rec.run_type.upper() in PRACTICE_QUALIFYING_RUN_TYPES)


def _track_info(state: MultiloopState, rec: TrackInformation, update: MultiloopUpdate) -> None:
    state.track = rec
    sections = [Section(s.name, s.length_inches or 0, s.start_label, s.end_label) for s in rec.sections]
    _session(state, update, "sections", sections)


def _announcement_rec(state: MultiloopState, rec: AnnouncementRecord, update: MultiloopUpdate) -> None:
    if rec.action.upper() == "D":
        state.announcements.pop(rec.message_number, None)
    else:
        state.announcements[rec.message_number] = Announcement(epoch_to_datetime(rec.timestamp_sec), rec.priority,
                                                               rec.text)
    ordered = [state.announcements[k] for k in sorted(state.announcements)]
    if state.session.get("announcements", []) != ordered:
        state.session["announcements"] = ordered
        update.session["announcements"] = list(ordered)


def _entry_rec(state: MultiloopState, rec: Entry, update: MultiloopUpdate) -> None:
    if not rec.number:
        return  # the reference ignores entries without a number
    state.entries[rec.number] = rec
    _remember_uid(state, rec.unique_id, rec.number)


def apply_multiloop(state: MultiloopState, records: Iterable[Record | Rejection]) -> MultiloopUpdate:
    """Fold records (in order) into the state; return what changed. Rejections are skipped."""
    update = MultiloopUpdate()
    appliers = _APPLIERS
    for rec in records:
        apply = appliers.get(type(rec))
        if apply is None:
            continue  # a Rejection
        state.active = True
        apply(state, rec, update)
    return update


def _heartbeat_rec(state: MultiloopState, rec: Heartbeat, update: MultiloopUpdate) -> None:
    state.heartbeat = rec  # parsed only: RMonitor's heartbeat drives the session clock


def _version_rec(state: MultiloopState, rec: Version, update: MultiloopUpdate) -> None:
    state.version = rec


# One lookup per record instead of an isinstance chain (the record classes are final).
_APPLIERS: dict[type, Any] = {
    CompletedLap: _completed_lap, CompletedSectionRecord: _completed_section, LineCrossing: _line_crossing,
    InvalidatedLap: _invalidated, FlagInformation: _flag_info, NewLeader: _new_leader, RunInformation: _run_info,
    TrackInformation: _track_info, AnnouncementRecord: _announcement_rec, Entry: _entry_rec,
    Heartbeat: _heartbeat_rec, Version: _version_rec,
}


# ---------------------------------------------------------------------------------------------
# The engine's path: parse and apply in one pass
# ---------------------------------------------------------------------------------------------
# `$C`, `$S` and `$L` arrive for every car on every lap. For them the engine does not need the
# record objects: a line that parse_line would accept on its clean fast path (no whitespace, the
# sequence and every hexadecimal payload field all digits) is read straight from its split form,
# converting only the fields the state keeps, into an applier and its arguments. What a line
# reads as depends on the line alone, so a memo keeps it for lines that come again (a timing
# system repeats the latest lap and sections of every car). Every other line - including every
# line that parse_line would reject or strip - goes through parse_line and the record appliers,
# so rejections and results are the same as parse_multiloop + apply_multiloop.

MEMO_LIMIT = 1024  # lines; the memo is dropped whole when full (repeats come within a few dozen lines)


def _fast_layout(record: str, used: tuple[str, ...]) -> tuple[int, Any, Any]:
    """(minimum number of split fields, getter for the sequence and the hex fields, getter for `used`)."""
    layout = _LAYOUTS[record][1]
    names = [name for name, _ in layout]
    hex_at = [2] + [4 + i for i, (_, kind) in enumerate(layout) if kind == "x"]
    return 4 + len(layout), itemgetter(*hex_at), itemgetter(*(4 + names.index(n) for n in used))


_LAP_SHAPE = _fast_layout("C", ("number", "unique_id", "current_status", "pit_stop_count", "last_lap_pitted",
                                "start_position", "laps_led"))
_SECTION_SHAPE = _fast_layout("S", ("number", "unique_id", "section_id", "elapsed_ms", "last_section_ms", "last_lap"))
_CROSSING_SHAPE = _fast_layout("L", ("number", "unique_id", "crossing_status"))


def _clean_fields(line: str, shape: tuple[int, Any, Any]) -> Any:
    """The `used` fields of a line parse_line accepts without stripping or a checked field, else None."""
    size, hex_get, used_get = shape
    parts = line.split(line[2])
    if len(parts) < size or not parts[2] or " " in line or not line.isprintable() \
            or _HEX_MATCH("".join(hex_get(parts))) is None:
        return None
    return used_get(parts)


def _nothing(state: MultiloopState, update: MultiloopUpdate) -> None:
    """A valid record without a car number: it only makes the source active."""


_NOTHING = (_nothing, ())


def _read_lap(line: str) -> tuple[Any, tuple] | None:
    f = _clean_fields(line, _LAP_SHAPE)
    if f is None:
        return None
    number, uid, status, pits, pitted, start, led = f
    if not number:
        return _NOTHING
    return _lap, (number, int(uid, 16) if uid else None, status, int(pits, 16) if pits else None,
                  int(pitted, 16) if pitted else None, int(start, 16) if start else None, int(led, 16) if led else None)


def _read_section(line: str) -> tuple[Any, tuple] | None:
    f = _clean_fields(line, _SECTION_SHAPE)
    if f is None:
        return None
    number, uid, section_id, elapsed, last_ms, lap = f
    if not number or not section_id:
        return _NOTHING
    # The frozen value is built once per distinct line; a repeat hands the same object to the
    # state, which then compares by identity (here and in the engine's car field).
    return _section, (int(uid, 16) if uid else None, CompletedSection(
        number, section_id, int(elapsed, 16) if elapsed else 0, int(last_ms, 16) if last_ms else 0,
        int(lap, 16) if lap else 0))


def _read_crossing(line: str) -> tuple[Any, tuple] | None:
    f = _clean_fields(line, _CROSSING_SHAPE)
    if f is None:
        return None
    number, uid, crossing = f
    if not number:
        return _NOTHING
    return _crossing, (number, int(uid, 16) if uid else None, crossing)


# By the first three characters of a line (record letter and delimiter).
_READERS: dict[str, Any] = {
    f"${letter}{d}": fn for letter, fn in (("C", _read_lap), ("S", _read_section), ("L", _read_crossing))
    for d in DELIMITERS
}


def apply_text(state: MultiloopState, text: str, rejections: list[Rejection],
               memo: dict[str, tuple[Any, tuple]] | None = None) -> MultiloopUpdate:
    """`apply_multiloop(state, parse_multiloop(text))`, with the rejections appended to `rejections`.

    `memo` (owned by the caller, kept between calls; it holds no state) remembers what the clean
    per-lap lines read as. Should a record fail to apply (an exception), the remaining lines
    are still parsed and their rejections appended before the exception propagates:
    parse_multiloop reads the whole text first, so the caller reports the same rejections."""
    update = MultiloopUpdate()
    if memo is None:
        memo = {}
    readers = _READERS
    appliers = _APPLIERS
    lines = text.splitlines()
    for i, line in enumerate(lines):
        known = memo.get(line)
        if known is None:
            read = readers.get(line[:3])
            if read is not None:
                known = read(line)
                if known is not None:
                    if len(memo) >= MEMO_LIMIT:
                        memo.clear()
                    memo[line] = known
        if known is not None:
            state.active = True
            apply, args = known
            apply(state, update, *args)
            continue
        item = parse_line(line)
        apply = appliers.get(type(item))
        if apply is None:
            if item is not None:
                rejections.append(item)
            continue
        state.active = True
        try:
            apply(state, item, update)
        except Exception:
            rejections.extend(r for r in map(parse_line, lines[i + 1:]) if type(r) is Rejection)
            raise
    return update


# Every car field car_values() can return.
CAR_FIELDS = frozenset({"completed_sections", "last_lap_pitted", "pit_stop_count", "overall_starting_position",
                        "laps_led_overall", "current_status", "is_pit_start_finish", "is_in_pit"})


def car_values(state: MultiloopState, number: str | None) -> dict[str, Any]:
    """Every car field Multiloop knows for ``number`` (for re-application after a reset)."""
    car = state.cars.get(number) if number else None
    if car is None:
        return {}
    values: dict[str, Any] = {"completed_sections": _sections_list(car)}
    for attr, name in (("last_lap_pitted", "last_lap_pitted"), ("pit_stop_count", "pit_stop_count"),
                       ("start_position", "overall_starting_position"), ("laps_led", "laps_led_overall"),
                       ("current_status", "current_status")):
        if getattr(car, attr) is not None:
            values[name] = getattr(car, attr)
    if car.crossing_status is not None:
        values["is_pit_start_finish"] = values["is_in_pit"] = car.crossing_status == "P"
    return values

