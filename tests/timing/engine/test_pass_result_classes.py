"""The light result a car-changing pass returns (_CarPass) reads like the full PassResult, and
passes that carry anything more still get the full one, with the same `seq` rules."""

from __future__ import annotations

import copy
import pickle
from datetime import datetime

import pytest

from apps.timing.engine import PassResult, TimingEngine
from apps.timing.engine.engine import _CarPass

_T0 = datetime(2024, 5, 1, 12)
_FIELDS = ("seq", "session_patch", "car_patches", "reset", "completed_laps", "flag_periods", "finished_session",
           "rejections", "relay_reset_request", "relay_reset_force")


def _fields(result: PassResult) -> list:
    return [getattr(result, f) for f in _FIELDS]


@pytest.mark.parametrize("session_patch, car_patches, laps", [
    (None, [{"n": "7", "lp": 3}], []), ({"timeToGo": "00:12:44"}, [{"n": "7"}], ["lap"]), (None, [], [])])
def test_a_car_pass_result_reads_like_the_full_pass_result(session_patch, car_patches, laps):
    light, full = _CarPass(3, session_patch, car_patches, laps), PassResult(3, session_patch, car_patches,
                                                                             completed_laps=laps)
    assert isinstance(light, PassResult)
    assert _fields(light) == _fields(full)
    assert light.changed == full.changed and repr(light) == repr(full)
    for clone in (copy.copy(light), copy.deepcopy(light), pickle.loads(pickle.dumps(light))):
        assert _fields(clone) == _fields(full)


def _engine() -> TimingEngine:
    e = TimingEngine(1)
    for line in ('$F,9999,"00:00:00","12:00:00","00:00:00","Green "', '$A,"7","7",123,"Ann","Lee","USA",1',
                 '$C,1,"GT"'):
        e.apply("rmonitor", line, session_id=1, received_at=_T0)
    return e


def test_car_passes_with_and_without_rare_parts_keep_every_field_and_the_seq_rules():
    e = _engine()
    seq = e.seq
    # cars only: the light result, a new seq
    r = e.apply("rmonitor", '$G,1,"7",1,"00:01:30.000"', session_id=1, received_at=_T0)
    assert type(r) is _CarPass and r.seq == seq + 1 and r.car_patches and r.completed_laps
    assert r.rejections == [] and not r.reset and r.flag_periods is None and not r.relay_reset_request
    # a new driver name only changes the entry list: a session patch alone still counts
    r = e.apply("rmonitor", '$A,"7","7",123,"Bea","Lee","USA",1', session_id=1, received_at=_T0)
    assert type(r) is _CarPass and not r.car_patches and "eventEntries" in r.session_patch and r.seq == seq + 2
    seq += 1
    # cars and a rejected record: the full result carries the rejection
    r = e.apply("rmonitor", '$G,1,"7",2,"00:03:00.000"\n$Q,bad', session_id=1, received_at=_T0)
    assert type(r) is PassResult and r.seq == seq + 2 and r.car_patches and r.rejections
    # a rejection alone changes nothing: the seq stays
    r = e.apply("rmonitor", "$Q,bad", session_id=1, received_at=_T0)
    assert r.rejections and not r.car_patches and r.seq == seq + 2
    # a car row for an unknown car asks the relay for a reset (after the watchdog's grace)
    results = [e.apply("rmonitor", '$G,2,"99",1,"00:01:31.000"', session_id=1, received_at=_T0.replace(minute=m))
               for m in range(0, 59, 5)]
    assert any(r.relay_reset_request for r in results)
    assert all(type(r) is PassResult for r in results if r.relay_reset_request)
    # a reset with cars: full result, new seq
    before = e.seq
    r = e.apply("rmonitor", '$I,"12:30:00","5 May 2024"', session_id=1, received_at=_T0)
    assert r.reset and type(r) is PassResult and r.seq == before + 1
