"""Per-lap pace figures from the lap history: fastest 5-lap average in class (§5.7) and the
projected lap time (§5.8). Both run when a lap is logged, like the reference's `lapcompleted`."""

from __future__ import annotations

from itertools import accumulate
from typing import Any, Iterable, Mapping, Sequence

from .flags import Flags
from .state import CarPosition
from .timefmt import parse_ms

__all__ = ["five_lap_average", "fastest_in_class", "projected_lap_time_ms"]

Lap = Mapping[str, Any]  # a lap-history snapshot (CarPosition JSON, newest first)


def fastest_in_class(cars: Iterable[CarPosition], averages: Mapping[str, float | None],
                     flagged: list[CarPosition] | None = None) -> CarPosition | None:
    """The non-stale car with the strictly smallest 5-lap average; ties go to the car that
    arrived first (the reference's list order), so the input order does not matter.
    With `flagged`, the cars whose in-class fastest-pace flag is set are appended to it in
    `cars` order (the engine then moves the flag without a second walk over the class)."""
    # Runs over the whole class for every logged lap: most cars lose the comparison, so the
    # stale test waits until a car would win (a stale car never becomes `best`, so the
    # winner is the same). The lap log has no key for a missing or empty number.
    best: CarPosition | None = None
    best_avg = 0.0
    get = averages.get
    if flagged is None:
        flagged = []
    for c in cars:
        if c.in_class_fastest_average_pace:
            flagged.append(c)
        avg = get(c.number)  # type: ignore[arg-type]
        if avg is None:
            continue
        if (best is None or avg < best_avg or (avg == best_avg and c._seq < best._seq)) and not c.is_stale:
            best, best_avg = c, avg
    return best


_GREEN, _YELLOW = int(Flags.GREEN), int(Flags.YELLOW)


def projected_lap_time_ms(history: Sequence[Lap], session_flag: int, best_time: str | None,
                          lap_ms: Sequence[int] | None = None, best_ms: int | None = None,
                          settled_flags: Sequence[int | None] | None = None) -> int:
    """`lap_ms`, if given, holds the parsed lap times aligned with `history`, and `best_ms` the
    parsed `best_time` (both save re-parsing). `settled_flags` is the LapLog's record of the
    laps after the newest (LapLog.settled_flags; `history` and `lap_ms` then come from it too)."""
    # Runs for every lap every car logs: for these five-element lists a comprehension is
    # cheaper than a chain of map() objects (measured); the float sums keep the order (and
    # hence the rounding) of the straightforward version.
    if session_flag != _GREEN and session_flag != _YELLOW:
        return 0
    if not history:
        return 0
    if lap_ms is None:
        lap_ms = [parse_ms(l.get("ltm")) for l in history]
    # The newest 5 laps without a pit stop; those under the current flag if there are 3.
    chosen: Sequence[int]
    newest = history[0]
    if (settled_flags is not None and len(lap_ms) <= 5 and settled_flags.count(session_flag) == len(settled_flags)
            and not newest.get("lip") and newest.get("flg") == session_flag):
        # Usually every lap is clean and under the current flag: the settled flags show it
        # for the older laps without reading their snapshots (the loop was 40 % of the work).
        chosen = lap_ms
    else:
        clean: list[int] = []
        flagged: list[int] = []
        for lap, t in zip(history[:5], lap_ms):  # (a short lap_ms list ends it early)
            if not lap.get("lip"):
                clean.append(t)
                if lap.get("flg") == session_flag:
                    flagged.append(t)
        chosen = flagged if len(flagged) >= 3 else clean
    if len(chosen) < 3:
        return 0
    times = chosen if 0 not in chosen else [t for t in chosen if t != 0]  # newest first
    n = len(times)
    if n < 2:
        return 0
    v0 = sorted(times)
    mid = n >> 1
    med = v0[mid] if n & 1 else (v0[mid - 1] + v0[mid]) / 2
    if n == 5:
        # The usual five laps: the distances to the median are 0, a <= c below it and b <= d
        # above it (from the sorted times), so their median, the second smallest of a, b, c, d,
        # is picked without listing and sorting them (exact integers: the same value).
        a, b = med - v0[1], v0[3] - med
        mad = (b if b < v0[2] - v0[0] else v0[2] - v0[0]) if a <= b else (a if a < v0[4] - med else v0[4] - med)
    else:
        v = sorted([abs(t - med) for t in times])
        mad = v[mid] if n & 1 else (v[mid - 1] + v[mid]) / 2
    if mad < 1:
        mad = 1
    spread = 3 * 1.4826 * mad
    twice = 2 * med
    kept = times
    # The distance to the median is largest at the smallest or the largest time (the
    # differences are exact: integers and halves, and lo <= med <= hi), so those two decide
    # whether any lap goes.
    lo, hi = v0[0], v0[-1]
    if not (med - lo <= spread and hi - med <= spread and hi <= twice):
        kept = [t for t in times if abs(t - med) <= spread and t <= twice]
        if len(kept) < 2:
            kept = times
        else:
            lo, hi = min(kept), max(kept)
        n = len(kept)
    # (Float constants where a float is compared: an int operand takes the slow mixed path.)
    if n == 5:
        # The usual five laps: the running totals once, for the mean and the weighted mean
        # below (the same integer additions in the same order as sum() and accumulate()).
        t0, t1, t2, t3, t4 = kept
        r2 = t0 + t1
        r3 = r2 + t2
        r4 = r3 + t3
        total = r4 + t4
        mean = total / 5
    else:
        mean = sum(kept) / n
    if mean <= 0.0:
        return 0
    # The spread test (standard deviation over 10 % of the mean) usually passes by far: the
    # deviation is at most half the range (Popoviciu), so a range under 19 % of the mean
    # settles it without the variance (the margin dwarfs any float rounding).
    if hi - lo > 0.19 * mean:
        var = sum([(t - mean) ** 2 for t in kept]) / n
        if var ** 0.5 / mean > 0.10:
            return 0
    # The newest lap weighs n, the oldest 1: the sum of the running totals (exact integers,
    # so the same sum as the weighted terms, without a weight sequence and a product per lap).
    if n == 5:
        projection = (t0 + r2 + r3 + r4 + total) / 15
    else:
        projection = sum(accumulate(kept)) / (n * (n + 1) // 2)
    if projection < 10_000.0:
        return 0
    if session_flag == _YELLOW:
        ref = mean
    else:
        ref = (parse_ms(best_time) if best_ms is None else best_ms) or mean or 120_000
    # int() truncates toward zero: a projection at least 0.7 * ref is not below int(0.7 * ref)
    # (for a negative ref it is positive and int(0.7 * ref) is not), and one two under 3 * ref
    # not above int(3.0 * ref), so int() is only called near the limits.
    lower = 0.7 * ref
    if (projection < lower or projection > 3.0 * ref - 2.0) and (
            projection < int(lower) or projection > int(3.0 * ref)):
        return 0
    return round(projection)  # (round() of a float is an int)
