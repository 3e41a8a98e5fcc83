"""apply() hands a message of several records to _apply_records, which splits it and applies its
records in one pass: split_message's trimming and blank-line rules are applied there only to
the pieces the line memo misses, and split_message itself is used only for messages with `$I`
(reset classification) or a byte-order mark. A leading byte-order mark sends a message down that
route, so both must give the same passes, state and message count (which times the stale check)."""

from __future__ import annotations

import random

from apps.timing.engine import TimingEngine

from .helpers import SEBRING, T0, read_messages, run_payloads

_LINES = ['$F,14,"00:12:45","13:34:23","00:09:47","Green "', '$C,5,"GT"', '$C,6,"Proto"',
          '$A,"7","7",52474,"John","Johnson","USA",5', '$A,"8","8",52475,"Ann","Lee","USA",6',
          '$G,1,"7",3,"00:05:00.000"', '$G,2,"8",3,"00:05:01.000"', '$H,1,"7",2,"00:01:40.000"',
          '$J,"7","00:01:40.000","00:05:00.000"', '$B,5,"Race"', '$E,"TRACKNAME","Sebring"',
          '$Z,1,2', '$G,x', '$F,1,"a"']
_GLUE = ["\n", "\r\n", " \n", "\n\n", "\r\n \r\n", "\t\n"]


def _run(payloads: list[str]) -> tuple[list, dict, dict]:
    return run_payloads(payloads, lambda engine: (engine.last_flag_text, engine.rmonitor_messages))


def _random_payloads(rng: random.Random, count: int) -> list[str]:
    payloads = []
    for _ in range(count):
        lines = [rng.choice(_LINES) for _ in range(rng.randint(0, 4))]
        text = "".join(rng.choice(["", " ", "\r\n"]) + line + rng.choice(_GLUE) for line in lines)
        payloads.append(text or rng.choice(["", " ", "\r\n", "\n\n"]))
    return payloads


def test_random_blocks_give_the_same_passes_as_the_split_message_route():
    payloads = _random_payloads(random.Random(7), 400)
    assert _run(payloads) == _run(["\ufeff" + p for p in payloads])


def test_blank_messages_are_not_counted():
    engine = TimingEngine(1)
    for p in ("", " ", "\r\n", "\n \n", "\ufeff", "\ufeff\r\n"):
        engine.apply("rmonitor", p, session_id=1, received_at=T0)
    assert engine.rmonitor_messages == 0


def test_recorded_blocks_give_the_same_passes_as_the_split_message_route():
    msgs = [m.payload for m in read_messages(SEBRING / "2009_Sebring_ALMS_Session_4.txt") if m.kind == "rmonitor"]
    blocks = ["\r\n".join(msgs[i:i + 3]) for i in range(0, 3000, 3)]
    assert _run(blocks) == _run(["\ufeff" + p for p in blocks])


_HEARTBEATS = ['$F,14,"00:12:45","13:34:23","00:09:47","Green "', '$F,14,"00:12:44","13:34:24","00:09:48","Green "',
               '$F,9999,"00:00:00","13:34:25","00:09:49","Yellow"', '$F, 3 , "00:12:43","13:34:26","00:09:50","Red"',
               '$F,3,"00:12:43","13:34:27","00:09:51","Fin, ish"', '$F,3,"00:12:43","13:34:28","00:09:52"',
               '$F,²,"00:12:43","13:34:29","00:09:53","Green "', '$F,-2,"00:12:43","13:34:30","00:09:54","Green "',
               '$F,3,"00:12:43","13:34:31","00:09:55","Green "\t', '$F,,"","","",""', '$F,3,00:12:43,13:34:32,0,Green',
               '$F,3,"00:12:43","13:34:33","00:09:56","Green ",extra', '$F', '$F,']


def test_heartbeats_in_blocks_are_read_as_parse_line_reads_them(monkeypatch):
    # _apply_records reads a block's `$F` lines with heartbeat_values; without it (None: "ask
    # parse_line") every pass must come out the same.
    rng = random.Random(3)
    payloads = []
    for _ in range(300):
        lines = [rng.choice(_LINES[1:]) for _ in range(rng.randint(1, 2))] + [rng.choice(_HEARTBEATS)]
        rng.shuffle(lines)
        payloads.append("\r\n".join(lines) + "\r\n")
    fast = _run(payloads)
    monkeypatch.setattr("apps.timing.engine.engine.heartbeat_values", lambda line: None)
    assert fast == _run(payloads)


def test_after_a_pass_every_accumulator_is_reset_whatever_it_carried():
    # _finish restarts a pass without the rare outputs with _begin_common only, which leaves the
    # rare accumulators as they are: each of them must make a pass take _finish's rare route.
    engine = TimingEngine(1)
    engine.apply("rmonitor", '$A,"7","7",52474,"John","Johnson","USA",5', session_id=1, received_at=T0)
    fresh = dict(vars(engine))
    rare = {"_reset": True, "_flags_changed": True, "_finished": {"sessionId": 1},
            "_pass_rejections": ["bad line"], "_relay_reset": True, "_relay_force": True}
    for name in rare:
        delattr(engine, name)
    engine._begin_common()
    assert not rare.keys() & vars(engine).keys()  # what _begin_common leaves is listed here
    for name, value in rare.items():
        engine._begin()
        setattr(engine, name, value)
        if name == "_relay_force":
            engine._relay_reset = True  # (only ever requested with a relay reset)
        if name not in ("_finished", "_relay_reset"):
            # (recorded with _touched, as everything but tick() records it: _finish's usual way
            # relies on that, test_touched_marks_outputs.py)
            engine._touched = True
        engine._set(engine.cars["7"], "last_lap_time", "00:01:00.000")  # (a common output too)
        engine._finish()
        assert {n: getattr(engine, n) for n in rare} == {n: fresh[n] for n in rare}, name
