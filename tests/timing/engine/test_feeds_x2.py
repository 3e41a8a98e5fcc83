"""X2 passings and loops through TimingEngine.apply (spec §3, checklist 74-84)."""

from __future__ import annotations

import json

from apps.timing.engine import TimingEngine

from .helpers import competitor, patch_for
from .test_feeds_multiloop import Feeds, completed_lap

PIT_IN, PIT_EXIT, PIT_SF, OTHER, START_FINISH = 1, 2, 3, 5, 0
LOOPS = [{"id": 10, "eventId": 1, "type": START_FINISH, "name": "SF"},
         {"id": 11, "eventId": 1, "type": PIT_IN, "name": "PitIn"},
         {"id": 12, "eventId": 1, "type": PIT_EXIT, "name": "PitOut"},
         {"id": 13, "eventId": 1, "type": PIT_SF, "name": "PitSF"},
         {"id": 15, "eventId": 1, "type": OTHER, "name": "Bridge"}]
TP = {"8": 100, "9": 101}


def passing(number: str, loop: int, pit: bool = False, pid: int = 1, at: str = "2025-04-26T12:00:00") -> dict:
    return {"o": 1, "e": 1, "i": pid, "l": loop, "t": TP.get(number, 999), "ts": 1, "h": 3, "tl": at, "tu": at,
            "p": pit, "r": False}


class X2Feeds(Feeds):
    def __init__(self) -> None:
        super().__init__("8", "9")
        self.engine.set_loop_metadata(LOOPS)
        self.pid = 0

    def x2(self, *passings: dict):
        return self.send("x2pass", json.dumps(list(passings)))

    def lap(self, number: str, lap: int):
        return self.rmonitor(f'$G,1,"{number}",{lap},"00:{lap:02d}:00.000"')


def test_invalid_json_empty_lists_and_null_change_nothing():
    f = X2Feeds()
    r = f.send("x2pass", "{not json")
    assert not r.car_patches and r.rejections and r.rejections[0].startswith("x2pass: invalid JSON")
    for payload in ("[]", "null"):
        assert not f.send("x2pass", payload).changed


def test_passings_are_ignored_while_multiloop_is_active():
    f = X2Feeds()
    f.multiloop(completed_lap("9"))
    r = f.x2(passing("8", 11, pit=True))
    assert patch_for(r, "8") is None and f.car("8")["ip"] is False
    assert f.engine.counters["x2:skipped_multiloop"] == 1


def test_a_pit_in_loop_with_the_pit_flag_puts_the_car_in_and_marks_the_entry():
    f = X2Feeds()
    p = patch_for(f.x2(passing("8", 11, pit=True)), "8")
    assert p["ip"] is True and p["enp"] is True and p["lip"] is True


def test_a_pit_exit_loop_marks_the_exit_and_a_pit_start_finish_loop_marks_it():
    f = X2Feeds()
    f.x2(passing("8", 11, pit=True, pid=1))
    p = patch_for(f.x2(passing("8", 12, pit=False, pid=2)), "8")
    assert p["exp"] is True and p["enp"] is False and p["ip"] is False
    p = patch_for(f.x2(passing("9", 13, pit=True, pid=3)), "9")
    assert p["psf"] is True and p["ip"] is True


def test_an_unknown_loop_with_the_pit_flag_puts_the_car_in_with_every_loop_flag_false():
    f = X2Feeds()
    f.x2(passing("8", 77, pit=True))
    car = f.car("8")
    assert car["ip"] is True and (car["enp"], car["exp"], car["psf"]) == (False, False, False)


def test_unknown_transponders_are_skipped_and_the_last_passing_per_transponder_wins():
    f = X2Feeds()
    r = f.x2(passing("none", 11, pit=True), passing("8", 11, pit=True, pid=1), passing("8", 12, pid=2),
             passing("9", 13, pit=True, pid=3))
    assert [p["n"] for p in r.car_patches] == ["8", "9"]
    assert f.engine.counters["x2:unknown_transponder"] == 1
    car = f.car("8")
    assert car["ip"] is False and car["exp"] is True  # the exit passing came last


def test_in_pit_is_absent_from_the_patch_when_it_did_not_change():
    f = X2Feeds()
    f.x2(passing("8", 11, pit=True, pid=1))
    p = patch_for(f.x2(passing("8", 77, pit=True, pid=2)), "8")
    assert "ip" not in p and p["enp"] is False


def test_a_pit_entrance_or_pit_start_finish_loop_keeps_a_car_in_the_pit_but_never_puts_it_there():
    f = X2Feeds()
    f.x2(passing("8", 77, pit=True, pid=1))
    p = patch_for(f.x2(passing("8", 13, pit=False, pid=2)), "8")
    assert "ip" not in p and f.car("8")["ip"] is True  # kept in by the pit S/F loop
    p = patch_for(f.x2(passing("9", 11, pit=False, pid=3)), "9")
    assert p["enp"] is True and "ip" not in p and f.car("9")["ip"] is False  # not put in by the entrance


