"""Stale car detection (§5.9): a car that has not crossed the line for longer than its last
lap plus a flag-dependent tolerance is flagged, so clients can grey it out."""

from __future__ import annotations

from itertools import islice
from typing import Any, Callable, Collection, Container, Mapping

from .flags import Flags
from .state import CarPosition
from .timefmt import parse_ms
from .wire import CAR_JSON

__all__ = ["is_stale", "StaleTracker"]

# Plain ints: the flags arrive as ints, and an enum member lookup on the class costs more
# than the comparison itself (touch() runs for every crossing).
_GREEN, _YELLOW = int(Flags.GREEN), int(Flags.YELLOW)
_RUNNING = frozenset({_GREEN, _YELLOW, int(Flags.WHITE)})
# The stale inputs, by the names they have in the engine's change record
_J_LAPS, _J_TOTAL_TIME, _J_LAST_LAP_TIME, _J_TRACK_FLAG = (
    CAR_JSON[a] for a in ("last_lap_completed", "total_time", "last_lap_time", "track_flag"))


def is_stale(car: CarPosition, session_flag: int, race_time_ms: int) -> bool:
    if session_flag not in _RUNNING:
        return False
    # A car whose last lap was green is slower once the field is under yellow, and vice versa.
    tolerance = _tolerance(car, session_flag)
    if car.total_time is None or car.last_lap_time is None:
        return False
    elapsed = race_time_ms - car._ttm_ms
    if elapsed <= 1000:
        return False
    last = car._ltm_ms
    return last > 0 and elapsed > last * (1 + tolerance)


# StaleTracker.quiet_at when no quiet clock is known: no clock text (nor None) is this object
NOT_QUIET = object()


