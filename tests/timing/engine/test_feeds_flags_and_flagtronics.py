"""Relay flag lists and Flagtronics in-car data through TimingEngine.apply (§6.4, §9.10, checklist 92-98, 135)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from apps.timing.engine import TimingEngine
from apps.timing.engine.replayfile import read_messages

from .helpers import REDMIST, patch_for
from .test_feeds_multiloop import Feeds

PURPLE = REDMIST / "TestFlagtronicsPurple.txt"


def d(hms: str) -> str:
    """A time on the purple capture's day."""
    return f"2026-08-02T{hms}"


def t(hms: str) -> str:
    """A time on the test feeds' day (their clock starts 2025-04-26 12:00)."""
    return f"2025-04-26T{hms}"


def flags(*periods: tuple[int, str, str | None]) -> str:
    return json.dumps([{"f": f, "s": t(s), "e": t(e) if e else None} for f, s, e in periods])


# --- relay flag lists (checklist 92-97) -------------------------------------------------------------

def test_a_full_flag_list_is_kept_with_exact_times_and_the_open_flag_has_no_end():
    f = Feeds()
    r = f.send("flags", flags((2, "08:00:00", "08:10:00"), (1, "08:10:00", "09:00:00"),
                              (4, "09:00:00", "09:02:00"), (5, "09:02:00", None)))
    expected = [{"f": 2, "s": t("08:00:00"), "e": t("08:10:00")}, {"f": 1, "s": t("08:10:00"), "e": t("09:00:00")},
                {"f": 4, "s": t("09:00:00"), "e": t("09:02:00")}, {"f": 5, "s": t("09:02:00"), "e": None}]
    assert r.flag_periods == expected and r.session_patch["flagDurations"] == expected
    assert f.engine.state_json()["flagDurations"] == expected


def test_a_flag_list_far_ahead_of_the_track_clock_is_ignored():
    f = Feeds()
    assert not f.send("flags", json.dumps([{"f": 1, "s": "2025-04-27T08:00:00", "e": None}])).changed


def test_a_later_end_time_updates_the_period_and_an_identical_list_changes_nothing():
    f = Feeds()
    f.send("flags", flags((1, "08:00:00", None)))
    seq = f.engine.seq
    assert not f.send("flags", flags((1, "08:00:00", None))).changed and f.engine.seq == seq
    r = f.send("flags", flags((1, "08:00:00", "08:30:00")))
    assert r.flag_periods == [{"f": 1, "s": t("08:00:00"), "e": t("08:30:00")}] and r.seq == seq + 1


def test_a_new_flag_closes_the_open_one_at_its_start():
    f = Feeds()
    f.send("flags", flags((1, "08:00:00", None)))
    r = f.send("flags", flags((2, "08:20:00", None)))
    assert r.flag_periods == [{"f": 1, "s": t("08:00:00"), "e": t("08:20:00")},
                              {"f": 2, "s": t("08:20:00"), "e": None}]


def test_the_relay_list_replaces_the_heartbeat_log_and_heartbeats_stop_logging():
    f = Feeds()
    f.rmonitor('$F,9999,"00:10:00","08:05:00","00:01:00","Green "')
    assert [p["s"] for p in f.engine.state_json()["flagDurations"]] == ["2025-04-26T08:05:00"]
    f.send("flags", flags((1, "08:00:00", None)))
    f.rmonitor('$F,9999,"00:10:00","08:06:00","00:02:00","Yellow"')
    assert f.engine.state_json()["flagDurations"] == [{"f": 1, "s": t("08:00:00"), "e": None}]
    assert f.engine.session.current_flag == 2  # the flag itself still follows the heartbeat


def test_a_new_session_starts_a_new_flag_log_and_the_heartbeat_logs_until_the_relay_list_comes():
    f = Feeds()
    f.send("flags", flags((1, "08:00:00", None)))
    r = f.send("evtsessionchanged", '{"sid": 8, "eid": 1, "n": "Race 2"}')
    assert r.flag_periods == []
    f.rmonitor('$F,9999,"00:10:00","10:00:00","00:01:00","Green "')
    assert len(f.engine.state_json()["flagDurations"]) == 1  # heartbeat-derived again
    assert not f.engine.feeds.relay_flags


