"""§8 items 1-35: RMonitor records applied to session and car state."""

from apps.timing.engine.flags import Flags

from .helpers import Feed, competitor, patch_for

HB = '$F,14,"00:12:45","13:34:23","00:09:47","Green "'


def test_unknown_message_kinds_change_nothing_and_are_counted():
    f = Feed()
    r = f.engine.apply("competitors", "{}", session_id=1, received_at=f.now)
    assert not r.changed and r.seq == 0
    assert f.engine.counters["ignored_kind:competitors"] == 1


def test_heartbeat_sets_session_clock_fields_and_flag():
    f = Feed()
    r = f.send(HB)
    s = f.state
    assert (s["lapsToGo"], s["timeToGo"], s["localTimeOfDay"], s["runningRaceTime"], s["currentFlag"]) == \
        (14, "00:12:45", "13:34:23", "00:09:47", Flags.GREEN)
    assert r.session_patch["currentFlag"] == Flags.GREEN


def test_heartbeat_flag_text_maps_to_flags_and_junk_is_unknown():
    cases = {"Yellow": Flags.YELLOW, "Red   ": Flags.RED, "White ": Flags.WHITE, "Finish": Flags.CHECKERED,
             "": Flags.UNKNOWN, "Unknown": Flags.UNKNOWN, "    ": Flags.UNKNOWN, "junk": Flags.UNKNOWN,
             "Purple": Flags.PURPLE35, "Purple60": Flags.PURPLE60, "Black ": Flags.BLACK}
    for text, flag in cases.items():
        f = Feed()
        f.send(f'$F,14,"00:12:45","13:34:23","00:09:47","{text}"')
        assert f.state["currentFlag"] == flag, text


def test_unchanged_heartbeat_fields_are_absent_from_the_session_patch():
    f = Feed()
    f.send(HB)
    r = f.send('$F,14,"00:12:45","13:34:24","00:09:48","Green "')
    assert set(r.session_patch) == {"localTimeOfDay", "runningRaceTime"}
    assert f.send('$F,14,"00:12:45","13:34:24","00:09:48","Green "').session_patch is None


def test_competitor_creates_a_car_and_an_entry_with_car_patches():
    f = Feed()
    r = f.send('$A,"1234BE","12X",52474,"John","Johnson","USA",5')
    assert patch_for(r, "12X") is not None
    assert f.car("12X")["tp"] == 52474
    r2 = f.send('$A,"1","1",1,"A","","",5', '$A,"2","2",2,"B","","",5')
    assert len(r2.car_patches) >= 2
    assert [e["no"] for e in f.state["eventEntries"]] == ["12X", "1", "2"]


def test_comp_creates_car_and_entry_with_team():
    f = Feed()
    f.send('$COMP,"7","7",1,"Round 3 Racing","","","CAMEL"')
    entry = f.state["eventEntries"][0]
    assert entry == {"no": "7", "nm": "Round 3 Racing", "t": "CAMEL", "c": "1"}


def test_class_name_comes_from_the_class_table_and_unmapped_class_is_the_number_on_the_entry():
    f = Feed()
    f.send('$C,5,"Formula 300"', '$A,"1234BE","12X",52474,"John","Johnson","USA",5')
    assert f.car("12X")["class"] == "Formula 300"
    assert f.state["eventEntries"][0]["c"] == "Formula 300"
    g = Feed()
    g.send('$A,"1234BE","12X",52474,"John","Johnson","USA",5')
    assert g.car("12X")["class"] is None and g.state["eventEntries"][0]["c"] == "5"


def test_unparsable_transponder_or_class_keeps_the_previous_value():
    f = Feed()
    f.send('$C,5,"GT"', '$A,"9","9",777,"A","B","",5')
    f.send('$A,"9","9",bad,"A","B","",bad')
    assert (f.car("9")["tp"], f.car("9")["class"]) == (777, "GT")


def test_identical_competitor_record_produces_no_patch():
    f = Feed()
    f.send(competitor("9", transponder=5))
    r = f.send(competitor("9", transponder=5))
    assert r.car_patches == [] and r.session_patch is None


def test_run_info_sets_session_once_per_run_number():
    f = Feed()
    r = f.send('$B,5,"Friday free practice"')
    assert (f.state["sessionId"], f.state["sessionName"], f.state["isPracticeQualifying"]) == (5, "Friday free practice", True)
    assert r.session_patch["sessionId"] == 5
    assert f.send('$B,5,"Friday free practice"').session_patch is None


