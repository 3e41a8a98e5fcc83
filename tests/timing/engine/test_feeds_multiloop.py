"""Orbits Multiloop through TimingEngine.apply (spec §2, checklist 59, 85-91).

Sample lines are the reference tests' captures (as in test_multiloop_parser.py), written with
``|`` and sent with the relay's U+FFFD delimiter. Values below are the spec's (§2.2, checklist 90).
"""

from __future__ import annotations

from datetime import timedelta

import msgpack

from apps.timing.engine import TimingEngine
from apps.timing.engine.multiloop import epoch_to_datetime
from apps.timing.engine.wire import datetime_to_json

from .helpers import T0, competitor, patch_for

FFFD = "\ufffd"

HEARTBEAT = "$H|N|2F4|Q1|G|685E9B2F|9A0AB|0|D42B4"
ENTRY = ("$E|R|17|Q1|12|17|Steve Introne|18|B|B-Spec|Honda Fit|Windham NH|NER|180337|White|"
         "Sripath/PurposeEnergy/BlackHog Beer/BostonMobileTire/Hyperco/G-Loc Brakes/Introne Comm|||||17|")
COMPLETED_LAP = "$C|U|80004|Q1|C|0|8|4|83DDF|1CB83|T|1CB83|4|2E6A|0|649|0|C|1CB83|Unknown|G|1|0|9|0"
SECTION = "$S|N|F3170000|Q1|99|EF317|S1|2DF3C0E|7C07|5"
FLAG = "$F|R|5|Q1|K|0|D7108|6|6088A|1|0|1|00|1|81.63"
NEW_LEADER = "$N|U|80004|Q1|01|469D|45|4CAD63|20"
INVALIDATED = "$I|R|F005A|Q1|31|F005A|84E|"
RUN_Q = "$R|R|400004C7|Q1|Watkins Glen Hoosier Super Tour||Grp 2  FA FC FE2 P P2 Qual 1|Q|685ECBB8"
TRACK = "$T|R|22|Q1|Watkins Glen|WGI|3.4|4|S1|0|SF|IM1|S2|0|IM1|IM3|S3|0|IM3|SF|Spd|1438|IM1|IM2"
ANNOUNCEMENT = "$A|N|F3170000|Q1|2F|A|U|BC6AD080|Some Message"
VERSION = "$V|R|1|Q1|1|5|Multiloop feed"


def completed_lap(number: str, *, status: str = "Running", pits: int = 0, last_pitted: int = 0, start: int = 1,
                  led: int = 0, laps: int = 1) -> str:
    return (f"$C|U|1|Q1|1|{number}|{number}|{laps:X}|1000|1000|T|1000|1|0|0|0|0|1|1000|{status}|G|"
            f"{pits:X}|{last_pitted:X}|{start:X}|{led:X}")


def crossing(number: str, status: str) -> str:
    return f"$L|N|1|Q1|{number}|{number}|SF|A|9B82E|G|{status}"


def section(number: str, sid: str, elapsed: int, last: int, lap: int) -> str:
    return f"$S|N|1|Q1|{number}|{number}|{sid}|{elapsed:X}|{last:X}|{lap:X}"


class Feeds:
    """An engine in session 7 with a clock that moves 1 s per message."""

    def __init__(self, *cars: str, cls: int = 1) -> None:
        self.engine = TimingEngine(1)
        self.now = T0
        self.engine.apply("evtsessionchanged", '{"sid": 7, "eid": 1, "n": "Race"}', session_id=7, received_at=T0)
        if cars:
            self.rmonitor('$C,1,"GT"', '$C,2,"TT"', '$B,7,"Race"', *(competitor(n, cls, 100 + i) for i, n in enumerate(cars)))

    def send(self, kind: str, payload: str):
        self.now += timedelta(seconds=1)
        return self.engine.apply(kind, payload, session_id=7, received_at=self.now)

    def rmonitor(self, *lines: str):
        return self.send("rmonitor", "\r\n".join(lines) + "\r\n")

    def multiloop(self, *lines: str):
        return self.send("multiloop", "\r\n".join(line.replace("|", FFFD) for line in lines))

    def car(self, number: str) -> dict:
        return next(c for c in self.engine.state_json()["carPositions"] if c["n"] == number)


# --- records that change nothing (checklist 87, 89) ---------------------------------------------

def test_heartbeat_entry_and_version_records_change_nothing_and_keep_the_sequence_number():
    f = Feeds("12")
    seq = f.engine.seq
    for line in (HEARTBEAT, ENTRY, VERSION):
        r = f.multiloop(line)
        assert not r.changed and r.car_patches == [] and r.session_patch is None
    assert f.engine.seq == seq
    assert f.engine.feeds.multiloop.entries["12"].start_position == 24  # stored only


