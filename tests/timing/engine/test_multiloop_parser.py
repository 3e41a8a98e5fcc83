"""Orbits Multiloop records and state updates (spec §2, checklist 85-91).

Sample lines are the reference tests' captures; they are written with ``|`` here and converted
to the U+FFFD delimiter the relay actually delivers.
"""

from datetime import datetime

import pytest

from apps.timing.engine.flaglist import Rejection
from apps.timing.engine.multiloop import (
    Announcement,
    AnnouncementRecord,
    CompletedLap,
    CompletedSection,
    CompletedSectionRecord,
    Entry,
    FlagInformation,
    Header,
    Heartbeat,
    InvalidatedLap,
    LapInvalidated,
    LeaderChanged,
    LineCrossing,
    MultiloopState,
    NewLeader,
    RunInformation,
    Section,
    TrackInformation,
    TrackSection,
    Version,
    apply_multiloop,
    car_values,
    epoch_to_datetime,
    parse_line,
    parse_multiloop,
)

FFFD = "\ufffd"


def u(line: str) -> str:
    """A sample line with the relay's U+FFFD delimiter."""
    return line.replace("|", FFFD)


HEARTBEAT = "$H|N|2F4|Q1|G|685E9B2F|9A0AB|0|D42B4\r\n"
ENTRY = ("$E|R|17|Q1|12|17|Steve Introne|18|B|B-Spec|Honda Fit|Windham NH|NER|180337|White|"
         "Sripath/PurposeEnergy/BlackHog Beer/BostonMobileTire/Hyperco/G-Loc Brakes/Introne Comm|||||17|")
COMPLETED_LAP = "$C|U|80004|Q1|C|0|8|4|83DDF|1CB83|T|1CB83|4|2E6A|0|649|0|C|1CB83|Unknown|G|1|0|9|0\r\n"
SECTION = "$S|N|F3170000|Q1|99|EF317|S1|2DF3C0E|7C07|5"
CROSSING = "$L|N|EF325|Q1|89|5|SF|A|9B82E|G|T\r\n"
INVALIDATED = "$I|R|F005A|Q1|31|F005A|84E|\r\n"
FLAG = "$F|R|5|Q1|K|0|D7108|6|6088A|1|0|1|00|1|81.63"
NEW_LEADER = "$N|U|80004|Q1|01|469D|45|4CAD63|20"
RUN = "$R|R|400004C7|Q1|Watkins Glen Hoosier Super Tour||Grp 2  FA FC FE2 P P2 Qual 1|Q|685ECBB8"
TRACK = "$T|R|22|Q1|Watkins Glen|WGI|3.4|4|S1|0|SF|IM1|S2|0|IM1|IM3|S3|0|IM3|SF|Spd|1438|IM1|IM2"
ANNOUNCEMENT = "$A|N|F3170000|Q1|2F|A|U|BC6AD080|Some Message"
VERSION = "$V|R|1|Q1|1|5|Multiloop feed"


def one(line: str):
    item = parse_line(u(line))
    assert not isinstance(item, Rejection), item
    return item


# --- header and delimiters -------------------------------------------------------------------

@pytest.mark.parametrize("state, expected", [("N", "N"), ("R", "R"), ("U", "U"), ("X", "N")])
def test_the_header_reads_record_state_hex_sequence_and_preamble(state, expected):
    rec = one(f"$H|{state}|139B|Q1|C|685E980C|13ABDF|0|0\r\n")
    assert rec.header == Header("H", expected, 5019, "Q1")


@pytest.mark.parametrize("delimiter", [FFFD, "\u00a6", "|"])
def test_every_accepted_delimiter_parses_the_same_record(delimiter):
    assert parse_line(FLAG.replace("|", delimiter)) == parse_line(u(FLAG))


def test_lowercase_and_mixed_case_hex_parse():
    assert one("$H|N|139b|Q1|G|685e9b2f|9A0aB|0|D42B4").time_date_sec == 1751030575