def test_bad_and_unknown_records_are_rejected_counted_and_the_rest_of_the_message_applies():
    f = Feed()
    r = f.send("$B,invalid", "$UNKNOWN,1", HB)
    assert len(r.rejections) == 2 and f.engine.rejection_count == f.engine.rejections == 2
    assert any("unknown command" in x for x in f.engine.last_rejections)
    assert f.state["lapsToGo"] == 14


def test_empty_data_yields_nothing():
    f = Feed()
    assert not f.send("").changed
    assert not f.engine.apply("rmonitor", "", session_id=1, received_at=f.now).changed


def test_reset_then_competitor_then_heartbeat_in_one_message_apply_in_order():
    f = Feed()
    f.send(competitor("1"), competitor("2"))
    r = f.send('$I,"10:00:00","1 Jan 25"', competitor("3"), HB)
    assert r.reset
    assert [c["n"] for c in f.state["carPositions"]] == ["3"]
    assert f.state["lapsToGo"] == 14


def test_reset_alone_clears_all_cars():
    f = Feed()
    f.send(competitor("1"), competitor("2"))
    r = f.send('$I,"10:00:00","1 Jan 25"')
    assert r.reset and f.state["carPositions"] == []


def test_grid_race_info_at_lap_zero_with_new_position_puts_lap_zero_in_the_patch():
    f = Feed()
    f.send(competitor("7"))
    r = f.send('$G,3,"7",,"00:00:00.000"')
    p = patch_for(r, "7")
    assert p["llp"] == 0 and p["ovp"] == 3


def test_race_info_patches_laps_and_time_only_when_laps_or_position_change():
    f = Feed()
    f.send(competitor("7"), HB)
    f.send('$G,1,"7",3,"00:08:05.341"')
    r = f.send('$G,1,"7",3,"00:08:09.000"')  # total time only: not a change
    assert patch_for(r, "7") is None and f.car("7")["ttm"] == "00:08:05.341"
    r = f.send('$G,1,"7",4,"00:10:30.000"')
    p = patch_for(r, "7")
    assert p["llp"] == 4 and p["ttm"] == "00:10:30.000" and "ovp" not in p
    assert f.car("7")["flg"] == Flags.GREEN


def test_passing_and_practice_info_patch_only_changed_fields():
    f = Feed()
    f.send(competitor("7"))
    r = f.send('$J,"7","00:02:23.425","00:08:05.341"')
    assert patch_for(r, "7")["ltm"] == "00:02:23.425"
    assert patch_for(f.send('$J,"7","00:02:23.425","00:08:05.341"'), "7") is None
    r = f.send('$H,2,"7",2,"00:02:21.740"')
    assert {k: patch_for(r, "7")[k] for k in ("bl", "bt")} == {"bl": 2, "bt": "00:02:21.740"}
    assert patch_for(f.send('$H,1,"7",2,"00:02:21.740"'), "7") is None  # position is not used


def test_records_for_unknown_cars_are_counted_and_a_repeat_after_the_car_arrives_still_applies():
    f = Feed()
    f.send('$G,1,"7",3,"00:08:05.341"')
    assert f.engine.counters["car_not_found"] == 1
    f.send(competitor("7"))
    f.send('$G,1,"7",3,"00:08:05.341"')
    assert f.car("7")["ovp"] == 1 and f.car("7")["llp"] == 3


def test_missing_cars_for_ten_seconds_request_a_forced_relay_reset_with_backoff():
    f = Feed()
    requests = []
    for i in range(4000):
        r = f.send(f'$G,1,"ghost",{i + 1},"00:00:01.000"')
        requests.append((f.now, r.relay_reset_request))
    fired = [t for t, req in requests if req]
    start = requests[0][0]
    assert (fired[0] - start).total_seconds() >= 10
    assert not any(req for t, req in requests if (t - start).total_seconds() < 10)
    gaps = [(b - a).total_seconds() for a, b in zip(fired, fired[1:])]
    assert gaps[0] > 60 and gaps[1] > 120 and gaps[2] > 240


