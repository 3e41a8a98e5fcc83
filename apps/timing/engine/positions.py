"""Position enrichment: class positions, gaps, fast-time gaps, best-lap markers, grid and gains.

Incremental: each group (the whole field, and each class) keeps its cars sorted by overall
position and is only re-sorted when a position or membership changed. Gap work is limited to
the cars whose inputs changed, plus the car behind each of them (and every car's difference
when the leader's time changed). Class positions, fast-time gaps, best-lap markers and gains
are recomputed only when something they depend on changed.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from itertools import count
from operator import attrgetter
from typing import Any, Iterable

from .gaps import DEFAULT_TYPICAL_LAP_MS, GAP_UPDATERS, Changes, position_slot, record, update_fast_time_gaps
from .state import INVALID_POSITION, CarPosition
from .wire import CAR_JSON

__all__ = ["Group", "Enricher", "rebuild_in_class_starting_positions", "OVERALL", "STALE_INPUTS"]

OVERALL = object()  # key of the whole-field group; a class may legitimately be None


_pos_key = attrgetter("_rank")  # kept up to date by the engine's setter
# What run() marks per changed field, as bits of a plan; the first five are enrichment inputs
# of the groups' gaps or rankings (_GROUPED).
(_POSITION, _PROGRESS, _LAST_LAP, _BEST, _GRID, _CLASS, _BEST_FLAG, _CLASS_BEST_FLAG,
 _AWARD, _TRACK_FLAG) = (1 << i for i in range(10))
_GROUPED = _POSITION | _PROGRESS | _LAST_LAP | _BEST
_RARE = _GRID | _CLASS | _BEST_FLAG | _CLASS_BEST_FLAG | _AWARD
# The stale tracker's inputs (lap count, total time, last lap time, track flag): a pass whose
# marks (Enricher.noted) have none of these cannot move a stale verdict through its cars.
STALE_INPUTS = _PROGRESS | _LAST_LAP | _TRACK_FLAG
# Keyed by the names fields have in the pass's change record (contract JSON names).
_NOTE_CODE = {CAR_JSON[attr]: code for attr, code in {
    "overall_position": _POSITION, "last_lap_completed": _PROGRESS, "total_time": _PROGRESS,
    "last_lap_time": _LAST_LAP, "best_time": _BEST, "best_lap": _BEST,
    "overall_starting_position": _GRID, "in_class_starting_position": _GRID, "car_class": _CLASS,
    "is_best_time": _BEST_FLAG, "is_best_time_class": _CLASS_BEST_FLAG,
    "overall_positions_gained": _AWARD, "in_class_positions_gained": _AWARD,
    "is_overall_most_positions_gained": _AWARD, "is_class_most_positions_gained": _AWARD,
    "track_flag": _TRACK_FLAG,
}.items()}
# run()'s plan (the union of the fields' bits) per tuple of changed names: a pass's change
# dicts come in a few dozen shapes, so one lookup replaces a lookup and a dispatch per field.
_PLANS: dict[tuple[str, ...], int] = {}
_PLANS_MAX = 4096  # (the shapes a feed can make are bounded only by the field count)


def _plan(keys: tuple[str, ...]) -> int:
    plan = 0
    for key in keys:
        plan |= _NOTE_CODE.get(key, 0)
    if len(_PLANS) < _PLANS_MAX:
        _PLANS[keys] = plan
    return plan


_UNSEEN = object()
_group_ordinals = count()


class Group:
    __slots__ = ("key", "cars", "order_dirty", "p90_dirty", "threshold", "touched", "full",
                 "fast_dirty", "index", "members_changed", "moved", "lap_sorted", "lap_of", "lap_changed",
                 "fast_ranked", "fast_changed", "reranked", "best_holder", "ordinal", "top_seq",
                 "joined", "pace")

    def __init__(self, key: object) -> None:
        self.key = key
        self.ordinal = next(_group_ordinals)  # creation order = order in Enricher.groups
        self.cars: list[CarPosition] = []
        self.index: dict[CarPosition, int] = {}
        self.order_dirty = True
        self.p90_dirty = True
        self.threshold = -1
        self.touched: set[CarPosition] = set()
        self.full = True
        self.fast_dirty = True
        self.members_changed = True
        self.moved: set[int] = set()  # indexes whose car changed in the last re-sort
        self.reranked: set[CarPosition] = set()  # position changed since the last sort
        self.best_holder: CarPosition | None = None  # the car whose best-time flag is set
        # last lap times of the group, kept sorted for the P90 guard (None = no lap time)
        self.lap_sorted: list[int] = []
        self.lap_of: dict[CarPosition, int | None] = {}
        self.lap_changed: set[CarPosition] = set()
        self.fast_ranked: list[CarPosition] | None = None  # None: recompute every car
        self.fast_changed: set[CarPosition] = set()
        self.top_seq = -1  # the highest _seq of any car ever added
        self.joined = False  # a car took the last slot without a re-sort (see add and _gaps)
        # The engine's in-class fastest-pace result, (winner or None, its 5-lap average), while
        # it holds (see TimingEngine._lap_pace); None: unknown, the next lap walks the class.
        self.pace: tuple[CarPosition | None, float | None] | None = None

    def add(self, car: CarPosition) -> None:
        cars = self.cars
        seq = car._seq
        if not self.members_changed and car.overall_position <= 0 and seq > self.top_seq:
            # A car without a position that is newer than every car of the group ranks after
            # all of them (ties go by _seq), whatever positions they get: it takes the last
            # slot and nothing else moves, so no re-sort and no full recompute.
            self.index[car] = len(cars)
            self.moved.add(len(cars))
            self.joined = True
        else:
            self.members_changed = True
        if seq > self.top_seq:
            self.top_seq = seq
        cars.append(car)
        self.lap_of[car] = None
        self.lap_changed.add(car)
        self.pace = None
        # The fast-time ranking takes a new car in like one whose best changed (most join
        # without a best time and leave the ranking as it is), instead of a re-ranking.
        self.fast_changed.add(car)
        self.order_dirty = self.p90_dirty = self.fast_dirty = True

    def refresh_threshold(self) -> int:
        """Bring the sorted last lap times up to date; the gap guard floor(1.5 x P90)."""
        lap_of = self.lap_of
        laps = self.lap_sorted
        for car in self.lap_changed:
            old = lap_of.get(car, _UNSEEN)
            if old is _UNSEEN:
                continue  # left the group
            new = car._ltm_ms if car.last_lap_time is not None else None
            if new == old:
                continue  # e.g. the same lap time again: the sorted list would not change
            if old is not None:
                del laps[bisect_left(laps, old)]
            if new is not None:
                insort(laps, new)
            lap_of[car] = new
        self.lap_changed.clear()
        if not laps:
            return (DEFAULT_TYPICAL_LAP_MS * 3) // 2
        return (laps[len(laps) * 9 // 10] * 3) // 2  # = int(n * 0.9), always < n

    def remove(self, car: CarPosition) -> None:
        try:
            self.cars.remove(car)
        except ValueError:
            return
        self.touched.discard(car)
        old = self.lap_of.pop(car, None)
        if old is not None:
            del self.lap_sorted[bisect_left(self.lap_sorted, old)]
        self.lap_changed.discard(car)
        self.fast_ranked = None
        self.fast_changed.discard(car)
        self.pace = None
        self.order_dirty = self.p90_dirty = self.fast_dirty = self.members_changed = True


class Enricher:
    """Keeps the groups and applies §5 derived fields, recording each change in the pass's change
    record (the engine's `_car_changes`, see gaps.record)."""

    __slots__ = ("groups", "best_dirty", "gained_dirty", "pending", "always_full", "gained_cars", "gained_full",
                 "best_full", "award_ok", "top", "class_top", "award_cand", "best_ok", "dirty_classes",
                 "clipped", "gained_in_order", "joined", "noted")

    def __init__(self, always_full: bool = False) -> None:
        self.groups: dict[object, Group] = {OVERALL: Group(OVERALL)}
        # The class groups that may have work: a pass usually touches one or two of ~10
        # classes, so run() visits these instead of checking every group's flags.
        self.dirty_classes: set[Group] = set()
        self.best_dirty = True
        self.best_full = True  # membership changed: recompute best-lap markers for every car
        self.gained_dirty = True
        self.gained_cars: set[CarPosition] = set()  # whose gain inputs changed
        self.gained_full = True  # field or class sizes changed: every gain may change
        # Cars whose gain was out of range for the field or class size when last computed (a
        # grid position beyond the cars that have joined so far): a car joining can bring only
        # theirs into range.
        self.clipped: set[CarPosition] = set()
        self.gained_in_order = False  # walk gained_cars in field order (see add_car)
        self.joined: set[CarPosition] = set()  # cars added since the last run
        self.pending = False
        self.noted = 0  # the union of the last run's marks (see STALE_INPUTS)
        # "Most positions gained" leaders: [value, cars sharing it] for the field and per class,
        # trusted only while award_ok (see _gained).
        self.award_ok = False
        self.top: list[Any] = [0, []]
        self.class_top: dict[str | None, list[Any]] = {}
        self.award_cand: list[CarPosition] = []
        # Each group's best_holder is the only car with its best-time flag set (see _best_flags)
        self.best_ok = False
        # The reference recomputes everything on every pass; tests use this to prove the
        # incremental path gives the same state.
        self.always_full = always_full

    # ---- membership -------------------------------------------------------------
    def clear(self) -> None:
        self.groups = {OVERALL: Group(OVERALL)}
        self.dirty_classes = set()
        self.best_dirty = self.gained_dirty = self.gained_full = self.best_full = True
        self.gained_cars.clear()
        self.clipped = set()
        self.joined = set()
        self.award_ok = self.best_ok = False

    def forget_pace(self) -> None:
        """The fastest-pace results may no longer hold (see Group.pace)."""
        for g in self.groups.values():
            g.pace = None

    def _class_group(self, cls: str | None) -> Group:
        g = self.groups.get(cls)
        if g is None:
            g = self.groups[cls] = Group(cls)
        self.dirty_classes.add(g)  # every caller changes its membership
        return g

    def add_car(self, car: CarPosition) -> None:
        self.groups[OVERALL].add(car)
        self._class_group(car.car_class).add(car)
        self.best_dirty = self.gained_dirty = True
        self.joined.add(car)
        # A bigger field or class changes no gain that was in range, and a car without a best
        # time moves no best-time flag: only the new car and the clipped gains are recomputed.
        self.gained_cars.add(car)
        if self.clipped:
            self.gained_cars.update(self.clipped)
            self.clipped.clear()  # (the recompute adds back those still out of range)
            # They need not have other changes in this pass, so their patches are new: publish
            # them in field order, as a walk over the field would.
            self.gained_in_order = True
        if car._bt_ms > 0:
            self.best_full = True

    def reclass(self, car: CarPosition, old: str | None) -> None:
        g = self.groups.get(old)
        if g is not None:
            g.remove(car)
            if not g.cars:
                del self.groups[old]
                self.dirty_classes.discard(g)
            else:
                self.dirty_classes.add(g)
        self._class_group(car.car_class).add(car)
        self.best_dirty = self.gained_dirty = self.gained_full = self.best_full = True

    # ---- the pass ---------------------------------------------------------------
    def run(self, cars: list[CarPosition], changes: Changes) -> None:
        """Mark what each changed car's fields (the engine's change dicts: contract JSON name ->
        the value the car now has) affect, then bring the derived fields up to date."""
        groups = self.groups
        overall = groups[OVERALL]
        dirty = self.dirty_classes
        noted = 0
        # (The marking is inline, not a call per car: it runs for every car of every pass.)
        for car, changed in changes.items():
            keys = tuple(changed)
            plan = _PLANS.get(keys)
            if plan is None:
                plan = _plan(keys)
            if not plan:
                continue  # derived fields only
            noted |= plan
            # A second enrichment in the same pass (another input changed fields after the first)
            # notes the pass's earlier changes again. Nothing tells them apart: the derived fields
            # are recomputed from the same inputs, which publishes nothing new. (That is rare: no
            # recording, with or without Multiloop, has one, so per-pass snapshots to skip it cost
            # more than they saved.)
            # (The marks only add to sets and raise flags, so their order does not matter; the
            # groups are written out: a loop over a tuple of them cost more.)
            cg = groups.get(car.car_class)
            if plan & _GROUPED:
                if plan & _PROGRESS:
                    overall.touched.add(car)
                    if cg is not None:
                        cg.touched.add(car)
                if plan & _POSITION:
                    overall.order_dirty = True
                    overall.reranked.add(car)
                    if cg is not None:
                        cg.order_dirty = True
                        cg.reranked.add(car)
                    self.gained_dirty = True
                    self.gained_cars.add(car)
                if plan & _LAST_LAP:
                    overall.p90_dirty = True
                    overall.lap_changed.add(car)
                    if cg is not None:
                        cg.p90_dirty = True
                        cg.lap_changed.add(car)
                if plan & _BEST:
                    overall.fast_dirty = True
                    overall.fast_changed.add(car)
                    if cg is not None:
                        cg.fast_dirty = True
                        cg.fast_changed.add(car)
                    self.best_dirty = True
                if cg is not None:
                    dirty.add(cg)
            if plan & _RARE:
                if plan & _GRID:
                    self.gained_dirty = True
                    self.gained_cars.add(car)
                if plan & _CLASS and car not in self.joined:  # (a new car's first class: see add_car)
                    self.gained_dirty = self.gained_full = True
                if plan & _BEST_FLAG:
                    if self.best_ok and car.is_best_time != (overall.best_holder is car):
                        self.best_ok = False  # set by another input
                if plan & _CLASS_BEST_FLAG:
                    if self.best_ok and car.is_best_time_class != (cg is not None and cg.best_holder is car):
                        self.best_ok = False
                if plan & _AWARD and self.award_ok and not self._award_agrees(car):
                    self.award_ok = False
        self.noted = noted
        if self.joined:
            self.joined.clear()  # noted by now
        if self.always_full:
            for g in self.groups.values():
                g.order_dirty = g.p90_dirty = g.fast_dirty = g.members_changed = g.full = True
                g.fast_ranked = g.pace = None
            self.best_dirty = self.gained_dirty = self.gained_full = self.best_full = True
            dirty.update(self.groups.values())
            dirty.discard(overall)
        if overall.order_dirty:
            self._sort(overall)
        if not overall.cars or overall.cars[0].overall_position <= 0:
            # The reference's enricher does nothing until some car has a position; remember
            # that work is owed so nothing is lost when positions arrive.
            for g in self.groups.values():
                g.full = True
                g.touched.clear()
            dirty.update(self.groups.values())
            dirty.discard(overall)
            self.pending = True
            return
        self.pending = False
        # The groups in their order in self.groups (the whole field first), which fixes the
        # order of the patches.
        if not dirty:
            todo: Any = (overall,)
        else:
            todo = [overall, *sorted(dirty, key=_ordinal_key)] if len(dirty) > 1 else [overall, *dirty]
            dirty.clear()
        for g in todo:
            if g.order_dirty or g.p90_dirty or g.full or g.touched or g.moved:
                if g is overall:
                    self._gaps(g, "overall_gap", "overall_difference", changes)
                else:
                    self._gaps(g, "in_class_gap", "in_class_difference", changes)
        ranked = []  # the groups whose fast-time ranking was updated
        for g in todo:
            if g.fast_dirty:
                g.fast_dirty = False
                if g is overall:
                    g.fast_ranked = update_fast_time_gaps(
                        g.cars, "overall_gap_by_fast_time", "overall_difference_by_fast_time", changes,
                        g.fast_ranked, g.fast_changed)
                else:
                    g.fast_ranked = update_fast_time_gaps(
                        g.cars, "in_class_gap_by_fast_time", "in_class_difference_by_fast_time", changes,
                        g.fast_ranked, g.fast_changed)
                g.fast_changed.clear()
                ranked.append(g)
        if self.best_dirty:
            self.best_dirty = False
            if self.best_full:
                self.best_full = False
                self._best_flags(cars, changes)
            else:
                # Without a membership change (best_full) only a re-ranked group's holder can move.
                self._best_flags_from_rankings(ranked if self.best_ok else self.groups.values(), changes)
        if self.gained_dirty:
            self.gained_dirty = False
            self._gained(cars, changes)

    def _sort(self, g: Group) -> None:
        cars = g.cars
        g.order_dirty = False
        reranked = g.reranked
        if g.members_changed:
            cars.sort(key=_pos_key)
            g.members_changed = False
            g.full = True
            g.index = {c: i for i, c in enumerate(cars)}
            reranked.clear()
            return
        # Usually two cars swapped: only the slots whose occupant changed need new gaps
        # (and the car behind each of them, whose "car ahead" changed). Cars whose position
        # did not change keep their relative order, so every such slot lies between the old
        # and the new slot of some re-ranked car.
        index = g.index
        if len(reranked) == 1:
            # The usual pass: one car changed position. Every slot between its old and new
            # place gets a new occupant (the others shift by one), and nothing else moves.
            c = reranked.pop()
            i = index.get(c, -1)
            if 0 <= i < len(cars) and cars[i] is c:
                # (it usually keeps its slot: the cars around it changed first)
                j = position_slot(cars, i, c._rank)
                if g.key is OVERALL:
                    # Its class is an ordered part of the field: unless it passed or fell behind
                    # a class-mate here, its class slot stays, so the class need not re-rank it.
                    cg = self.groups.get(c.car_class)
                    if cg is not None and not cg.members_changed:
                        rr = cg.reranked
                        if len(rr) == 1 and c in rr:
                            cls = c.car_class
                            k, end = (j, i) if j < i else (i + 1, j + 1)  # the cars it passes
                            while k < end and cars[k].car_class != cls:
                                k += 1
                            if k == end:
                                rr.clear()
                                cg.order_dirty = False
                if j == i:
                    return
                del cars[i]
                cars.insert(j, c)
                if i > j:
                    i, j = j, i
                moved = g.moved
                for k in range(i, j + 1):
                    index[cars[k]] = k
                    moved.add(k)
                if i == 0:
                    g.full = True  # a new leader changes every car's difference
                return
            reranked.add(c)  # (not where the index says: the general way below)
        if len(reranked) <= 3:
            # The rest of the group is still in order and ranks are unique (arrival order
            # breaks ties), so moving the few re-ranked cars gives what a sort would.
            for c in reranked:
                cars.remove(c)
            for c in reranked:
                insort(cars, c, key=_pos_key)
        else:
            cars.sort(key=_pos_key)
        lo = len(cars)
        hi = -1
        for c in reranked:
            i = index[c]
            j = bisect_left(cars, c._rank, key=_pos_key)
            if i > j:
                i, j = j, i
            if i < lo:
                lo = i
            if j > hi:
                hi = j
        reranked.clear()
        if hi < 0:
            return
        moved = g.moved
        changed = [i for i in range(lo, hi + 1) if index[cars[i]] != i]
        for i in changed:
            index[cars[i]] = i
        moved.update(changed)
        if 0 in moved:
            g.full = True  # a new leader changes every car's difference

    def _gaps(self, g: Group, gap_attr: str, diff_attr: str, changes: Changes) -> None:
        is_class = g.key is not OVERALL
        update_gaps = GAP_UPDATERS[gap_attr]  # (update_gaps with the attribute names in its code)
        if g.order_dirty:
            self._sort(g)
        moved = g.moved
        if is_class and (g.full or moved):
            # Class position follows overall order within the class; only order changes move it.
            cars = g.cars
            for i in (range(len(cars)) if g.full else moved):
                c = cars[i]
                if c.class_position != i + 1:
                    record(changes, c, "class_position", i + 1)
                    self.gained_dirty = True
                    self.gained_cars.add(c)
        band = None
        if g.p90_dirty:
            g.p90_dirty = False
            t = g.refresh_threshold()
            if t != g.threshold:
                if g.threshold < 0:
                    g.full = True
                elif t > g.threshold:
                    # Only same-lap deltas between the old and new guard can change (sticky rule).
                    # A lower guard changes nothing: a delta it no longer admits keeps the value
                    # shown, which is what the higher guard gave it.
                    band = (g.threshold, t)
                g.threshold = t
        if g.joined:
            g.joined = False
            # A car joining used to re-rank the group, which sets each car's gap and then its
            # difference in one walk. The slot-by-slot update publishes the same fields in the
            # same order unless a guard band or a leader pass sets differences first.
            if band is not None or g.cars[0] in g.touched:
                g.full = True
        if g.full:
            g.full = False
            g.touched.clear()
            moved.clear()
            update_gaps(g.cars, None, g.threshold, gap_attr, diff_attr, changes)
            return
        if band is not None:
            update_gaps(g.cars, None, g.threshold, gap_attr, diff_attr, changes, band=band)
        touched = g.touched
        if not moved:
            if not touched:
                return
            if len(touched) == 1:
                # One car's time or lap changed (most of a feed): itself and the car behind.
                i = g.index.get(touched.pop())
                if i is None:
                    return
                if not i:
                    update_gaps(g.cars, None, g.threshold, gap_attr, diff_attr, changes, diffs_only=True)
                if i + 1 == len(g.cars):
                    update_gaps(g.cars, (i,), g.threshold, gap_attr, diff_attr, changes)
                else:
                    # The car behind has a new car ahead, so a new gap; its difference is
                    # already what a recomputation gives: nothing it is computed from changed
                    # (its own times, the leader's, the guard; each of these touches the car,
                    # walks the field's differences, or recomputes in a full or band walk).
                    # (diffs_only, band, gap_only passed by position: this runs for most crossings)
                    update_gaps(g.cars, (i, i + 1), g.threshold, gap_attr, diff_attr, changes, False, None, i + 1)
                return
        index = g.index
        n = len(g.cars)
        idx: set[int] = set()
        for i in moved:
            idx.add(i)
            if i + 1 < n:
                idx.add(i + 1)
        moved.clear()
        leader_touched = False
        for c in g.touched:
            i = index.get(c)
            if i is None:
                continue
            if i == 0:
                leader_touched = True
            idx.add(i)
            if i + 1 < n:
                idx.add(i + 1)
        g.touched.clear()
        if leader_touched:
            update_gaps(g.cars, None, g.threshold, gap_attr, diff_attr, changes, diffs_only=True)
        update_gaps(g.cars, sorted(idx), g.threshold, gap_attr, diff_attr, changes)

    def _best_flags(self, cars: list[CarPosition], changes: Changes) -> None:
        best: CarPosition | None = None
        class_best: dict[str | None, CarPosition] = {}
        for c in cars:
            t = c._bt_ms
            if t <= 0:
                continue
            if best is None or t < best._bt_ms:
                best = c
            cb = class_best.get(c.car_class)
            if cb is None or t < cb._bt_ms:
                class_best[c.car_class] = c
        for c in cars:
            v = c is best
            if c.is_best_time != v:
                record(changes, c, "is_best_time", v)
            v = class_best.get(c.car_class) is c
            if c.is_best_time_class != v:
                record(changes, c, "is_best_time_class", v)
        for key, g in self.groups.items():
            g.best_holder = best if key is OVERALL else class_best.get(key)
        self.best_ok = True

    def _best_flags_from_rankings(self, groups: Iterable[Group], changes: Changes) -> None:
        """Only best times changed: the head of each group's fast-time ranking is the holder."""
        best_ok = self.best_ok
        for g in groups:
            attr = "is_best_time" if g.key is OVERALL else "is_best_time_class"
            ranked = g.fast_ranked
            if ranked is None:
                continue
            holder = None
            if ranked:
                t = ranked[0]._bt_ms
                holder = ranked[0]
                n = len(ranked)
                i = 1
                while i < n:
                    c = ranked[i]
                    if c._bt_ms != t:
                        break
                    if c._seq < holder._seq:
                        holder = c  # ties go to the first car in list order, as in the reference
                    i += 1
            if best_ok:
                # Only the previous holder can carry the flag.
                old = g.best_holder
                if old is not None and old is not holder and getattr(old, attr):
                    record(changes, old, attr, False)
            else:
                for c in g.cars:
                    if getattr(c, attr) and c is not holder:
                        record(changes, c, attr, False)
            if holder is not None and not getattr(holder, attr):
                record(changes, holder, attr, True)
            g.best_holder = holder
        self.best_ok = True

    def _gained(self, cars: list[CarPosition], changes: Changes) -> None:
        n_all = len(cars)
        groups = self.groups
        inv = INVALID_POSITION
        full = self.gained_full
        todo = cars if full else self.gained_cars
        if self.gained_in_order:
            self.gained_in_order = False
            if not full:
                todo = sorted(todo, key=_seq_key)  # creation order is the field's order
        moved = full
        # The "most gained" leaders are kept per group so a gain change costs O(ties), not a
        # scan of the field; anything the bookkeeping cannot follow falls back to the scan.
        award_ok = self.award_ok and not full
        cand = self.award_cand
        clipped = self.clipped
        for c in todo:
            start, pos = c.overall_starting_position, c.overall_position
            g = start - pos if start and pos else inv
            if g != inv and (g >= n_all or -g >= n_all):
                g = inv
                clipped.add(c)
            old = c.overall_positions_gained
            if old != g:
                # (record() inline, as in the gap walks: most passes record a gain)
                c.overall_positions_gained = g
                ch = changes.get(c)
                if ch is None:
                    changes[c] = {_J_OPG: g}
                else:
                    ch[_J_OPG] = g
                moved = True
                if award_ok and (old > 0 or g > 0):
                    award_ok = _move_top(self.top, c, old, g, cand)
            start, pos = c.in_class_starting_position, c.class_position
            cgv = start - pos if start and pos else inv
            if cgv != inv:
                grp = groups.get(c.car_class)
                size = len(grp.cars) if grp is not None else 0
                if cgv >= size or -cgv >= size:
                    cgv = inv
                    clipped.add(c)
            old = c.in_class_positions_gained
            if old != cgv:
                c.in_class_positions_gained = cgv
                ch = changes.get(c)
                if ch is None:
                    changes[c] = {_J_CPG: cgv}
                else:
                    ch[_J_CPG] = cgv
                moved = True
                if award_ok and (old > 0 or cgv > 0):
                    t = self.class_top.get(c.car_class)
                    if t is None:
                        t = self.class_top[c.car_class] = [0, []]
                    award_ok = _move_top(t, c, old, cgv, cand)
        self.gained_full = False
        self.gained_cars.clear()
        if not moved:
            cand.clear()
            return  # no gain changed, so neither can the "most gained" awards
        if award_ok:
            # Only cars that were or now are among a group's leaders can change their flags;
            # arrival order (_seq) is the field's list order, which fixes the patch order.
            if cand:
                if len(cand) > 1:
                    cand.sort(key=_seq_key)
                prev = None
                top = self.top[1]
                holder = top[0] if len(top) == 1 else None
                class_top = self.class_top
                for c in cand:
                    if c is prev:
                        continue
                    prev = c
                    _award_flags(c, holder, class_top, changes)
                cand.clear()
            return
        cand.clear()
        # "Most gained" needs the whole field, but only reads the stored values.
        top_v = 0
        top: list[CarPosition] = []
        class_top: dict[str | None, list[Any]] = {}  # class -> [value, cars with that value]
        for c in cars:
            g = c.overall_positions_gained
            if g > 0:
                if g > top_v:
                    top_v = g
                    top = [c]
                elif g == top_v:
                    top.append(c)
            cgv = c.in_class_positions_gained
            if cgv > 0:
                t = class_top.get(c.car_class)
                if t is None or cgv > t[0]:
                    class_top[c.car_class] = [cgv, [c]]
                elif cgv == t[0]:
                    t[1].append(c)
        holder = top[0] if len(top) == 1 else None
        for c in cars:
            _award_flags(c, holder, class_top, changes)
        self.top = [top_v, top]
        self.class_top = class_top
        self.award_ok = True

    def _award_agrees(self, car: CarPosition) -> bool:
        """Whether `car`'s stored gains and award flags match the kept leaders (a change made
        by another input breaks that, and the next award update rescans the field)."""
        v, top = self.top
        g = car.overall_positions_gained
        if g > 0 and g > v or (car in top) != (g > 0 and g == v) \
                or car.is_overall_most_positions_gained != (len(top) == 1 and top[0] is car):
            return False
        v, top = self.class_top.get(car.car_class, _NO_TOP)
        g = car.in_class_positions_gained
        return not (g > 0 and g > v or (car in top) != (g > 0 and g == v)
                    or car.is_class_most_positions_gained != (len(top) == 1 and top[0] is car))


_NO_TOP = (0, ())
_J_OPG, _J_CPG = CAR_JSON["overall_positions_gained"], CAR_JSON["in_class_positions_gained"]
_seq_key = attrgetter("_seq")
_ordinal_key = attrgetter("ordinal")


def _award_flags(car: CarPosition, holder: CarPosition | None, class_top: dict[str | None, list[Any]],
                 changes: Changes) -> None:
    """A car's "most positions gained" flags: overall for the single `holder` of the field's
    best gain, in class when it alone holds its class's best gain (class_top: [value, cars])."""
    v = car is holder
    if car.is_overall_most_positions_gained != v:
        record(changes, car, "is_overall_most_positions_gained", v)
    t = class_top.get(car.car_class)
    v = t is not None and len(t[1]) == 1 and t[1][0] is car
    if car.is_class_most_positions_gained != v:
        record(changes, car, "is_class_most_positions_gained", v)


def _move_top(t: list[Any], car: CarPosition, old: int, new: int, cand: list[CarPosition]) -> bool:
    """Follow one car's gain from `old` to `new` in a group's leaders `t` = [value, cars];
    False when the new leaders cannot be known without a scan."""
    v, top = t
    if new < v and not (old > 0 and old == v):
        # Neither among the leaders before nor after (most gain changes): no flag can change.
        return True
    cand.append(car)
    if top:
        cand.extend(top)
    if old > 0 and old == v:
        top.remove(car)
        if not top:
            if new > old:
                top.append(car)
                t[0] = new
                return True
            return False  # the runner-up is not kept
    if new > 0:
        if new > v:
            top.clear()
            top.append(car)
            t[0] = new
        elif new == v:
            top.append(car)
    if top:
        cand.extend(top)
    return True


def rebuild_in_class_starting_positions(starting: dict[str, int], reg_to_number: dict[str, str],
                                        cars: dict[str, CarPosition]) -> dict[str, int]:
    """Number each class's cars 1..n by their overall *grid* position (not current position).

    A reg's class is its car's (reg -> car number -> car); regs without a car or without a class
    are left out. Classes come in the order their first car appears in `starting`, and cars on
    the same grid position keep their order in `starting`.
    """
    # The class is looked up here rather than collected into a reg -> class table first, and
    # each class is ordered by a stable sort keyed on the position: this runs for every grid
    # row while the field forms up.
    by_class: dict[str, list[str]] = {}
    for reg in starting:
        car = cars.get(reg_to_number.get(reg))  # type: ignore[arg-type]  # no car has number None
        if car is not None and car.car_class is not None:
            regs = by_class.get(car.car_class)
            if regs is None:
                by_class[car.car_class] = [reg]
            else:
                regs.append(reg)
    out: dict[str, int] = {}
    position = starting.__getitem__
    for regs in by_class.values():
        regs.sort(key=position)
        n = 0
        for reg in regs:
            n += 1
            out[reg] = n
    return out