@pytest.mark.parametrize("line, reason", [
    ("$H", "no field delimiter after $H"),
    ("$H|N|2F4", "$H header needs 4 fields, got 3"),
    ("$H|N||Q1|G|0|0|0|0", "sequence: missing"),
    ("$H|N|XYZ|Q1|G|0|0|0|0", "sequence: not hexadecimal: 'XYZ'"),
    ("$Z|N|1|Q1", "unknown record type $Z"),
    ("H|N|1|Q1", "not a Multiloop record (must start with $ and a record letter)"),
    ("$H,N,1,Q1,G,0,0,0,0", "no field delimiter after $H"),
    ("$F|R|5|Q1|K|0|D7108|6", "$F needs 11 payload fields, got 4"),
    ("$C|U|1|Q1|C|0|8|4|83DDG|1CB83|T|1CB83|4|2E6A|0|649|0|C|1CB83|Unknown|G|1|0|9|0",
     "elapsed_ms: not hexadecimal: '83DDG'"),
    ("$H|N|1|Q1|G|0|0|1A|0", "laps_to_go: not a decimal number: '1A'"),
    ("$E|R|17|Q1|12|17|Steve|18|5|a|b", "$E declares 5 extra fields but has 2 after the count"),
    ("$T|R|22|Q1|WGI|WGI|3.4|2|S1|0|SF|IM1", "$T declares 2 sections but has fields for 1"),
    ("$A|N|1|Q1||A|U|0|text", "message_number missing"),
])
def test_malformed_lines_are_rejected_with_a_reason(line, reason):
    item = parse_line(u(line))
    assert isinstance(item, Rejection)
    assert item.reason == reason
    assert item.line == u(line)


def test_one_bad_line_does_not_stop_the_rest_of_the_message():
    text = "\n".join([u(FLAG), "$Q garbage", "", u(HEARTBEAT.strip()), "\ufeff" + u(VERSION)])
    items = parse_multiloop(text)
    assert [type(i).__name__ for i in items] == ["FlagInformation", "Rejection", "Heartbeat", "Version"]


def test_empty_numeric_fields_mean_no_information_rather_than_an_error():
    rec = one("$C|U|1|Q1|C|0|8|4|83DDF|1CB83|T|1CB83|4|2E6A|0|649|0|C|1CB83|Running|G||||")
    assert (rec.pit_stop_count, rec.last_lap_pitted, rec.start_position, rec.laps_led) == (None, None, None, None)


# --- every record's fields -------------------------------------------------------------------

def test_a_heartbeat_parses_hex_times_and_decimal_laps_to_go():
    rec = one(HEARTBEAT)
    assert isinstance(rec, Heartbeat)
    assert (rec.track_status, rec.time_date_sec, rec.elapsed_ms, rec.laps_to_go, rec.time_to_go_ms) == \
        ("G", 1751030575, 630955, 0, 869044)
    assert one("$H|N|1|Q1|G|0|0|10|0").laps_to_go == 10, "laps to go is decimal, not 0x10"


def test_an_entry_parses_its_counted_extra_fields_and_competitor_id():
    rec = one(ENTRY)
    assert isinstance(rec, Entry)
    assert (rec.number, rec.unique_id, rec.driver_name, rec.start_position, rec.field_count) == \
        ("12", 23, "Steve Introne", 24, 11)
    assert rec.fields[:2] == ("B-Spec", "Honda Fit") and rec.fields[7:] == ("", "", "", "")
    assert rec.competitor_id == 23


def test_a_completed_lap_parses_all_twenty_one_fields():
    rec = one(COMPLETED_LAP)
    assert isinstance(rec, CompletedLap)
    assert (rec.rank, rec.number, rec.unique_id, rec.completed_laps, rec.elapsed_ms, rec.last_lap_ms) == \
        (12, "0", 8, 4, 540127, 117635)
    assert (rec.lap_status, rec.fastest_lap_ms, rec.fastest_lap, rec.time_behind_leader_ms, rec.laps_behind_leader) == \
        ("T", 117635, 4, 11882, 0)
    assert (rec.time_behind_preceding_ms, rec.laps_behind_preceding, rec.overall_rank, rec.overall_best_lap_ms) == \
        (1609, 0, 12, 117635)
    assert (rec.current_status, rec.track_status, rec.pit_stop_count, rec.last_lap_pitted, rec.start_position,
            rec.laps_led) == ("Unknown", "G", 1, 0, 9, 0)


def test_section_crossing_invalidated_and_new_leader_records_parse():
    assert one(SECTION) == CompletedSectionRecord(Header("S", "N", 0xF3170000, "Q1"), "99", 979735, "S1",
                                                  48184334, 31751, 5)
    assert one(CROSSING) == LineCrossing(Header("L", "N", 0xEF325, "Q1"), "89", 5, "SF", "A", 636974, "G", "T")
    assert one(INVALIDATED) == InvalidatedLap(Header("I", "R", 0xF005A, "Q1"), "31", 983130, 2126)
    assert one("$I|N|F005A|Q1|??|F005A|0|").number == "??"
    assert one(NEW_LEADER) == NewLeader(Header("N", "U", 0x80004, "Q1"), "01", 18077, 69, 5025123, 32)


def test_flag_information_parses_times_laps_leader_and_speed():
    rec = one(FLAG)
    assert isinstance(rec, FlagInformation)
    assert (rec.track_status, rec.lap_number, rec.green_time_ms, rec.green_laps, rec.yellow_time_ms,
            rec.yellow_laps, rec.red_time_ms, rec.number_of_yellows, rec.current_leader, rec.lead_changes,
            rec.average_speed) == ("K", 0, 880904, 6, 395402, 1, 0, 1, "00", 1, "81.63")