def test_unknown_records_and_bad_numbers_are_rejected_with_a_reason_and_the_rest_applies():
    f = Feeds("8")
    r = f.multiloop("$Z|N|1|Q1|x", completed_lap("8", pits=2),
                    completed_lap("8", pits=5).replace("$C|U|1|Q1|1|", "$C|U|1|Q1|zz|"))
    assert "multiloop: unknown record type $Z" in r.rejections
    assert "multiloop: rank: not hexadecimal: 'zz'" in r.rejections
    assert patch_for(r, "8")["psc"] == 2  # the good line applied, the bad one did not


# --- $C completed lap (checklist 87, 88, 90, 91) -------------------------------------------------

def test_a_completed_lap_patches_start_position_laps_led_status_and_pit_data_but_not_timing():
    f = Feeds("0")
    f.rmonitor('$G,3,"0",2,"00:03:00.000"', '$J,"0","00:01:30.000","00:03:00.000"')
    before = f.car("0")
    r = f.multiloop(COMPLETED_LAP)
    p = patch_for(r, "0")  # the sample is car "0" (unique id 8), 4 laps, rank 12
    assert p["osp"] == 9 and p["llo"] == 0 and p["mcs"] == "Unknown" and p["psc"] == 1 and p["lastLapPitted"] == 0
    # laps 4, rank 12, times and gaps in $C are not applied: RMonitor stays authoritative
    for key in ("llp", "ovp", "ltm", "ttm", "bt", "og", "od"):
        assert key not in p
    after = f.car("0")
    assert (after["llp"], after["ovp"], after["ltm"], after["ttm"]) == (before["llp"], before["ovp"], before["ltm"],
                                                                         before["ttm"]) == (2, 3, "00:01:30.000",
                                                                                            "00:03:00.000")
    assert r.seq == f.engine.seq


def test_only_the_completed_lap_fields_that_changed_are_patched():
    f = Feeds("8")
    f.multiloop(completed_lap("8", pits=1, last_pitted=4, start=5, led=2))
    r = f.multiloop(completed_lap("8", pits=2, last_pitted=9, start=5, led=2))
    assert patch_for(r, "8") == {"n": "8", "psc": 2, "lastLapPitted": 9}
    assert not f.multiloop(completed_lap("8", pits=2, last_pitted=9, start=5, led=2)).changed


def test_the_status_is_cut_to_twelve_characters_and_an_empty_status_overwrites():
    f = Feeds("8")
    assert patch_for(f.multiloop(completed_lap("8", status="RunningStrong")), "8")["mcs"] == "RunningStron"
    assert patch_for(f.multiloop(completed_lap("8", status="")), "8")["mcs"] == ""


def test_a_completed_section_patches_the_cars_section_list_with_contract_names():
    f = Feeds("99")
    r = f.multiloop(SECTION)
    assert patch_for(r, "99") == {"n": "99", "csec": [
        {"number": "99", "sectionId": "S1", "elapsedTimeMs": 0x2DF3C0E, "lastSectionTimeMs": 0x7C07, "lastLap": 5}]}
    r = f.multiloop(section("99", "S2", 0x2DF5000, 0x7000, 5))
    assert [s["sectionId"] for s in patch_for(r, "99")["csec"]] == ["S1", "S2"]
    assert not f.multiloop(SECTION).changed  # the same section again: no change


def test_a_completed_lap_clears_the_cars_sections():
    f = Feeds("99")
    f.multiloop(SECTION)
    r = f.multiloop(completed_lap("99"))
    assert patch_for(r, "99")["csec"] == []
    assert f.car("99")["csec"] == []


# --- $L line crossing ---------------------------------------------------------------------------

def test_a_pit_lane_crossing_puts_the_car_in_the_pit_and_a_track_crossing_takes_it_out():
    f = Feeds("89")
    p = patch_for(f.multiloop(crossing("89", "P")), "89")
    assert p["ip"] is True and p["psf"] is True
    p = patch_for(f.multiloop(crossing("89", "T")), "89")
    assert p["ip"] is False and p["psf"] is False
    assert not f.multiloop(crossing("89", "T")).changed  # same crossing status string: nothing


# --- $F, $R, $T, $A: session fields --------------------------------------------------------------

