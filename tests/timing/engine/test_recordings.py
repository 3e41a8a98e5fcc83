"""§9: the reference's expected values on the RedMist recordings."""

import pytest

from apps.timing.engine import TimingEngine
from apps.timing.engine.flags import Flags
from apps.timing.engine.timefmt import parse_ms

from .helpers import cars_by_number, replay_file


@pytest.fixture(scope="module")
def road_america_start():
    engine = TimingEngine(1)
    after = {}
    for name in ("TestEntries.txt", "TestInitialPositions.txt", "TestStart.txt"):
        replay_file(name, engine)
        after[name] = engine.state_json()
    return engine, after


def test_entries_replay_builds_the_field_and_session(road_america_start):
    _, after = road_america_start
    s = after["TestEntries.txt"]
    assert len(s["carPositions"]) == 48 and len(s["eventEntries"]) == 48
    assert (s["sessionId"], s["sessionName"], s["lapsToGo"]) == (67, "Saturday 8 Hour", 9999)
    assert (s["localTimeOfDay"], s["timeToGo"], s["runningRaceTime"]) == ("07:29:44", "08:00:00", "00:00:00")
    car = cars_by_number(s)["70"]
    assert (car["tp"], car["class"]) == (58488, "GTO")
    entry = next(e for e in s["eventEntries"] if e["no"] == "70")
    assert entry == {"no": "70", "nm": "Round 3 Racing", "t": "Trim-Tex", "c": "GTO"}


def test_initial_positions_replay_places_the_grid(road_america_start):
    _, after = road_america_start
    s = after["TestInitialPositions.txt"]
    assert len(s["carPositions"]) == 48 and len(s["eventEntries"]) == 48
    cars = cars_by_number(s)
    assert (cars["70"]["ovp"], cars["70"]["clp"]) == (1, 1)
    assert (cars["149"]["ovp"], cars["149"]["clp"], cars["149"]["class"]) == (47, 7, "GP2")
    assert cars["70"]["osp"] == 1 and cars["149"]["osp"] == 47


def test_start_replay_ends_with_the_asserted_gaps_and_positions(road_america_start):
    _, after = road_america_start
    cars = cars_by_number(after["TestStart.txt"])
    c70, c2, c149 = cars["70"], cars["2"], cars["149"]
    assert (c70["ovp"], c70["clp"], c70["ltm"], c70["ttm"], c70["flg"], c70["bl"], c70["bt"]) == \
        (2, 2, "00:02:23.425", "00:08:05.341", Flags.GREEN, 2, "00:02:21.740")
    assert (c70["cd"], c70["cg"], c70["od"], c70["og"]) == ("0.787",) * 4
    assert (c2["ovp"], c2["clp"]) == (1, 1)
    assert (c149["ovp"], c149["clp"], c149["ltm"], c149["ttm"], c149["flg"], c149["bl"], c149["bt"]) == \
        (47, 9, "00:02:52.476", "00:07:53.682", Flags.GREEN, 2, "00:02:52.476")
    assert (c149["cd"], c149["cg"], c149["od"], c149["og"]) == ("27.411", "15.925", "1 lap", "15.925")


def test_session_changes_replay_finalizes_fifteen_times_and_adopts_each_run():
    engine = TimingEngine(1)
    seen = []
    from apps.timing.engine.replayfile import read_messages
    from .helpers import REDMIST
    finals = []
    for m in read_messages(REDMIST / "TestSessionChanges.txt"):
        r = engine.apply(m.kind, m.payload, session_id=1, received_at=m.received_at)
        if r.finished_session is not None:
            finals.append(("change", r.finished_session["sessionId"]))
        if "$B," in m.payload:
            run = int(m.payload.split("$B,")[1].split(",")[0])
            assert engine.session.session_id == run  # adopted before the post returns
            if not seen or seen[-1] != run:
                seen.append(run)
        t = engine.tick(m.received_at)
        if t.finished_session is not None:
            finals.append(("checkered", t.finished_session["sessionId"]))
    assert len(finals) == 15
    assert seen == [61, 55, 62, 56, 63, 57, 64, 58, 65, 59, 66]
    # 11 run changes (the first from session 0) + the 4 races that ran on after the checkered
    assert [sid for kind, sid in finals if kind == "change"] == [0, 61, 55, 62, 56, 63, 57, 64, 58, 65, 59]
    assert [sid for kind, sid in finals if kind == "checkered"] == [62, 63, 64, 65]