def test_run_track_announcement_and_version_records_parse():
    run = one(RUN)
    assert run == RunInformation(Header("R", "R", 0x400004C7, "Q1"), "Watkins Glen Hoosier Super Tour", "",
                                 "Grp 2  FA FC FE2 P P2 Qual 1", "Q", 1751043000)
    track = one(TRACK)
    assert isinstance(track, TrackInformation)
    assert (track.name, track.venue, track.length_mi, track.section_count) == ("Watkins Glen", "WGI", "3.4", 4)
    assert track.sections[0] == TrackSection("S1", 0, "SF", "IM1")
    assert track.sections[3] == TrackSection("Spd", 0x1438, "IM1", "IM2")
    assert one(ANNOUNCEMENT) == AnnouncementRecord(Header("A", "N", 0xF3170000, "Q1"), 47, "A", "U", 3161116800,
                                                   "Some Message")
    assert one(VERSION) == Version(Header("V", "R", 1, "Q1"), 1, 5, "Multiloop feed")


def test_announcement_text_keeps_a_delimiter_inside_it():
    assert one("$A|N|1|Q1|2F|A|U|0|left|right").text == "left|".replace("|", FFFD) + "right"


# --- state updates ---------------------------------------------------------------------------

def apply(state: MultiloopState, *lines: str):
    return apply_multiloop(state, parse_multiloop("\n".join(u(line) for line in lines)))


def lap(number="12", status="Running", pits="3", pitted="A", start="5", led="B") -> str:
    return f"$C|U|1|Q1|1|{number}|17|4|83DDF|1CB83|T|1CB83|4|0|0|0|0|1|1CB83|{status}|G|{pits}|{pitted}|{start}|{led}"


def test_any_record_makes_multiloop_active():
    state = MultiloopState()
    apply(state, VERSION)
    assert state.active


def test_heartbeat_entry_and_version_change_no_state_fields():
    update = apply(MultiloopState(), HEARTBEAT.strip(), ENTRY, VERSION)
    assert (update.session, update.cars, update.events) == ({}, {}, [])


def test_a_completed_lap_reports_pit_start_position_laps_led_and_a_truncated_status():
    update = apply(MultiloopState(), lap(status="RunningStrong"))
    assert update.cars == {"12": {"overall_starting_position": 5, "laps_led_overall": 11,
                                  "current_status": "RunningStron", "pit_stop_count": 3, "last_lap_pitted": 10}}


def test_a_repeated_completed_lap_reports_only_what_changed():
    state = MultiloopState()
    apply(state, lap())
    assert apply(state, lap()).cars == {}
    assert apply(state, lap(pits="4", pitted="14")).cars == {"12": {"pit_stop_count": 4, "last_lap_pitted": 20}}
    assert apply(state, lap(status="", pits="4", pitted="14")).cars == {"12": {"current_status": ""}}, "an empty status overwrites"


def test_sections_accumulate_and_a_completed_lap_clears_them():
    state = MultiloopState()
    update = apply(state, "$S|N|1|Q1|12|17|S1|2DF3C0E|7C07|5", "$S|N|2|Q1|12|17|S2|2DF4000|100|5")
    assert update.cars["12"]["completed_sections"] == [
        CompletedSection("12", "S1", 48184334, 31751, 5), CompletedSection("12", "S2", 48185344, 256, 5)]
    assert apply(state, "$S|R|1|Q1|12|17|S1|2DF3C0E|7C07|5").cars == {}, "an identical section is no change"
    assert apply(state, lap()).cars["12"]["completed_sections"] == []
    assert "completed_sections" not in apply(state, lap(pits="9")).cars["12"]


def test_the_pit_lane_crossing_toggles_in_pit_only_when_the_status_changes():
    state = MultiloopState()
    assert apply(state, "$L|N|1|Q1|12|5|SF|A|9B82E|G|P").cars == {"12": {"is_pit_start_finish": True, "is_in_pit": True}}
    assert apply(state, "$L|N|2|Q1|12|5|SF|A|9B830|G|P").cars == {}
    assert apply(state, CROSSING.replace("|89|", "|12|")).cars == {"12": {"is_pit_start_finish": False, "is_in_pit": False}}


def test_flag_metrics_are_reported_once_and_then_only_when_they_change():
    state = MultiloopState()
    assert apply(state, FLAG).session == {"green_time_ms": 880904, "green_laps": 6, "yellow_time_ms": 395402,
                                          "yellow_laps": 1, "number_of_yellows": 1, "red_time_ms": 0,
                                          "lead_changes": 1, "average_race_speed": "81.63"}
    assert apply(state, FLAG).session == {}
    assert apply(state, FLAG.replace("D7108", "D7109")).session == {"green_time_ms": 880905}


