"""update_fast_time_gaps with one changed car (re-placed by walking from its old slot) gives the
ranking and the gap fields a full re-ranking gives, including a car losing or getting its first
best time and a car moving to either end; and records exactly the fields it changed (when the
fastest car stays, only the slots around the re-placed car are recomputed)."""

from __future__ import annotations

import copy
import random

from apps.timing.engine.gaps import fast_key, update_fast_time_gaps
from apps.timing.engine.state import CarPosition
from apps.timing.engine.timefmt import parse_ms
from apps.timing.engine.wire import CAR_JSON

_ATTRS = ("overall_gap_by_fast_time", "overall_difference_by_fast_time")


def _best(rng: random.Random, car: CarPosition) -> None:
    car.best_time = rng.choice([None, "", f"00:01:{rng.randint(20, 25):02d}.{rng.randint(0, 3):03d}"])
    car.best_lap = rng.randint(0, 4)
    car._bt_ms = parse_ms(car.best_time)
    car._fkey = fast_key(car)


def _fields(cars: list[CarPosition]) -> list[tuple[str | None, ...]]:
    return [tuple(getattr(c, a) for a in _ATTRS) for c in cars]


def test_one_changed_best_gives_what_a_full_re_ranking_gives() -> None:
    rng = random.Random(3)
    for _ in range(300):
        cars = [CarPosition(number=str(n)) for n in range(rng.randint(1, 10))]
        for c in cars:
            _best(rng, c)
        ranked = update_fast_time_gaps(cars, *_ATTRS, {})
        for _ in range(15):
            car = rng.choice(cars)
            _best(rng, car)
            full_cars = copy.deepcopy(cars)  # the same state for the full re-ranking
            full = update_fast_time_gaps(full_cars, *_ATTRS, {})
            before = _fields(cars)
            changes: dict = {}
            ranked = update_fast_time_gaps(cars, *_ATTRS, changes, ranked, {car})
            assert [c.number for c in ranked] == [c.number for c in full]
            assert _fields(cars) == _fields(full_cars)
            published = {c: {CAR_JSON[a]: getattr(c, a) for a, old in zip(_ATTRS, was) if getattr(c, a) != old}
                         for c, was in zip(cars, before)}
            assert changes == {c: ch for c, ch in published.items() if ch}
