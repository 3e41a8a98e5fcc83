"""§6.1/6.2 and §8 items 99-111: session change and end-of-session detection."""

from apps.timing.engine.flags import Flags
from apps.timing.engine.patches import drop_number_only, merge_car_patches, merge_session_patches, stamp

from .helpers import Feed, competitor


def hb(tod, flag, race="01:00:00"):
    return f'$F,9999,"00:00:00","{tod}","{race}","{flag}"'


def race_to_checkered(f):
    f.send('$B,9,"Race"', competitor("1"), competitor("2"), hb("10:00:00", "Green "))
    f.send('$G,1,"1",10,"00:20:00.000"', '$G,2,"2",10,"00:20:05.000"')
    assert not f.tick().changed
    f.send(hb("10:00:05", "Green "))
    f.tick(5)
    f.send(hb("10:00:10", "Finish"))
    f.tick(5)  # active -> checkered: finishing starts


def test_session_ends_sixty_seconds_after_the_last_car_takes_the_checkered():
    f = Feed()
    race_to_checkered(f)
    f.send('$G,1,"1",11,"00:21:00.000"', hb("10:00:15", "Finish"))
    assert f.tick(5).finished_session is None  # first change noted at 10:00:15
    ends = []
    for s in range(20, 100, 5):
        f.send(hb(f"10:01:{s - 60:02d}" if s >= 60 else f"10:00:{s:02d}", "Finish"))
        ends.append((s, f.tick(5).finished_session))
    done = [s for s, fin in ends if fin is not None]
    assert done and done[0] > 75  # more than 60 s after 10:00:15
    final = next(fin for _, fin in ends if fin is not None)
    assert final["sessionId"] == 9 and final["currentFlag"] == Flags.CHECKERED and len(final["carPositions"]) == 2


def test_session_ends_when_the_timing_clock_stops_after_the_checkered():
    f = Feed()
    race_to_checkered(f)
    f.send(hb("10:00:15", "Finish"))
    assert f.tick(5).finished_session is None
    r = f.tick(5)  # no new heartbeat: same time of day as the previous check
    assert r.finished_session is not None and r.seq > 0


def test_no_end_without_an_active_flag_before_the_checkered():
    f = Feed()
    f.send('$B,9,"HPDE"', competitor("1"), hb("10:00:00", ""))
    f.tick(5)
    f.send(hb("10:00:05", "Finish"))
    results = [f.tick(5) for _ in range(5)]
    assert not any(r.finished_session for r in results)


def test_a_new_run_finalizes_the_old_session_even_session_zero_and_starts_clean():
    f = Feed()
    r = f.send('$B,61,"Race Practice 1"')
    assert r.finished_session["sessionId"] == 0 and r.reset
    f.send(competitor("1"), hb("10:00:00", "Green "), '$G,1,"1",3,"00:06:00.000"')
    r = f.send('$B,55,"HPDE S1"')
    assert r.finished_session["sessionId"] == 61 and r.finished_session["carPositions"][0]["llp"] == 3
    s = f.state
    assert (s["sessionId"], s["sessionName"], s["isPracticeQualifying"], s["currentFlag"]) == (55, "HPDE S1", False, 0)
    # the competitor list carries over without timing data
    assert [(c["n"], c["llp"], c["ovp"]) for c in s["carPositions"]] == [("1", 0, 0)]


def test_placeholder_and_repeated_runs_do_not_change_the_session():
    f = Feed()
    f.send('$B,61,"Race Practice 1"', competitor("1"))
    assert f.send('$B,999999,"x"').finished_session is None
    assert f.send('$B,61,"Race Practice 1"').finished_session is None
    assert f.state["sessionId"] == 61 and f.state["carPositions"]


def test_practice_and_qualifying_names_set_the_flag():
    for name, pq in (("Friday Practice", True), ("GTO/GTU Qualifying", True), ("Qual 2", True), ("Race", False)):
        f = Feed()
        f.send(f'$B,5,"{name}"')
        assert f.state["isPracticeQualifying"] is pq


def test_seq_only_moves_when_something_changed():
    f = Feed()
    a = f.send(hb("10:00:00", "Green "))
    b = f.send(hb("10:00:00", "Green "))
    c = f.tick()
    d = f.send(hb("10:00:01", "Green "))
    assert (a.seq, b.seq, c.seq, d.seq) == (1, 1, 1, 2)


def test_patch_helpers_merge_stamp_and_drop_number_only_patches():
    assert merge_session_patches([{"a": 1}, None, {"a": 2, "b": 3}]) == {"a": 2, "b": 3}
    merged = merge_car_patches([[{"n": "1", "ovp": 2}], [{"n": "1", "ltm": "x"}, {"n": "", "ovp": 1}]])
    assert merged == [{"n": "1", "ovp": 2, "ltm": "x"}]
    assert drop_number_only([{"n": "1"}, {"n": "2", "st": True}]) == [{"n": "2", "st": True}]
    sp, cps = stamp({"lapsToGo": 3}, [{"n": "1"}], 7, 67)
    assert sp == {"lapsToGo": 3, "eventId": 7, "sessionId": 67} and cps == [{"n": "1", "eid": "7", "sid": "67"}]


