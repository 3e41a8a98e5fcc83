"""Flagtronics in-car data: parsing, per-car updates, signal bars and the purple override."""

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from apps.timing.engine.flaglist import FlagPeriod, Flags, flaglist_reconcile, parse_flag_list
from apps.timing.engine.flagtronics import (
    FlagtronicsState,
    FtVehicle,
    PurpleOverride,
    apply_vehicle,
    effective_flag,
    flag_from_flagtronics,
    full_course_flag,
    is_faulted,
    owns_pit,
    parse_duration_ms,
    parse_time_of_day,
    parse_vehicles,
    purple_reconcile,
    reapply_car,
    record_tick,
    signal_sweep,
    was_pit_lap,
)

RECORDING = Path(__file__).resolve().parents[3] / "data/recordings/redmist/TestFlagtronicsPurple.txt"
T0 = datetime(2026, 7, 17, 9, 0, 0)


@dataclass
class Car:
    """The slice of CarPosition the Flagtronics helpers read (engine snake_case names)."""

    number: str = "42"
    last_lap_completed: int = 10
    signal_bars: int | None = 5
    is_in_pit: bool = False
    is_entered_pit: bool = False
    is_exited_pit: bool = False
    lap_included_pit: bool = False
    pit_entry_time: datetime | None = None
    pit_duration_ms: int | None = None
    pit_speed_enforced: bool = False
    speed_violation: bool = False
    flagging_zone: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    speed_mph: int | None = None
    local_flag: int = 0
    driver_source: str | None = None
    driver_name: str = ""
    driver_id: str = ""
    extra: dict = field(default_factory=dict)


def vehicle(**kw) -> FtVehicle:
    kw.setdefault("car_number", "42")
    return FtVehicle(**kw)


def feed(state, car, v, at: datetime) -> dict:
    """Apply one record and copy the changes onto the car, as the engine will."""
    changes = apply_vehicle(state, car, v, at)
    for name, value in changes.items():
        setattr(car, name, value)
    return changes


# --- parsing ---------------------------------------------------------------------------------

def test_a_real_v3_record_parses_every_consumed_field():
    payload = json.dumps([{
        "carNumber": "23", "ft200DeviceId": 20003022, "class": ["B"], "speed": 254,
        "lat": 36.5593572, "lon": -79.2102957, "carFlag": "Green", "localFlag": None,
        "fullCourseFlag": "Green", "flaggingZone": 130, "timingZone": 130, "driverId": 70000221,
        "driverName": "Driver 23-1", "driverSource": "blePuck", "currentLapNumber": 299,
        "pitEntryTime": "2026-07-20T17:00:01Z", "pitDuration": "00:03:02.000", "pitActive": True,
        "enforced": True, "speedViolation": False,
    }])
    vehicles, rejections = parse_vehicles(payload)
    assert rejections == []
    v = vehicles[0]
    assert (v.car_number, v.device_id, v.speed, v.flagging_zone) == ("23", 20003022, 254, 130)
    assert (v.lat, v.lon) == (36.5593572, -79.2102957)
    assert v.pit_entry_time == datetime(2026, 7, 20, 17, 0, 1)
    assert (v.pit_duration, v.pit_active, v.enforced, v.speed_violation) == ("00:03:02.000", True, True, False)
    assert (v.driver_id, v.driver_name, v.driver_source, v.current_lap_number) == (70000221, "Driver 23-1", "blePuck", 299)


def test_property_names_match_case_insensitively():
    vehicles, _ = parse_vehicles('[{"CARNUMBER":"7x","PitActive":true}]')
    assert vehicles == [FtVehicle(car_number="7x", pit_active=True)]


