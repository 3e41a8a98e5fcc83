"""update_overall_gaps / update_class_gaps are update_gaps recompiled with plain attribute access
for one attribute pair (gaps._with_attrs). They must compute and record exactly what the general
function does, and must really be the specialised copies (no getattr/setattr left)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from apps.timing.engine import gaps
from apps.timing.engine.gaps import _with_attrs, update_class_gaps, update_gaps, update_overall_gaps
from apps.timing.engine.state import CarPosition

PAIRS = [(update_overall_gaps, "overall_gap", "overall_difference"),
         (update_class_gaps, "in_class_gap", "in_class_difference")]
SHOWN = [None, "", "1.000", "0.500", "1 lap", "2 laps", "1:02.345"]


def _group(rnd: random.Random, n: int) -> list[CarPosition]:
    cars = []
    for i in range(n):
        c = CarPosition(number=str(i + 1))
        c.last_lap_completed = rnd.choice([5, 5, 5, 4, 6, 3])
        c._ttm_ms = 0 if rnd.random() < 0.05 else rnd.randint(0, 400) * 250
        for attr in ("overall_gap", "overall_difference", "in_class_gap", "in_class_difference"):
            setattr(c, attr, rnd.choice(SHOWN))
        cars.append(c)
    return cars


def _state(cars: list[CarPosition]) -> list[tuple[Any, ...]]:
    return [(c.overall_gap, c.overall_difference, c.in_class_gap, c.in_class_difference) for c in cars]


def _record_list(cars: list[CarPosition], changes: dict[CarPosition, dict[str, Any]]) -> list[Any]:
    slot = {c: i for i, c in enumerate(cars)}
    return [(slot[c], list(ch.items())) for c, ch in changes.items()]


@pytest.mark.parametrize("seed", range(300))
def test_specialised_copies_match_the_general_function(seed: int) -> None:
    rnd = random.Random(seed)
    fast, gap_attr, diff_attr = PAIRS[seed % 2]
    n = rnd.randint(1, 12)
    cars = _group(random.Random(seed), n)
    twins = _group(random.Random(seed), n)  # the same group again
    threshold = rnd.choice([1000, 20_000, 100_000])
    indexes = None if rnd.random() < 0.3 else sorted(rnd.sample(range(n), rnd.randint(1, n)))
    kwargs: dict[str, Any] = {}
    r = rnd.random()
    if r < 0.2:
        kwargs["diffs_only"] = True
    elif r < 0.35 and n > 1:
        kwargs["band"] = (threshold // 2, threshold)
    # some changes recorded before, as in a pass
    before = {cars[0]: {"total_time": "x"}} if rnd.random() < 0.5 else {}
    twin_before = {twins[0]: {"total_time": "x"}} if before else {}
    update_gaps(cars, indexes, threshold, gap_attr, diff_attr, before, **kwargs)
    fast(twins, indexes, threshold, gap_attr, diff_attr, twin_before, **kwargs)
    assert _state(twins) == _state(cars)
    assert _record_list(twins, twin_before) == _record_list(cars, before)


@pytest.mark.parametrize("fast, gap_attr, diff_attr", PAIRS)
def test_the_copies_are_specialised(fast, gap_attr, diff_attr) -> None:
    names = fast.__code__.co_names
    assert fast is not update_gaps
    assert "getattr" not in names and "setattr" not in names
    assert gap_attr in names and diff_attr in names
    # the copy runs in the module's namespace, from the module's lines
    assert fast.__globals__ is gaps.__dict__
    assert fast.__code__.co_firstlineno == update_gaps.__code__.co_firstlineno
    assert fast.__code__.co_filename == update_gaps.__code__.co_filename


def test_without_source_the_function_itself_is_used() -> None:
    ns: dict[str, Any] = {}
    exec("def f(car, a):\n    return getattr(car, a)\n", ns)
    assert _with_attrs(ns["f"], {"a": "overall_gap"}, {"a": "in_class_gap"}) == [ns["f"], ns["f"]]


def _sample(car: CarPosition, p: str, q: str, v: str) -> tuple[Any, Any]:
    setattr(car, p, v)
    return getattr(car, p), getattr(car, q)


def test_only_the_named_parameters_are_specialised() -> None:
    (f,) = _with_attrs(_sample, {"p": "overall_gap"})
    names = f.__code__.co_names
    assert "overall_gap" in names and "setattr" not in names and "getattr" in names  # (for q)
    assert f(CarPosition(in_class_gap="x"), "overall_gap", "in_class_gap", "1.000") == ("1.000", "x")
