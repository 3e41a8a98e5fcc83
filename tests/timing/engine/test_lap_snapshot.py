"""car_to_json fills a copy of a template holding every key: a key left out of the generated
stores would keep the template's None, and a shared template would leak between snapshots."""

from __future__ import annotations

from apps.timing.engine import wire
from apps.timing.engine.state import CarPosition

_SPECIAL = {"lap_start_time", "pit_entry_time", "completed_sections"}


def _car_with_a_distinct_value_in_every_field() -> CarPosition:
    car = CarPosition()
    for i, (attr, _, _, _) in enumerate(wire.CAR_FIELDS):
        if attr not in _SPECIAL:
            setattr(car, attr, f"value {i}")
    car.lap_start_time = 36_000_000_000
    return car


def test_every_field_is_written_in_the_contract_order() -> None:
    car = _car_with_a_distinct_value_in_every_field()
    for style in ("web", "db"):
        names = wire.CAR_JSON if style == "web" else wire.CAR_JSON_DB
        want = [(names[a], wire.car_value_json(a, getattr(car, a))) for a, _, _, _ in wire.CAR_FIELDS]
        assert list(wire.car_to_json(car, style).items()) == want


def test_snapshots_do_not_share_state() -> None:
    first = wire.car_to_json(_car_with_a_distinct_value_in_every_field(), "db")
    first["n"] = "changed"
    first["extra"] = 1
    second = wire.car_to_json(CarPosition(), "db")
    assert second["n"] is None and "extra" not in second
    assert list(second) == [d for _, _, d, _ in wire.CAR_FIELDS]
