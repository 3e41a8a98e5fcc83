"""projected_lap_time_ms adds the usual five laps up once for the mean and the weighted mean,
and compares the projection with int(0.7 * ref) and int(3.0 * ref) only near those limits:
projections a few milliseconds either side of the limits, with a negative best time too,
against the plain rule."""

from __future__ import annotations

import random

from apps.timing.engine.pace import projected_lap_time_ms
from apps.timing.engine.timefmt import parse_ms

from .test_pace_reference import _fmt, _reference


def _best_text(ms: int) -> str:
    return _fmt(ms) if ms >= 0 else f"00:00:-{-ms // 1000}.{-ms % 1000:03d}"


def test_projections_next_to_the_reference_limits_are_kept_or_dropped_as_the_plain_rule_does() -> None:
    rng = random.Random(53)
    for _ in range(6_000):
        base = rng.choice([30_000, 60_000, 90_000, 150_000])
        laps = [base + rng.randint(-1500, 1500) for _ in range(rng.choice([3, 4, 5, 5, 5]))]
        history = [{"ltm": _fmt(t), "flg": rng.choice([1, 1, 1, 2])} for t in laps]
        flag = rng.choice([1, 1, 2])
        plain = projected_lap_time_ms(history, flag, _fmt(base))
        if plain == 0:
            continue
        best = rng.choice([round(plain / 0.7), round(plain / 3.0), -base, 0]) + rng.randint(-4, 4)
        text = _best_text(best)
        assert parse_ms(text) == best
        want = _reference(history, flag, text)
        for got in (projected_lap_time_ms(history, flag, text), projected_lap_time_ms(history, flag, None, None, best)):
            assert got == want and type(got) is type(want), (laps, flag, best)


def test_five_laps_give_the_plain_rules_mean_and_weighted_mean() -> None:
    rng = random.Random(59)
    for _ in range(6_000):
        base = rng.choice([45_000, 90_000])
        laps = [base + rng.randint(-9000, 9000) for _ in range(5)]
        history = [{"ltm": _fmt(t), "flg": 1} for t in laps]
        got = projected_lap_time_ms(history, 1, None, laps, 0, [1, 1, 1, 1])
        want = _reference(history, 1, None)
        assert got == want, laps