def test_bad_flag_entries_are_rejected_and_the_rest_is_used():
    f = Feeds()
    r = f.send("flags", '[{"f": 1, "s": "2025-04-26T08:00:00"}, {"f": 99, "s": "x"}, 5]')
    assert r.flag_periods == [{"f": 1, "s": t("08:00:00"), "e": None}]
    assert r.rejections == ["flags: unknown flag value 99", "flags: flag entry is not an object"]


# --- §9.10 TestFlagtronicsPurple through the engine -------------------------------------------------

def replay_purple(stop: datetime | None = None):
    engine = TimingEngine(1)
    messages = read_messages(PURPLE)
    engine.apply("evtsessionchanged", '{"sid": 3, "eid": 1, "n": "Saturday Race"}', session_id=3,
                 received_at=messages[0].received_at)
    published, kinds = None, {}
    for m in messages:
        if stop is not None and m.received_at >= stop:
            break
        kinds[m.kind] = kinds.get(m.kind, 0) + 1
        r = engine.apply(m.kind, m.payload, session_id=3, received_at=m.received_at)
        assert r.rejections == []
        if r.flag_periods is not None:
            published = r.flag_periods
    return engine, published, kinds


def test_replaying_the_purple_capture_through_the_engine_reproduces_the_asserted_flag_log():
    engine, published, kinds = replay_purple()
    assert kinds == {"flags": 3, "rmonitor": 428, "ftcar": 122}
    expected = [{"f": 1, "s": d("08:59:29"), "e": d("09:08:50")},
                {"f": 2, "s": d("09:08:50"), "e": d("09:09:05")},
                {"f": 7, "s": d("09:09:06"), "e": d("09:15:10")},
                {"f": 2, "s": d("09:15:11"), "e": d("09:15:34")},
                {"f": 1, "s": d("09:15:34"), "e": None}]
    assert engine.state_json()["flagDurations"] == expected
    assert published == expected  # the last published FlagDurations equal the log
    assert engine.session.current_flag == 1 and engine.session.session_id == 3


def test_stopping_the_purple_capture_mid_caution_shows_purple_with_only_the_purple_open():
    engine, _, _ = replay_purple(stop=datetime(2026, 8, 2, 13, 12, 0))
    assert engine.session.current_flag == 7
    assert [p for p in engine.state_json()["flagDurations"] if p["e"] is None] == [
        {"f": 7, "s": d("09:09:06"), "e": None}]


def test_the_purple_override_survives_a_take_over_by_another_worker():
    stop = datetime(2026, 8, 2, 13, 12, 0)
    messages = read_messages(PURPLE)
    a = TimingEngine(1)
    a.apply("evtsessionchanged", '{"sid": 3, "n": "Saturday Race"}', session_id=3, received_at=messages[0].received_at)
    for m in messages:
        if m.received_at >= stop:
            break
        a.apply(m.kind, m.payload, session_id=3, received_at=m.received_at)
    b = TimingEngine.restore(a.snapshot())
    for m in messages:
        if m.received_at >= stop:
            ra = a.apply(m.kind, m.payload, session_id=3, received_at=m.received_at)
            rb = b.apply(m.kind, m.payload, session_id=3, received_at=m.received_at)
            assert (ra.seq, ra.session_patch, ra.flag_periods) == (rb.seq, rb.session_patch, rb.flag_periods)
    assert len(b.state_json()["flagDurations"]) == 5 and b.state_json() == a.state_json()


def test_the_replay_command_takes_typed_block_recordings(tmp_path, capsys):
    from django.core.management import call_command

    out = tmp_path / "state.json"
    call_command("replay", str(PURPLE), "--json", str(out))
    state = json.loads(out.read_text())
    assert [p["f"] for p in state["flagDurations"]] == [1, 2, 7, 2, 1]
    assert "0 records rejected" in capsys.readouterr().out


# --- Flagtronics vehicle records (checklist 135) ------------------------------------------------------

