"""The heartbeat's shortcuts (quote-split `$F` reading, clock-only pass results) agree with the
general path."""

from __future__ import annotations

import copy
import itertools
import pickle
import random
from datetime import datetime

import pytest

from apps.timing.engine import PassResult, TimingEngine, rmonitor
from apps.timing.engine.engine import _ClockPass
from apps.timing.engine.flags import Flags
from apps.timing.engine.state import FlagDuration
from apps.timing.engine.rmonitor import Heartbeat, heartbeat_values, parse_line

_HEADS = ["$F,14,", "$F,9999,", "$F,0,", "$F,,", "$F,", "$F, 14,", "$F,14 ,", "$F,-3,", "$F,+3,", "$F,1_0,",
          "$F,\u0663,", "$F,\u00b2,", "$F,1" + "0" * 5000 + ",", "$F,12345678901,", "$F,x,", "$FF,14,", " $F,14,",
          "$F,14", "$F\t,14,", "$F,14,,", "$G,14,"]
_VALUES = ["00:12:45", "", "Green ", " Green", "      ", "a,b", "a, b", "a\tb", 'x"', "13:34:23", "\r"]
_JOINS = ['","', '", "', '" ,"', '",', ',"', '","",', '"\t,"']


def _expected(line: str):
    rec = parse_line(line)
    if isinstance(rec, Heartbeat):
        return rec.laps_to_go, rec.time_to_go, rec.time_of_day, rec.race_time, rec.flag_text
    return None


def _lines():
    rng = random.Random(5)
    for head, value in itertools.product(_HEADS, _VALUES):
        yield f'{head}"00:12:45","13:34:23","00:09:47","{value}"'
        yield f'{head}"{value}","13:34:23","00:09:47","Green "'
    for _ in range(3000):
        values = [rng.choice(_VALUES) for _ in range(4)]
        joins = [rng.choice(_JOINS) for _ in range(3)]
        body = values[0] + "".join(j + v for j, v in zip(joins, values[1:]))
        yield rng.choice(_HEADS) + '"' + body + rng.choice(['"', '"x', '', '" ', '","'])


def test_heartbeat_values_match_parse_line_on_every_variant_of_the_line():
    # None sends the line to parse_line (the general pass), so it is allowed for any line;
    # values must be exactly parse_line's, and a line parse_line rejects must give None.
    rmonitor._HEARTBEAT_HEADS.clear()
    seen = 0
    for line in _lines():
        expected = _expected(line)
        for _ in range(2):  # the second time through, the laps-to-go memo answers
            got = heartbeat_values(line)
            assert got == expected or (got is None and line[:3] != "$F,"), line
        seen += got is not None
    assert seen > 500  # the common shape was exercised, not only rejections


def test_heartbeat_values_read_a_whole_message_only_when_it_is_one_heartbeat_line():
    # The engine hands it the relay message as received: line ends may follow the line, but a
    # second line (even a blank-looking one with text after it) must send it to the general pass.
    line = '$F,14,"00:12:45","13:34:23","00:09:47","Green "'
    values = heartbeat_values(line)
    assert values == _expected(line)
    for end in ("\n", "\r\n", "\r\r\n", " \n", "\n\n", "\t\n"):
        assert heartbeat_values(line + end) == values
    for rest in ("\n$G,1,\"7\",3,\"00:05:00.000\"", "\nx", "\r\n$F,14,\"00:12:45\",\"13:34:23\",\"00:09:47\",\"Green \""):
        assert heartbeat_values(line + rest) is None
    unquoted = "$F,14,00:12:45,13:34:23,00:09:47,Green"  # the general route, same rules
    assert heartbeat_values(unquoted + "\r\n") == heartbeat_values(unquoted) == _expected(unquoted)
    assert heartbeat_values(unquoted + "\nx") is None


def test_the_laps_to_go_memo_stays_small_and_keeps_giving_the_right_laps():
    rmonitor._HEARTBEAT_HEADS.clear()
    for laps in range(2000):
        line = f'$F,{laps},"00:12:45","13:34:23","00:09:47","Green "'
        assert heartbeat_values(line)[0] == laps
        assert len(rmonitor._HEARTBEAT_HEADS) <= 256
    assert heartbeat_values('$F,7,"00:12:45","13:34:23","00:09:47","Green "')[0] == 7


def test_a_heartbeat_whose_laps_to_go_int_cannot_read_is_rejected_instead_of_raising():
    engine = TimingEngine(1)
    at = datetime(2024, 5, 1, 12, 0, 0)
    engine.apply("rmonitor", '$F,14,"00:12:45","13:34:23","00:09:47","Green "', session_id=1, received_at=at)
    for laps in ("\u00b2", "1" * 5000):  # isdigit() but not int()-able; more digits than int() takes
        r = engine.apply("rmonitor", f'$F,{laps},"00:12:44","13:34:24","00:09:48","Green "', session_id=1,
                         received_at=at)
        assert r.rejections == ["unparsable record: ValueError"] and not r.changed


_FIELDS = ("seq", "session_patch", "car_patches", "reset", "completed_laps", "flag_periods", "finished_session",
           "rejections", "relay_reset_request", "relay_reset_force")


