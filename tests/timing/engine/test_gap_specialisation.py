"""update_overall_gaps / update_class_gaps (and the fast-time twins) are update_gaps
(update_fast_time_gaps) recompiled with plain attribute access for one attribute pair
(gaps._with_attrs). They must compute and record exactly what the general function does, and
must really be the specialised copies (no getattr/setattr left). Also the loops' other shortcut:
text lookups bound once at import."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from typing import Any

import pytest

from apps.timing.engine import gaps
from apps.timing.engine.gaps import (_with_attrs, fast_key, update_class_fast_time_gaps, update_class_gaps,
                                     update_fast_time_gaps, update_gaps, update_overall_fast_time_gaps,
                                     update_overall_gaps)
from apps.timing.engine.state import CarPosition

PAIRS = [(update_overall_gaps, "overall_gap", "overall_difference"),
         (update_class_gaps, "in_class_gap", "in_class_difference")]
FAST_PAIRS = [(update_overall_fast_time_gaps, "overall_gap_by_fast_time", "overall_difference_by_fast_time"),
              (update_class_fast_time_gaps, "in_class_gap_by_fast_time", "in_class_difference_by_fast_time")]
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


def _fast_group(rnd: random.Random, n: int) -> list[CarPosition]:
    cars = []
    for i in range(n):
        c = CarPosition(number=str(i + 1))
        _set_best(c, rnd)
        for attr in ("overall_gap_by_fast_time", "overall_difference_by_fast_time", "in_class_gap_by_fast_time",
                     "in_class_difference_by_fast_time"):
            setattr(c, attr, rnd.choice(SHOWN))
        cars.append(c)
    return cars


def _set_best(c: CarPosition, rnd: random.Random) -> None:
    c._bt_ms = rnd.choice([0, 60_000, 60_500, 61_000, rnd.randint(59_000, 70_000)])
    c.best_lap = rnd.randint(0, 9) if c._bt_ms else 0
    c._fkey = fast_key(c)


def _fast_state(cars: list[CarPosition]) -> list[tuple[Any, ...]]:
    return [(c.overall_gap_by_fast_time, c.overall_difference_by_fast_time, c.in_class_gap_by_fast_time,
             c.in_class_difference_by_fast_time) for c in cars]


@pytest.mark.parametrize("seed", range(200))
def test_specialised_fast_time_copies_match_the_general_function(seed: int) -> None:
    rnd = random.Random(seed)
    fast, gap_attr, diff_attr = FAST_PAIRS[seed % 2]
    n = rnd.randint(1, 12)
    cars, twins = _fast_group(random.Random(seed), n), _fast_group(random.Random(seed), n)
    ranked: list[CarPosition] | None = None
    twin_ranked: list[CarPosition] | None = None
    for step in range(4):
        # a ranking from scratch first, then updates after some cars' best times changed
        picked = set(rnd.sample(range(n), rnd.randint(1, n))) if step else set()
        bests = random.Random(rnd.random())
        for i in sorted(picked):
            state = bests.getstate()
            _set_best(cars[i], bests)
            bests.setstate(state)
            _set_best(twins[i], bests)
        changes: dict[CarPosition, dict[str, Any]] = {}
        twin_changes: dict[CarPosition, dict[str, Any]] = {}
        # (the changed cars in the same order for both: a set's order follows the objects' ids)
        ranked = update_fast_time_gaps(cars, gap_attr, diff_attr, changes, ranked,
                                       [cars[i] for i in sorted(picked)])  # type: ignore[arg-type]
        twin_ranked = fast(twins, gap_attr, diff_attr, twin_changes, twin_ranked, [twins[i] for i in sorted(picked)])
        assert [c.number for c in twin_ranked] == [c.number for c in ranked]
        assert _fast_state(twins) == _fast_state(cars)
        assert _record_list(twins, twin_changes) == _record_list(cars, changes)


@pytest.mark.parametrize("fast, general, gap_attr, diff_attr",
                         [(f, update_gaps, g, d) for f, g, d in PAIRS]
                         + [(f, update_fast_time_gaps, g, d) for f, g, d in FAST_PAIRS])
def test_the_copies_are_specialised(fast, general, gap_attr, diff_attr) -> None:
    names = fast.__code__.co_names
    assert fast is not general
    assert "getattr" not in names and "setattr" not in names
    assert gap_attr in names and diff_attr in names
    # the copy runs in the module's namespace, from the module's lines
    assert fast.__globals__ is gaps.__dict__
    assert fast.__code__.co_firstlineno == general.__code__.co_firstlineno
    assert fast.__code__.co_filename == general.__code__.co_filename


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


def test_a_source_edited_since_import_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "edited_module.py"
    path.write_text("def f(car, a):\n    return getattr(car, a)\n")
    spec = importlib.util.spec_from_file_location("edited_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (fast,) = _with_attrs(module.f, {"a": "overall_gap"})
    assert fast is not module.f  # the source as imported: specialised
    path.write_text("def f(car, a):\n    return getattr(car, 'in_class_gap')  # edited\n")
    assert _with_attrs(module.f, {"a": "overall_gap"}) == [module.f]


def test_the_gap_loops_look_up_the_live_text_caches() -> None:
    # bound once at import: they must stay the very dicts timefmt and gaps fill (timefmt only
    # ever clears its cache)
    from apps.timing.engine import timefmt

    assert gaps._delta_text.__self__ is timefmt._FORMAT_CACHE
    assert gaps._laps_behind_text.__self__ is gaps._LAPS_TEXT
    timefmt.format_delta(123_456)
    assert gaps._delta_text(123_456) == "2:03.456"
