"""car_to_json and the car patches build their dicts through fast paths; these pin them to
the straightforward field-by-field rendering, key order included (clients and stored laps
see the JSON text)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from typing import Any

from apps.timing.engine import wire
from apps.timing.engine.multiloop import CompletedSection
from apps.timing.engine.state import CarPosition


def _reference_car_json(car: CarPosition, style: str) -> dict[str, Any]:
    names = wire.CAR_JSON if style == "web" else wire.CAR_JSON_DB
    return {names[a]: wire.car_value_json(a, getattr(car, a)) for a, _, _, _ in wire.CAR_FIELDS}


def _reference_patch(number: str, changes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": number}
    for a, v in changes.items():
        out[wire.CAR_JSON[a]] = wire.car_value_json(a, v)
    return out


def _random_car(rng: random.Random) -> CarPosition:
    car = CarPosition(number=str(rng.randint(1, 99)), car_class=rng.choice([None, "GT", "P1"]),
                      best_time=rng.choice([None, "00:01:02.345"]), overall_position=rng.randint(0, 40))
    if rng.random() < 0.3:
        car.lap_start_time = rng.randint(1, 864_000_000_000 - 1)
    if rng.random() < 0.3:
        car.pit_entry_time = datetime(2024, 3, 1, 12, rng.randint(0, 59), 7, 120_000,
                                      tzinfo=rng.choice([None, timezone.utc]))
    if rng.random() < 0.3:
        car.completed_sections = [CompletedSection(car.number or "", f"S{i}", i * 1000, 500, 3)
                                  for i in range(rng.randint(1, 3))]
    return car


def test_car_to_json_matches_field_by_field_rendering() -> None:
    rng = random.Random(7)
    for _ in range(300):
        car = _random_car(rng)
        for style in ("web", "db"):
            got, want = wire.car_to_json(car, style), _reference_car_json(car, style)
            assert json.dumps(got) == json.dumps(want)
    a, b = wire.car_to_json(CarPosition()), wire.car_to_json(CarPosition())
    assert a["csec"] is not b["csec"]  # every snapshot owns its lists


def test_car_patch_to_json_matches_field_by_field_rendering() -> None:
    rng = random.Random(11)
    attrs = [a for a, _, _, _ in wire.CAR_FIELDS if a != "number"]
    for _ in range(300):
        car = _random_car(rng)
        changes = {a: getattr(car, a) for a in rng.sample(attrs, rng.randint(0, 8))}
        got, want = wire.car_patch_to_json("12", changes), _reference_patch("12", changes)
        assert json.dumps(got) == json.dumps(want)


def test_a_pass_of_car_patches_from_the_record_matches_one_patch_per_car_in_order() -> None:
    rng = random.Random(13)
    attrs = [a for a, _, _, _ in wire.CAR_FIELDS if a != "number"]
    for _ in range(100):
        by_car = {}
        for _ in range(rng.randint(0, 6)):
            car = _random_car(rng)
            if rng.random() < 0.1:
                car.number = None
            by_car[car] = {a: getattr(car, a) for a in rng.sample(attrs, rng.choice([0, 1, 2, 5]))}
        want = [_reference_patch(car.number, ch) for car, ch in by_car.items() if ch and car.number is not None]
        # The engine's record: contract JSON names, values as the patch shows them
        record = {car: {wire.CAR_JSON[a]: wire.car_value_json(a, v) for a, v in ch.items()}
                  for car, ch in by_car.items()}
        assert json.dumps(wire.car_patches_from_record(record)) == json.dumps(want)
    assert wire.car_patch_to_json("7", {}) == {"n": "7"}


def test_completed_sections_render_the_same_from_engine_objects_and_from_dicts() -> None:
    # completed_section_to_json tests the engine's own type before the Mapping check.
    section = CompletedSection("12", "S1", 61_000, 30_500, 4)
    want = {"number": "12", "sectionId": "S1", "elapsedTimeMs": 61_000, "lastSectionTimeMs": 30_500, "lastLap": 4}
    assert wire.completed_section_to_json(section) == want
    as_dict = dict(want)
    got = wire.completed_section_to_json(as_dict)
    assert got == want and got is not as_dict  # a copy, never the caller's dict
    car = CarPosition(number="12", completed_sections=[section, as_dict])
    assert wire.car_to_json(car)["csec"] == [want, want]


def test_the_entry_list_renders_each_entry_as_entry_to_json_does():
    from apps.timing.engine.state import EventEntry
    entries = [EventEntry("7", "Ann Lee", "", "GT"), EventEntry("", "", "Team", ""), EventEntry("12", "x", "y", "P1")]
    got = wire.entries_to_json(entries)
    assert json.dumps(got) == json.dumps([wire.entry_to_json(e) for e in entries])
    assert wire.entries_to_json({}.values()) == []
