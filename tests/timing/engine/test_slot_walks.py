"""gaps.position_slot and gaps.fast_slot walk from a re-ranked car's old slot to its new one;
on random rankings of unique keys both must give what taking the car out and bisecting gives."""

from __future__ import annotations

import random
from bisect import bisect_left
from types import SimpleNamespace

from apps.timing.engine.gaps import fast_slot, position_slot


def test_the_walks_give_the_slot_bisecting_gives():
    rng = random.Random(9)
    moved = 0
    for _ in range(5_000):
        n = rng.randint(1, 12)
        keys = sorted(rng.sample(range(100), n))
        attr, walk = rng.choice([("_rank", position_slot), ("_fkey", fast_slot)])
        ranked = [SimpleNamespace(**{attr: (k, "x") if attr == "_fkey" else k}) for k in keys]
        i = rng.randrange(n)
        taken = {getattr(c, attr) for c in ranked}
        new = rng.choice([k for k in range(-1, 101) if (k, "x") not in taken and k not in taken])
        key = (new, "x") if attr == "_fkey" else new
        setattr(ranked[i], attr, key)
        others = [getattr(c, attr) for j, c in enumerate(ranked) if j != i]
        want = bisect_left(others, key)
        assert walk(ranked, i, key) == want, (keys, i, new)
        moved += want != i
    assert moved > 1_000
