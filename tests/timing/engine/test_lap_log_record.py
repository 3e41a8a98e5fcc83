"""LapLog.record keeps its parsed caches (lap times, settled flags, 5-lap averages) by
inserting one entry and dropping at most one, and averages only once five laps are kept:
after every lap they must be what rebuild() computes from the snapshots, and the history the
newest HISTORY_DEPTH laps, also after a restore of a longer or an empty history."""

from __future__ import annotations

import random

from apps.timing.engine.laps import HISTORY_DEPTH, LapLog
from apps.timing.engine.timefmt import parse_ms

from .test_pace_reference import _fmt


def _lap(rng: random.Random) -> dict:
    return {"ltm": _fmt(rng.choice([90_000 + rng.randint(-3000, 3000), 0, 61_000])),
            "flg": rng.choice([1, 1, 2, 4, None]), "lip": rng.random() < 0.15}


def test_the_logs_caches_after_every_lap_are_what_a_rebuild_computes() -> None:
    rng = random.Random(41)
    for _ in range(400):
        log = LapLog()
        want: dict[str, list[dict]] = {}
        for lap in range(rng.randint(1, 14)):
            if rng.random() < 0.08:
                # a restored history, possibly longer than the log keeps, or empty
                number = rng.choice("123")
                want[number] = [_lap(rng) for _ in range(rng.choice([0, 1, 4, 5, 6, 8]))]
                log.history = {n: list(h) for n, h in want.items()}
                log.rebuild()
            number = rng.choice("123")
            snapshot = _lap(rng)
            lap_ms = rng.choice([None, parse_ms(snapshot["ltm"])])
            log.record(number, lap, snapshot, lap_ms)
            want[number] = ([snapshot] + want.get(number, []))[:HISTORY_DEPTH]
            assert log.history == want
            plain = LapLog()
            plain.history = {n: list(h) for n, h in log.history.items()}
            plain.rebuild()
            assert log.lap_ms == plain.lap_ms
            assert log.settled_flags == plain.settled_flags
            assert list(log.averages.items()) == list(plain.averages.items())
            assert all(type(log.averages[n]) is type(plain.averages[n]) for n in log.averages)
