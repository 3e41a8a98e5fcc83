"""X2 passings, loops, loop metadata and the per-car pit rules (spec §3, checklist 74-84)."""

import json
from dataclasses import dataclass
from datetime import datetime

from apps.timing.engine.x2 import (
    LoopMetadata,
    LoopType,
    Passing,
    X2PitState,
    apply_passing,
    car_pit_changes,
    parse_loop_metadata,
    parse_loops,
    parse_passings,
    was_pit_lap,
)

LOOPS = {
    1: LoopMetadata(1, LoopType.START_FINISH, "SF"),
    10: LoopMetadata(10, LoopType.PIT_IN, "PitIn"),
    11: LoopMetadata(11, LoopType.PIT_EXIT, "PitOut"),
    12: LoopMetadata(12, LoopType.PIT_START_FINISH, "PitSF"),
    13: LoopMetadata(13, LoopType.PIT_OTHER, "PitBox"),
    20: LoopMetadata(20, LoopType.OTHER, "Bridge"),
    21: LoopMetadata(21, LoopType.OTHER, "Esses"),
}


@dataclass
class Car:
    number: str = "42"
    transponder_id: int = 4242
    last_lap_completed: int = 10
    is_in_pit: bool = False
    is_entered_pit: bool = False
    is_exited_pit: bool = False
    is_pit_start_finish: bool = False
    last_loop_name: str = ""
    lap_included_pit: bool = False
    pit_stop_count: int | None = None
    last_lap_pitted: int | None = None
    pit_entry_time: datetime | None = None
    pit_duration_ms: int | None = None


_ids = iter(range(1000, 100000))


def passing(loop: int, p: bool = False, tp: int = 4242, at: str | None = None, pid: int | None = None) -> Passing:
    stamp = datetime.fromisoformat(f"2026-08-02T{at}") if at else None
    return Passing(id=next(_ids) if pid is None else pid, loop_id=loop, transponder_id=tp, is_in_pit=p,
                   timestamp_utc=stamp)


def feed(state, car, pas) -> dict:
    changes = apply_passing(state, pas, car, LOOPS)
    for name, value in changes.items():
        setattr(car, name, value)
    return changes


# --- parsing ---------------------------------------------------------------------------------

def test_passings_parse_from_the_reference_short_keys():
    payload = json.dumps([{"o": 3, "e": 334, "i": 987654, "l": 10, "t": 4242, "ts": 42, "h": 17,
                           "tl": "2026-08-02T09:08:50.123", "tu": "2026-08-02T13:08:50.123Z", "p": True, "r": False}])
    passings, rejections = parse_passings(payload)
    assert rejections == []
    assert passings == [Passing(id=987654, loop_id=10, transponder_id=4242, is_in_pit=True, org_id=3, event_id=334,
                                transponder_short_id=42, hits=17,
                                timestamp_local=datetime(2026, 8, 2, 9, 8, 50, 123000),
                                timestamp_utc=datetime(2026, 8, 2, 13, 8, 50, 123000), is_resend=False)]


def test_bad_passings_are_rejected_with_a_reason_and_the_rest_still_parse():
    payload = '[{"l":1},{"t":5,"l":"x"},{"t":5,"l":1,"p":"yes"},{"t":-1,"l":1},{"t":5,"l":1,"tu":"noon"},3,{"t":5,"l":1}]'
    passings, rejections = parse_passings(payload)
    assert [p.transponder_id for p in passings] == [5]
    assert [r.reason for r in rejections] == [
        "'t' missing", "'l' is not an integer", "'p' is not a boolean", "'t' is negative",
        "'tu' is not an ISO-8601 time", "passing list element is not an object",
    ]


def test_invalid_json_empty_and_null_passing_lists_give_nothing():
    assert parse_passings("{oops")[1][0].reason.startswith("invalid JSON")
    assert parse_passings("[]") == ([], [])
    assert parse_passings("null") == ([], [])
    assert parse_passings('{"t":1}')[1][0].reason == "passing list is not a JSON array"


