"""Stale car detection (§5.9): a car that has not crossed the line for longer than its last
lap plus a flag-dependent tolerance is flagged, so clients can grey it out."""

from __future__ import annotations

from typing import Any, Callable

from .flags import Flags
from .state import CarPosition

__all__ = ["is_stale", "update_stale"]

_RUNNING = (Flags.GREEN, Flags.YELLOW, Flags.WHITE)


def is_stale(car: CarPosition, session_flag: int, race_time_ms: int) -> bool:
    if session_flag not in _RUNNING:
        return False
    tolerance = 0.30
    if session_flag == Flags.YELLOW and car.track_flag == Flags.GREEN:
        tolerance = 1.10  # the car's last lap was green, the field is now slower
    elif session_flag == Flags.GREEN and car.track_flag == Flags.YELLOW:
        tolerance = 0.05
    if car.total_time is None or car.last_lap_time is None:
        return False
    elapsed = race_time_ms - car._ttm_ms
    if elapsed <= 1000:
        return False
    last = car._ltm_ms
    return last > 0 and elapsed > last * (1 + tolerance)


def update_stale(cars: list[CarPosition], session_flag: int, race_time_ms: int,
                 setter: Callable[[CarPosition, str, Any], None]) -> None:
    if not cars:
        return
    if max(c.last_lap_completed for c in cars) < 3:
        return
    for c in cars:
        value = True if c.last_lap_completed == 0 else is_stale(c, session_flag, race_time_ms)
        if c.is_stale != value:
            setter(c, "is_stale", value)