T = datetime(2026, 8, 2, 13, 0, 0)


def vehicle(number: str = "8", **kw) -> dict:
    base = {"carNumber": number, "speed": 63, "lat": 36.55, "lon": -79.2, "carFlag": "Green",
            "fullCourseFlag": "Green", "flaggingZone": 11, "pitActive": False}
    base.update(kw)
    return base


class FtFeeds(Feeds):
    def ftcar(self, *vehicles: dict, seconds: float = 1.0):
        self.now += timedelta(seconds=seconds - 1)
        return self.send("ftcar", json.dumps(list(vehicles)))


def test_position_speed_flag_and_driver_fields_are_applied_with_contract_names():
    f = FtFeeds("8")
    r = f.ftcar(vehicle(carFlag="Blue", driverSource="BleDrid", driverName="Ann Lee", driverId=42,
                        pitDuration="00:01:30.000", enforced=True))
    p = patch_for(r, "8")
    assert (p["lat"], p["lon"], p["spd"], p["lflg"], p["ds"], p["dn"], p["did"], p["pdm"], p["pse"], p["fz"]) == \
        (36.55, -79.2, 63, 9, "blePuck", "Ann Lee", "42", 90000, True, 11)


def test_telemetry_source_and_signal_bars_come_with_the_heartbeat_lane():
    f = FtFeeds("8", "9")
    f.ftcar(vehicle())
    r = f.rmonitor('$F,9999,"00:10:00","09:00:00","00:01:00","Green "')
    assert r.session_patch["hasTelemetrySource"] is True
    assert patch_for(r, "8")["sb"] == 5 and patch_for(r, "9") is None  # car 9 has no device
    g = FtFeeds("8")
    assert "hasTelemetrySource" not in (g.rmonitor('$F,9999,"00:10:00","09:00:00","00:01:00","Green "')
                                        .session_patch or {})


def test_every_heartbeat_runs_the_in_car_sweep_so_a_silent_telemetry_source_is_noticed():
    f = FtFeeds("8")
    f.ftcar(vehicle())
    assert f.rmonitor('$F,9999,"00:10:00","09:00:00","00:01:00","Green "').session_patch["hasTelemetrySource"]
    f.now += timedelta(seconds=120)  # no in-car data for longer than the source counts as live
    r = f.send("rmonitor", '$F,9999,"00:09:59","09:00:01","00:01:01","Green "')
    assert r.session_patch["hasTelemetrySource"] is False


def test_in_car_pit_state_is_confirmed_after_eight_seconds_for_a_car_with_a_trusted_device():
    f = FtFeeds("8")
    f.ftcar(vehicle())
    f.rmonitor('$F,9999,"00:10:00","09:00:00","00:01:00","Green "')  # signal bars 5: device trusted
    assert f.car("8")["sb"] == 5
    r = f.ftcar(vehicle(flaggingZone=130, speed=30))
    assert f.car("8")["ip"] is False
    f.ftcar(vehicle(flaggingZone=130, speed=20), seconds=4)
    r = f.ftcar(vehicle(flaggingZone=130, speed=10), seconds=4)
    p = patch_for(r, "8")
    assert p["ip"] is True and p["enp"] is True
    assert f.engine.feeds.ft.cars["8"].owned


def test_a_purple_full_course_flag_under_an_rmonitor_yellow_makes_the_current_flag_purple():
    f = FtFeeds("8")
    f.rmonitor('$F,9999,"00:10:00","09:00:00","00:01:00","Yellow"')
    r = f.ftcar(vehicle(fullCourseFlag="Purple"))
    assert r.session_patch["currentFlag"] == 7
    r = f.ftcar(vehicle(fullCourseFlag="FCYellow"))
    assert r.session_patch["currentFlag"] == 2


def test_records_for_cars_the_timing_system_does_not_know_are_skipped():
    f = FtFeeds("8")
    r = f.ftcar(vehicle("77"), {"speed": 3})
    assert not r.car_patches and f.engine.counters["ftcar:car_not_found"] == 1
    assert r.rejections == ["ftcar: carNumber missing or blank"]
