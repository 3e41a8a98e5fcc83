"""The enrichment records its derived fields straight into the pass's change record
(gaps.record, and its copies inlined in the hot loops) instead of through the engine's setter.

These tests hold that shortcut to what the setter guaranteed, on the car state itself: every
derived field an enrichment changes is in the pass's record with the value the car now has,
nothing else is recorded by it, and none of those fields has a parsed cache (which only the
engine's `_set` would refresh).
"""

from __future__ import annotations

from typing import Any

import pytest

from apps.timing.engine import TimingEngine, wire
from apps.timing.engine.engine import _MS_CACHE
from apps.timing.engine.positions import Enricher
from apps.timing.engine.replayfile import one_line_per_message, read_messages, replay
from apps.timing.engine.state import CarPosition

from .helpers import REDMIST, SEBRING

# Everything Enricher.run publishes (positions.py and gaps.py)
DERIVED = (
    "class_position", "overall_gap", "overall_difference", "in_class_gap", "in_class_difference",
    "overall_gap_by_fast_time", "overall_difference_by_fast_time", "in_class_gap_by_fast_time",
    "in_class_difference_by_fast_time", "is_best_time", "is_best_time_class", "overall_positions_gained",
    "in_class_positions_gained", "is_overall_most_positions_gained", "is_class_most_positions_gained",
)


def _watch(engine: TimingEngine, monkeypatch: pytest.MonkeyPatch) -> tuple[set[str], list[tuple[Any, ...]]]:
    """Check every enrichment of `engine` (Enricher.run, which the engine calls from more than
    one place) against the cars. Returns the fields seen recorded and the problems found
    (collected, not raised: the engine turns exceptions into rejections)."""
    recorded: set[str] = set()
    problems: list[tuple[Any, ...]] = []
    run = Enricher.run

    def checked(self: Enricher, field: Any, pass_changes: Any) -> None:
        if self is not engine.enricher:
            run(self, field, pass_changes)
            return
        cars = list(engine.cars.values())
        before = {car: [getattr(car, a) for a in DERIVED] for car in cars}
        changes = engine._car_changes  # keyed by contract JSON name
        keys_before = {car: list(ch) for car, ch in changes.items()}
        run(self, field, pass_changes)
        for car in cars:
            ch = changes.get(car, {})
            for attr, old in zip(DERIVED, before[car]):
                new = getattr(car, attr)
                key = wire.CAR_JSON[attr]
                if new != old and (key not in ch or ch[key] != new):
                    problems.append(("not recorded", car.number, attr, old, new, ch.get(key)))
            for key in ch:
                attr = wire.CAR_ATTR_BY_JSON.get(key, key)
                if key not in keys_before.get(car, ()):
                    recorded.add(attr)
                    if attr not in DERIVED:
                        problems.append(("not a derived field", car.number, key))
                if attr in DERIVED and ch[key] != getattr(car, attr):
                    problems.append(("recorded value is not the car's", car.number, attr, ch[key]))

    monkeypatch.setattr(Enricher, "run", checked)
    return recorded, problems


@pytest.mark.parametrize("path, per_line", [
    (SEBRING / "2009_Sebring_ALMS_Session_5.txt", False),
    (SEBRING / "2009_Sebring_ALMS_Session_4_Lites.txt", True),
    (REDMIST / "TestGap.txt", True),
    (REDMIST / "TestMidRaceClassChange.txt", False),
    (REDMIST / "TestResetRetainLapTime.txt", False),
])
def test_enrichment_records_every_derived_field_it_changes(path, per_line, monkeypatch) -> None:
    engine = TimingEngine(1)
    recorded, problems = _watch(engine, monkeypatch)
    messages = read_messages(path)
    replay(engine, one_line_per_message(messages) if per_line else messages)
    assert recorded  # the check ran
    assert not problems, problems[:5]
    assert not engine.rejection_count


def test_every_derived_field_is_recorded_and_none_has_a_parsed_cache(monkeypatch) -> None:
    engine = TimingEngine(1)
    recorded, problems = _watch(engine, monkeypatch)
    replay(engine, read_messages(SEBRING / "2009_Sebring_ALMS_Session_5.txt"))
    assert not problems, problems[:5]
    assert recorded == set(DERIVED)
    assert not set(DERIVED) & set(_MS_CACHE)
    assert all(not a.startswith("_") and a in CarPosition.__slots__ for a in DERIVED)
