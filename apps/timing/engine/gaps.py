"""Gap (to the car ahead) and difference (to the leader), by track position and by best lap.

Rules from timing-semantics §5.2/§5.3. The by-position values are "sticky": when a value
cannot be computed (missing time, negative, over the 1.5 x P90 guard) the old one stays, so
recomputing a car whose inputs did not change is a no-op. The engine relies on that to
recompute only the cars whose inputs changed.
"""

from __future__ import annotations

import __future__
import inspect
from bisect import bisect_left, bisect_right, insort
from operator import attrgetter
from typing import Any, Iterable, Sequence

from .state import CarPosition
from .timefmt import _FORMAT_CACHE, format_delta, format_new_delta, laps_text
from .wire import CAR_JSON

__all__ = ["gap_threshold_ms", "gap_value", "update_gaps", "update_fast_time_gaps", "record", "Changes",
           "DEFAULT_TYPICAL_LAP_MS", "GAP_UPDATERS"]

# The pass's change record (the engine's `_car_changes`): car -> {field's contract JSON name: value
# now shown, as its patch shows it}, in the order the fields were set; the order of cars and of
# their fields is the order of the patches. JSON names and values rather than attribute names, so
# that a car's patch is a copy of its dict (wire.car_patches_from_record), not a translation of
# every field. (Only the engine's `_set` records fields whose JSON value differs from the
# attribute's, wire.CONVERTED_CAR_ATTRS; the derived fields recorded here have none.)
Changes = dict[CarPosition, dict[str, Any]]

DEFAULT_TYPICAL_LAP_MS = 300_000  # 5:00 when nobody has a lap time yet

# Laps-behind text for the usual differences (a car ahead in laps shows "")
_LAPS_TEXT = {d: ("" if d < 0 else laps_text(d)) for d in range(-50, 1000)}
# The gap loops look texts up here (None: not memoised yet) instead of calling format_delta /
# laps_text: the calls are what costs. Bound once here rather than per call of the loops, which
# mostly handle one or two cars. (timefmt only ever clears its cache, so the lookup stays valid.)
_delta_text = _FORMAT_CACHE.get
_laps_behind_text = _LAPS_TEXT.get


def record(changes: Changes, car: CarPosition, attr: str, value: Any) -> None:
    """Publish a derived field the caller found changed: set it and add it to the pass's record
    (under its JSON name).

    Derived fields have no parsed caches on the car (the engine's `_set` keeps those for inputs),
    so the attribute is all there is to update. The loops of update_gaps and update_fast_time_gaps
    inline this (a call per field cost more than the recording itself).
    """
    setattr(car, attr, value)
    ch = changes.get(car)
    if ch is None:
        changes[car] = {CAR_JSON[attr]: value}
    else:
        ch[CAR_JSON[attr]] = value


def gap_threshold_ms(cars: Sequence[CarPosition]) -> int:
    """floor(1.5 x the 90th percentile of the group's last lap times)."""
    laps = sorted(c._ltm_ms for c in cars if c.last_lap_time is not None)
    if not laps:
        typical = DEFAULT_TYPICAL_LAP_MS
    else:
        i = int(len(laps) * 0.9)
        typical = laps[i if i < len(laps) else len(laps) - 1]
    return (typical * 3) // 2


def gap_value(car: CarPosition, other: CarPosition, threshold: int, other_must_have_time: bool) -> str | None:
    """The gap/diff text from `other` (ahead) to `car`, or None for "leave unchanged"."""
    if car.last_lap_completed == other.last_lap_completed:
        if other_must_have_time and other._ttm_ms == 0:
            return None
        g = car._ttm_ms - other._ttm_ms
        if 0 <= g <= threshold:
            return format_delta(g)
        return None
    d = other.last_lap_completed - car.last_lap_completed
    return "" if d < 0 else laps_text(d)


