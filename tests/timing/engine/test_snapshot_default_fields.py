"""car_to_json's template already holds the default of most fields, and a field is only
stored when its value is not that very object: a value equal to the default but of another
type or identity (0 for False, 0.0 for 0, a str subclass for "") must still reach the
snapshot as it is."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from apps.timing.engine import wire
from apps.timing.engine.state import CarPosition

_SPECIAL = {"lap_start_time", "pit_entry_time", "completed_sections"}


class _Text(str):
    pass


def _lookalikes(default: Any) -> list[Any]:
    if default is None:
        return [None, "", 0, False]
    if type(default) is bool:
        return [default, int(default), float(default), not default]
    if type(default) is int:
        return [default, float(default), default + 1] + ([False, -0.0] if default == 0 else [])
    if type(default) is str:
        return [default, _Text(default), default + "x", None]
    return [default]


def _rendering(d: dict[str, Any]) -> list[tuple[str, type, Any]]:
    return [(k, type(v), v) for k, v in d.items()]


def test_a_field_equal_to_its_default_but_not_it_is_stored_as_it_is() -> None:
    rng = random.Random(29)
    defaults = {f.name: f.default for f in dataclasses.fields(CarPosition)}
    attrs = [a for a, _, _, _ in wire.CAR_FIELDS if a not in _SPECIAL]
    for _ in range(400):
        car = CarPosition()
        for a in attrs:
            if rng.random() < 0.5:
                setattr(car, a, rng.choice(_lookalikes(defaults[a])))
        for style in ("web", "db"):
            names = wire.CAR_JSON if style == "web" else wire.CAR_JSON_DB
            want = {names[a]: wire.car_value_json(a, getattr(car, a)) for a, _, _, _ in wire.CAR_FIELDS}
            assert _rendering(wire.car_to_json(car, style)) == _rendering(want)


def test_every_snapshot_of_a_default_car_is_the_field_by_field_rendering() -> None:
    car = CarPosition()
    want = {wire.CAR_JSON_DB[a]: wire.car_value_json(a, getattr(car, a)) for a, _, _, _ in wire.CAR_FIELDS}
    assert _rendering(wire.car_to_json(car, "db")) == _rendering(want)