def test_a_successful_car_update_restarts_the_missing_car_clock():
    f = Feed()
    f.send(competitor("7"))
    for i in range(8):
        f.send(f'$G,1,"ghost",{i + 1},"00:00:01.000"')
    f.send('$G,1,"7",1,"00:01:00.000"')
    results = [f.send(f'$G,1,"ghost",{i + 20},"00:00:01.000"') for i in range(9)]
    assert not any(r.relay_reset_request for r in results)


def test_class_change_mid_session_reclasses_every_competitor():
    f = Feed()
    f.send('$C,1,"GP1"', '$C,2,"GP2"', '$A,"55","55",14616635,"AOA Racing","","",1')
    assert f.car("55")["class"] == "GP1"
    f.send('$C,1,"GP2"')
    assert f.car("55")["class"] == "GP2" and f.state["eventEntries"][0]["c"] == "GP2"


def test_lone_reset_after_a_flag_is_ignored_but_before_any_flag_it_resets():
    f = Feed()
    f.send(competitor("1"))
    r = f.send('$I, "00:00:00", "0/0/0000"')
    assert r.reset  # no flag seen yet: processed
    f.send(competitor("1"), '$F,9999,"07:15:45","09:44:14","00:44:14","Yellow"', '$G,1,"1",17,"00:44:08.332"')
    r = f.send('$I, "00:00:00", "0/0/0000"')
    assert not r.reset and f.car("1")["ovp"] == 1


def test_starting_positions_record_under_yellow_or_green_grid_but_not_red():
    for flag, expect in (("Yellow", 2), ("Green ", 2), ("Red   ", 0)):
        f = Feed()
        f.send(f'$F,9999,"00:00:00","10:00:00","00:00:00","{flag}"', competitor("7"), competitor("8"))
        f.send('$G,1,"8",,"00:00:00.000"', '$G,2,"7",,"00:00:00.000"')
        assert f.car("7")["osp"] == expect, flag


def test_relay_cache_replay_restores_grid_and_in_class_grid_by_grid_order():
    f = Feed()
    f.send('$C,1,"GT"', '$C,2,"TT"', competitor("12", 1), competitor("13", 1), competitor("14", 2))
    f.send('$G,3,"12",,"00:00:00.000"', '$G,1,"13",,"00:00:00.000"', '$G,2,"14",,"00:00:00.000"')
    f.send('$F,9999,"00:00:00","10:00:00","00:10:00","Green "')
    f.send('$G,1,"12",1,"00:02:00.000"', '$G,2,"13",1,"00:02:01.000"', '$G,3,"14",1,"00:02:02.000"')
    assert [f.car(n)["osp"] for n in ("12", "13", "14")] == [3, 1, 2]
    assert [f.car(n)["icsp"] for n in ("12", "13", "14")] == [2, 1, 1]
    assert f.car("12")["opg"] == 2 and f.car("13")["opg"] == -1


def test_reset_before_any_flag_forgets_classes_passings_and_grid_but_after_a_flag_keeps_them():
    grid = ['$C,1,"GT"', competitor("7"), competitor("8"), '$G,1,"7",,"00:00:00.000"', '$G,2,"8",,"00:00:00.000"',
            '$J,"7","00:02:00.000","00:02:00.000"']
    f = Feed()
    f.send(*grid)
    f.send('$I,"10:00:00","1 Jan 25"', competitor("7"))
    assert f.engine.classes == {} and f.engine.starting == {} and f.engine.passings == {}
    assert f.car("7")["class"] is None and f.car("7")["osp"] == 0
    g = Feed()
    g.send('$F,9999,"08:00:00","09:00:00","00:00:00","Yellow"', *grid)
    g.send('$I,"10:00:00","1 Jan 25"', competitor("7"), competitor("8"))
    assert g.car("7")["class"] == "GT" and (g.car("7")["osp"], g.car("8")["osp"]) == (1, 2)
    assert "7" in g.engine.passings


def test_track_settings_are_kept_without_touching_the_session():
    f = Feed()
    r = f.send('$E,"TRACKNAME","Road America"', '$E,"TRACKLENGTH","4.048"', '$E,"TRACKLENGTH","far"')
    assert f.engine.track_name == "Road America" and abs(f.engine.track_length_m - 4.048 * 1609.344) < 1e-6
    assert r.session_patch is None and len(r.rejections) == 1
