"""§8 items 36-59: class positions, gap/difference, fast-time gaps, best-lap markers, gains."""

import pytest

from apps.timing.engine.gaps import gap_threshold_ms, gap_value
from apps.timing.engine.state import CarPosition
from apps.timing.engine.timefmt import parse_ms

from .helpers import Feed, competitor

GREEN = '$F,9999,"07:00:00","10:00:00","01:00:00","Green "'


def field(*cars, classes=("A", "B")):
    """cars: (number, class_no, position, laps, total, last_lap or None)."""
    f = Feed()
    lines = [f'$C,{i + 1},"{c}"' for i, c in enumerate(classes)] + [GREEN]
    lines += [competitor(n, cls) for n, cls, *_ in cars]
    f.send(*lines)
    for n, _, pos, laps, total, last in cars:
        if last is not None:
            f.send(f'$J,"{n}","{last}","{total}"')
    f.send(*[f'$G,{pos},"{n}",{laps},"{total}"' for n, _, pos, laps, total, _ in cars])
    return f


def test_leader_has_empty_gap_and_cars_behind_get_time_to_car_ahead_and_leader():
    f = field(("1", 1, 1, 5, "00:10:00.000", None), ("2", 1, 2, 5, "00:10:01.000", None),
              ("3", 1, 3, 5, "00:10:02.000", None))
    assert (f.car("1")["og"], f.car("1")["od"]) == ("", "")
    assert (f.car("2")["og"], f.car("2")["od"]) == ("1.000", "1.000")
    assert (f.car("3")["og"], f.car("3")["od"]) == ("1.000", "2.000")


def test_in_class_gap_uses_only_class_mates():
    f = field(("1", 1, 1, 5, "00:10:00.000", None), ("2", 2, 2, 5, "00:10:01.000", None),
              ("3", 2, 3, 5, "00:10:03.000", None))
    assert (f.car("2")["cg"], f.car("2")["cd"]) == ("", "")
    assert (f.car("3")["cg"], f.car("3")["cd"]) == ("2.000", "2.000")
    assert f.car("3")["og"] == "2.000" and f.car("3")["od"] == "3.000"


def test_gap_shows_laps_when_car_is_a_lap_down():
    f = field(("1", 1, 1, 10, "00:20:00.000", None), ("2", 1, 2, 9, "00:19:00.000", None),
              ("3", 1, 3, 5, "00:12:00.000", None))
    assert f.car("2")["og"] == "1 lap"
    assert (f.car("3")["og"], f.car("3")["od"]) == ("4 laps", "5 laps")


def test_same_lap_gap_over_one_and_a_half_times_the_p90_lap_is_not_published():
    f = field(("1", 1, 1, 5, "00:10:00.000", "00:01:00.000"), ("2", 1, 2, 5, "00:11:31.000", "00:01:00.000"),
              ("3", 1, 3, 5, "00:11:32.000", "00:01:00.000"))
    assert f.car("2")["og"] is None  # 1:31 > 1:30 stays unset
    assert f.car("3")["og"] == "1.000"


def test_without_lap_times_the_guard_is_seven_and_a_half_minutes():
    f = field(("1", 1, 1, 5, "00:10:00.000", None), ("2", 1, 2, 5, "00:14:59.000", None),
              ("3", 1, 3, 5, "00:22:59.000", None))
    assert f.car("2")["og"] == "4:59.000"
    assert f.car("3")["og"] is None


def test_negative_same_lap_gaps_are_not_published_and_old_values_stay():
    f = field(("1", 1, 1, 5, "00:10:00.000", None), ("2", 1, 2, 5, "00:10:01.000", None))
    assert f.car("2")["og"] == "1.000"
    f.send('$G,2,"2",6,"00:09:59.000"', '$G,1,"1",6,"00:10:30.000"')
    assert f.car("2")["og"] == "1.000" and f.car("2")["od"] == "1.000"


def test_missing_time_on_the_car_ahead_leaves_the_gap_but_the_difference_is_computed():
    f = field(("1", 1, 1, 5, "00:10:00.000", None), ("2", 1, 2, 5, "00:00:00.000", None),
              ("3", 1, 3, 5, "00:10:02.000", None))
    assert f.car("3")["og"] is None and f.car("3")["od"] == "2.000"


def test_a_car_ahead_on_fewer_laps_gives_an_empty_gap():
    f = field(("1", 1, 1, 3, "00:10:00.000", None), ("2", 1, 2, 5, "00:10:01.000", None))
    assert (f.car("2")["og"], f.car("2")["od"]) == ("", "")


def test_totals_past_24_hours_still_give_gaps():
    f = field(("1", 1, 1, 500, "24:00:01.000", None), ("2", 1, 2, 500, "24:00:02.500", None),
              ("3", 1, 3, 500, "25:10:00.000", "00:02:00.000"))
    assert f.car("2")["og"] == "1.500"