def test_flag_information_patches_the_session_statistics_but_not_the_flag():
    f = Feeds("8")
    f.rmonitor('$F,9999,"00:10:00","10:00:00","00:01:00","Green "')
    r = f.multiloop(FLAG)
    assert r.session_patch == {"greenTimeMs": 880904, "greenLaps": 6, "yellowTimeMs": 395402, "yellowLaps": 1,
                               "redTimeMs": 0, "numberOfYellows": 1, "leadChanges": 1, "averageRaceSpeed": "81.63"}
    assert f.engine.session.current_flag == 1  # still RMonitor's green, not Multiloop's K
    seq = f.engine.seq
    assert not f.multiloop(FLAG).changed and f.engine.seq == seq


def test_run_information_sets_practice_qualifying_from_the_run_type():
    f = Feeds("8")
    assert f.multiloop(RUN_Q).session_patch == {"isPracticeQualifying": True}
    assert not f.multiloop(RUN_Q).changed
    race = RUN_Q.replace("|Q|685ECBB8", "|R|685ECBB8")
    assert f.multiloop(race).session_patch == {"isPracticeQualifying": False}
    single = RUN_Q.replace("|Q|685ECBB8", "|S|685ECBB8")
    assert f.multiloop(single).session_patch == {"isPracticeQualifying": True}


def test_track_information_publishes_the_sections_with_hexadecimal_lengths():
    f = Feeds()
    r = f.multiloop(TRACK)
    assert r.session_patch == {"sections": [
        {"name": "S1", "lengthInches": 0, "startLabel": "SF", "endLabel": "IM1"},
        {"name": "S2", "lengthInches": 0, "startLabel": "IM1", "endLabel": "IM3"},
        {"name": "S3", "lengthInches": 0, "startLabel": "IM3", "endLabel": "SF"},
        {"name": "Spd", "lengthInches": 5176, "startLabel": "IM1", "endLabel": "IM2"}]}
    assert not f.multiloop(TRACK).changed  # a repeat does not grow the list
    assert len(f.engine.state_json()["sections"]) == 4


def test_announcements_are_published_whole_and_a_delete_removes_one():
    f = Feeds()
    r = f.multiloop(ANNOUNCEMENT)
    stamp = datetime_to_json(epoch_to_datetime(0xBC6AD080))
    assert r.session_patch == {"announcements": [{"timestamp": stamp, "priority": "U", "text": "Some Message"}]}
    r = f.multiloop("$A|N|1|Q1|30|A|H|BC6AD080|Second")
    assert [a["text"] for a in r.session_patch["announcements"]] == ["Some Message", "Second"]
    r = f.multiloop("$A|N|1|Q1|2F|D|U|BC6AD080|")
    assert [a["text"] for a in r.session_patch["announcements"]] == ["Second"]


def test_new_leader_and_invalidated_lap_records_are_counted_without_patches():
    f = Feeds("1", "31")
    r = f.multiloop(NEW_LEADER, INVALIDATED)
    assert not r.changed
    assert f.engine.counters["multiloop:LeaderChanged"] == 1 and f.engine.counters["multiloop:LapInvalidated"] == 1
    assert f.engine.feeds.multiloop.leader == "01"


def test_the_sections_and_announcements_pack_as_positional_arrays():
    f = Feeds("99")
    f.multiloop(TRACK, ANNOUNCEMENT, SECTION)
    arr = msgpack.unpackb(f.engine.state_msgpack(), raw=False, timestamp=3)
    assert arr[25][3] == ["Spd", 5176, "IM1", "IM2"]
    assert arr[27][0][1:] == ["U", "Some Message"]
    car = next(c for c in arr[14] if c[2] == "99")
    assert car[41] == [["99", "S1", 0x2DF3C0E, 0x7C07, 5]]


# --- re-application after RMonitor (§2.3, checklist 90) --------------------------------------------

FULL = [completed_lap("8", status="RunningStrongly", pits=3, last_pitted=0xA, start=5, led=0xB),
        crossing("8", "P"), section("8", "S1", 5000, 4000, 7)]


def test_an_rmonitor_reset_does_not_lose_what_multiloop_said_about_the_car():
    f = Feeds("8", "9")
    f.multiloop(*FULL)
    r = f.rmonitor('$I,"12:00:00","26 Apr 25"', '$C,1,"GT"', competitor("8", 1, 100), competitor("9", 1, 101),
                   '$G,1,"8",7,"00:10:00.000"')
    car = f.car("8")
    assert (car["psc"], car["lastLapPitted"], car["osp"], car["llo"], car["mcs"]) == (3, 10, 5, 11, "RunningStron")
    assert car["ip"] is True and car["psf"] is True
    assert car["csec"] == [{"number": "8", "sectionId": "S1", "elapsedTimeMs": 5000, "lastSectionTimeMs": 4000,
                            "lastLap": 7}]
    # Unlike the reference (which mutates silently) the rebuilt car's patch carries the values.
    assert r.reset and patch_for(r, "8")["psc"] == 3
    untouched = f.car("9")  # no Multiloop data: defaults
    assert (untouched["psc"], untouched["mcs"], untouched["csec"], untouched["ip"]) == (None, "", [], False)