def test_reset_retains_last_lap_times_from_lap_history():
    engine, _ = replay_file("TestResetRetainLapTime.txt")
    cars = cars_by_number(engine.state_json())
    assert cars["70"]["ltm"] == "00:02:25.077"
    assert cars["2"]["ltm"] is None
    assert cars["74"]["ltm"] == "00:02:27.407"
    assert cars["99"]["ltm"] == "00:02:30.314"


def test_abnormal_lone_reset_keeps_positions():
    engine, _ = replay_file("TestAbnormalReset.txt")
    cars = cars_by_number(engine.state_json())
    assert [cars[n]["ovp"] for n in ("70", "2", "74", "99")] == [2, 1, 8, 4]
    assert engine.counters["standalone_reset_ignored"] == 1


def test_mid_race_class_change_reclasses_car_55():
    engine, _ = replay_file("TestMidRaceClassChange.txt")
    assert cars_by_number(engine.state_json())["55"]["class"] == "GP2"


def test_gap_replay_never_shows_a_same_lap_time_gap_over_five_minutes():
    from apps.timing.engine.replayfile import read_messages
    from .helpers import REDMIST
    engine = TimingEngine(1)
    checked = 0
    for m in read_messages(REDMIST / "TestGap.txt"):
        if m.payload.lstrip().startswith("$F"):
            for car in engine.state_json()["carPositions"]:
                if car["llp"] <= 0:
                    continue
                for key in ("og", "od", "cg", "cd"):
                    v = car[key]
                    if v and "lap" not in v:
                        checked += 1
                        text = v if v.count(":") == 2 else ("0:" + v if ":" in v else "0:0:" + v)
                        assert parse_ms(text) <= 300_000, (car["n"], key, v)
        engine.apply(m.kind, m.payload, session_id=1, received_at=m.received_at)
    assert checked > 1000


def test_missing_laps_replay_logs_lap_eight_of_car_484():
    from apps.timing.engine.replayfile import read_messages, replay
    from .helpers import REDMIST
    engine = TimingEngine(1)
    laps = []
    for m in read_messages(REDMIST / "TestMissingLaps.txt"):
        r = engine.apply(m.kind, m.payload, session_id=1, received_at=m.received_at)
        laps += [l.lap_number for l in r.completed_laps if l.car_number == "484"]
    assert 8 in laps and laps == sorted(laps)


def test_event_end_replay_finalizes_session_70_with_its_cars():
    engine = TimingEngine(1)
    from datetime import datetime
    engine.change_session(70, "The Sebring 14hr Enduro", datetime(2025, 12, 28, 21, 0))
    engine._finish()
    _, stats = replay_file("TestEventEndSessionFinialization.txt", engine)
    finals = [s for s in stats.finished_states if s["sessionId"] == 70]
    assert finals and finals[0]["carPositions"] and finals[0]["currentFlag"] == Flags.CHECKERED


@pytest.mark.parametrize("name", ["event-finish-with-cars-data.log", "event-finish-with-stopped.log",
                                  "event-finish-with-reset.log"])
def test_event_finish_logs_end_the_session_at_least_once(name):
    from datetime import datetime
    engine = TimingEngine(1)
    engine.change_session(36, "Barber - Saturday - 8 Hour", datetime(2025, 3, 1, 12, 0))
    engine._finish()
    # The live worker keeps ticking after the feed goes quiet: a stopped clock ends the session.
    _, stats = replay_file(name, engine, mode="lines", settle_seconds=15)
    finals = [s for s in stats.finished_states if s["sessionId"] == 36]
    assert any(s["carPositions"] and s["currentFlag"] == Flags.CHECKERED for s in finals)
