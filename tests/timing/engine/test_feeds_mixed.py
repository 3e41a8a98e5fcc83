"""RMonitor + Multiloop + X2 for the same cars, in any interleaving that keeps each feed's order.

RMonitor stays authoritative for laps, times and positions; Multiloop adds sections, pit counts,
status and pit state; X2 stands aside once Multiloop is active (and what it set before is taken
back), so the final state does not depend on how the three feeds were interleaved.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import pytest

from apps.timing.engine import TimingEngine

from .helpers import competitor
from .test_feeds_multiloop import FFFD, completed_lap, crossing, section

T0 = datetime(2025, 4, 26, 12, 0, 0)
SETUP = ["evtsessionchanged", '{"sid": 7, "eid": 1, "n": "Race"}']
LOOPS = [{"id": 11, "type": 1, "name": "PitIn"}, {"id": 12, "type": 2, "name": "PitOut"},
         {"id": 15, "type": 5, "name": "Bridge"}]


def rm(*lines: str) -> tuple[str, str]:
    return "rmonitor", "\r\n".join(lines) + "\r\n"


def ml(*lines: str) -> tuple[str, str]:
    return "multiloop", "\n".join(line.replace("|", FFFD) for line in lines)


def x2(tp: int, loop: int, pit: bool, pid: int) -> tuple[str, str]:
    return "x2pass", json.dumps([{"i": pid, "l": loop, "t": tp, "p": pit, "tl": "2025-04-26T12:00:00"}])


RMONITOR = [
    rm('$B,7,"Race"', '$C,1,"GT"', competitor("8", 1, 100), competitor("9", 1, 101), competitor("10", 1, 102)),
    rm('$F,9999,"00:10:00","10:00:00","00:00:01","Green "'),
    rm('$G,1,"9",0,"00:00:00.000"', '$G,2,"8",0,"00:00:00.000"', '$G,3,"10",0,"00:00:00.000"'),
    rm('$G,1,"9",1,"00:01:30.000"', '$J,"9","00:01:30.000","00:01:30.000"', '$H,1,"9",1,"00:01:30.000"'),
    rm('$G,2,"8",1,"00:01:31.000"', '$J,"8","00:01:31.000","00:01:31.000"', '$H,2,"8",1,"00:01:31.000"'),
    rm('$F,9999,"00:08:00","10:02:00","00:02:00","Yellow"'),
    rm('$G,1,"8",2,"00:03:00.000"', '$J,"8","00:01:29.000","00:03:00.000"', '$H,1,"8",2,"00:01:29.000"'),
    rm('$G,2,"9",2,"00:03:02.000"', '$J,"9","00:01:32.000","00:03:02.000"'),
    rm('$G,3,"10",1,"00:03:05.000"', '$J,"10","00:03:05.000","00:03:05.000"'),
    rm('$I,"12:00:00","26 Apr 25"', '$C,1,"GT"', competitor("8", 1, 100), competitor("9", 1, 101),
       competitor("10", 1, 102), '$G,1,"8",2,"00:03:00.000"', '$G,2,"9",2,"00:03:02.000"',
       '$G,3,"10",1,"00:03:05.000"'),
    rm('$G,1,"8",3,"00:04:28.000"', '$J,"8","00:01:28.000","00:04:28.000"'),
]
MULTILOOP = [
    ml("$T|R|22|Q1|Watkins Glen|WGI|3.4|2|S1|100|SF|IM1|S2|200|IM1|SF"),
    # Multiloop's own laps, times and ranks disagree with RMonitor's on purpose.
    ml(completed_lap("9", start=1, laps=9, status="Running"), completed_lap("8", start=2, laps=9)),
    ml(section("8", "S1", 40000, 40000, 1), section("9", "S1", 41000, 41000, 1)),
    ml(completed_lap("10", start=3, pits=1, last_pitted=1, status="In Pits"), crossing("10", "P")),
    ml(section("8", "S2", 90000, 50000, 1)),
    ml("$F|R|5|Q1|Y|2|D7108|6|6088A|1|0|1|08|1|81.63"),
    ml(completed_lap("8", start=2, led=1, laps=12), section("8", "S1", 130000, 40000, 2)),
    ml(crossing("10", "T"), completed_lap("10", start=3, pits=1, last_pitted=1, status="Running")),
]
X2 = [x2(100, 11, True, 1), x2(100, 12, False, 2), x2(101, 15, False, 3), x2(102, 11, True, 4)]


def run(feeds: list[list[tuple[str, str]]], order: list[int]) -> TimingEngine:
    engine = TimingEngine(1)
    engine.set_loop_metadata(LOOPS)
    now = T0
    engine.apply(*SETUP, session_id=7, received_at=now)
    cursors = [0] * len(feeds)
    for which in order:
        kind, payload = feeds[which][cursors[which]]
        cursors[which] += 1
        now += timedelta(seconds=1)
        r = engine.apply(kind, payload, session_id=7, received_at=now)
        assert r.rejections == []
    assert cursors == [len(f) for f in feeds]
    return engine


def interleavings(feeds: list[list], seed: int) -> list[int]:
    rng = random.Random(seed)
    order = [i for i, f in enumerate(feeds) for _ in f]
    rng.shuffle(order)
    return order


def cars(engine: TimingEngine) -> dict[str, dict]:
    return {c["n"]: c for c in engine.state_json()["carPositions"]}


FEEDS = [RMONITOR, MULTILOOP, X2]
ORDERS = {
    "rmonitor first": [0] * len(RMONITOR) + [1] * len(MULTILOOP) + [2] * len(X2),
    "x2 then multiloop then rmonitor": [2] * len(X2) + [1] * len(MULTILOOP) + [0] * len(RMONITOR),
    "multiloop first": [1] * len(MULTILOOP) + [2] * len(X2) + [0] * len(RMONITOR),
    **{f"random {seed}": interleavings(FEEDS, seed) for seed in range(25)},
}
REFERENCE = run(FEEDS, ORDERS["rmonitor first"])


@pytest.mark.parametrize("name", sorted(ORDERS))
def test_the_final_state_is_the_same_for_every_interleaving_of_the_three_feeds(name):
    engine = run(FEEDS, ORDERS[name])
    state, expected = engine.state_json(), REFERENCE.state_json()
    assert state == expected


def test_rmonitor_stays_authoritative_for_laps_times_and_positions():
    alone = cars(run([RMONITOR], [0] * len(RMONITOR)))
    mixed = cars(REFERENCE)
    timing = ("llp", "ttm", "ltm", "bt", "bl", "ovp", "clp", "og", "od", "cg", "cd", "ibt", "btc", "plt")
    for number in ("8", "9", "10"):
        assert {k: mixed[number][k] for k in timing} == {k: alone[number][k] for k in timing}
    assert (mixed["8"]["llp"], mixed["8"]["ovp"], mixed["10"]["llp"]) == (3, 1, 1)  # not Multiloop's 12 laps
    assert REFERENCE.session.current_flag == 2  # RMonitor's yellow, not Multiloop's track status


def test_multiloop_adds_sections_pit_data_and_status_and_x2_stands_aside():
    c = cars(REFERENCE)
    assert [s["sectionId"] for s in c["8"]["csec"]] == ["S1"] and c["8"]["csec"][0]["lastLap"] == 2
    assert [s["sectionId"] for s in c["9"]["csec"]] == ["S1"]
    assert (c["10"]["psc"], c["10"]["lastLapPitted"], c["10"]["mcs"], c["10"]["ip"], c["10"]["psf"]) == \
        (1, 1, "Running", False, False)
    assert (c["8"]["osp"], c["9"]["osp"], c["10"]["osp"]) == (2, 1, 3)
    assert (c["8"]["icsp"], c["8"]["opg"], c["8"]["llo"]) == (2, 1, 1)
    # X2 said car 8 went through the pit and car 9 passed the Bridge loop: Multiloop owns pit data
    assert (c["8"]["enp"], c["8"]["exp"], c["9"]["ln"]) == (False, False, "")
    state = REFERENCE.state_json()
    assert [s["name"] for s in state["sections"]] == ["S1", "S2"] and state["greenTimeMs"] == 880904


RM_X2 = [RMONITOR[:5], X2]


def test_without_multiloop_x2_adds_pit_state_and_rmonitor_keeps_the_timing():
    # X2 decisions depend on the lap a car is on, so this pair is checked for the pit flags only.
    alone = cars(run([RMONITOR[:5]], [0] * 5))
    for seed in range(10):
        c = cars(run(RM_X2, [0] * 5 + [1] * 4 if seed == 0 else _rm_first_two(seed)))
        assert (c["8"]["ip"], c["8"]["exp"], c["9"]["ln"], c["10"]["ip"], c["10"]["enp"]) == \
            (False, True, "Bridge", True, True)
        for number in ("8", "9", "10"):
            assert (c[number]["llp"], c[number]["ovp"], c[number]["ttm"]) == \
                (alone[number]["llp"], alone[number]["ovp"], alone[number]["ttm"])


def _rm_first_two(seed: int) -> list[int]:
    """The entry list first (X2 needs the transponders), then a random interleaving of the rest."""
    rest = [0] * 4 + [1] * 4
    random.Random(seed).shuffle(rest)
    return [0] + rest