def test_loops_parse_case_insensitively():
    loops, rejections = parse_loops('[{"organizationId":3,"eventId":334,"id":7,"name":"Pit In","description":"d",'
                                    '"latitude0":36.5,"longitude0":-79.2,"order":2,"isInPit":true,"IsOnline":true}]')
    assert rejections == []
    loop = loops[0]
    assert (loop.id, loop.name, loop.order, loop.is_in_pit, loop.is_online, loop.latitude0) == (7, "Pit In", 2, True, True, 36.5)
    assert parse_loops('[{"name":"x"}]')[1][0].reason == "'id' missing"


def test_loop_metadata_maps_loop_ids_to_types_and_names():
    meta, rejections = parse_loop_metadata('[{"id":10,"eventId":1,"type":1,"name":"PitIn"},'
                                           '{"id":20,"type":5,"name":"Bridge"},{"id":30,"type":9},{"id":31}]')
    assert meta == {10: LoopMetadata(10, LoopType.PIT_IN, "PitIn", 1), 20: LoopMetadata(20, LoopType.OTHER, "Bridge")}
    assert [r.reason for r in rejections] == ["unknown loop type 9", "'type' is not an integer"]
    assert [int(t) for t in LoopType] == [0, 1, 2, 3, 4, 5]


# --- pit rules -------------------------------------------------------------------------------

def test_a_pit_in_loop_with_the_pit_flag_puts_the_car_in_the_pit_and_sets_entered():
    state, car = X2PitState(), Car()
    changes = feed(state, car, passing(10, p=True))
    assert changes["is_in_pit"] is True and changes["is_entered_pit"] is True


def test_pit_exit_and_pit_start_finish_loops_set_their_flags():
    state, car = X2PitState(), Car()
    assert feed(state, car, passing(11))["is_exited_pit"] is True
    changes = feed(state, car, passing(12, p=True))
    assert changes["is_pit_start_finish"] is True and changes["is_exited_pit"] is False


def test_an_unknown_loop_with_the_pit_flag_sets_in_pit_and_clears_the_loop_flags():
    state, car = X2PitState(), Car(is_entered_pit=True, is_exited_pit=True, is_pit_start_finish=True)
    changes = feed(state, car, passing(999, p=True))
    assert changes == {"is_in_pit": True, "is_entered_pit": False, "is_exited_pit": False,
                       "is_pit_start_finish": False, "lap_included_pit": True, "pit_stop_count": 1,
                       "last_lap_pitted": 11}


def test_an_unknown_transponder_has_no_changes():
    state = X2PitState()
    apply_passing(state, passing(10, p=True, tp=1), Car(transponder_id=1), LOOPS)
    assert car_pit_changes(state, Car(transponder_id=555), LOOPS) == {}


def test_only_the_latest_passing_per_transponder_counts():
    state, car = X2PitState(), Car()
    feed(state, car, passing(10, p=True))
    feed(state, car, passing(1))
    assert car.is_in_pit is False and car.is_entered_pit is False


def test_in_pit_is_absent_from_the_changes_when_unchanged():
    state, car = X2PitState(), Car()
    feed(state, car, passing(13, p=True))
    assert "is_in_pit" not in feed(state, car, passing(13, p=True))


def test_an_entrance_or_pit_start_finish_loop_keeps_a_car_in_the_pit_but_never_puts_it_there():
    state, car = X2PitState(), Car()
    feed(state, car, passing(13, p=True))
    assert "is_in_pit" not in feed(state, car, passing(10, p=False))
    assert car.is_in_pit is True
    feed(state, car, passing(12, p=False))
    assert car.is_in_pit is True
    other = Car(number="7", transponder_id=7)
    feed(state, other, passing(10, p=False, tp=7))
    assert other.is_in_pit is False and other.is_entered_pit is True