def test_bad_records_are_rejected_with_a_reason_and_the_rest_still_parse():
    payload = '[{"carNumber":""},{"carNumber":"1","speed":"fast"},{"carNumber":"2","pitActive":"yes"},' \
              '{"carNumber":"3","pitEntryTime":"soon"},5,{"carNumber":"4"}]'
    vehicles, rejections = parse_vehicles(payload)
    assert [v.car_number for v in vehicles] == ["4"]
    assert [r.reason for r in rejections] == [
        "carNumber missing or blank", "speed is not an integer", "pitActive is not a boolean",
        "pitEntryTime is not ISO-8601", "vehicle record is not an object",
    ]


def test_invalid_json_and_non_arrays_are_rejected_and_null_is_nothing():
    assert parse_vehicles("not json")[1][0].reason.startswith("invalid JSON")
    assert parse_vehicles('{"carNumber":"1"}')[1][0].reason == "vehicle payload is not a JSON array"
    assert parse_vehicles("null") == ([], [])


def test_a_placeholder_pit_entry_date_is_treated_as_unknown():
    vehicles, _ = parse_vehicles('[{"carNumber":"442","pitEntryTime":"0001-04-11T00:00:31Z"}]')
    assert vehicles[0].pit_entry_time is None


@pytest.mark.parametrize("name, flag", [
    ("Green", Flags.GREEN), ("LocalGreen", Flags.GREEN), ("FCYellow", Flags.YELLOW),
    ("StYellow", Flags.YELLOW), ("StYellowDB", Flags.YELLOW), ("StYellowWhite", Flags.YELLOW),
    ("WhiteStYellowDB", Flags.YELLOW), ("WavingYellow", Flags.WAVING_YELLOW), ("WavingYelDB", Flags.WAVING_YELLOW),
    ("Red", Flags.RED), ("Black", Flags.BLACK), ("MeatBall", Flags.MEATBALL), ("Blue", Flags.BLUE),
    ("Debris", Flags.DEBRIS), ("White", Flags.WHITE), ("WhiteDB", Flags.WHITE), ("Checkered", Flags.CHECKERED),
    ("LocalCheckered", Flags.CHECKERED), ("Purple", Flags.PURPLE35), ("None", Flags.UNKNOWN),
    ("SomeFutureFlag", Flags.UNKNOWN), ("", Flags.UNKNOWN), (None, Flags.UNKNOWN),
])
def test_flagtronics_flag_names_map_to_flags(name, flag):
    assert flag_from_flagtronics(name) == flag


def test_the_full_course_flag_is_the_last_record_that_reports_one():
    vs = [vehicle(full_course_flag="Purple"), vehicle(full_course_flag="Yellow"), vehicle(full_course_flag=None)]
    assert full_course_flag(vs) == Flags.YELLOW
    assert full_course_flag([vehicle()]) is None


def test_the_overall_flag_is_purple_only_for_a_purple_over_an_rmonitor_yellow():
    assert effective_flag(Flags.YELLOW, Flags.PURPLE35) == Flags.PURPLE35
    assert effective_flag(Flags.GREEN, Flags.PURPLE35) == Flags.GREEN
    assert effective_flag(Flags.YELLOW, Flags.YELLOW) == Flags.YELLOW
    assert effective_flag(Flags.YELLOW, None) == Flags.YELLOW


@pytest.mark.parametrize("text, ms", [
    ("00:01:30.000", 90_000), ("00:03:02.000", 182_000), ("00:02:00.5", 120_500), ("01:00:00", 3_600_000),
    ("1.00:00:00", 86_400_000), ("1.00:00:01", None), ("garbage", None), ("", None), (None, None), ("00:61:00", None),
])
def test_pit_durations_parse_to_milliseconds_and_over_a_day_is_rejected(text, ms):
    assert parse_duration_ms(text) == ms


# --- per-car update --------------------------------------------------------------------------

def test_gps_and_speed_are_applied_and_sentinels_respected():
    state, car = FlagtronicsState(), Car()
    changes = feed(state, car, vehicle(speed=88, lat=36.5841, lon=-121.7539), T0)
    assert (changes["latitude"], changes["longitude"], changes["speed_mph"]) == (36.5841, -121.7539, 88)
    feed(state, car, vehicle(speed=255, lat=0.0, lon=0.0), T0 + timedelta(seconds=1))
    assert (car.latitude, car.longitude, car.speed_mph) == (36.5841, -121.7539, 88)
    feed(state, car, vehicle(speed=254), T0 + timedelta(seconds=2))
    assert car.speed_mph == 0


