"""In-class starting positions from the RMonitor grid (lap-0 `$G` rows)."""

from __future__ import annotations

import random

from apps.timing.engine.positions import rebuild_in_class_starting_positions
from apps.timing.engine.state import CarPosition


def _straightforward(starting: dict[str, int], class_of: dict[str, str | None]) -> dict[str, int]:
    by_class: dict[str, list[tuple[int, str]]] = {}
    for reg, pos in starting.items():
        cls = class_of.get(reg)
        if cls is not None:
            by_class.setdefault(cls, []).append((pos, reg))
    out: dict[str, int] = {}
    for rows in by_class.values():
        rows.sort(key=lambda r: r[0])  # stable: equal positions keep their arrival order
        for i, (_, reg) in enumerate(rows):
            out[reg] = i + 1
    return out


def test_in_class_grid_numbering_matches_a_stable_sort_by_position_key_order_included() -> None:
    rng = random.Random(5)
    for _ in range(300):
        regs = [f"R{rng.randint(1, 60)}" for _ in range(rng.randint(0, 30))]
        starting = {reg: rng.randint(0, 12) for reg in regs}  # repeated positions: ties
        class_of = {reg: rng.choice([None, "GT", "P1", "P2"]) for reg in regs if rng.random() < 0.9}
        # Each classed reg its own car; some of those cars are not in the field yet.
        reg_to_number = {reg: f"#{reg}" for reg in class_of}
        cars = {f"#{reg}": CarPosition(number=f"#{reg}", car_class=cls) for reg, cls in class_of.items()
                if rng.random() < 0.9}
        class_of = {reg: cars[number].car_class for reg, number in reg_to_number.items() if number in cars}
        got = rebuild_in_class_starting_positions(starting, reg_to_number, cars)
        want = _straightforward(starting, class_of)
        assert list(got.items()) == list(want.items())
