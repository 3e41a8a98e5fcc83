"""Per-lap pace figures from the lap history: fastest 5-lap average in class (§5.7) and the
projected lap time (§5.8). Both run when a lap is logged, like the reference's `lapcompleted`."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from .flags import Flags
from .state import CarPosition
from .timefmt import parse_ms

__all__ = ["five_lap_average", "fastest_in_class", "projected_lap_time_ms"]

Lap = Mapping[str, Any]  # a lap-history snapshot (CarPosition JSON, newest first)


def fastest_in_class(cars: Iterable[CarPosition], averages: Mapping[str, float | None]) -> CarPosition | None:
    """The non-stale car with the strictly smallest 5-lap average; ties go to the car that
    arrived first (the reference's list order), so the input order does not matter."""
    best: CarPosition | None = None
    best_avg = 0.0
    for c in cars:
        if c.is_stale:
            continue
        avg = averages.get(c.number or "")
        if avg is None:
            continue
        if best is None or avg < best_avg or (avg == best_avg and c._seq < best._seq):
            best, best_avg = c, avg
    return best


def _median(values: Sequence[float]) -> float:
    v = sorted(values)
    n = len(v)
    mid = n // 2
    return v[mid] if n & 1 else (v[mid - 1] + v[mid]) / 2


_RUNNING = (Flags.GREEN, Flags.YELLOW)
_REF_CACHE: dict[str | None, int] = {}


def _ref_ms(best_time: str | None) -> int:
    """parse_ms, memoised: a car's best time text is re-read on every lap it logs."""
    v = _REF_CACHE.get(best_time)
    if v is None:
        v = parse_ms(best_time)
        if len(_REF_CACHE) >= 4096:
            _REF_CACHE.clear()
        _REF_CACHE[best_time] = v
    return v


def projected_lap_time_ms(history: Sequence[Lap], session_flag: int, best_time: str | None,
                          lap_ms: Sequence[int] | None = None) -> int:
    """`lap_ms`, if given, holds the parsed lap times aligned with `history` (saves re-parsing)."""
    if session_flag not in _RUNNING:
        return 0
    if not history:
        return 0
    if lap_ms is None:
        lap_ms = [parse_ms(l.get("ltm")) for l in history]
    # The newest 5 laps without a pit stop; those under the current flag if there are 3.
    clean: list[int] = []
    chosen: list[int] = []
    for i in range(min(5, len(history), len(lap_ms))):
        lap = history[i]
        if lap.get("lip"):
            continue
        t = lap_ms[i]
        clean.append(t)
        if lap.get("flg") == session_flag:
            chosen.append(t)
    if len(chosen) < 3:
        if len(clean) < 3:
            return 0
        chosen = clean
    times = [t for t in chosen if t != 0]  # newest first
    n = len(times)
    if n < 2:
        return 0
    med = _median(times)
    mad = _median([abs(t - med) for t in times])
    if mad < 1:
        mad = 1
    spread = 3 * 1.4826 * mad
    kept = [t for t in times if abs(t - med) <= spread and t <= 2 * med]
    if len(kept) < 2:
        kept = times
    n = len(kept)
    mean = sum(kept) / n
    if mean <= 0:
        return 0
    var = sum([(t - mean) ** 2 for t in kept]) / n
    if var ** 0.5 / mean > 0.10:
        return 0
    # newest lap weighs n, the oldest 1
    w = n
    weighted = 0
    for t in kept:
        weighted += w * t
        w -= 1
    projection = weighted / (n * (n + 1) // 2)
    if projection < 10_000:
        return 0
    if session_flag == Flags.YELLOW:
        ref = mean
    else:
        ref = _ref_ms(best_time) or mean or 120_000
    if projection < int(0.7 * ref) or projection > int(3.0 * ref):
        return 0
    return int(round(projection))