def test_an_unchanged_record_reports_no_changes():
    state, car = FlagtronicsState(), Car()
    feed(state, car, vehicle(speed=50, lat=1.0, lon=2.0, car_flag="Green"), T0)
    assert feed(state, car, vehicle(speed=50, lat=1.0, lon=2.0, car_flag="Green"), T0 + timedelta(seconds=1)) == {}


def test_pit_entry_is_confirmed_only_after_eight_seconds_of_evidence():
    state, car = FlagtronicsState(), Car()
    assert "is_in_pit" not in feed(state, car, vehicle(pit_active=True), T0)
    assert "is_in_pit" not in feed(state, car, vehicle(pit_active=True), T0 + timedelta(seconds=7))
    changes = feed(state, car, vehicle(pit_active=True), T0 + timedelta(seconds=8))
    assert changes["is_in_pit"] is True and changes["is_entered_pit"] is True
    assert car.lap_included_pit is True and was_pit_lap(state, "42", 11)


def test_a_flicker_shorter_than_the_confirm_window_changes_nothing():
    state, car = FlagtronicsState(), Car()
    feed(state, car, vehicle(pit_active=True), T0)
    feed(state, car, vehicle(pit_active=False), T0 + timedelta(seconds=4))
    feed(state, car, vehicle(pit_active=True), T0 + timedelta(seconds=6))
    feed(state, car, vehicle(pit_active=True), T0 + timedelta(seconds=13))
    assert car.is_in_pit is False
    feed(state, car, vehicle(pit_active=True), T0 + timedelta(seconds=14))
    assert car.is_in_pit is True


def test_evidence_older_than_thirty_seconds_restarts_the_confirmation():
    state, car = FlagtronicsState(), Car()
    feed(state, car, vehicle(pit_active=True), T0)
    feed(state, car, vehicle(pit_active=True), T0 + timedelta(seconds=40))
    assert car.is_in_pit is False
    feed(state, car, vehicle(pit_active=True), T0 + timedelta(seconds=48))
    assert car.is_in_pit is True


def test_the_second_update_in_pit_clears_the_entered_edge_and_exit_sets_the_exited_edge():
    state, car = FlagtronicsState(), Car()
    for s in (0, 8):
        feed(state, car, vehicle(pit_active=True), T0 + timedelta(seconds=s))
    feed(state, car, vehicle(pit_active=True, pit_duration="00:00:30.000"), T0 + timedelta(seconds=9))
    assert (car.is_in_pit, car.is_entered_pit, car.pit_duration_ms) == (True, False, 30_000)
    for s in (20, 28):
        feed(state, car, vehicle(pit_active=False, pit_duration="00:02:00.500"), T0 + timedelta(seconds=s))
    assert (car.is_in_pit, car.is_entered_pit, car.is_exited_pit, car.pit_duration_ms) == (False, False, True, 120_500)


def test_the_flagging_zone_beats_a_stuck_pit_active_flag():
    state, car = FlagtronicsState(), Car()
    for s in (0, 8):
        feed(state, car, vehicle(pit_active=True, flagging_zone=130, speed=20), T0 + timedelta(seconds=s))
    assert car.is_in_pit is True
    for s in (20, 28):
        feed(state, car, vehicle(pit_active=True, flagging_zone=12, speed=90,
                                 pit_duration="05:00:00.000"), T0 + timedelta(seconds=s))
    assert car.is_in_pit is False and car.is_exited_pit is True
    assert car.pit_duration_ms is None, "a stuck pitActive's runaway duration is dropped"


