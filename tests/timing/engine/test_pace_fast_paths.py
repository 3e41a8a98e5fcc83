"""projected_lap_time_ms's shortcuts against the plain rule (test_pace_reference's oracle).

The engine hands it the car's parsed best time (`best_ms`) instead of `best_time` to parse
again, and the LapLog's settled flags of the older laps instead of reading their snapshots;
the range test spares the variance also after outliers were dropped."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from apps.timing.engine import TimingEngine
from apps.timing.engine import engine as engine_module
from apps.timing.engine.laps import HISTORY_DEPTH, LapLog, settled_flag
from apps.timing.engine.pace import projected_lap_time_ms
from apps.timing.engine.timefmt import parse_ms

from .helpers import REDMIST, SEBRING, replay_file
from .test_feeds_x2 import X2Feeds, passing
from .test_pace_reference import _fmt, _reference


def test_a_parsed_best_time_gives_the_plain_rules_projection() -> None:
    rng = random.Random(5)
    for _ in range(5_000):
        base = rng.choice([60_000, 90_000, 150_000])
        history = [{"ltm": _fmt(base + rng.randint(-4000, 4000)), "flg": 1} for _ in range(rng.randint(1, 5))]
        best = rng.choice([None, "", "x", _fmt(base - 2000), _fmt(base * 5), _fmt(base // 2)])
        want = _reference(history, 1, best)
        got = projected_lap_time_ms(history, 1, best, None, parse_ms(best))
        assert got == want and type(got) is type(want), (history, best)


def test_the_spread_shortcut_after_dropping_outliers_matches_the_variance() -> None:
    # Laps around the 10 % spread limit plus one far outlier: the outlier goes, and the range
    # test on the laps kept must agree with the variance on both sides of the limit.
    rng = random.Random(17)
    for _ in range(20_000):
        base = rng.choice([60_000, 90_000, 150_000])
        width = rng.uniform(0.15, 0.30)
        laps = [int(base * (1 + rng.choice([-width, width, 0.0, width / 2]) / 2)) for _ in range(rng.randint(3, 4))]
        laps.insert(rng.randrange(len(laps) + 1), rng.choice([base * 3, base // 4, 1_000]))
        history = [{"ltm": _fmt(t), "flg": 1} for t in laps]
        want = _reference(history, 1, None)
        got = projected_lap_time_ms(history, 1, None)
        assert got == want, history


def _random_lap(rng: random.Random, base: int) -> dict:
    lap = {"ltm": _fmt(rng.choice([base + rng.randint(-2000, 2000), base * 2, 0])),
           "flg": rng.choice([1, 1, 1, 1, 2, 4, None]), "lip": rng.random() < 0.1}
    return lap


def test_the_log_keeps_the_settled_flags_of_the_laps_after_the_newest() -> None:
    # Logged laps may become pit laps until the next one is logged (X2/Flagtronics mark them
    # at the end of their pass), and the log may be rebuilt from its snapshots at any time.
    rng = random.Random(23)
    for _ in range(300):
        log = LapLog()
        for lap in range(rng.randint(1, 12)):
            number = rng.choice("123")
            log.record(number, lap, _random_lap(rng, 90_000))
            if rng.random() < 0.2:
                log.history[number][0]["lip"] = True
            if rng.random() < 0.05:
                log.rebuild()
            for n, h in log.history.items():
                assert log.settled_flags[n] == [settled_flag(l) for l in h[1:]]
                assert len(log.settled_flags[n]) == len(h) - 1 < HISTORY_DEPTH


def test_the_settled_flags_give_the_plain_rules_projection() -> None:
    rng = random.Random(29)
    for _ in range(20_000):
        base = rng.choice([60_000, 90_000, 9_000])
        history = [_random_lap(rng, base) for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.7:  # mostly the usual case: clean laps under one flag
            for lap in history:
                lap.update(flg=1, lip=False)
        flag = rng.choice([1, 1, 2])
        lap_ms = [parse_ms(l["ltm"]) for l in history]
        got = projected_lap_time_ms(history, flag, None, lap_ms, None, [settled_flag(l) for l in history[1:]])
        assert got == _reference(history, flag, None, lap_ms), history


def _watch(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, int | None, int, int]]:
    """(best_time, best_ms, projection, plain projection) of every projection the engine makes;
    the plain one from the snapshots alone, as the reference reads them at that moment."""
    seen = []

    def watched(history, session_flag, best_time, lap_ms=None, best_ms=None, settled_flags=None):
        got = projected_lap_time_ms(history, session_flag, best_time, lap_ms, best_ms, settled_flags)
        seen.append((best_time, best_ms, got, _reference(history, session_flag, best_time)))
        return got

    monkeypatch.setattr(engine_module, "projected_lap_time_ms", watched)
    return seen  # (checked after the run: the engine would report an exception raised inside it)


@pytest.mark.parametrize("path", [REDMIST / "TestGap.txt", REDMIST / "TestMissingLaps.txt",
                                  SEBRING / "2009_Sebring_ALMS_Session_4_Lites.txt"], ids=lambda p: p.name)
def test_the_engine_projects_as_the_plain_rule_reads_its_laps(path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _watch(monkeypatch)
    replay_file(path.name, directory=path.parent)
    assert len(seen) > 30 and any(ms for _, ms, _, _ in seen) and any(got for _, _, got, _ in seen)
    assert [ms for _, ms, _, _ in seen] == [parse_ms(text) for text, _, _, _ in seen]
    assert [got for _, _, got, _ in seen] == [plain for _, _, _, plain in seen]


def test_projections_after_a_restore_and_with_x2_pit_laps_read_the_laps_as_they_are(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _watch(monkeypatch)
    f = X2Feeds()
    f.rmonitor('$F,9999,"00:10:00","10:00:00","00:00:01","Green "')
    rng = random.Random(31)
    for lap in range(1, 16):
        if rng.random() < 0.3:  # a pit stop: X2 marks the next lap of car 8 as a pit lap
            f.x2(passing("8", 11, pit=True, pid=2 * lap), passing("8", 12, pit=False, pid=2 * lap + 1))
        t = 90 * lap + rng.randint(-2, 2)
        f.rmonitor(f'$G,1,"8",{lap},"00:{t // 60:02d}:{t % 60:02d}.000"',
                   f'$J,"8","00:01:{30 + rng.randint(-2, 2):02d}.{rng.randint(0, 999):03d}","00:{t // 60:02d}:{t % 60:02d}.000"')
        if lap == 8:
            f.engine = TimingEngine.restore(f.engine.snapshot())
    assert len(seen) == 15 and any(got for _, _, got, _ in seen)
    assert any(lap.get("lip") for lap in f.engine.laps.history["8"])
    assert [got for _, _, got, _ in seen] == [plain for _, _, _, plain in seen]