def test_p90_guard_examples():
    cars = [CarPosition(last_lap_time=t, _ltm_ms=parse_ms(t)) for t in ["00:01:00.000"] * 10]
    assert gap_threshold_ms(cars) == 90_000
    assert gap_threshold_ms([CarPosition()]) == 450_000
    a = CarPosition(last_lap_completed=5, _ttm_ms=parse_ms("25:10:00.000"))
    b = CarPosition(last_lap_completed=5, _ttm_ms=parse_ms("25:10:01.000"))
    assert gap_value(b, a, 90_000, True) == "1.000"
    assert gap_value(a, b, 90_000, True) is None


def test_class_positions_follow_overall_order_within_each_class_and_unplaced_cars_come_last():
    f = field(("70", 1, 2, 5, "00:10:01.000", None), ("2", 1, 1, 5, "00:10:00.000", None),
              ("9", 1, 0, 0, "00:00:00.000", None), ("5", 2, 3, 5, "00:10:05.000", None))
    assert (f.car("2")["clp"], f.car("70")["clp"], f.car("9")["clp"], f.car("5")["clp"]) == (1, 2, 3, 1)


def test_best_time_markers_go_to_the_fastest_non_zero_time_and_move_when_beaten():
    f = field(("1", 1, 1, 5, "00:10:00.000", None), ("2", 1, 2, 5, "00:10:01.000", None),
              ("3", 2, 3, 5, "00:10:02.000", None))
    f.send('$H,1,"1",2,"00:01:30.000"', '$H,2,"2",0,"00:00:00.000"', '$H,3,"3",3,"00:01:40.000"')
    assert [f.car(n)["ibt"] for n in "123"] == [True, False, False]
    assert [f.car(n)["btc"] for n in "123"] == [True, False, True]
    f.send('$H,1,"3",4,"00:01:29.000"')
    assert [f.car(n)["ibt"] for n in "123"] == [False, False, True]


def test_no_best_times_means_no_markers():
    f = field(("1", 1, 1, 5, "00:10:00.000", None), ("2", 1, 2, 5, "00:10:01.000", None))
    assert not any(c["ibt"] or c["btc"] for c in f.state["carPositions"])


def test_fast_time_gaps_rank_by_best_lap_not_track_position():
    f = field(("1", 1, 1, 5, "00:10:00.000", None), ("2", 1, 2, 5, "00:10:01.000", None),
              ("3", 1, 3, 5, "00:10:02.000", None), ("4", 1, 4, 5, "00:10:03.000", None))
    f.send('$H,1,"1",2,"00:03:00.500"', '$H,2,"2",2,"00:01:30.000"', '$H,3,"3",3,"01:01:35.250"',
           '$H,4,"4",0,"00:00:00.000"')
    assert (f.car("2")["ogft"], f.car("2")["odft"]) == ("", "")
    assert (f.car("1")["ogft"], f.car("1")["odft"]) == ("1:30.500", "1:30.500")
    assert f.car("3")["odft"] == "1:00:05.250"
    assert (f.car("4")["ogft"], f.car("4")["odft"]) == ("", "")
    assert f.car("1")["og"] == "" and f.car("2")["og"] == "1.000"


def test_fast_time_ties_go_to_the_earlier_best_lap_then_the_car_number_and_identical_times_show_zero():
    f = field(("1", 1, 1, 5, "00:10:00.000", None), ("2", 1, 2, 5, "00:10:01.000", None),
              ("3", 1, 3, 5, "00:10:02.000", None))
    f.send('$H,1,"1",5,"00:01:32"', '$H,2,"2",3,"00:01:32.000"', '$H,3,"3",3,"00:01:34"')
    assert f.car("2")["ogft"] == "" and f.car("1")["ogft"] == "0.000"
    assert f.car("3")["odft"] == "2.000"


def test_positions_gained_is_start_minus_current_and_unknown_is_minus_999():
    f = Feed()
    f.send('$C,1,"A"', competitor("1"), competitor("2"), competitor("3"), competitor("4"))
    f.send('$G,3,"1",,"00:00:00.000"', '$G,1,"2",,"00:00:00.000"', '$G,2,"3",,"00:00:00.000"')
    f.send(GREEN, '$G,1,"1",1,"00:02:00.000"', '$G,2,"2",1,"00:02:01.000"', '$G,3,"3",1,"00:02:02.000"')
    assert [f.car(n)["opg"] for n in "123"] == [2, -1, -1]
    assert f.car("4")["opg"] == -999 and f.car("4")["cpg"] == -999
    assert f.car("1")["ompg"] and not f.car("2")["ompg"]
    f.send('$G,2,"1",2,"00:04:00.000"', '$G,1,"2",2,"00:03:59.000"')
    assert f.car("1")["opg"] == 1 and f.car("2")["opg"] == 0


