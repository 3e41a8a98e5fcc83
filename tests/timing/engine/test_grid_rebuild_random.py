"""The grid rebuild (`_apply_starting_positions`) looks each grid row's class up on the way and
orders each class with a stable sort keyed on the position. These pin it to the straightforward
rebuild (a reg -> class table, then every placed car compared and set), patches and the key order
of `in_class_starting` included, on random feeds where the grid forms, cars change class, two
regs name the same car, rows arrive before their car, the field is reset, and another input
writes the starting fields directly (as Multiloop does)."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

import pytest

from apps.timing.engine import TimingEngine
from apps.timing.engine.state import CarPosition

from .helpers import T0


def _in_class_by_stable_sort(starting: dict[str, int], class_of: dict[str, str | None]) -> dict[str, int]:
    by_class: dict[str, list[str]] = {}
    for reg in starting:
        cls = class_of.get(reg)
        if cls is not None:
            by_class.setdefault(cls, []).append(reg)
    out: dict[str, int] = {}
    for regs in by_class.values():
        for i, reg in enumerate(sorted(regs, key=lambda r: starting[r]), 1):
            out[reg] = i
    return out


class _RowByRowEngine(TimingEngine):
    """The straightforward rebuild: every placed car compared and set, one reg after the other."""

    def _apply_starting_positions(self) -> None:
        self.starting_dirty = False
        placed: list[tuple[str, CarPosition]] = []
        class_of: dict[str, str | None] = {}
        for reg, number in self.reg_to_number.items():
            car = self.cars.get(number)
            class_of[reg] = None if car is None else car.car_class
            if car is not None:
                placed.append((reg, car))
        self.in_class_starting = _in_class_by_stable_sort(self.starting, class_of)
        for reg, car in placed:
            self._set(car, "overall_starting_position", self.starting.get(reg, 0))
            self._set(car, "in_class_starting_position", self.in_class_starting.get(reg, 0))


def _result(r: Any) -> str:
    return json.dumps([r.seq, r.session_patch, r.car_patches, r.reset, [l.to_json() for l in r.completed_laps],
                       r.flag_periods, r.finished_session, r.rejections], sort_keys=False, default=str)


def _random_message(rnd: random.Random) -> list[str]:
    lines = []
    for _ in range(rnd.choice([1, 1, 1, 2, 3, 6])):
        k = rnd.random()
        reg = f"R{rnd.randint(1, 9)}"
        if k < 0.45:
            # Grid rows (lap 0), with repeated positions for ties; now and then a lap-1 row ends the grid.
            laps = 1 if rnd.random() < 0.03 else 0
            lines.append(f'$G,{rnd.randint(1, 10)},"{reg}",{laps},"00:00:00.000"')
        elif k < 0.75:
            # Numbers are fewer than regs, so two regs can name the same car.
            number, cls = rnd.randint(1, 6), rnd.choice([1, 2, 3, 4])
            tag = rnd.choice(["$A", "$COMP"])
            if tag == "$A":
                lines.append(f'$A,"{reg}","{number}",{rnd.randint(1, 99)},"A","B","USA",{cls}')
            else:
                lines.append(f'$COMP,"{reg}","{number}",{cls},"A","B","USA","Team",""')
        elif k < 0.88:
            lines.append(f'$C,{rnd.randint(1, 4)},"{rnd.choice(["GT", "P1", "P2", ""])}"')
        elif k < 0.96:
            flag = rnd.choice(["Green ", "Yellow", "Red   ", "      "])
            lines.append(f'$F,0,"00:00:00","12:00:00","00:00:00","{flag}"')
        else:
            lines.append('$I,"12:00:00","1/1/2025"')
    return lines


def _other_input(rnd: random.Random) -> dict[str, Any]:
    field = rnd.choice(["overall_starting_position", "in_class_starting_position", "car_class"])
    if field == "car_class":
        return {field: rnd.choice(["GT", "P1", "P2", None])}
    return {field: rnd.randint(0, 6)}


@pytest.mark.parametrize("seed", range(40))
def test_grid_rebuild_matches_the_row_by_row_rebuild(seed: int) -> None:
    rnd = random.Random(seed)
    fast, full = TimingEngine(1), _RowByRowEngine(1)
    at = T0
    for _ in range(300):
        at += timedelta(seconds=1)
        if rnd.random() < 0.15 and fast.cars:
            number, changes = rnd.choice(list(fast.cars)), _other_input(rnd)
            assert fast.update_car(number, changes) == full.update_car(number, changes)
        payload = "\r\n".join(_random_message(rnd)) + "\r\n"
        a = fast.apply("rmonitor", payload, session_id=1, received_at=at)
        b = full.apply("rmonitor", payload, session_id=1, received_at=at)
        assert _result(a) == _result(b), payload
        assert list(fast.in_class_starting.items()) == list(full.in_class_starting.items())
    assert fast.state_json("db") == full.state_json("db")
