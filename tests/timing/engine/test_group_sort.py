"""Enricher._sort's one-re-ranked-car path moves the car by its indexed slot; a car that is not
where the index says must still be sorted in (by the general path)."""

from __future__ import annotations

from apps.timing.engine.positions import OVERALL, Enricher
from apps.timing.engine.state import CarPosition, position_rank


def _field(n: int) -> tuple[Enricher, list[CarPosition]]:
    e = Enricher()
    cars = []
    for i in range(n):
        c = CarPosition(number=str(i + 1), overall_position=i + 1)
        c._seq = i
        c._rank = position_rank(i + 1, i)
        e.add_car(c)
        cars.append(c)
    e._sort(e.groups[OVERALL])
    return e, cars


def _move(e: Enricher, car: CarPosition, position: int) -> None:
    car.overall_position = position
    car._rank = position_rank(position, car._seq)
    g = e.groups[OVERALL]
    g.order_dirty = True
    g.reranked.add(car)


def test_one_re_ranked_car_moves_to_its_place() -> None:
    e, cars = _field(6)
    g = e.groups[OVERALL]
    _move(e, cars[4], 2)
    e._sort(g)
    assert g.cars == sorted(cars, key=lambda c: c._rank)
    assert all(g.index[c] == i for i, c in enumerate(g.cars))
    assert not g.reranked


def test_a_re_ranked_car_not_at_its_indexed_slot_is_still_sorted_in() -> None:
    e, cars = _field(6)
    g = e.groups[OVERALL]
    _move(e, cars[4], 2)
    g.index[cars[4]] = 0  # stale
    e._sort(g)
    assert g.cars == sorted(cars, key=lambda c: c._rank)
    assert not g.reranked


def test_one_re_ranked_car_lands_where_a_sort_puts_it_and_only_the_slots_it_crossed_move() -> None:
    # The path walks from the car's old slot: up, down, to either end, onto a tie (arrival order
    # decides) or not at all.
    import random

    rng = random.Random(5)
    for _ in range(400):
        n = rng.randint(1, 12)
        e, cars = _field(n)
        g = e.groups[OVERALL]
        for _ in range(20):
            g.moved.clear()
            g.full = False
            car = rng.choice(cars)
            before = list(g.cars)
            _move(e, car, rng.randint(0, n + 2))
            e._sort(g)
            assert g.cars == sorted(cars, key=lambda c: c._rank)
            assert all(g.index[c] == i for i, c in enumerate(g.cars))
            assert g.moved == {i for i in range(n) if before[i] is not g.cars[i]}
            assert g.full == (0 in g.moved)
