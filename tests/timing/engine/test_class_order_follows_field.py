"""A car re-ranked alone in the field keeps its class slot unless it passed or fell behind a
class-mate: the field's sort then leaves the class unsorted (Enricher._sort), and the class must
still be in the order a sort gives, with the slots that changed marked as moved."""

from __future__ import annotations

import random

from apps.timing.engine.positions import OVERALL, Enricher
from apps.timing.engine.state import CarPosition, position_rank


def _field(rng: random.Random, n: int, classes: int) -> tuple[Enricher, list[CarPosition]]:
    e = Enricher()
    cars = []
    for i in range(n):
        c = CarPosition(number=str(i + 1), overall_position=i + 1, car_class=str(rng.randint(1, classes)))
        c._seq = i
        c._rank = position_rank(i + 1, i)
        e.add_car(c)
        cars.append(c)
    for g in e.groups.values():
        e._sort(g)
    return e, cars


def _move(e: Enricher, car: CarPosition, position: int) -> None:
    # as Enricher.note marks a position change
    car.overall_position = position
    car._rank = position_rank(position, car._seq)
    for g in (e.groups[OVERALL], e.groups[car.car_class]):
        g.order_dirty = True
        g.reranked.add(car)


def test_a_class_left_unsorted_by_the_field_sort_is_in_sorted_order() -> None:
    rng = random.Random(11)
    skipped = 0
    for _ in range(300):
        n = rng.randint(1, 14)
        e, cars = _field(rng, n, rng.choice([1, 2, 3]))
        for _ in range(20):
            for g in e.groups.values():
                g.moved.clear()
                g.full = False
            before = {k: list(g.cars) for k, g in e.groups.items()}
            marked = set()
            for _ in range(rng.choice([1, 1, 1, 2])):
                car = rng.choice(cars)
                _move(e, car, rng.randint(0, n + 2))
                marked.add(car.car_class)
            e._sort(e.groups[OVERALL])
            for key, g in e.groups.items():
                if g.order_dirty:
                    e._sort(g)
                elif key in marked:
                    skipped += 1
                assert not g.reranked
                want = sorted((c for c in cars if key is OVERALL or c.car_class == key), key=lambda c: c._rank)
                assert g.cars == want
                assert all(g.index[c] == i for i, c in enumerate(g.cars))
                old = before[key]
                assert g.moved == {i for i in range(len(old)) if old[i] is not g.cars[i]}
    assert skipped > 1000  # the shortcut is taken
