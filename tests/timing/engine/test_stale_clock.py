"""The stale tracker's race clock conversion (seconds only, within a minute it has seen) gives
exactly what parse_ms gives, on any sequence of clock texts."""

from __future__ import annotations

import itertools
import random

import pytest

from apps.timing.engine.stale import StaleTracker
from apps.timing.engine.timefmt import parse_ms

_ODD = ["", "00:12:4", "00:12:45.5", "00:12:45.123", "0:12:45", "00:12:4a", "00:1a:45", "0a:12:45", "-1:12:45",
        "00:12:-5", "00:12: 5", "00:12:+5", "00:12:\u0664\u0665", "\u0660\u0660:12:45", "00;12:45", "00:12;45",
        "99:99:99", "00:99:45", "00:12:99", "100:12:45", "00:12:45 ", " 00:12:45"]


def _ticks(start: int, n: int) -> list[str]:
    return [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(start, start + n)]


@pytest.mark.parametrize("seed", range(8))
def test_clock_ms_matches_parse_ms_on_ticking_and_odd_clocks(seed: int) -> None:
    rnd = random.Random(seed)
    texts = _ticks(rnd.randrange(0, 99 * 3600), 200)
    # odd texts that share the last minute's prefix, and prefixes of odd texts, in between
    for _ in range(80):
        i = rnd.randrange(len(texts))
        prefix = texts[i][:6] if rnd.random() < 0.5 else rnd.choice(_ODD)[:6]
        tail = rnd.choice(["45", "4", "4a", "99", "45.1", "", "\u0664\u0665", "-1", " 1", "00"])
        texts.insert(i, rnd.choice([prefix + tail, rnd.choice(_ODD)]))
    tracker = StaleTracker()
    for text in texts:
        assert tracker.clock_ms(text) == parse_ms(text), text


def test_clock_ms_reuses_a_minute_only_for_the_plain_form() -> None:
    tracker = StaleTracker()
    texts = _ODD + ["00:12:45", "01:02:03", "05:59:59"]
    texts += [t[:6] + "07" for t in texts]  # a later second in the same "minute"
    for first, second in itertools.product(texts, repeat=2):
        assert tracker.clock_ms(first) == parse_ms(first)
        assert tracker.clock_ms(second) == parse_ms(second), (first, second)
    assert tracker.clock_ms(None) == 0  # type: ignore[arg-type]  # what parse_ms says to no clock
