"""The in-class fastest-pace winner is kept between laps (Group.pace) and only the cars that
logged a lap are compared with it: every pass must publish what walking the class on every
logged lap publishes, through stale verdicts flipping, tied averages, the winner's average
getting worse, class changes, cars joining and update_car writes behind the tracker's back."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import pytest

from apps.timing.engine import TimingEngine


def _fmt(ms: int) -> str:
    h, r = divmod(ms, 3_600_000)
    m, r = divmod(r, 60_000)
    s, f = divmod(r, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{f:03d}"


def _walking_engine() -> TimingEngine:
    """An engine that forgets the kept winners before every lap's pace update."""
    e = TimingEngine(1)
    lap_pace = e._lap_pace

    def walk() -> None:
        e.enricher.forget_pace()
        lap_pace()

    e._lap_pace = walk  # type: ignore[method-assign]
    return e


def _race(seed: int, messages: int) -> int:
    rnd = random.Random(seed)
    nums = [str(i + 1) for i in range(rnd.choice([4, 9, 16]))]
    ncls = rnd.choice([1, 2, 3])
    cls = {n: rnd.randint(1, ncls) for n in nums}
    kept, walked = TimingEngine(1), _walking_engine()
    for e in (kept, walked):
        e.register_handler("ext", lambda p, t, e=e: e.update_car(*json.loads(p)))
    now = datetime(2025, 1, 1, 12)
    flag_patches = 0

    def send(kind: str, payload: str) -> None:
        nonlocal flag_patches
        a = kept.apply(kind, payload, session_id=1, received_at=now)
        b = walked.apply(kind, payload, session_id=1, received_at=now)
        assert a.car_patches == b.car_patches, (seed, payload)
        flag_patches += sum("faic" in p for p in a.car_patches)

    def rm(lines: list[str]) -> None:
        send("rmonitor", "\r\n".join(lines) + "\r\n")

    rm([f'$C,{i + 1},"C{i + 1}"' for i in range(ncls)] + ['$F,9999,"00:00:00","12:00:00","00:00:00","Green "']
       + [f'$A,"{n}","{n}",{1000 + int(n)},"D{n}","","USA",{cls[n]}' for n in nums])
    laps = dict.fromkeys(nums, 0)
    tot = dict.fromkeys(nums, 0)
    race = 0
    for _ in range(messages):
        now += timedelta(seconds=1)
        race += rnd.choice([1000, 5000, 40_000])
        flag = rnd.choice(["Green ", "Green ", "Green ", "Yellow", "Red   "])
        lines = [f'$F,9999,"00:00:00","12:00:00","{_fmt(race)[:8]}","{flag}"']
        r = rnd.random()
        if r < 0.75:
            for n in rnd.sample(nums, rnd.choice([1, 1, 1, 2, 3])):
                # few distinct lap times: tied averages, and averages going both ways
                lap = rnd.choice([60_000, 60_000, 61_000, 62_000, 0, 120_000])
                laps[n] += 1
                tot[n] = max(tot[n] + lap, race - rnd.choice([0, 0, 50_000, 200_000]))
                lines.append(f'$G,{int(n)},"{n}",{laps[n]},"{_fmt(tot[n])}"')
                lines.append(f'$J,"{n}","{_fmt(lap)}","{_fmt(tot[n])}"')
        elif r < 0.82:
            n = rnd.choice(nums)
            cls[n] = rnd.randint(1, ncls)
            lines.append(f'$A,"{n}","{n}",{1000 + int(n)},"D{n}","","USA",{cls[n]}')
        elif r < 0.9:
            n = rnd.choice(nums)
            attr = rnd.choice(["is_stale", "in_class_fastest_average_pace"])
            send("ext", json.dumps([n, {attr: rnd.random() < 0.5}]))
        elif r < 0.95:
            n = str(len(nums) + 1)
            nums.append(n)
            cls[n] = rnd.randint(1, ncls)
            laps[n] = tot[n] = 0
            lines.append(f'$A,"{n}","{n}",{1000 + int(n)},"D{n}","","USA",{cls[n]}')
        rm(lines)
    assert kept.state_json() == walked.state_json()
    return flag_patches


@pytest.mark.parametrize("seed", range(16))
def test_keeping_the_pace_winner_publishes_what_walking_the_class_publishes(seed):
    assert _race(seed, 400) > 10  # (the flag does move in these races)
