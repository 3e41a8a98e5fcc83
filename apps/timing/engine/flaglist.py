"""Relay flag lists (`flags` stream entries) and the session's flag periods.

The relay sends its *whole* list of flag periods on every change, e.g.
``[{"f":1,"s":"2026-08-02T08:59:29","e":null}]``. Times are on the timing system's wall
clock and carry no zone. This module parses that list and folds it into the session's own
list of periods (what the reference keeps in the ``FlagLog`` table and publishes as
``SessionState.FlagDurations``).

Public API (pure, no I/O):

* ``Flags`` - the shared flag enum (values match the wire contract).
* ``FlagPeriod`` - one period ``(flag, start, end | None)``.
* ``Rejection`` - ``(reason, line)`` for input that could not be used; shared by the other
  input modules (multiloop, x2, flagtronics).
* ``parse_flag_list(payload) -> (periods, rejections)``
* ``flaglist_reconcile(existing, incoming, now=None) -> (periods, changed)``
* ``flag_duration_ms(period, now) -> int | None`` and ``flag_totals_ms(periods, now)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from .flags import Flags
from typing import Any, Iterable, Sequence

__all__ = [
    "Flags",
    "FlagPeriod",
    "Rejection",
    "parse_flag_list",
    "parse_local_datetime",
    "as_period",
    "flaglist_reconcile",
    "flag_duration_ms",
    "flag_totals_ms",
]


@dataclass(slots=True, frozen=True)
class Rejection:
    """Input that could not be used, and why. Parsers return these instead of raising."""

    reason: str
    line: str


def json_array(payload: Any, what: str) -> tuple[list[Any] | None, list[Rejection]]:
    """Decode a relay JSON array: (items, []) or (None, [reason]); JSON null counts as an empty list."""
    if isinstance(payload, list):
        return payload, []
    try:
        data = json.loads(payload)
    except (ValueError, TypeError) as exc:
        return None, [Rejection(f"invalid JSON: {exc}", str(payload)[:200])]
    if data is None:
        return [], []
    if not isinstance(data, list):
        return None, [Rejection(f"{what} is not a JSON array", str(payload)[:200])]
    return data, []


@dataclass(slots=True, frozen=True)
class FlagPeriod:
    """One flag period on the track's wall clock (naive datetimes). ``end`` None = running."""

    flag: Flags
    start: datetime
    end: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The contract's short-key JSON form (``f``/``s``/``e``)."""
        return {
            "f": int(self.flag),
            "s": self.start.isoformat(),
            "e": self.end.isoformat() if self.end is not None else None,
        }


# A clock more than this far ahead of the log is garbage, not a real flag; the same limit the
# purple override uses for its clock.
_MAX_AHEAD = timedelta(hours=12)


def parse_local_datetime(value: Any) -> datetime | None:
    """Parse an ISO-8601 wall-clock time; returns None when unusable.

    A zone suffix (``Z`` or an offset) is dropped rather than converted: the relay's times are
    track-local, and converting would move the wall clock the flags were stamped with.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1]
    # .NET writes up to 7 fractional digits; Python's parser accepts at most 6.
    if "." in text:
        head, _, frac = text.partition(".")
        digits = "".join(ch for ch in frac if ch.isdigit())
        rest = frac[len(digits):]
        text = f"{head}.{digits[:6]}{rest}" if digits else head + rest
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=None)


def _pick(obj: dict[str, Any], *names: str) -> Any:
    """First present key among the short name and the long (any-case) names."""
    lowered = {k.lower(): v for k, v in obj.items() if isinstance(k, str)}
    for name in names:
        if name in obj:
            return obj[name]
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def parse_flag_list(payload: str) -> tuple[list[FlagPeriod], list[Rejection]]:
    """Parse the relay's JSON flag list. Bad elements are rejected one by one."""
    data, rejected = json_array(payload, "flag list")
    if data is None:
        return [], rejected

    periods: list[FlagPeriod] = []
    rejections: list[Rejection] = []
    for item in data:
        line = json.dumps(item)[:200]
        if not isinstance(item, dict):
            rejections.append(Rejection("flag entry is not an object", line))
            continue
        raw_flag = _pick(item, "f", "Flag")
        if isinstance(raw_flag, bool) or not isinstance(raw_flag, int):
            rejections.append(Rejection("flag 'f' is not an integer", line))
            continue
        try:
            flag = Flags(raw_flag)
        except ValueError:
            rejections.append(Rejection(f"unknown flag value {raw_flag}", line))
            continue
        start = parse_local_datetime(_pick(item, "s", "StartTime"))
        if start is None:
            rejections.append(Rejection("start time 's' missing or not ISO-8601", line))
            continue
        raw_end = _pick(item, "e", "EndTime")
        end = parse_local_datetime(raw_end)
        if raw_end is not None and end is None:
            rejections.append(Rejection("end time 'e' is not ISO-8601", line))
            continue
        if end is not None and end < start:
            rejections.append(Rejection("end time is before start time", line))
            continue
        periods.append(FlagPeriod(flag, start, end))
    return periods, rejections


