"""The record path's shortcuts give what the plain rules give."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from apps.timing.engine import TimingEngine
from apps.timing.engine.rmonitor import LineParser, parse_line

_T0 = datetime(2024, 5, 1, 12)


def test_parse_new_memoises_like_parse_and_both_message_paths_reuse_the_memoised_record() -> None:
    line = '$C,5,"GTU"'
    parser = LineParser()
    rec = parser.parse_new(line)
    assert rec == parse_line(line) and parser.memo == {line: rec}
    assert parser.parse(line) is rec
    passing = '$J,"12","00:02:01.123","01:12:47.872"'
    assert parser.parse_new(passing) == parse_line(passing) and passing not in parser.memo

    engine = TimingEngine(1)
    engine.apply("rmonitor", line, session_id=1, received_at=_T0)  # one-record path
    first = engine._parser.memo[line]
    engine.apply("rmonitor", line + "\r\n" + '$C,6,"GTO"', session_id=1, received_at=_T0)  # general path
    assert engine._parser.memo[line] is first
    assert engine.classes == {5: "GTU", 6: "GTO"}


def _fmt(ms: int) -> str:
    h, r = divmod(ms, 3_600_000)
    m, r = divmod(r, 60_000)
    s, f = divmod(r, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{f:03d}"


@pytest.mark.parametrize("seed", range(16))
def test_incremental_stale_verdicts_match_a_full_scan_on_every_pass_of_a_random_race(seed: int) -> None:
    # The tracker re-evaluates only the cars whose stale inputs changed and rescans the field
    # once the clock passes its deadline; `always_full` scans every car on every check.
    rnd = random.Random(seed)
    nums = [str(i + 1) for i in range(rnd.choice([1, 3, 10, 30]))]
    inc, full = TimingEngine(1), TimingEngine(1)
    full.stale.always_full = True
    now, race = _T0, 0
    laps = dict.fromkeys(nums, 0)
    tot = dict.fromkeys(nums, 0)
    pace = {n: rnd.choice([60_000, 90_000, 150_000]) for n in nums}

    def send(lines: list[str]) -> None:
        payload = "\r\n".join(lines) + "\r\n"
        inc.apply("rmonitor", payload, session_id=1, received_at=now)
        full.apply("rmonitor", payload, session_id=1, received_at=now)
        got = {c.number: c.is_stale for c in inc.cars.values()}
        assert got == {c.number: c.is_stale for c in full.cars.values()}, (seed, payload)

    send(['$C,1,"A"'] + [f'$A,"{n}","{n}",{1000 + int(n)},"D{n}","","USA",1' for n in nums]
         + [f'$G,{i + 1},"{n}",0,"00:00:00.000"' for i, n in enumerate(nums)])
    flag = "Green "
    for _ in range(400):
        now += timedelta(seconds=1)
        race += rnd.choice([1000, 3000, 10_000, 40_000])
        if rnd.random() < 0.03:
            flag = rnd.choice(["Green ", "Yellow", "Red   ", "Finish"])
        lines = [f'$F,9999,"00:00:00","12:00:00","{_fmt(race)[:8]}","{flag}"']
        for n in rnd.sample(nums, rnd.randint(0, min(3, len(nums)))):
            if tot[n] + pace[n] <= race or rnd.random() < 0.1:  # (a car sometimes stops for a while)
                if rnd.random() < 0.1:
                    pace[n] = rnd.choice([20_000, 60_000, 150_000])  # a much shorter lap moves the deadline
                lap = pace[n] + rnd.randint(-2000, 2000)
                laps[n] += 1
                tot[n] = max(tot[n] + lap, race - 500)
                lines.append(f'$G,1,"{n}",{laps[n]},"{_fmt(tot[n])}"')
                if rnd.random() < 0.8:
                    lines.append(f'$J,"{n}","{_fmt(lap)}","{_fmt(tot[n])}"')
        rnd.shuffle(lines)
        send(lines)
        if len(lines) > 1 and rnd.random() < 0.5:
            for line in lines[1:]:
                send([line])  # one-record messages take the single-record path
