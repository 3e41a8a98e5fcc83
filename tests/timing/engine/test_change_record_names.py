"""The pass's change record (`TimingEngine._car_changes`) is kept by contract JSON name with each
field's JSON value, so a car patch is "n" plus a copy of the car's record
(wire.car_patches_from_record). These tests pin that every recording site (the engine's setters,
the enrichment's `gaps.record` and its inlined copies, the feeds) records that way: a site that
records an attribute name, or a value the patch must not show as it is, fails here.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from apps.timing.engine import TimingEngine, wire
from apps.timing.engine.replayfile import one_line_per_message, read_messages, replay

from .helpers import REDMIST, SEBRING
from .test_feeds_mixed import FEEDS, ORDERS, run

_JSON_NAMES = frozenset(wire.CAR_JSON.values())


def _checked(monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple[Any, ...]], set[str]]:
    """Check every pass's record as the engine turns it into patches. Returns the problems found
    and the JSON names seen recorded."""
    problems: list[tuple[Any, ...]] = []
    seen: set[str] = set()
    build = wire.car_patches_from_record

    def checked(record: dict[Any, dict[str, Any]]) -> list[dict[str, Any]]:
        patches = build(record)
        expected = []
        for car, ch in record.items():
            bad = [key for key in ch if key not in _JSON_NAMES]
            if bad:
                problems.append(("not a contract JSON name", car.number, bad))
                continue
            seen.update(ch)
            if ch and car.number is not None:
                # What the former attribute-keyed record gave: the attribute translation of the
                # values the car holds (each field's last recorded value), in the record's order.
                attrs = [wire.CAR_ATTR_BY_JSON[key] for key in ch]
                expected.append(wire.car_patch_to_json(car.number, {a: getattr(car, a) for a in attrs}))
        if json.dumps(patches, default=str) != json.dumps(expected, default=str):
            problems.append(("patches differ from the attribute translation", patches, expected))
        return patches

    monkeypatch.setattr(wire, "car_patches_from_record", checked)
    return problems, seen


def test_json_names_and_attribute_names_do_not_overlap() -> None:
    # Otherwise an attribute-keyed recording could pass the checks below unnoticed.
    assert not _JSON_NAMES & {a for a, _, _, _ in wire.CAR_FIELDS}


@pytest.mark.parametrize("path, per_line", [
    (SEBRING / "2009_Sebring_ALMS_Session_5.txt", False),
    (SEBRING / "2009_Sebring_ALMS_Session_4_Lites.txt", True),
    (REDMIST / "TestSessionChanges.txt", False),
    (REDMIST / "TestMidRaceClassChange.txt", True),
    (REDMIST / "TestResetRetainLapTime.txt", False),
])
def test_recordings_record_contract_names_and_patch_values(monkeypatch, path, per_line) -> None:
    problems, seen = _checked(monkeypatch)
    messages = read_messages(path)
    replay(TimingEngine(1), one_line_per_message(messages) if per_line else messages)
    assert seen  # the check ran
    assert not problems, problems[:3]


def test_other_feeds_and_converted_fields_are_recorded_as_patches_show_them(monkeypatch) -> None:
    problems, seen = _checked(monkeypatch)
    for name in ("rmonitor first", "multiloop first", "random 3"):
        engine = run(FEEDS, ORDERS[name])
        now = datetime(2025, 4, 26, 13, 0, 0)
        # The converted fields through the public mutator, then one pass to publish them.
        engine.update_car("8", {"lap_start_time": 360_000_000_000, "pit_entry_time": now})
        engine.apply("rmonitor", '$F,9999,"00:05:00","11:00:00","00:05:00","Green "\r\n', session_id=7,
                     received_at=now + timedelta(seconds=1))
    assert not problems, problems[:3]
    converted = {wire.CAR_JSON[a] for a in wire.CONVERTED_CAR_ATTRS}
    assert converted <= seen  # every conversion was exercised