def test_gains_as_large_as_the_field_are_invalid_but_one_less_is_valid():
    f = Feed()
    f.send('$C,1,"A"', competitor("1"), competitor("2"), competitor("3"))
    f.send('$G,3,"1",,"00:00:00.000"', '$G,1,"2",,"00:00:00.000"', '$G,2,"3",,"00:00:00.000"')
    f.send(GREEN, '$G,1,"1",1,"00:02:00.000"', '$G,20,"2",1,"00:02:01.000"')
    assert f.car("1")["opg"] == 2      # n - 1 is still valid
    assert f.car("2")["opg"] == -999   # |1 - 20| >= 3 cars


def test_most_positions_gained_needs_a_single_top_car():
    f = Feed()
    f.send('$C,1,"A"', *[competitor(n) for n in "1234"])
    f.send('$G,3,"1",,"00:00:00.000"', '$G,4,"2",,"00:00:00.000"', '$G,1,"3",,"00:00:00.000"', '$G,2,"4",,"00:00:00.000"')
    f.send(GREEN, '$G,2,"1",1,"00:02:00.000"', '$G,3,"2",1,"00:02:01.000"', '$G,1,"3",1,"00:01:59.000"',
           '$G,4,"4",1,"00:02:03.000"')
    assert f.car("1")["opg"] == 1 and f.car("2")["opg"] == 1
    assert not any(c["ompg"] for c in f.state["carPositions"])


def test_enrichment_waits_until_some_car_has_a_position():
    f = Feed()
    r = f.send('$C,1,"A"', competitor("1"), competitor("2"))
    assert all(c["clp"] == 0 and c["og"] is None for c in f.state["carPositions"])
    f.send('$G,1,"1",1,"00:01:00.000"')
    assert f.car("1")["clp"] == 1 and f.car("2")["clp"] == 2


@pytest.mark.parametrize("name", ["TestStart.txt", "TestGap.txt", "TestResetRetainLapTime.txt",
                                  "TestMissingLaps.txt", "event-finish-with-cars-data.log"])
def test_incremental_enrichment_matches_recomputing_everything_every_pass(name):
    from apps.timing.engine import TimingEngine
    from apps.timing.engine.replayfile import read_messages

    from .helpers import REDMIST
    msgs = read_messages(REDMIST / name)
    inc, full = TimingEngine(1), TimingEngine(1)
    full.enricher.always_full = True
    full.stale.always_full = True
    for m in msgs:
        a = inc.apply(m.kind, m.payload, session_id=1, received_at=m.received_at)
        b = full.apply(m.kind, m.payload, session_id=1, received_at=m.received_at)
        assert sorted(a.car_patches, key=lambda p: p["n"]) == sorted(b.car_patches, key=lambda p: p["n"])
    assert inc.state_json() == full.state_json()


def test_removing_a_best_time_clears_the_fast_time_fields_and_reranks_the_rest():
    f = field(("1", 1, 1, 5, "00:10:00.000", None), ("2", 1, 2, 5, "00:10:01.000", None),
              ("3", 1, 3, 5, "00:10:02.000", None))
    f.send('$H,1,"1",2,"00:01:30.000"', '$H,2,"2",2,"00:01:31.000"', '$H,3,"3",2,"00:01:33.000"')
    assert (f.car("3")["ogft"], f.car("3")["odft"]) == ("2.000", "3.000")
    f.send('$H,1,"1",0,"00:00:00.000"')
    assert (f.car("1")["ogft"], f.car("1")["odft"]) == ("", "")
    assert (f.car("2")["ogft"], f.car("3")["ogft"], f.car("3")["odft"]) == ("", "2.000", "2.000")
    assert f.car("2")["ibt"] and not f.car("1")["ibt"]


def test_a_lower_guard_keeps_the_gaps_it_no_longer_admits_and_a_higher_one_publishes_them():
    # Only a higher guard rescans the group (positions._gaps): under a lower one every delta
    # it no longer admits keeps the value shown, so there is nothing to recompute.
    cars = (("1", 1, 1, 5, "00:10:00.000", "00:01:00.000"), ("2", 1, 2, 5, "00:11:20.000", "00:01:00.000"),
            ("3", 1, 3, 5, "00:11:21.000", "00:01:00.000"))
    inc, full = field(*cars), field(*cars)
    full.engine.enricher.always_full = True

    def send(*lines):
        a, b = inc.send(*lines), full.send(*lines)
        assert a.car_patches == b.car_patches
        assert inc.state["carPositions"] == full.state["carPositions"]

    assert inc.car("2")["og"] == "1:20.000"  # within 1.5 x 1:00
    send(*[f'$J,"{n}","00:00:40.000","{total}"' for n, _, _, _, total, _ in cars])  # guard 1:00
    assert inc.car("2")["og"] == "1:20.000" and inc.car("3")["og"] == "1.000"
    send('$J,"2","00:00:40.001","00:11:20.500"')  # a new 1:20.500 gap over the guard is not published
    assert inc.car("2")["og"] == "1:20.000" and inc.car("3")["og"] == "0.500"
    send('$J,"1","00:01:00.000","00:10:00.000"')  # guard back to 1:30: the band publishes it
    assert inc.car("2")["og"] == "1:20.500"
