"""Lap logging and per-car lap history (§5.11).

Lap 0 is logged once per car, later laps whenever the count goes up; regressions are ignored
and skipped numbers are not back-filled. The reference holds a lap ~1 s for pit data before
logging; the engine emits it at the end of the pass and leaves pit enrichment to the pit
handlers (see docs/engine.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .timefmt import parse_ms

__all__ = ["CompletedLap", "LapLog", "HISTORY_DEPTH", "five_lap_average", "settled_flag"]

HISTORY_DEPTH = 5


@dataclass(slots=True)
class CompletedLap:
    event_id: int
    session_id: int
    car_number: str
    lap_number: int
    car_class: str | None
    timestamp: datetime
    flag: int
    car: dict[str, Any]  # the CarPosition as lap data (db-style JSON names)

    def to_json(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id, "sessionId": self.session_id, "carNumber": self.car_number,
            "lapNumber": self.lap_number, "class": self.car_class,
            "timestamp": self.timestamp.isoformat(), "flag": self.flag, "lapData": self.car,
        }


def five_lap_average(history: list[dict[str, Any]]) -> float | None:
    """Average of the 5 newest lap times ignoring zeros; None with fewer than 5 laps.
    (All zeros average to 0, which then wins the comparison: a reference quirk kept as is.)"""
    if len(history) < 5:
        return None
    times = [t for t in (parse_ms(l.get("ltm")) for l in history[:5]) if t != 0]
    return sum(times) / len(times) if times else 0.0


def settled_flag(lap: dict[str, Any]) -> int | None:
    """The flag a logged lap ran under, or None if it included a pit stop."""
    return None if lap.get("lip") else lap.get("flg")


def _average(ms: list[int]) -> float | None:
    if len(ms) < 5:
        return None
    times = ms[:5]
    if 0 in times:
        times = [t for t in times if t != 0]
    return sum(times) / len(times) if times else 0.0


class LapLog:
    __slots__ = ("last_logged", "history", "averages", "lap_ms", "settled_flags")

    def __init__(self) -> None:
        self.last_logged: dict[str, int] = {}
        # newest first, at most HISTORY_DEPTH snapshots per car number
        self.history: dict[str, list[dict[str, Any]]] = {}
        # 5-lap average per car (None: fewer than 5 laps), refreshed when its history changes
        self.averages: dict[str, float | None] = {}
        self.lap_ms: dict[str, list[int]] = {}  # parsed last-lap times, aligned with history
        # settled_flag() of the laps after each car's newest (history[1:]), for the projected
        # lap time. X2/Flagtronics mark a lap as a pit lap at the end of the pass that logged
        # it (feeds.after_rmonitor_message), so a lap's flags are settled by the car's next lap.
        self.settled_flags: dict[str, list[int | None]] = {}

    def should_log(self, number: str | None, lap: int) -> bool:
        if not number:
            return False
        last = self.last_logged.get(number)
        if lap == 0:
            return last is None
        return last is None or lap > last

    def record(self, number: str, lap: int, snapshot: dict[str, Any], lap_ms: int | None = None) -> None:
        # Runs for every lap every car logs: the lists only grow by one, so at most one entry
        # leaves each, and the average changes only once there are five laps.
        self.last_logged[number] = lap
        ms_new = parse_ms(snapshot.get("ltm")) if lap_ms is None else lap_ms
        h = self.history.get(number)
        if not h:
            self.history[number] = [snapshot]
            self.lap_ms[number] = [ms_new]
            self.settled_flags[number] = []
            self.averages[number] = None
            return
        flags = self.settled_flags[number]
        newest = h[0]
        flags.insert(0, None if newest.get("lip") else newest.get("flg"))  # (settled_flag)
        h.insert(0, snapshot)
        ms = self.lap_ms[number]
        ms.insert(0, ms_new)
        n = len(h)
        if n > HISTORY_DEPTH:
            if n == HISTORY_DEPTH + 1:
                del h[HISTORY_DEPTH], ms[HISTORY_DEPTH], flags[HISTORY_DEPTH - 1]
            else:  # (a restored history longer than the log keeps)
                del h[HISTORY_DEPTH:], ms[HISTORY_DEPTH:], flags[HISTORY_DEPTH - 1:]
            self.averages[number] = sum(ms) / HISTORY_DEPTH if 0 not in ms else _average(ms)
        elif n == HISTORY_DEPTH:
            self.averages[number] = _average(ms)

    def rebuild(self) -> None:
        """Recompute the parsed caches from the snapshots (after a restore)."""
        self.lap_ms = {n: [parse_ms(l.get("ltm")) for l in h] for n, h in self.history.items()}
        self.averages = {n: _average(ms) for n, ms in self.lap_ms.items()}
        self.settled_flags = {n: [settled_flag(l) for l in h[1:]] for n, h in self.history.items()}

    def newest(self, number: str) -> dict[str, Any] | None:
        h = self.history.get(number)
        return h[0] if h else None

    def clear(self) -> None:
        self.last_logged.clear()
        self.history.clear()
        self.averages.clear()
        self.lap_ms.clear()
        self.settled_flags.clear()