def test_positions_that_stay_inconsistent_through_three_rechecks_ask_for_a_relay_resend():
    from apps.timing.engine.lifecycle import ConsistencyWatchdog
    assert ConsistencyWatchdog.consistent([2, 1, 3]) and not ConsistencyWatchdog.consistent([1, 1, 2])
    assert not ConsistencyWatchdog.consistent([1, 3]) and not ConsistencyWatchdog.consistent([0, 1])
    f = Feed()
    f.send(competitor("1"), competitor("2"), '$G,1,"1",1,"00:01:00.000"', '$G,1,"2",1,"00:01:01.000"')
    requests = [f.tick(0.75).relay_reset_request for _ in range(4)]
    assert requests == [False, False, False, True]
    assert not f.tick(0.75).relay_reset_request  # next check only after 10 s
    f.send('$G,2,"2",2,"00:02:01.000"')
    assert not any(f.tick(0.75).relay_reset_request for _ in range(40))


def test_a_consistent_field_or_one_without_positions_never_asks_for_a_resend():
    f = Feed()
    f.send(competitor("1"), competitor("2"))
    assert not any(f.tick(1).relay_reset_request for _ in range(60))
    f.send('$G,1,"1",1,"00:01:00.000"', '$G,2,"2",1,"00:01:01.000"')
    assert not any(f.tick(1).relay_reset_request for _ in range(60))


def test_a_repeated_inconsistency_one_to_two_minutes_later_forces_a_reconnect():
    from datetime import datetime, timedelta
    from apps.timing.engine.lifecycle import ConsistencyWatchdog
    w = ConsistencyWatchdog()
    t = datetime(2025, 1, 1)
    fired = []
    for step in range(300):  # 0.75 s steps: bad for ~15 s, good until 90 s, then bad again
        t += timedelta(milliseconds=750)
        bad = step < 20 or step >= 120
        req, force = w.check(t, [1, 1] if bad else [1, 2])
        if req:
            fired.append((step, force))
    assert fired[0] == (fired[0][0], False) and fired[0][0] < 20
    second = [f for f in fired if f[0] >= 120]
    assert second and second[0][1] is True   # previous error 1-2 min before, no forced reset yet
    assert not any(force for step, force in second[1:])  # 3 min between forced reconnects


def test_session_changed_message_starts_a_new_session_and_a_resend_keeps_the_cars():
    import json
    f = Feed()
    row = {"sid": 70, "eid": 1, "n": "The Sebring 14hr Enduro", "tz": -5, "il": True}
    r = f.engine.apply("evtsessionchanged", json.dumps(row), session_id=70, received_at=f.now)
    assert r.finished_session is not None and r.reset
    s = f.state
    assert (s["sessionId"], s["sessionName"], s["localTimeZoneOffset"]) == (70, "The Sebring 14hr Enduro", -5.0)
    f.send(competitor("1"), '$B,70,"The Sebring 14hr Enduro"', '$G,1,"1",5,"00:10:00.000"')
    r = f.engine.apply("evtsessionchanged", json.dumps(row), session_id=70, received_at=f.now)
    assert r.finished_session is None and not r.reset and f.car("1")["llp"] == 5
    assert f.engine.apply("evtsessionchanged", json.dumps({**row, "sid": 999999}), session_id=1,
                          received_at=f.now).finished_session is None
    bad = f.engine.apply("evtsessionchanged", "{not json", session_id=1, received_at=f.now)
    assert bad.rejections and f.state["sessionId"] == 70


def test_other_inputs_change_cars_and_session_through_the_engine_so_patches_stay_exact():
    import datetime as dt
    from apps.timing.engine.state import FlagDuration
    f = Feed()
    f.send(competitor("7"), '$F,9999,"07:00:00","10:00:00","00:10:00","Yellow"')
    f.engine.pit_lap = lambda number, lap: number == "7" and lap == 2
    r = f.engine.apply("rmonitor", '$G,1,"7",2,"00:04:00.000"', session_id=1, received_at=f.now)
    assert r.completed_laps[0].car["lip"] is True and f.car("7")["lip"] is True
    assert f.engine.update_car("7", {"is_in_pit": True, "bogus": 1}) and not f.engine.update_car("x", {})
    f.engine.update_session({"green_laps": 12})
    f.engine.set_full_course_flag(7, f.now)
    f.engine.replace_flag_periods([FlagDuration(2, dt.datetime(2026, 8, 2, 9, 8, 50), None)])
    r = f.engine.tick(f.now)  # changes made between passes go out with the next pass
    assert {"n": "7", "ip": True} == {k: v for k, v in r.car_patches[0].items()}
    assert r.session_patch["greenLaps"] == 12 and r.session_patch["currentFlag"] == 7
    assert r.flag_periods == [{"f": 2, "s": "2026-08-02T09:08:50", "e": None}]
    assert any("bogus" in x for x in r.rejections)


def test_positions_from_another_input_are_enriched_like_rmonitor_ones():
    f = Feed()
    f.send('$C,1,"A"', competitor("1"), competitor("2"))

    def positions(payload, received_at):
        for number, pos, laps, total in (("1", 2, 5, "00:10:01.000"), ("2", 1, 5, "00:10:00.000")):
            f.engine.update_car(number, {"overall_position": pos, "last_lap_completed": laps, "total_time": total})

    f.engine.register_handler("multiloop", positions)
    r = f.engine.apply("multiloop", "", session_id=1, received_at=f.now)
    assert f.car("1")["clp"] == 2 and f.car("1")["og"] == "1.000" and r.car_patches