def test_the_last_loop_name_comes_from_an_other_loop_by_its_loop_id_and_clears_elsewhere():
    f = X2Feeds()
    assert patch_for(f.x2(passing("8", 15, pid=999)), "8")["ln"] == "Bridge"
    assert "ln" not in (patch_for(f.x2(passing("8", 15, pid=1000)), "8") or {})  # unchanged name: not rewritten
    assert patch_for(f.x2(passing("8", 10, pid=1001)), "8")["ln"] == ""


def test_a_pit_stop_marks_the_next_lap_as_a_pit_lap_and_the_logged_lap_carries_it():
    f = X2Feeds()
    f.lap("8", 4)
    f.x2(passing("8", 11, pit=True, pid=1, at="2025-04-26T12:10:00"))
    r = f.x2(passing("8", 12, pit=False, pid=2, at="2025-04-26T12:11:30"))
    p = patch_for(r, "8")
    assert p["ip"] is False and p["lip"] is False  # lap 4 was not a pit lap
    car = f.car("8")
    assert (car["psc"], car["lastLapPitted"], car["pdm"]) == (1, 5, 90000)  # X2's own stop count (deviation)
    r = f.lap("8", 5)
    assert [(lap.lap_number, lap.car["lip"]) for lap in r.completed_laps] == [(5, True)]
    r = f.lap("8", 6)
    assert [(lap.lap_number, lap.car["lip"]) for lap in r.completed_laps] == [(6, False)]
    assert f.engine.feeds.x2.cars["8"].pit_laps == {5}


def test_an_rmonitor_reset_keeps_the_pit_state_x2_gave_the_car():
    f = X2Feeds()
    f.x2(passing("8", 11, pit=True))
    r = f.rmonitor('$I,"12:00:00","26 Apr 25"', '$C,1,"GT"', competitor("8", 1, 100), competitor("9", 1, 101))
    assert r.reset and f.car("8")["ip"] is True and f.car("8")["enp"] is True
    assert f.car("9")["ip"] is False


def test_a_passing_for_a_car_not_yet_named_applies_when_rmonitor_names_it():
    f = X2Feeds()
    TP["7"] = 107
    try:
        f.x2(passing("7", 11, pit=True))
        r = f.rmonitor(competitor("7", 1, 107))
        assert patch_for(r, "7")["ip"] is True
    finally:
        del TP["7"]


def test_loop_metadata_comes_from_the_event_and_reevaluates_the_cars():
    f = X2Feeds()
    f.engine.set_loop_metadata([])
    f.x2(passing("8", 15))
    assert f.car("8")["ln"] == ""  # loop 15 unknown without metadata
    r = f.send("loopsmetadata", json.dumps(LOOPS))
    assert patch_for(r, "8")["ln"] == "Bridge"
    assert f.engine.set_loop_metadata('[{"id": 1, "type": 42}]') == ["unknown loop type 42"]


def test_evtconfchanged_for_this_event_asks_for_a_reload_and_others_are_ignored():
    f = X2Feeds()
    for payload in ("1", "2", "", "abc"):
        assert not f.send("evtconfchanged", payload).changed
    c = f.engine.counters
    assert (c["evtconfchanged:reload_loops"], c["evtconfchanged:other_event"], c["evtconfchanged:invalid"]) == (1, 1, 2)
    f.x2(passing("8", 15))
    r = f.send("evtconfchanged", json.dumps([{"id": 15, "type": OTHER, "name": "Esses"}]))
    assert patch_for(r, "8")["ln"] == "Esses"


def test_a_car_whose_pit_state_flagtronics_owns_ignores_x2():
    f = X2Feeds()
    f.x2(passing("8", 11, pit=True, pid=1))
    f.engine.feeds.ft.cars.clear()
    from apps.timing.engine.flagtronics import _PitTracker
    f.engine.feeds.ft.cars["8"] = _PitTracker(confirmed=True, owned=True)
    r = f.x2(passing("8", 12, pid=2))
    assert patch_for(r, "8") is None and f.car("8")["ip"] is True
    assert f.engine.counters["x2:skipped_flagtronics"] == 1


def test_loop_lists_are_counted_only():
    f = X2Feeds()
    r = f.send("x2loop", json.dumps([{"id": 1, "name": "SF", "isInPit": False}, {"Id": 2, "IsInPit": True}]))
    assert not r.changed and f.engine.counters["x2:loops"] == 2


def test_snapshot_keeps_the_x2_state_and_the_loop_metadata():
    f = X2Feeds()
    f.lap("8", 3)
    f.x2(passing("8", 11, pit=True, pid=1, at="2025-04-26T12:10:00"))
    g = TimingEngine.restore(f.engine.snapshot())
    assert g.feeds.loops == f.engine.feeds.loops and g.feeds.x2 == f.engine.feeds.x2
    payload = json.dumps([passing("8", 12, pid=2, at="2025-04-26T12:11:00")])
    ra = f.engine.apply("x2pass", payload, session_id=7, received_at=f.now)
    rb = g.apply("x2pass", payload, session_id=7, received_at=f.now)
    assert (ra.seq, ra.car_patches) == (rb.seq, rb.car_patches)
    assert patch_for(rb, "8")["pdm"] == 60000
