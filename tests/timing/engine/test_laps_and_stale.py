"""§8 items 25-28 (lap time restore), 60-67 (lap logging and history), 71 (stale cars)."""

from apps.timing.engine.flags import Flags
from apps.timing.engine.laps import LapLog
from apps.timing.engine.stale import is_stale
from apps.timing.engine.state import CarPosition
from apps.timing.engine.timefmt import parse_ms

from .helpers import Feed, competitor

GREEN = '$F,9999,"07:00:00","10:00:00","00:30:00","Green "'


def laps_of(result, number):
    return [l.lap_number for l in result.completed_laps if l.car_number == number]


def test_lap_zero_is_logged_once_and_later_laps_when_the_count_rises():
    f = Feed()
    f.send(competitor("7"), competitor("8"))
    r = f.send('$G,1,"7",,"00:00:00.000"', '$G,2,"8",,"00:00:00.000"')
    assert laps_of(r, "7") == [0] and laps_of(r, "8") == [0]
    assert laps_of(f.send('$G,2,"7",,"00:00:00.000"'), "7") == []
    assert laps_of(f.send('$G,2,"7",1,"00:02:00.000"'), "7") == [1]


def test_lap_regressions_are_ignored_and_gaps_are_not_back_filled():
    f = Feed()
    f.send(competitor("7"))
    logged = []
    for lap in (1, 3, 5, 4, 7):
        logged += laps_of(f.send(f'$G,1,"7",{lap},"00:0{lap}:00.000"'), "7")
    assert logged == [1, 3, 5, 7]
    g = Feed()
    g.send(competitor("7"))
    g.send('$G,1,"7",1,"00:01:00.000"')
    assert laps_of(g.send('$G,2,"7",0,"00:00:00.000"'), "7") == []


def test_completed_lap_carries_the_car_snapshot_flag_and_ids():
    f = Feed(event_id=42)
    f.send('$B,9,"Race"', GREEN, competitor("7"))
    f.send('$J,"7","00:02:00.000","00:02:00.000"')
    r = f.send('$G,1,"7",1,"00:02:00.000"')
    lap = r.completed_laps[0]
    assert (lap.event_id, lap.session_id, lap.car_number, lap.lap_number, lap.flag) == (42, 9, "7", 1, Flags.GREEN)
    assert lap.car["n"] == "7" and lap.car["ltm"] == "00:02:00.000" and lap.car["llp"] == 1
    assert "LastLapPitted" in lap.car and lap.car["eid"] == "42" and lap.car["sid"] == "9"
    assert lap.timestamp == f.now


def test_lap_history_keeps_the_five_newest_first():
    log = LapLog()
    for lap in range(1, 9):
        log.record("7", lap, {"llp": lap})
    assert [h["llp"] for h in log.history["7"]] == [8, 7, 6, 5, 4]
    assert not log.should_log("", 1) and not log.should_log(None, 1)


def _race_to_lap(f, laps):
    f.send('$B,67,"Race"', '$C,1,"GT"', competitor("12"), competitor("13"), GREEN)
    f.send('$J,"12","00:02:03.826","00:30:00.000"', '$J,"13","00:02:11.402","00:30:05.000"')
    f.send(f'$G,1,"12",{laps[0]},"00:30:00.000"', f'$G,2,"13",{laps[1]},"00:30:05.000"')


def test_relay_cache_replay_after_the_start_restores_last_lap_times_from_history():
    f = Feed()
    _race_to_lap(f, (14, 13))
    cache = ['$I, "00:00:00", "0/0/0000"', competitor("12"), competitor("13"), '$B,67,"Race"', '$C,1,"GT"',
             '$G,1,"12",14,"00:30:00.000"', '$G,2,"13",13,"00:30:05.000"']
    r = f.send(*cache)
    assert r.reset
    assert (f.car("12")["ltm"], f.car("13")["ltm"]) == ("00:02:03.826", "00:02:11.402")
    patched = {p["n"]: p.get("ltm") for p in r.car_patches}
    assert patched["12"] == "00:02:03.826" and patched["13"] == "00:02:11.402"


def test_relay_cache_replay_at_the_start_restores_nothing():
    f = Feed()
    _race_to_lap(f, (0, 0))
    f.send('$I, "00:00:00", "0/0/0000"', competitor("12"), competitor("13"), '$C,1,"GT"',
           '$G,1,"12",0,"00:00:00.000"', '$G,2,"13",0,"00:00:00.000"')
    assert f.car("12")["ltm"] is None and f.engine.counters["lap_time_restores"] == 0


def test_plain_race_info_never_restores_lap_times():
    f = Feed()
    _race_to_lap(f, (3, 3))
    f.send('$G,1,"12",4,"00:32:00.000"')
    assert f.engine.counters["lap_time_restores"] == 0


def _car(total, last, flag):
    return CarPosition(total_time=total, last_lap_time=last, track_flag=flag, last_lap_completed=5,
                       _ttm_ms=parse_ms(total), _ltm_ms=parse_ms(last))


def test_stale_thresholds_follow_the_flag_tolerances():
    g, y = Flags.GREEN, Flags.YELLOW
    race = lambda s: s * 1000
    assert is_stale(_car("00:00:00.000", "00:01:30.000", g), g, race(120))
    assert not is_stale(_car("00:00:00.000", "00:01:30.000", g), g, race(90))
    assert is_stale(_car("00:00:00.000", "00:01:30.000", g), y, race(210))
    assert not is_stale(_car("00:00:00.000", "00:01:30.000", g), y, race(180))
    assert is_stale(_car("00:00:00.000", "00:01:30.000", y), g, race(96))
    for flag in (Flags.RED, Flags.CHECKERED):
        assert not is_stale(_car("00:00:00.000", "00:01:30.000", g), flag, race(1000))
    assert not is_stale(_car("00:00:00.000", None, g), g, race(1000))
    assert not is_stale(_car("00:00:00.000", "00:00:00.000", g), g, race(1000))
    assert not is_stale(_car("00:00:59.500", "00:00:10.000", g), g, race(60))
    assert is_stale(_car("24:59:00.000", "00:01:30.000", g), g, parse_ms("25:01:00"))


def test_stale_needs_lap_three_and_marks_lap_zero_cars():
    f = Feed()
    f.send(competitor("1"), competitor("2"), competitor("3"), '$F,9999,"07:00:00","10:00:00","00:05:00","Green "')
    f.send('$J,"1","00:01:30.000","00:04:30.000"', '$G,1,"1",2,"00:04:30.000"', '$G,2,"2",,"00:00:00.000"')
    assert not any(c["st"] for c in f.state["carPositions"])
    f.send('$J,"1","00:01:30.000","00:06:00.000"', '$G,1,"1",3,"00:06:00.000"',
           '$F,9999,"07:00:00","10:00:00","00:06:05","Green "')
    assert f.car("2")["st"] and not f.car("1")["st"]
    for s in range(6, 10):
        f.send(f'$F,9999,"07:00:00","10:00:00","00:0{s}:59","Green "')
    assert f.car("1")["st"]  # 3:59 since its last crossing with a 1:30 lap
    f.send('$J,"1","00:01:30.000","00:09:59.000"', '$G,1,"1",4,"00:09:59.000"')
    assert not f.car("1")["st"]
