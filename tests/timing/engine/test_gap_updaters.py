"""The gap walks the enrichment calls (gaps.GAP_UPDATERS: update_gaps compiled again with each
group kind's attribute names in its code) publish what update_gaps itself publishes, field by
field and in the same order, for every way the enrichment calls them."""

from __future__ import annotations

import copy
import random

import pytest

from apps.timing.engine import gaps
from apps.timing.engine.state import CarPosition
from apps.timing.engine.timefmt import parse_ms

_ATTRS = [("overall_gap", "overall_difference"), ("in_class_gap", "in_class_difference")]


def _group(rnd: random.Random) -> list[CarPosition]:
    cars = []
    laps = rnd.randint(0, 30)
    ms = rnd.randint(0, 4_000_000)
    for i in range(rnd.randint(1, 12)):
        c = CarPosition(number=str(i + 1))
        c.last_lap_completed = laps
        if rnd.random() < 0.1:
            c.total_time = None
            c._ttm_ms = 0
        else:
            c.total_time = f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
            c._ttm_ms = parse_ms(c.total_time)
        for attr in ("overall_gap", "overall_difference", "in_class_gap", "in_class_difference"):
            setattr(c, attr, rnd.choice(["", "1.000", "1 lap", "0.500"]))
        cars.append(c)
        ms += rnd.choice([0, 300, 2_000, 90_000, 400_000])
        if rnd.random() < 0.2:
            laps -= rnd.choice([1, 1, 2])
    return cars


def _calls(rnd: random.Random, n: int) -> list[tuple]:
    i = rnd.randrange(n)
    idx = sorted(rnd.sample(range(n), rnd.randint(1, n)))
    return [(None, False, None, -1), (None, True, None, -1), (idx, False, None, -1),
            ((i,), False, None, -1), ((i, i + 1) if i + 1 < n else (i,), False, None, i + 1),
            (None, False, (rnd.randint(0, 5_000), rnd.randint(5_000, 200_000)), -1)]


@pytest.mark.parametrize("gap_attr, diff_attr", _ATTRS)
def test_the_compiled_walks_publish_what_update_gaps_publishes(gap_attr: str, diff_attr: str) -> None:
    walk = gaps.GAP_UPDATERS[gap_attr]
    assert walk is not gaps.update_gaps  # compiled, not the fallback
    assert "getattr" not in walk.__code__.co_names and "setattr" not in walk.__code__.co_names
    rnd = random.Random(7)
    for _ in range(400):
        cars = _group(rnd)
        threshold = rnd.choice([0, 1_000, 100_000, 10**9])
        for indexes, diffs_only, band, gap_only in _calls(rnd, len(cars)):
            mine, theirs = copy.deepcopy(cars), copy.deepcopy(cars)
            got: dict = {}
            want: dict = {}
            walk(mine, indexes, threshold, gap_attr, diff_attr, got, diffs_only, band, gap_only)
            gaps.update_gaps(theirs, indexes, threshold, gap_attr, diff_attr, want, diffs_only, band, gap_only)
            assert [(c.number, list(ch.items())) for c, ch in got.items()] == \
                [(c.number, list(ch.items())) for c, ch in want.items()]
            assert [(getattr(c, gap_attr), getattr(c, diff_attr)) for c in mine] == \
                [(getattr(c, gap_attr), getattr(c, diff_attr)) for c in theirs]
