"""Enricher.run() looks each changed car's marks up by the shape of its change dict (the tuple of
its names): the plan must be the union of the fields' own marks, in any order, cached or not."""

from __future__ import annotations

import itertools
import random

from apps.timing.engine import positions
from apps.timing.engine.positions import _NOTE_CODE, _plan


def test_a_plan_is_the_union_of_its_fields_marks_whatever_their_order() -> None:
    rnd = random.Random(5)
    names = list(_NOTE_CODE) + ["st", "n", "ogp", "bogus"]
    for _ in range(500):
        keys = tuple(rnd.sample(names, rnd.randint(1, 5)))
        want = 0
        for k in keys:
            want |= _NOTE_CODE.get(k, 0)
        for perm in itertools.islice(itertools.permutations(keys), 6):
            assert _plan(perm) == want
            assert positions._PLANS.get(perm, want) == want


def test_shapes_beyond_the_cache_limit_are_planned_without_being_kept(monkeypatch) -> None:
    monkeypatch.setattr(positions, "_PLANS", {})
    monkeypatch.setattr(positions, "_PLANS_MAX", 1)
    pos, ltm = (next(k for k, v in _NOTE_CODE.items() if v == code) for code in (positions._POSITION,
                                                                                    positions._LAST_LAP))
    assert _plan((pos,)) == positions._POSITION
    assert _plan((ltm,)) == positions._LAST_LAP
    assert positions._PLANS == {(pos,): positions._POSITION}
