"""apply() applies a message holding one ordinary record itself, and recognises an RMonitor pass
that recorded nothing with an inline copy of `_pending()`'s test. Every kind of output a pass
can carry must still come out of it; the chunking tests pin the rest (a line on its own and the
same line inside a block give the same state)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.timing.engine import TimingEngine
from apps.timing.engine.flags import Flags
from apps.timing.engine.rmonitor import RaceInfo

from .helpers import T0, replace_record_handler

_SETUP = ('$F,14,"00:12:45","13:34:23","00:09:47","Green "', '$C,5,"GT"',
          '$A,"7","7",52474,"John","Johnson","USA",5', '$G,1,"7",3,"00:05:00.000"')
_REFRESH = '$C,5,"GT"'  # changes nothing by itself


def _engine() -> TimingEngine:
    engine = TimingEngine(1)
    for line in _SETUP:
        engine.apply("rmonitor", line, session_id=1, received_at=T0)
    assert engine.apply("rmonitor", _REFRESH, session_id=1, received_at=T0).changed is False
    return engine


def _raise(*args: object) -> None:
    raise RuntimeError("boom")


def test_a_refresh_that_changes_nothing_returns_the_shared_empty_result_with_the_current_seq():
    engine = _engine()
    first = engine.apply("rmonitor", _REFRESH + "\r\n", session_id=1, received_at=T0)
    assert not first.changed and first.seq == engine.seq
    assert engine.apply("rmonitor", '$G,1,"7",4,"00:06:30.000"', session_id=1, received_at=T0).changed
    second = engine.apply("rmonitor", _REFRESH, session_id=1, received_at=T0)
    assert not second.changed and second.seq == engine.seq == first.seq + 1


@pytest.mark.parametrize("line, output", [
    ('$G,1,"7",4,"00:06:30.000"', lambda r: r.car_patches and r.completed_laps),
    ('$B,12,"Race 2"', lambda r: r.session_patch),
    ('$A,"8","8",52475,"Jane","Doe","USA",5', lambda r: "eventEntries" in (r.session_patch or {})),
])
def test_a_one_record_message_carries_what_its_record_changed(line, output):
    result = _engine().apply("rmonitor", line, session_id=1, received_at=T0)
    assert output(result), result


def test_a_record_handler_that_raises_comes_out_as_a_rejection_of_its_pass():
    engine = _engine()
    replace_record_handler(engine, RaceInfo, _raise)
    result = engine.apply("rmonitor", '$G,1,"7",4,"00:06:30.000"', session_id=1, received_at=T0)
    assert result.rejections and "boom" in result.rejections[0]


def test_records_for_a_car_missing_for_ten_seconds_ask_the_relay_for_a_reset():
    engine = _engine()
    results = [engine.apply("rmonitor", '$G,2,"99",3,"00:05:00.000"', session_id=1, received_at=T0 + timedelta(seconds=s))
               for s in (0, 11)]
    assert not results[0].relay_reset_request
    assert results[1].relay_reset_request and results[1].relay_reset_force


@pytest.mark.parametrize("call, output", [
    (lambda e: e.update_car("7", {"is_in_pit": True}), lambda r: r.car_patches),
    (lambda e: e.update_session({"track_temp_deg_f": 70}), lambda r: r.session_patch),
    (lambda e: (setattr(e, "rm_flag", Flags.YELLOW), e.set_full_course_flag(int(Flags.PURPLE35), T0)),
     lambda r: r.flag_periods is not None),
    (lambda e: e.change_session(2, "Race", T0), lambda r: r.reset and r.finished_session is not None),
])
def test_what_was_recorded_between_passes_goes_out_with_a_refresh_that_changes_nothing(call, output):
    engine = _engine()
    call(engine)
    result = engine.apply("rmonitor", _REFRESH, session_id=1, received_at=T0)
    assert output(result), result
    assert not engine._pending() and not engine._touched


# Each output accumulator of a pass with a value that makes it non-empty. `_relay_force` only
# comes with `_relay_reset`; the others are counters and bookkeeping, not outputs.
_OUTPUTS = {
    "_car_changes": lambda e: {e.cars["7"]: {"ip": True}},  # (recorded by contract JSON name)
    "_session_changes": lambda e: {"track_temp_deg_f": 70},
    "_completed": lambda e: [object()],
    "_pass_rejections": lambda e: ["bad line"],
    "_flags_changed": lambda e: True,
    "_entries_changed": lambda e: True,
    "_relay_reset": lambda e: True,
    "_reset": lambda e: True,
    "_finished": lambda e: {"sessionId": 1},
}
_NOT_OUTPUTS = {"_relay_force", "_nsets", "_enriched_at", "car_seq_at_pass_start", "_touched", "_lap_car"}


def test_the_list_of_pass_outputs_is_what_begin_resets():
    # A new accumulator must be added to _OUTPUTS and to _pending(), and unless it only holds
    # cars' laps, its writers must set `_touched` (test_touched_marks_outputs.py).
    engine = _engine()
    before = set(vars(engine))
    for name in _OUTPUTS.keys() | _NOT_OUTPUTS:
        delattr(engine, name)
    engine._begin()
    assert set(vars(engine)) == before


@pytest.mark.parametrize("name", sorted(_OUTPUTS))
def test_any_output_recorded_before_a_refresh_keeps_its_pass_from_being_the_empty_result(name):
    engine = _engine()
    setattr(engine, name, _OUTPUTS[name](engine))
    if name == "_completed":
        engine._car_changes = {engine.cars["7"]: {"llp": 4}}  # (laps are logged for cars changed in the pass)
    elif name != "_car_changes":
        engine._touched = True  # as every writer of the other outputs does
    assert engine._pending()
    result = engine.apply("rmonitor", _REFRESH, session_id=1, received_at=T0)
    assert result is not engine._empty and not engine._pending()