class StaleTracker:
    """Skips the per-car scan while nothing can have flipped.

    It keeps each car's limit, the race time after which it would turn stale, and their
    minimum, the deadline; until the race clock passes the deadline (and while flag and cars
    are unchanged) the answer cannot change, and then only the cars whose limit it passed are
    re-evaluated. A stale car only recovers when its own data changes.
    """

    __slots__ = ("flag", "race_ms", "deadline", "max_laps", "rule", "limits", "nscan", "_always_full", "minute",
                 "minute_ms", "text", "text_ms", "quiet_at")

    def __init__(self, always_full: bool = False) -> None:
        self._always_full = always_full
        # The flag of the last full scan, or None when there is none to rely on (the next check
        # scans). One comparison with the session flag then tests "valid and same flag" (quiet()).
        self.flag: int | None = None
        self.race_ms = 0
        self.deadline = 0.0
        self.max_laps = 0
        # The scanned flag's rule, as the loops use it: (a running flag?, the one car flag with
        # another tolerance, its 1 + tolerance); every other car's is _GROWTH. Looked up once a
        # scan, not once a check.
        self.rule: tuple[bool, int | None, float] = (False, None, _GROWTH)
        # Each car's limit (see _due()), in the field's order, and the field's size when they
        # were all evaluated (-1: the next time the clock passes the deadline, scan everyone)
        self.limits: dict[CarPosition, float] = {}
        self.nscan = -1
        # clock_ms(): the last plain `HH:MM:` prefix and its milliseconds
        self.minute: str | None = None
        self.minute_ms = 0
        # quiet()/check(): the last race clock text and its milliseconds (checks between two
        # heartbeats see the same race clock)
        self.text: str | None = None
        self.text_ms = 0
        # The race clock text (the session's own object) at which quiet() last found the field
        # quiet, NOT_QUIET once anything else moved the tracker: a check at that clock under
        # the same flag would find the same, so the engine skips it (apply()'s one-record path).
        self.quiet_at: object = NOT_QUIET

    def clock_ms(self, text: str) -> int:
        """`parse_ms(text)` for the race clock. It moves a second at a time, so within a minute
        already seen only the seconds are converted (most checks; the full parse was a
        noticeable part of each one)."""
        if text and text[:6] == self.minute:
            sec = _SECOND_MS.get(text[6:])
            if sec is not None:
                return self.minute_ms + sec  # = parse_ms(text): the same `HH:MM:SS` fast rule
        ms = parse_ms(text)
        if (text and len(text) == 8 and text[2] == ":" and text[5] == ":" and text[:2] in _SECOND_MS
                and text[3:5] in _SECOND_MS and text[6:] in _SECOND_MS):
            # Plain `HH:MM:SS`, two ASCII digits each: parse_ms read it as hours, minutes,
            # seconds, as it will every text with this prefix and two such digits after it.
            self.minute, self.minute_ms = text[:6], ms - _SECOND_MS[text[6:]]
        return ms

    def quiet(self, text: str, session_flag: int) -> bool:
        """True when a check at race clock `text` under `session_flag` with no car changed
        would flip nothing, so it need not run (the check's own first test, for callers that
        can then skip more: the heartbeat skips its whole after-message work). Records the
        clock as that check would have."""
        if session_flag != self.flag:
            self.quiet_at = NOT_QUIET
            return False
        if text != self.text:  # (as in check(); inline, a call less for every heartbeat's check)
            self.text, self.text_ms = text, self.clock_ms(text)
        ms = self.text_ms
        if self.race_ms <= ms <= self.deadline:
            self.race_ms = ms
            self.quiet_at = text
            return True
        self.quiet_at = NOT_QUIET
        return False

    @property
    def always_full(self) -> bool:
        """Tests: scan the whole field on every check, like the reference."""
        return self._always_full

    @always_full.setter
    def always_full(self, value: bool) -> None:
        self._always_full = value
        self.flag = None

    def invalidate(self) -> None:
        self.flag = None
        self.quiet_at = NOT_QUIET
        self.limits = {}  # (the next check scans; a reset's cars need not be kept till then)

    def check(self, changes: Mapping[CarPosition, Container[str]], cars: Collection[CarPosition],
              session_flag: int, race_clock: str, setter: Callable[[CarPosition, str, Any], None],
              inputs: int | None = None) -> None:
        """One stale check at race clock `race_clock` (its text). The cars whose stale inputs
        changed (`changes`: car -> the contract JSON names of its changed fields, the engine's
        pass record) are re-evaluated, keeping the rest of the field's verdicts; once the race
        clock passes the deadline only the cars whose own limit it passed are; the whole field
        is scanned when the flag changed, the clock went back, the field grew, or the tracker
        was invalidated. With `inputs`, only the first this many cars of `changes` can have a
        changed stale input (the engine's record lists the records' cars before the cars the
        enrichment added), so the rest are not looked at.
        (One call per check: the per-car re-evaluation is inline, it runs for every crossing.)"""
        self.quiet_at = NOT_QUIET  # (see quiet())
        if race_clock != self.text:  # (as in quiet())
            self.text, self.text_ms = race_clock, self.clock_ms(race_clock)
        race_time_ms = self.text_ms
        if changes and session_flag == self.flag:  # (a different flag fails the test below)
            if race_time_ms < self.race_ms:
                self.flag = None
            else:
                few_laps = self.max_laps < 3
                running, odd_flag, odd_grow = self.rule  # (set by the scan under this flag)
                deadline = self.deadline
                limits = self.limits
                items: Any = changes.items()
                if inputs is not None and inputs < len(changes):
                    items = islice(items, inputs)
                for car, ch in items:
                    if not (_J_LAPS in ch or _J_TOTAL_TIME in ch or _J_LAST_LAP_TIME in ch or _J_TRACK_FLAG in ch):
                        continue
                    laps = car.last_lap_completed
                    if few_laps:
                        if laps >= 3:
                            self.flag = None  # the field just became eligible: scan everyone
                            break
                        continue
                    if laps < 3:
                        # The field's lap count may have fallen below 3 (not a real-world case
                        # without a reset, and resets invalidate), which the scan would see
                        # and then flip nothing: only a scan may rely on it.
                        self.nscan = -1
                    # is_stale() and the limit rule inlined, as in the loop at the end.
                    limit = _NEVER
                    if laps == 0:
                        value = True
                    elif not running or car.total_time is None or car.last_lap_time is None:
                        value = False
                    else:
                        grow = odd_grow if car.track_flag == odd_flag else _GROWTH  # 1 + _tolerance()
                        last = car._ltm_ms
                        elapsed = race_time_ms - car._ttm_ms
                        value = elapsed > 1000 and last > 0 and elapsed > last * grow
                        if not value and last > 0:
                            span = last * grow  # (max(1000.0, span) without the builtin call)
                            limit = car._ttm_ms + (span if span > 1000.0 else 1000.0)
                            if limit < deadline:
                                deadline = limit
                    limits[car] = limit  # (a car new since the scan is noticed by the count)
                    if car.is_stale != value:
                        setter(car, "is_stale", value)  # (adds to `ch` only: the loop is unaffected)
                self.deadline = deadline
        # (quiet() has a twin of this test for callers that can skip the call: change both.)
        if session_flag == self.flag and self.race_ms <= race_time_ms:
            if race_time_ms <= self.deadline:
                self.race_ms = race_time_ms
                return
            limits = self.limits
            if self.nscan == len(limits) == len(cars):
                # The clock passed some car's limit and nothing else changed since the scan:
                # only the cars whose limit it passed can flip (see below).
                self.race_ms = race_time_ms
                self._due(limits, race_time_ms, setter)
                return
        # A full scan. (In always_full mode no scan is relied on: every check scans again.)
        self.flag = None if self._always_full else session_flag
        self.rule = (session_flag in _RUNNING,) + _ODD_GROWTH.get(session_flag, _NO_ODD_GROWTH)
        self.race_ms = race_time_ms
        self.deadline = _NEVER
        self.nscan = -1
        if not cars:
            self.limits = {}
            return
        max_laps = 0
        for c in cars:
            if c.last_lap_completed > max_laps:
                max_laps = c.last_lap_completed
        self.max_laps = max_laps
        if max_laps < 3:
            # Nothing is stale before lap 3; any lap change invalidates the tracker anyway.
            return
        # Every car is due. (The dict is in the field's order, as the setter calls must be; cars
        # only join at the end, and leave only with a reset, which invalidates.)
        limits = self.limits = dict.fromkeys(cars, -_NEVER)
        self.nscan = len(limits)
        self._due(limits, race_time_ms, setter)

    def _due(self, limits: dict[CarPosition, float], race_time_ms: int,
             setter: Callable[[CarPosition, str, Any], None]) -> None:
        """Re-evaluates the cars whose limit (`limits`: the race time after which each car
        would turn stale; never for a car that is stale or cannot turn stale while its inputs
        and the flag stay) the clock has reached, in the field's order, and sets the deadline
        to the earliest limit left. A car with a later limit cannot have turned stale: with
        integer milliseconds, elapsed > max(1000, span) implies race_time_ms >= its limit, the
        float sum ttm + max(...) rounding monotonically. A stale car stays stale until its own
        data changes."""
        running, odd_flag, odd_grow = self.rule
        deadline = _NEVER
        for c, limit in limits.items():
            if limit > race_time_ms:
                if limit < deadline:
                    deadline = limit
                continue
            # is_stale() inlined as in the changed-car loop of check()
            limit = _NEVER
            if c.last_lap_completed == 0:
                value = True
            elif not running or c.total_time is None or c.last_lap_time is None:
                value = False
            else:
                grow = odd_grow if c.track_flag == odd_flag else _GROWTH
                last = c._ltm_ms
                elapsed = race_time_ms - c._ttm_ms
                value = elapsed > 1000 and last > 0 and elapsed > last * grow
                if not value and last > 0:
                    span = last * grow
                    limit = c._ttm_ms + (span if span > 1000.0 else 1000.0)
                    if limit < deadline:
                        deadline = limit
            limits[c] = limit  # (a value change: iterating on is fine)
            if c.is_stale != value:
                setter(c, "is_stale", value)
        self.deadline = deadline


_NEVER = float("inf")
_SECOND_MS = {f"{i:02d}": i * 1000 for i in range(100)}  # two digits -> ms, as parse_ms reads them


def _tolerance(car: CarPosition, session_flag: int) -> float:
    if session_flag == _YELLOW and car.track_flag == _GREEN:
        return 1.10
    if session_flag == _GREEN and car.track_flag == _YELLOW:
        return 0.05
    return 0.30


# `1 + _tolerance()` as a table for the tracker's loops (a call per car was a good part of a
# full scan): session flag -> (the one car flag with another tolerance, its factor); every
# other car gets _GROWTH. Kept equal to _tolerance() by a test.
_GROWTH = 1 + 0.30
_ODD_GROWTH = {_YELLOW: (_GREEN, 1 + 1.10), _GREEN: (_YELLOW, 1 + 0.05)}
_NO_ODD_GROWTH = (None, _GROWTH)
