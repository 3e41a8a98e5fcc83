"""The engine logs the laps of the cars whose lap count a pass recorded. `$G` notes the car it
wrote the count for, so _log_laps need not scan the pass's changes; every other writer makes it
scan. These pin the cases the recordings do not reach."""

from __future__ import annotations

from datetime import timedelta

from apps.timing.engine import TimingEngine

from .helpers import T0

_SETUP = ('$F,14,"00:12:45","13:34:23","00:09:47","Green "', '$C,5,"GT"',
          '$A,"7","7",52474,"John","Johnson","USA",5', '$A,"8","8",52475,"Jane","Jones","USA",5',
          '$G,1,"7",3,"00:05:00.000"', '$G,2,"8",3,"00:05:01.000"')
_REFRESH = '$C,5,"GT"'  # changes nothing by itself


def _engine() -> TimingEngine:
    engine = TimingEngine(1)
    for line in _SETUP:
        engine.apply("rmonitor", line, session_id=1, received_at=T0)
    return engine


def _laps(result) -> list[tuple[str, int]]:
    return [(lap.car_number, lap.lap_number) for lap in result.completed_laps]


def test_a_lap_count_set_by_another_input_is_logged_with_the_next_rmonitor_pass():
    engine = _engine()
    assert engine.update_car("7", {"last_lap_completed": 4})
    result = engine.apply("rmonitor", _REFRESH, session_id=1, received_at=T0 + timedelta(seconds=1))
    assert _laps(result) == [("7", 4)]


def test_laps_of_several_cars_in_one_block_are_logged_in_the_order_the_cars_first_changed():
    engine = _engine()
    # Car 8 changes first (position only), then car 7 completes a lap, then car 8 does.
    block = '$G,1,"8",3,"00:05:01.000"\r\n$G,2,"7",4,"00:06:40.000"\r\n$G,1,"8",4,"00:06:30.000"\r\n'
    result = engine.apply("rmonitor", block, session_id=1, received_at=T0 + timedelta(seconds=1))
    assert _laps(result) == [("8", 4), ("7", 4)]


def test_one_car_completing_a_lap_is_logged_once():
    engine = _engine()
    result = engine.apply("rmonitor", '$G,1,"7",4,"00:06:30.000"', session_id=1, received_at=T0 + timedelta(seconds=1))
    assert _laps(result) == [("7", 4)]
    again = engine.apply("rmonitor", '$G,1,"7",4,"00:06:30.000"', session_id=1, received_at=T0 + timedelta(seconds=2))
    assert _laps(again) == []