def test_a_car_already_shown_in_pit_is_not_taken_over_mid_stop():
    state, car = FlagtronicsState(), Car(is_in_pit=True)
    for s in (0, 8):
        feed(state, car, vehicle(flagging_zone=12, speed=90), T0 + timedelta(seconds=s))
    assert not owns_pit(state, "42") and car.is_in_pit is True


def test_a_pit_zone_at_racing_speed_defers_to_pit_active():
    state, car = FlagtronicsState(), Car()
    for s in (0, 8):
        feed(state, car, vehicle(flagging_zone=130, speed=95, pit_active=False), T0 + timedelta(seconds=s))
    assert car.is_in_pit is False
    for s in (10, 18):
        feed(state, car, vehicle(flagging_zone=130, speed=20, pit_active=False), T0 + timedelta(seconds=s))
    assert car.is_in_pit is True


def test_the_pre_race_grid_in_pit_zones_does_not_tag_the_first_lap():
    state, car = FlagtronicsState(), Car(last_lap_completed=0)
    for s in (0, 8):
        feed(state, car, vehicle(flagging_zone=130, speed=254), T0 + timedelta(seconds=s))
    assert car.is_in_pit is True
    assert not was_pit_lap(state, "42", 1) and car.lap_included_pit is False


def test_a_lap_completed_after_a_stop_is_marked_as_including_the_pit():
    state, car = FlagtronicsState(), Car()
    for s in (0, 8):
        feed(state, car, vehicle(pit_active=True), T0 + timedelta(seconds=s))
    for s in (20, 28):
        feed(state, car, vehicle(pit_active=False), T0 + timedelta(seconds=s))
    assert car.lap_included_pit is False, "lap 10 did not include the stop"
    car.last_lap_completed = 11
    feed(state, car, vehicle(pit_active=False, speed=50), T0 + timedelta(seconds=30))
    assert car.lap_included_pit is True


def test_without_trusted_signal_bars_the_pit_state_is_not_owned():
    state = FlagtronicsState()
    for bars in (None, 2):
        car = Car(number=f"c{bars}", signal_bars=bars)
        for s in (0, 8):
            changes = feed(state, car, vehicle(car_number=car.number, pit_active=True,
                                               pit_duration="00:00:10.000"), T0 + timedelta(seconds=s))
        assert car.is_in_pit is False and not owns_pit(state, car.number)
        assert car.pit_duration_ms == 10_000, "pit timings are Flagtronics-only and still apply"


def test_ownership_is_held_while_the_car_is_in_pit_until_it_completes_a_lap():
    state, car = FlagtronicsState(), Car(signal_bars=5)
    for s in (0, 8):
        feed(state, car, vehicle(pit_active=True), T0 + timedelta(seconds=s))
    assert owns_pit(state, "42") and car.is_in_pit
    car.signal_bars = 1
    feed(state, car, vehicle(pit_active=True), T0 + timedelta(seconds=9))
    assert owns_pit(state, "42"), "no hand-over in the middle of a stop"
    car.last_lap_completed = 11
    feed(state, car, vehicle(pit_active=True), T0 + timedelta(seconds=10))
    assert not owns_pit(state, "42"), "a completed lap releases the hold"


def test_flags_driver_and_speed_enforcement_fields_are_applied():
    state, car = FlagtronicsState(), Car()
    changes = feed(state, car, vehicle(car_flag="Blue", driver_source="BleDrid", enforced=True,
                                       speed_violation=True, flagging_zone=130, driver_name="  Jane Racer ",
                                       driver_id=70000221), T0)
    assert changes["local_flag"] == Flags.BLUE
    assert changes["driver_source"] == "blePuck"
    assert (changes["pit_speed_enforced"], changes["speed_violation"], changes["flagging_zone"]) == (True, True, 130)
    assert (changes["driver_name"], changes["driver_id"]) == ("Jane Racer", "70000221")
    feed(state, car, vehicle(car_flag="SomeFutureFlag", driver_id=4294967295, driver_source="manualOverride"),
         T0 + timedelta(seconds=1))
    assert (car.local_flag, car.driver_id, car.driver_source) == (Flags.UNKNOWN, "70000221", "manualOverride")