def update_gaps(ordered: Sequence[CarPosition], indexes: Iterable[int] | None, threshold: int,
                gap_attr: str, diff_attr: str, changes: Changes, diffs_only: bool = False,
                band: tuple[int, int] | None = None, gap_only: int = -1) -> None:
    """Recompute gap/diff for the cars at `indexes` of the position-ordered group (all if None);
    the car at index `gap_only` gets its gap only (the caller knows its difference is current).

    This is the hottest loop of the engine, hence the inlined rules (same as gap_value) and
    recording (same as record), and compare-before-set: most recomputations produce the value
    already shown. (The enrichment calls its copies in GAP_UPDATERS, compiled from this source
    with the attribute names written in: change the getattr/setattr lines with that in mind.)
    """
    if not ordered:
        return
    if band is not None:
        _update_band(ordered, threshold, gap_attr, diff_attr, changes, band)
        return
    leader = ordered[0]
    lead_laps = leader.last_lap_completed
    lead_ms = leader._ttm_ms
    rng = range(len(ordered)) if indexes is None else indexes
    fmt = _delta_text
    laps_of = _laps_behind_text
    gap_key, diff_key = CAR_JSON[gap_attr], CAR_JSON[diff_attr]  # the fields' names in `changes`
    for i in rng:
        car = ordered[i]
        own = car._ttm_ms
        if own == 0:
            continue  # no total time: keep whatever was shown before
        if i == 0:
            if getattr(car, gap_attr) != "":
                record(changes, car, gap_attr, "")
            if getattr(car, diff_attr) != "":
                record(changes, car, diff_attr, "")
            continue
        laps = car.last_lap_completed
        if not diffs_only:
            ahead = ordered[i - 1]
            ahead_laps = ahead.last_lap_completed
            v = None
            if laps == ahead_laps:
                a = ahead._ttm_ms
                if a != 0:
                    g = own - a
                    if 0 <= g <= threshold:
                        v = fmt(g)
                        if v is None:
                            v = format_new_delta(g)
            else:
                d = ahead_laps - laps
                v = laps_of(d)
                if v is None:
                    v = "" if d < 0 else laps_text(d)
            if v is not None and getattr(car, gap_attr) != v:
                setattr(car, gap_attr, v)
                ch = changes.get(car)
                if ch is None:
                    changes[car] = {gap_key: v}
                else:
                    ch[gap_key] = v
            if i == gap_only:
                continue
        v = None
        if laps == lead_laps:
            g = own - lead_ms
            if 0 <= g <= threshold:
                v = fmt(g)
                if v is None:
                    v = format_new_delta(g)
        else:
            d = lead_laps - laps
            v = laps_of(d)
            if v is None:
                v = "" if d < 0 else laps_text(d)
        if v is not None and getattr(car, diff_attr) != v:
            setattr(car, diff_attr, v)
            ch = changes.get(car)
            if ch is None:
                changes[car] = {diff_key: v}
            else:
                ch[diff_key] = v


def _update_band(ordered: Sequence[CarPosition], threshold: int, gap_attr: str, diff_attr: str,
                 changes: Changes, band: tuple[int, int]) -> None:
    """After the guard moved from one bound of `band` to the other, only same-lap deltas inside
    the band can publish a different value; everything else would recompute to what it shows."""
    lo, hi = band
    leader = ordered[0]
    lead_laps = leader.last_lap_completed
    lead_ms = leader._ttm_ms
    prev = leader
    for car in ordered[1:]:
        ahead, prev = prev, car
        own = car._ttm_ms
        if own == 0:
            continue
        laps = car.last_lap_completed
        if laps == ahead.last_lap_completed and ahead._ttm_ms != 0:
            g = own - ahead._ttm_ms
            if lo < g <= hi and 0 <= g <= threshold:
                v = format_delta(g)
                if getattr(car, gap_attr) != v:
                    record(changes, car, gap_attr, v)
        if laps == lead_laps:
            g = own - lead_ms
            if lo < g <= hi and 0 <= g <= threshold:
                v = format_delta(g)
                if getattr(car, diff_attr) != v:
                    record(changes, car, diff_attr, v)


def fast_key(c: CarPosition) -> tuple[int, int, int, str]:
    """Qualifying order: best time, then earlier best lap (none last), then car number."""
    bl = c.best_lap
    return (c._bt_ms, 1 if bl <= 0 else 0, bl, c.number or "")


_by_fast_key = attrgetter("_fkey")  # the engine refreshes car._fkey whenever bt/bl change