def test_multiloop_data_for_a_car_rmonitor_has_not_named_yet_applies_when_it_appears():
    f = Feeds("9")
    r = f.multiloop(*FULL)
    assert patch_for(r, "8") is None and f.engine.counters["multiloop:car_not_found"] == 1
    r = f.rmonitor(competitor("8", 1, 100))
    p = patch_for(r, "8")
    assert p["psc"] == 3 and p["mcs"] == "RunningStron" and p["ip"] is True and len(p["csec"]) == 1


def test_rmonitor_grid_positions_do_not_override_multiloop_starting_positions():
    f = Feeds("8", "9")
    f.multiloop(completed_lap("8", start=2), completed_lap("9", start=1))
    f.rmonitor('$G,1,"8",0,"00:00:00.000"', '$G,2,"9",0,"00:00:00.000"')  # RMonitor grid says 8 first
    assert (f.car("8")["osp"], f.car("9")["osp"]) == (2, 1)


def test_multiloop_starting_positions_rank_the_cars_in_their_class():
    # checklist 59: a change in the starting positions recalculates the in-class ones
    f = Feeds("8", "9", "10")
    f.rmonitor(competitor("10", 2, 102))  # car 10 is alone in class TT
    f.multiloop(completed_lap("8", start=5), completed_lap("9", start=3), completed_lap("10", start=4))
    assert [f.car(n)["icsp"] for n in ("8", "9", "10")] == [2, 1, 1]
    r = f.multiloop(completed_lap("8", start=2))
    assert patch_for(r, "8")["icsp"] == 1 and patch_for(r, "9")["icsp"] == 2
    f.rmonitor('$G,1,"8",1,"00:01:00.000"', '$G,2,"9",1,"00:01:01.000"')
    assert f.car("8")["opg"] == 1 and f.car("9")["opg"] == 1  # gained = start - position


def test_run_type_stays_authoritative_over_the_session_name():
    f = Feeds("8")
    f.multiloop(RUN_Q)
    f.rmonitor('$G,1,"8",1,"00:01:00.000"')
    assert f.engine.session.is_practice_qualifying is True  # "Race" by name, qualifying by $R


# --- snapshot ------------------------------------------------------------------------------------

def test_a_restored_engine_continues_exactly_like_the_original():
    lines = [*FULL, TRACK, ANNOUNCEMENT, FLAG, RUN_Q, NEW_LEADER, ENTRY]
    a = Feeds("8", "9")
    a.multiloop(*lines)
    b = Feeds()
    b.engine = TimingEngine.restore(a.engine.snapshot())
    b.now = a.now
    assert b.engine.state_json() == a.engine.state_json()
    follow = [("multiloop", completed_lap("8", pits=4, start=5, led=0xB, status="RunningStrongly")),
              ("rmonitor", '$I,"12:00:00","26 Apr 25"\r\n$C,1,"GT"\r\n' + competitor("8", 1, 100) + "\r\n"),
              ("multiloop", section("8", "S2", 1, 1, 8).replace("|", FFFD))]
    for kind, payload in follow:
        ra, rb = a.send(kind, payload), b.send(kind, payload)
        assert (ra.seq, ra.session_patch, ra.car_patches) == (rb.seq, rb.session_patch, rb.car_patches)
    assert b.engine.state_json() == a.engine.state_json()
    assert b.engine.feeds.multiloop.leader == "01" and b.engine.feeds.multiloop.active


def test_car_fields_lists_every_field_multiloop_sets_on_a_car():
    from apps.timing.engine import multiloop as ml
    state = ml.MultiloopState()
    car = state.cars.setdefault("12", ml._Car())
    car.sections["S1"] = ml.CompletedSection("12", "S1", 1, 2, 3)
    car.last_lap_pitted, car.pit_stop_count, car.start_position, car.laps_led = 1, 2, 3, 4
    car.current_status, car.crossing_status = "Running", "P"
    assert set(ml.car_values(state, "12")) == ml.CAR_FIELDS