def test_pit_entry_time_and_duration_come_from_the_record():
    state, car = FlagtronicsState(), Car()
    changes = feed(state, car, vehicle(pit_active=True, pit_entry_time=datetime(2026, 7, 17, 9, 12, 41),
                                       pit_duration="00:03:05.000"), T0)
    assert changes["pit_entry_time"] == datetime(2026, 7, 17, 9, 12, 41)
    assert changes["pit_duration_ms"] == 185_000


def test_reapplying_after_a_reset_restores_state_without_edges():
    state, car = FlagtronicsState(), Car()
    for s in (0, 8):
        feed(state, car, vehicle(pit_active=True, speed=30, lat=36.5, lon=-121.7), T0 + timedelta(seconds=s))
    fresh = Car()
    changes = reapply_car(state, fresh)
    assert changes["is_in_pit"] is True and changes["speed_mph"] == 30 and changes["latitude"] == 36.5
    assert "is_entered_pit" not in changes
    assert reapply_car(state, Car(number="99")) == {}


# --- signal bars -----------------------------------------------------------------------------

def test_signal_bars_start_full_and_degrade_with_the_fault_rate():
    state = FlagtronicsState()
    car = Car(signal_bars=None)
    record_tick(state, "42", False, T0)
    changes, session = signal_sweep(state, [car], T0, has_telemetry_source=False)
    assert changes == {"42": {"signal_bars": 5}} and session == {"has_telemetry_source": True}
    car.signal_bars = 5
    for s in range(1, 40):  # half the records faulted
        record_tick(state, "42", s % 2 == 0, T0 + timedelta(seconds=s))
    at = T0 + timedelta(seconds=39)
    assert signal_sweep(state, [car], at, True) == ({}, {}), "a change must hold before it is shown"
    changes, _ = signal_sweep(state, [car], at + timedelta(seconds=10), True)
    assert changes == {"42": {"signal_bars": 2}}


def test_a_car_that_stops_reporting_drops_to_zero_bars_and_the_source_goes_away():
    state = FlagtronicsState()
    record_tick(state, "42", False, T0)
    car = Car(signal_bars=5)
    later = T0 + timedelta(seconds=46)
    signal_sweep(state, [car], later, True)
    changes, session = signal_sweep(state, [car], later + timedelta(seconds=10), True)
    assert changes == {"42": {"signal_bars": 0}} and session == {}
    assert signal_sweep(state, [car], T0 + timedelta(seconds=91), True)[1] == {"has_telemetry_source": False}


def test_faulted_records_are_no_fix_bad_speed_or_a_pit_zone_at_speed():
    assert is_faulted(vehicle())
    assert is_faulted(vehicle(lat=0.0, lon=0.0))
    assert is_faulted(vehicle(lat=1.0, lon=1.0, speed=255))
    assert is_faulted(vehicle(lat=1.0, lon=1.0, speed=90, flagging_zone=130))
    assert not is_faulted(vehicle(lat=1.0, lon=1.0, speed=254, flagging_zone=130))
    assert not is_faulted(vehicle(lat=1.0, lon=1.0, speed=90, flagging_zone=12))


# --- purple override -------------------------------------------------------------------------

YS = datetime(2026, 8, 14, 13, 10, 0)


def t(hms: str) -> datetime:
    h, m, s = (int(x) for x in hms.split(":"))
    return datetime(2026, 8, 14, h, m, s)


def report(override, periods, flag, start: str, rmonitor=Flags.YELLOW):
    """A full-course flag first seen at `start`, reconciled again ten seconds later."""
    periods, _ = purple_reconcile(override, periods, rmonitor, flag, start)
    h, m, s = (int(x) for x in start.split(":"))
    later = (datetime(2000, 1, 1, h, m, s) + timedelta(seconds=10)).strftime("%H:%M:%S")
    return purple_reconcile(override, periods, rmonitor, flag, later)