def test_the_last_loop_name_is_looked_up_by_loop_id_not_passing_id():
    # The reference looked the name up with the passing id; pin that we use the loop id.
    state, car = X2PitState(), Car()
    changes = feed(state, car, passing(20, pid=21))
    assert changes["last_loop_name"] == "Bridge"
    feed(state, car, passing(21, pid=20))
    assert car.last_loop_name == "Esses"


def test_the_last_loop_name_clears_off_an_other_loop_and_is_not_rewritten_when_unchanged():
    state, car = X2PitState(), Car()
    feed(state, car, passing(20))
    assert "last_loop_name" not in feed(state, car, passing(20))
    assert car.last_loop_name == "Bridge"
    assert feed(state, car, passing(1))["last_loop_name"] == ""


def test_entering_the_pit_records_the_next_lap_and_lap_included_pit_follows():
    state, car = X2PitState(), Car(last_lap_completed=10)
    feed(state, car, passing(10, p=True))
    assert was_pit_lap(state, "42", 11) and not was_pit_lap(state, "42", 10) and not was_pit_lap(state, "7", 11)
    assert car.lap_included_pit is True
    feed(state, car, passing(11))
    assert car.lap_included_pit is False, "lap 10 did not include the stop"
    car.last_lap_completed = 11
    feed(state, car, passing(1))
    assert car.lap_included_pit is True


def test_a_stale_lap_included_pit_is_cleared():
    state, car = X2PitState(), Car(lap_included_pit=True)
    assert feed(state, car, passing(1))["lap_included_pit"] is False


def test_pit_stops_are_counted_with_the_lap_and_the_pit_lane_timed():
    state, car = X2PitState(), Car(last_lap_completed=10)
    feed(state, car, passing(10, p=True, at="13:00:00"))
    assert (car.pit_stop_count, car.last_lap_pitted, car.pit_entry_time) == (1, 11, datetime(2026, 8, 2, 13, 0, 0))
    feed(state, car, passing(13, p=True, at="13:00:40.500"))
    assert car.pit_duration_ms == 40_500
    feed(state, car, passing(11, at="13:01:10"))
    assert (car.is_in_pit, car.pit_duration_ms) == (False, 70_000)
    car.last_lap_completed = 25
    feed(state, car, passing(10, p=True, at="13:40:00"))
    assert (car.pit_stop_count, car.last_lap_pitted, car.pit_duration_ms) == (2, 26, 0)


def test_a_car_staged_in_the_pit_before_the_start_is_not_a_stop():
    state, car = X2PitState(), Car(last_lap_completed=0)
    feed(state, car, passing(13, p=True, at="08:00:00"))
    assert car.is_in_pit is True and car.pit_stop_count is None


def test_reapplying_after_a_reset_restores_pit_state_without_counting_again():
    state, car = X2PitState(), Car()
    feed(state, car, passing(10, p=True, at="13:00:00"))
    fresh = Car()
    changes = car_pit_changes(state, fresh, LOOPS)
    assert changes["is_in_pit"] is True and changes["pit_stop_count"] == 1
    assert car_pit_changes(state, fresh, LOOPS)["pit_stop_count"] == 1
    assert car_pit_changes(state, Car(transponder_id=99), LOOPS) == {}


def test_random_garbage_never_raises():
    import random

    rng = random.Random(7)
    pieces = ['[', ']', '{', '}', '"t"', '"l"', '"p"', '"tu"', ':', ',', '1', '-3', 'true', 'null', '"x"', '1e400',
              '"2026-08-02T13:00:00"']
    state = X2PitState()
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 20)))
        for parse in (parse_passings, parse_loops, parse_loop_metadata):
            parse(text)
        for pas in parse_passings(text)[0]:
            apply_passing(state, pas, Car(transponder_id=pas.transponder_id), LOOPS)
