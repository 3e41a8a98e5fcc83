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

__all__ = ["CompletedLap", "LapLog", "HISTORY_DEPTH"]

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


class LapLog:
    __slots__ = ("last_logged", "history")

    def __init__(self) -> None:
        self.last_logged: dict[str, int] = {}
        # newest first, at most HISTORY_DEPTH snapshots per car number
        self.history: dict[str, list[dict[str, Any]]] = {}

    def should_log(self, number: str | None, lap: int) -> bool:
        if not number:
            return False
        last = self.last_logged.get(number)
        if lap == 0:
            return last is None
        return last is None or lap > last

    def record(self, number: str, lap: int, snapshot: dict[str, Any]) -> None:
        self.last_logged[number] = lap
        h = self.history.get(number)
        if h is None:
            h = self.history[number] = []
        h.insert(0, snapshot)
        del h[HISTORY_DEPTH:]

    def newest(self, number: str) -> dict[str, Any] | None:
        h = self.history.get(number)
        return h[0] if h else None

    def clear(self) -> None:
        self.last_logged.clear()
        self.history.clear()