@pytest.mark.parametrize("patch", [{"timeToGo": "00:12:44"}, {}])
def test_a_clock_only_pass_result_reads_like_the_full_pass_result(patch):
    fast, full = _ClockPass(7, patch), PassResult(7, patch)
    assert isinstance(fast, PassResult)
    assert [getattr(fast, f) for f in _FIELDS] == [getattr(full, f) for f in _FIELDS]
    assert fast.changed == full.changed and repr(fast) == repr(full)
    for clone in (copy.copy(fast), copy.deepcopy(fast), pickle.loads(pickle.dumps(fast))):
        assert [getattr(clone, f) for f in _FIELDS] == [getattr(full, f) for f in _FIELDS]


def test_the_empty_lists_clock_only_passes_share_cannot_be_changed():
    a, b = _ClockPass(1, {}), _ClockPass(2, {})
    with pytest.raises(TypeError):
        a.car_patches.append({"n": "1"})
    with pytest.raises(TypeError):
        a.rejections += ["x"]
    with pytest.raises(TypeError):
        a.completed_laps[:] = [1]
    assert b.car_patches == [] and b.rejections == [] and b.completed_laps == []
    laps: list = []
    laps += a.completed_laps  # what consumers do with them still works
    assert laps == [] and list(a.car_patches) == []


_AT = datetime(2024, 5, 1, 12, 0, 0)
_NEXT_BEAT = '$F,14,"00:12:44","13:34:24","00:09:48","Green "'

# Every public TimingEngine method that can record something outside a pass (and so sets
# `_touched`), with a call that does record something.
_MUTATORS = {
    "update_car": [lambda e: e.update_car("7", {"is_in_pit": True}), lambda e: e.update_car("7", {"bogus": 1})],
    "update_session": [lambda e: e.update_session({"track_temp_deg_f": 70}),
                       lambda e: e.update_session({"car_positions": []})],
    # (a purple turns an RMonitor yellow into Purple35; the yellow is set directly so that the
    # next heartbeat's flag text does not send it down the general path by itself)
    "set_full_course_flag": [lambda e: (setattr(e, "rm_flag", Flags.YELLOW),
                                        e.set_full_course_flag(int(Flags.PURPLE35), _AT))],
    "replace_flag_periods": [lambda e: e.replace_flag_periods([FlagDuration(int(Flags.RED), _AT)])],
    "set_loop_metadata": [lambda e: e.set_loop_metadata('[{"id": 1, "type": 42}]')],
    "change_session": [lambda e: e.change_session(2, "Race", _AT)],
}
# The rest of the public API: passes (they end by clearing the accumulators) and readers.
_PASSES = {"apply", "tick"}
_READERS = {"state", "state_json", "state_msgpack", "snapshot", "restore", "rejections", "register_handler"}


def _engine_between_passes() -> TimingEngine:
    engine = TimingEngine(1)
    for line in ('$F,14,"00:12:45","13:34:23","00:09:47","Green "', '$A,"7","7",52474,"John","Johnson","USA",5',
                 '$G,1,"7",3,"00:05:00.000"', '$H,1,"7",3,"00:01:35.000"'):
        engine.apply("rmonitor", line, session_id=1, received_at=_AT)
    assert not engine._pending() and not engine._touched
    return engine


def _apply_noting_the_path(engine: TimingEngine, payload: str) -> tuple[PassResult, bool]:
    """apply() the message; True when the heartbeat shortcut took it (the general pass reads a
    typed Heartbeat record and hands it to _on_heartbeat)."""
    general = []
    handlers = engine._record_handlers
    on_heartbeat = handlers[Heartbeat]
    handlers[Heartbeat] = lambda *args: (general.append(1), on_heartbeat(*args))[1]
    try:
        result = engine.apply("rmonitor", payload, session_id=1, received_at=_AT)
    finally:
        handlers[Heartbeat] = on_heartbeat
    return result, not general


@pytest.mark.parametrize("call", [c for calls in _MUTATORS.values() for c in calls])
def test_each_public_mutator_sends_the_next_heartbeat_down_the_general_path(call):
    # The heartbeat shortcut tests only `_touched`; what a mutator recorded must still go out.
    engine = _engine_between_passes()
    assert _apply_noting_the_path(engine, _NEXT_BEAT)[1]  # the shortcut, when untouched
    engine = _engine_between_passes()
    call(engine)
    assert engine._pending(), "the case should record something"
    result, shortcut = _apply_noting_the_path(engine, _NEXT_BEAT)
    assert not shortcut
    assert result.changed and not engine._pending() and not engine._touched


def test_only_the_listed_public_methods_can_record_anything_between_passes():
    # A new public entry point must be classified here (and set `_touched` if it records).
    public = {name for name in dir(TimingEngine) if not name.startswith("_")
              and (callable(getattr(TimingEngine, name)) or isinstance(getattr(TimingEngine, name), property))}
    assert public == set(_MUTATORS) | _PASSES | _READERS
    engine = _engine_between_passes()
    engine.state(), engine.state_json(), engine.state_msgpack(), engine.rejections
    engine.register_handler("noop", lambda payload, at: None)
    restored = TimingEngine.restore(engine.snapshot())
    restored.apply("rmonitor", '$F,14,"00:12:45","13:34:23","00:09:47","Green "', session_id=1, received_at=_AT)
    for e in (engine, restored):
        assert not e._pending() and not e._touched
        assert _apply_noting_the_path(e, _NEXT_BEAT)[1]