def test_the_time_of_day_parses_and_garbage_is_no_clock():
    assert parse_time_of_day("09:08:50") == 32930
    assert parse_time_of_day("9:08:50") == 32930
    assert parse_time_of_day("") is None and parse_time_of_day("25:00:00") is None


def test_a_purple_during_a_yellow_ends_the_yellow_and_opens_a_purple():
    periods, changed = report(PurpleOverride(), [FlagPeriod(Flags.YELLOW, YS)], Flags.PURPLE35, "13:12:30")
    assert changed
    assert periods == [FlagPeriod(Flags.YELLOW, YS, t("13:12:29")), FlagPeriod(Flags.PURPLE35, t("13:12:30"))]


def test_the_boundary_is_back_dated_to_when_the_purple_was_first_seen():
    o, periods = PurpleOverride(), [FlagPeriod(Flags.YELLOW, YS)]
    periods, changed = purple_reconcile(o, periods, Flags.YELLOW, Flags.PURPLE35, "13:12:30")
    assert not changed, "a single record is not enough"
    periods, changed = purple_reconcile(o, periods, Flags.YELLOW, Flags.PURPLE35, "13:12:41")
    assert changed and periods[1].start == t("13:12:30")


def test_a_purple_that_does_not_hold_is_not_logged():
    o, periods = PurpleOverride(), [FlagPeriod(Flags.YELLOW, YS)]
    for sec in ("30", "31", "32"):
        periods, changed = purple_reconcile(o, periods, Flags.YELLOW, Flags.PURPLE35, f"13:12:{sec}")
        assert not changed
    periods, changed = purple_reconcile(o, periods, Flags.YELLOW, Flags.YELLOW, "13:12:33")
    assert not changed and periods == [FlagPeriod(Flags.YELLOW, YS)]


def test_a_flapping_full_course_flag_is_not_logged():
    o, periods = PurpleOverride(), [FlagPeriod(Flags.YELLOW, YS)]
    for sec in range(30, 45):
        flag = Flags.PURPLE35 if sec % 2 == 0 else Flags.YELLOW
        periods, changed = purple_reconcile(o, periods, Flags.YELLOW, flag, f"13:12:{sec:02d}")
        assert not changed


def test_a_purple_released_under_yellow_ends_the_purple_and_resumes_the_yellow():
    o = PurpleOverride()
    periods, _ = report(o, [FlagPeriod(Flags.YELLOW, YS)], Flags.PURPLE35, "13:12:30")
    periods, changed = report(o, periods, Flags.YELLOW, "13:20:00")
    assert changed
    assert periods[1:] == [FlagPeriod(Flags.PURPLE35, t("13:12:30"), t("13:19:59")), FlagPeriod(Flags.YELLOW, t("13:20:00"))]


@pytest.mark.parametrize("seen", ["13:10:03", "13:10:05"])
def test_a_purple_called_with_the_caution_takes_its_entry_over(seen):
    periods, changed = report(PurpleOverride(), [FlagPeriod(Flags.YELLOW, YS)], Flags.PURPLE35, seen)
    assert changed and periods == [FlagPeriod(Flags.PURPLE35, YS)]


def test_a_purple_called_well_into_the_caution_splits_it():
    periods, _ = report(PurpleOverride(), [FlagPeriod(Flags.YELLOW, YS)], Flags.PURPLE35, "13:10:06")
    assert periods == [FlagPeriod(Flags.YELLOW, YS, t("13:10:05")), FlagPeriod(Flags.PURPLE35, t("13:10:06"))]