def position_slot(ranked: Sequence[CarPosition], i: int, key: Any) -> int:
    """Where the car at `i` belongs once its position key (`_rank`) has become `key`, the others
    being in order of unique keys: what taking it out and bisecting would give, found by walking
    from its old slot, since a re-ranked car usually keeps its slot or moves one or two."""
    # (fast_slot is the same walk over `_fkey`: an attribute named in the code is read through
    # its inline cache, getattr() by name was most of the walk's cost)
    j = i
    while j and ranked[j - 1]._rank > key:
        j -= 1
    if j == i:
        last = len(ranked) - 1
        while j < last and ranked[j + 1]._rank < key:
            j += 1
    return j


def fast_slot(ranked: Sequence[CarPosition], i: int, key: Any) -> int:
    """position_slot for the qualifying order (`_fkey`)."""
    j = i
    while j and ranked[j - 1]._fkey > key:
        j -= 1
    if j == i:
        last = len(ranked) - 1
        while j < last and ranked[j + 1]._fkey < key:
            j += 1
    return j


def _rerank(ranked: list[CarPosition], changed: set[CarPosition] | frozenset, gap_attr: str, diff_attr: str,
            changes: Changes) -> tuple[int, int] | None:
    """Re-place the cars whose best changed. Cars whose best did not change keep their relative
    order, so the ranking can only differ from the previous one between the lowest and highest
    slot (old or new) of a changed car: only those cars are re-placed instead of sorting the
    field. Returns the stretch of slots to recompute; None: nothing to recompute."""
    old_n = len(ranked)
    lo, hi = old_n, -1
    for c in changed:
        if c._bt_ms <= 0:  # lost its best time: leaves the ranking
            if getattr(c, gap_attr) != "":
                record(changes, c, gap_attr, "")
            if getattr(c, diff_attr) != "":
                record(changes, c, diff_attr, "")
        if c in ranked:
            i = ranked.index(c)  # before any removal shifts the slots
            if i < lo:
                lo = i
            if i > hi:
                hi = i
    for c in changed:
        if c in ranked:
            ranked.remove(c)
    for c in changed:
        if c._bt_ms > 0:
            insort(ranked, c, key=_by_fast_key)
    n = len(ranked)
    for c in changed:
        if c._bt_ms > 0:
            i = bisect_left(ranked, c._fkey, key=_by_fast_key)
            if i < lo:
                lo = i
            if i > hi:
                hi = i
    if lo > n:
        lo = n
    if old_n != n:
        hi = n - 1
    if hi < 0:
        return None
    return lo, min(hi + 2, n)  # the car after the last moved one has a new car ahead


def update_fast_time_gaps(cars: Sequence[CarPosition], gap_attr: str, diff_attr: str, changes: Changes,
                          previous: list[CarPosition] | None = None,
                          changed: set[CarPosition] | frozenset = frozenset()) -> list[CarPosition]:
    """Qualifying-order gaps. With the previous ranking and the cars whose best changed, only
    the cars whose gap or difference can have changed are recomputed (a faster lap usually
    moves one car up a few places). Returns the new ranking for next time (`previous`, updated
    in place)."""
    if previous is None:
        ranked = sorted([c for c in cars if c._bt_ms > 0], key=_by_fast_key)
        for c in cars:
            if c._bt_ms <= 0:
                if getattr(c, gap_attr) != "":
                    record(changes, c, gap_attr, "")
                if getattr(c, diff_attr) != "":
                    record(changes, c, diff_attr, "")
        lo, hi = 0, len(ranked)
    elif len(changed) != 1:
        ranked = previous
        slots = _rerank(ranked, changed, gap_attr, diff_attr, changes)
        if slots is None:
            return ranked
        lo, hi = slots
    else:
        # The usual pass: one car's best changed (what _rerank would do, cheaper).
        ranked = previous
        for c in changed:
            break
        if c._bt_ms <= 0:
            if c not in ranked:
                # A car joining, or one that still has no best time: the ranking stays.
                if getattr(c, gap_attr) != "":
                    record(changes, c, gap_attr, "")
                if getattr(c, diff_attr) != "":
                    record(changes, c, diff_attr, "")
                return ranked
            slots = _rerank(ranked, changed, gap_attr, diff_attr, changes)
            if slots is None:
                return ranked
            lo, hi = slots
        elif c in ranked:
            # Walk from its old slot, which usually is its new slot too (what _rerank's remove,
            # insort and bisect give: the keys are unique, they end with the car number).
            i = ranked.index(c)
            j = fast_slot(ranked, i, c._fkey)
            if j != i:
                del ranked[i]
                ranked.insert(j, c)
            if not (i and j):
                lo, hi = 0, len(ranked)  # a new fastest car, or a new time for it
            else:
                # The fastest car and its time stay, so only this car's difference can change,
                # and only the gaps of the cars with a new time or a new car ahead: this car,
                # the car now behind it and the car that was behind it (the cars it passed keep
                # theirs). In slot order, the order of a walk over the stretch.
                n = len(ranked)
                slots = (j, j + 1) if j == i else (j, j + 1, i + 1) if j < i else (i, j, j + 1)
                return _write_fast_gaps(ranked, [k for k in slots if k < n], j, gap_attr, diff_attr, changes)
        else:
            slots = _rerank(ranked, changed, gap_attr, diff_attr, changes)
            if slots is None:
                return ranked
            lo, hi = slots
    if not ranked:
        return ranked
    fastest = ranked[0]
    if lo == 0:
        lo = 1
        hi = len(ranked)  # a new fastest car changes every difference
        if getattr(fastest, gap_attr) != "":
            record(changes, fastest, gap_attr, "")
        if getattr(fastest, diff_attr) != "":
            record(changes, fastest, diff_attr, "")
    return _write_fast_gaps(ranked, range(lo, hi), -1, gap_attr, diff_attr, changes)