@pytest.mark.parametrize("run_type, pq", [("P", True), ("Q", True), ("S", True), ("R", False), ("X", False)])
def test_run_type_decides_practice_or_qualifying(run_type, pq):
    update = apply(MultiloopState(), RUN.replace("|Q|685ECBB8", f"|{run_type}|685ECBB8"))
    assert update.session == {"is_practice_qualifying": pq}


def test_a_second_identical_run_record_reports_nothing_and_a_changed_one_reports():
    state = MultiloopState()
    apply(state, RUN)
    assert apply(state, RUN).session == {}
    assert apply(state, RUN.replace("|Q|685ECBB8", "|R|685ECBB8")).session == {"is_practice_qualifying": False}


def test_track_information_populates_the_session_sections_without_growing_on_repeat():
    state = MultiloopState()
    sections = apply(state, TRACK).session["sections"]
    assert sections == [Section("S1", 0, "SF", "IM1"), Section("S2", 0, "IM1", "IM3"), Section("S3", 0, "IM3", "SF"),
                        Section("Spd", 5176, "IM1", "IM2")]
    assert apply(state, TRACK).session == {}


def test_announcements_are_keyed_by_number_updated_and_deleted():
    state = MultiloopState()
    first = apply(state, ANNOUNCEMENT).session["announcements"]
    assert first == [Announcement(datetime(2070, 3, 4, 0, 0), "U", "Some Message")]
    assert apply(state, ANNOUNCEMENT).session == {}
    update = apply(state, "$A|N|2|Q1|2F|U|U|BC6AD080|Changed", "$A|N|3|Q1|01|A|N|0|Earlier number")
    assert [a.text for a in update.session["announcements"]] == ["Earlier number", "Changed"]
    assert [a.text for a in apply(state, "$A|N|4|Q1|2F|D|U|0|").session["announcements"]] == ["Earlier number"]


def test_a_new_leader_is_an_event_and_a_repeat_is_not():
    state = MultiloopState()
    assert apply(state, NEW_LEADER).events == [LeaderChanged("01", 69, 5025123, 32)]
    assert state.leader == "01"
    assert apply(state, NEW_LEADER).events == []


def test_an_invalidated_lap_is_reported_and_an_unknown_number_is_found_by_unique_id():
    state = MultiloopState()
    apply(state, "$S|N|1|Q1|31|F005A|S1|10|10|1")
    update = apply(state, "$I|N|F005A|Q1|??|F005A|84E|")
    assert update.events == [LapInvalidated("31", 983130, 2126)]
    assert apply(state, "$I|N|1|Q1|??|ABC|84E|").events == [LapInvalidated(None, 0xABC, 2126)]


def test_entries_without_a_number_are_ignored_and_numbered_ones_stored():
    state = MultiloopState()
    apply(state, ENTRY, "$E|R|18|Q1||18|Nobody|1|0|18")
    assert list(state.entries) == ["12"]


def test_car_values_restore_everything_multiloop_knows_about_a_car():
    state = MultiloopState()
    apply(state, lap(status="RunningStrong"), "$S|N|1|Q1|12|17|S1|2DF3C0E|7C07|5", "$L|N|1|Q1|12|5|SF|A|1|G|P")
    assert car_values(state, "12") == {
        "completed_sections": [CompletedSection("12", "S1", 48184334, 31751, 5)],
        "last_lap_pitted": 10, "pit_stop_count": 3, "overall_starting_position": 5, "laps_led_overall": 11,
        "current_status": "RunningStron", "is_pit_start_finish": True, "is_in_pit": True,
    }
    assert car_values(state, "99") == {} and car_values(state, None) == {}


def test_epoch_seconds_become_naive_utc_datetimes():
    assert epoch_to_datetime(1751043000) == datetime(2025, 6, 27, 16, 50)
    assert epoch_to_datetime(None) is None


@pytest.mark.parametrize("value", ["-5", "0x1F", "1_0", " ", "+1"])
def test_signs_prefixes_and_underscores_are_not_hex(value):
    item = parse_line(u(f"$V|R|1|Q1|{value}|5|info"))
    if value.strip():
        assert isinstance(item, Rejection) and item.reason.startswith("major: not hexadecimal")
    else:
        assert item.major is None


def test_random_garbage_never_raises():
    import random

    rng = random.Random(4)
    alphabet = "$HECSLIFNRTAVQ|\ufffd\u00a6,0123456789ABCDEFxyz-_ \r\n\ufeff"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        items = parse_multiloop(text)
        apply_multiloop(MultiloopState(), items)