def test_a_purple_called_before_the_caution_takes_the_caution_over_once_it_is_logged():
    o = PurpleOverride()
    periods = [FlagPeriod(Flags.GREEN, t("13:00:00"))]
    periods, changed = purple_reconcile(o, periods, Flags.GREEN, Flags.PURPLE35, "13:09:55")
    assert not changed
    periods, _ = flaglist_reconcile(periods, [FlagPeriod(Flags.GREEN, t("13:00:00"), t("13:09:59")),
                                              FlagPeriod(Flags.YELLOW, YS)])
    periods, changed = purple_reconcile(o, periods, Flags.YELLOW, Flags.PURPLE35, "13:10:10")
    assert changed
    assert periods == [FlagPeriod(Flags.GREEN, t("13:00:00"), t("13:09:59")), FlagPeriod(Flags.PURPLE35, YS)]


def test_a_purple_returning_just_after_it_lifted_does_not_take_over_the_resumed_caution():
    o = PurpleOverride()
    periods, _ = report(o, [FlagPeriod(Flags.YELLOW, YS)], Flags.PURPLE35, "13:12:30")
    periods, _ = report(o, periods, Flags.YELLOW, "13:20:00")
    periods, _ = report(o, periods, Flags.PURPLE35, "13:20:05")
    assert periods == [
        FlagPeriod(Flags.YELLOW, YS, t("13:12:29")),
        FlagPeriod(Flags.PURPLE35, t("13:12:30"), t("13:19:59")),
        FlagPeriod(Flags.YELLOW, t("13:20:00"), t("13:20:04")),
        FlagPeriod(Flags.PURPLE35, t("13:20:05")),
    ]


def test_nothing_is_written_under_green_for_a_timing_system_purple_or_without_an_open_yellow():
    green = [FlagPeriod(Flags.GREEN, YS)]
    assert report(PurpleOverride(), green, Flags.PURPLE35, "13:12:30", rmonitor=Flags.GREEN) == (green, False)
    own = [FlagPeriod(Flags.YELLOW, YS, t("13:14:59")), FlagPeriod(Flags.PURPLE35, t("13:15:00"))]
    assert report(PurpleOverride(), own, Flags.YELLOW, "13:20:00", rmonitor=Flags.PURPLE35) == (own, False)
    closed = [FlagPeriod(Flags.YELLOW, YS, t("13:12:00"))]
    assert report(PurpleOverride(), closed, Flags.PURPLE35, "13:12:30") == (closed, False)


def test_without_a_clock_or_with_a_clock_far_ahead_the_log_is_left_alone():
    log = [FlagPeriod(Flags.YELLOW, YS)]
    o = PurpleOverride()
    assert purple_reconcile(o, log, Flags.YELLOW, Flags.PURPLE35, "") == (log, False)
    assert purple_reconcile(o, log, Flags.YELLOW, Flags.PURPLE35, "") == (log, False)
    # 13:09:50 is before the caution: it rolls to the next day, more than 12 h ahead.
    assert report(PurpleOverride(), log, Flags.PURPLE35, "13:09:40") == (log, False)


def test_a_continuing_purple_changes_nothing_further():
    o = PurpleOverride()
    periods, _ = report(o, [FlagPeriod(Flags.YELLOW, YS)], Flags.PURPLE35, "13:12:30")
    assert purple_reconcile(o, periods, Flags.YELLOW, Flags.PURPLE35, "13:12:45") == (periods, False)


def test_after_a_restart_an_open_purple_is_still_released():
    periods, _ = report(PurpleOverride(), [FlagPeriod(Flags.YELLOW, YS)], Flags.PURPLE35, "13:12:30")
    periods, changed = report(PurpleOverride(), periods, Flags.YELLOW, "13:20:00")
    assert changed and periods[-1] == FlagPeriod(Flags.YELLOW, t("13:20:00"))


# --- recording replay (§9.10) ----------------------------------------------------------------