def as_period(obj: Any) -> FlagPeriod:
    """Copy any object with ``flag``/``start``/``end`` attributes into a FlagPeriod."""
    if isinstance(obj, FlagPeriod):
        return obj
    return FlagPeriod(Flags(int(obj.flag)), obj.start, obj.end)


def _key(period: FlagPeriod) -> tuple[Flags, datetime]:
    # The reference's primary key is (flag, start); the end time is the mutable part.
    return period.flag, period.start


def _sorted(periods: Iterable[FlagPeriod]) -> list[FlagPeriod]:
    return sorted(periods, key=lambda p: (p.start, int(p.flag)))


def flaglist_reconcile(
    existing: Sequence[FlagPeriod],
    incoming: Sequence[FlagPeriod],
    now: datetime | None = None,
) -> tuple[list[FlagPeriod], bool]:
    """Fold the relay's full list into the session's periods.

    Rules (see docs/engine-inputs.md):

    1. An open existing period takes the end time the relay gives the same (flag, start).
       A period that already has an end keeps it: the purple override may have cut it.
    2. Incoming periods not yet known are added - except a Yellow whose start a Purple35
       already holds (the purple override took that caution over).
    3. Every open period that has a later period after it is closed at that period's start
       (auto-complete; the relay often starts a flag without ending the previous one).
    4. With ``now`` (track wall clock), incoming periods starting more than 12 h after it
       are ignored as clock garbage.

    Returns the periods ordered by start and whether they differ from ``existing``.
    """
    # Accept any object with flag/start/end (e.g. the engine's FlagDuration) as existing.
    existing = [as_period(p) for p in existing]
    result: dict[tuple[Flags, datetime], FlagPeriod] = {_key(p): p for p in existing}
    purple_starts = {p.start for p in existing if p.flag == Flags.PURPLE35}

    for new in incoming:
        if now is not None and new.start - now > _MAX_AHEAD:
            continue
        key = _key(new)
        known = result.get(key)
        if known is not None:
            if known.end is None and new.end is not None:
                result[key] = FlagPeriod(known.flag, known.start, new.end)
            continue
        if new.flag == Flags.YELLOW and new.start in purple_starts:
            continue
        result[key] = new

    ordered = _sorted(result.values())
    closed: list[FlagPeriod] = []
    for index, period in enumerate(ordered):
        if period.end is None:
            later = next((p.start for p in ordered[index + 1:] if p.start > period.start), None)
            if later is not None:
                period = FlagPeriod(period.flag, period.start, later)
        closed.append(period)

    changed = closed != _sorted(existing)
    return closed, changed


def flag_duration_ms(period: FlagPeriod, now: datetime | None) -> int | None:
    """Length of a period in ms; a running period is measured to ``now`` (None if no clock)."""
    end = period.end if period.end is not None else now
    if end is None or end < period.start:
        return None
    return int((end - period.start) / timedelta(milliseconds=1))


def flag_totals_ms(periods: Iterable[FlagPeriod], now: datetime | None) -> dict[Flags, int]:
    """Total time per flag across the periods (running periods measured to ``now``)."""
    totals: dict[Flags, int] = {}
    for period in periods:
        ms = flag_duration_ms(period, now)
        if ms is not None:
            totals[period.flag] = totals.get(period.flag, 0) + ms
    return totals