def _write_fast_gaps(ranked: list[CarPosition], slots: Iterable[int], diff_at: int, gap_attr: str,
                     diff_attr: str, changes: Changes) -> list[CarPosition]:
    """Recompute the fast-time gap of the cars at `slots` of the ranking (none of them the
    fastest), and their difference too: every slot's, or only the slot `diff_at`'s when it is
    not negative. Returns `ranked`."""
    best = ranked[0]._bt_ms
    fmt = _delta_text
    gap_key, diff_key = CAR_JSON[gap_attr], CAR_JSON[diff_attr]  # the fields' names in `changes`
    for k in slots:  # (recording inlined, as in update_gaps)
        c = ranked[k]
        t = c._bt_ms
        d = t - ranked[k - 1]._bt_ms
        v = fmt(d)
        if v is None:
            v = format_new_delta(d)
        if getattr(c, gap_attr) != v:
            setattr(c, gap_attr, v)
            ch = changes.get(c)
            if ch is None:
                changes[c] = {gap_key: v}
            else:
                ch[gap_key] = v
        if diff_at < 0 or k == diff_at:
            v = fmt(t - best)
            if v is None:
                v = format_new_delta(t - best)
            if getattr(c, diff_attr) != v:
                setattr(c, diff_attr, v)
                ch = changes.get(c)
                if ch is None:
                    changes[c] = {diff_key: v}
                else:
                    ch[diff_key] = v
    return ranked


def _with_attrs(fn: Any, gap_attr: str, diff_attr: str) -> Any:
    """`fn` (update_gaps) compiled again with one group kind's attribute names written into its
    loop, which then reads and writes them as plain attributes: getattr()/setattr() by name were
    a good part of the loop's cost, an attribute named in the code goes through its inline
    cache. The same source, so the same rules; `fn` itself when its source is not at hand."""
    try:
        src = inspect.getsource(fn)
    except (OSError, TypeError):
        return fn
    for attr, name in ((gap_attr, "gap_attr"), (diff_attr, "diff_attr")):
        get, put = f"getattr(car, {name})", f"setattr(car, {name}, v)"
        if get not in src or put not in src:
            return fn
        src = src.replace(get, f"car.{attr}").replace(put, f"car.{attr} = v")
    ns: dict[str, Any] = {}
    code = compile(src, inspect.getsourcefile(fn) or "<gaps>", "exec",
                   flags=__future__.annotations.compiler_flag, dont_inherit=True)
    exec(code, fn.__globals__, ns)
    return ns[fn.__name__]


# update_gaps for each group kind, by its gap attribute (Enricher._gaps calls these; the other
# arguments, the attribute names included, mean what they mean to update_gaps)
GAP_UPDATERS = {gap: _with_attrs(update_gaps, gap, diff) for gap, diff in (
    ("overall_gap", "overall_difference"), ("in_class_gap", "in_class_difference"))}