def read_event_log(path: Path) -> list[tuple[datetime, str, str]]:
    """Blocks of ``##yyyy-MM-dd HH:mm:ss.fff|type`` + payload (a missing type means rmonitor)."""
    records, header, lines = [], None, []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        if line.startswith("##"):
            if header:
                records.append((*header, "\n".join(lines).strip()))
            stamp, _, kind = line[2:].strip().partition("|")
            header, lines = (datetime.strptime(stamp.strip(), "%Y-%m-%d %H:%M:%S.%f"), kind.strip() or "rmonitor"), []
        else:
            lines.append(line)
    if header:
        records.append((*header, "\n".join(lines).strip()))
    return records


RMONITOR_FLAGS = {"Green": Flags.GREEN, "Yellow": Flags.YELLOW, "Red": Flags.RED, "White": Flags.WHITE,
                  "Finish": Flags.CHECKERED}


def replay(stop: datetime | None = None):
    """Flags + ftcar through our helpers; `$F` lines only give the RMonitor flag and clock."""
    periods: list[FlagPeriod] = []
    override = PurpleOverride()
    rmonitor_flag, clock, full_course = Flags.UNKNOWN, "", None
    counts = {"flags": 0, "rmonitor": 0, "ftcar": 0}
    for stamp, kind, payload in read_event_log(RECORDING):
        if stop is not None and stamp >= stop:
            break
        counts[kind] += 1
        if kind == "flags":
            incoming, rejections = parse_flag_list(payload)
            assert rejections == []
            periods, _ = flaglist_reconcile(periods, incoming)
        elif kind == "rmonitor":
            for line in payload.splitlines():
                if line.startswith("$F,"):
                    fields = line.split(",")
                    clock = fields[3].strip('"')
                    rmonitor_flag = RMONITOR_FLAGS.get(fields[5].strip().strip('"').strip(), Flags.UNKNOWN)
        elif kind == "ftcar":
            vehicles, rejections = parse_vehicles(payload)
            assert rejections == [] and len(vehicles) == 2
            full_course = full_course_flag(vehicles) or full_course
        periods, _ = purple_reconcile(override, periods, rmonitor_flag, full_course, clock)
    return periods, effective_flag(rmonitor_flag, full_course), counts


def d(hms: str) -> datetime:
    h, m, s = (int(x) for x in hms.split(":"))
    return datetime(2026, 8, 2, h, m, s)


def test_replaying_the_purple_capture_reproduces_the_asserted_flag_log():
    periods, current_flag, counts = replay()
    assert counts == {"flags": 3, "rmonitor": 428, "ftcar": 122}
    assert periods == [
        FlagPeriod(Flags.GREEN, d("08:59:29"), d("09:08:50")),
        FlagPeriod(Flags.YELLOW, d("09:08:50"), d("09:09:05")),
        FlagPeriod(Flags.PURPLE35, d("09:09:06"), d("09:15:10")),
        FlagPeriod(Flags.YELLOW, d("09:15:11"), d("09:15:34")),
        FlagPeriod(Flags.GREEN, d("09:15:34"), None),
    ]
    assert current_flag == Flags.GREEN


def test_stopping_the_capture_mid_caution_leaves_only_the_purple_open():
    periods, current_flag, _ = replay(stop=datetime(2026, 8, 2, 13, 12, 0))
    assert current_flag == Flags.PURPLE35
    assert [p for p in periods if p.end is None] == [FlagPeriod(Flags.PURPLE35, d("09:09:06"))]


def test_random_garbage_never_raises():
    import random

    rng = random.Random(11)
    pieces = ['[', ']', '{', '}', '"carNumber"', '"speed"', '"pitActive"', '"pitDuration"', '"pitEntryTime"',
              '"flaggingZone"', ':', ',', '"42"', '254', '1e400', 'NaN', 'true', 'null', '"99:99:99"', '"2026-01-01"']
    state, car = FlagtronicsState(), Car()
    for i in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 20)))
        for v in parse_vehicles(text)[0]:
            apply_vehicle(state, car, v, T0 + timedelta(seconds=i))
        purple_reconcile(PurpleOverride(), [], Flags.YELLOW, rng.choice([None, 99, 7]), rng.choice(["", "x", "12:00:00"]))
