"""Bad input never raises out of the engine: it is rejected with a reason and counted."""

import random
from datetime import datetime, timedelta

from apps.timing.engine import TimingEngine
from apps.timing.engine.replayfile import iter_records, read_messages

from .helpers import REDMIST


def test_garbage_and_truncated_records_are_rejected_and_the_rest_of_the_message_applies():
    e = TimingEngine(1)
    now = datetime(2025, 1, 1)
    bad = ["$G", "$G,,,,", "$A,1", '$H,1,"7",x,"00:01:00"', "$C,x,y", "$J", "$$$", "\x00", "$F,1,2,3",
           '$COMP,"1"', "$B,,", "$E", "$I", "$L,1", "$T", "G,1,2", "$g,1,\"7\",1,\"0\"", "$A," + "x," * 500]
    payload = "\n".join(bad + ['$F,9999,"01:00:00","10:00:00","00:05:00","Green "'])
    r = e.apply("rmonitor", payload, session_id=1, received_at=now)
    assert len(r.rejections) >= 12 and e.rejection_count == len(r.rejections)
    assert e.state_json()["runningRaceTime"] == "00:05:00"
    assert len(e.last_rejections) <= 50


def test_randomly_mutated_real_records_never_raise():
    rng = random.Random(1234)
    lines = list(iter_records(read_messages(REDMIST / "TestStart.txt")))[:1500]
    alphabet = ',"$0123456789:.-ABCFGHIJ \r\t\ufeffé'
    e = TimingEngine(1)
    now = datetime(2025, 1, 1)
    for i, line in enumerate(lines):
        chars = list(line)
        for _ in range(rng.randint(0, 4)):
            op = rng.random()
            pos = rng.randrange(len(chars) + 1)
            if op < 0.4 and chars:
                del chars[min(pos, len(chars) - 1)]
            elif op < 0.8:
                chars.insert(pos, rng.choice(alphabet))
            else:
                chars = chars[:pos]
        now += timedelta(seconds=1)
        r = e.apply("rmonitor", "".join(chars), session_id=1, received_at=now)
        e.tick(now)
        assert r is not None
    assert e.rejection_count > 0
    assert e.state_msgpack() and e.snapshot()


def test_unknown_kinds_and_non_text_payloads_do_not_raise():
    e = TimingEngine(1)
    now = datetime(2025, 1, 1)
    assert not e.apply("no-such-kind", "[{]", session_id=1, received_at=now).changed
    r = e.apply("rmonitor", "\ufeff\r\r\n\x00\x01\x02", session_id=1, received_at=now)
    assert r.rejections


def test_a_pass_with_only_rejections_does_not_advance_seq():
    e = TimingEngine(1)
    now = datetime(2025, 1, 1)
    a = e.apply("rmonitor", '$F,9999,"01:00:00","10:00:00","00:05:00","Green "', session_id=1, received_at=now)
    b = e.apply("rmonitor", "$G,x\n$UNKNOWN", session_id=1, received_at=now)
    assert b.rejections and not b.changed and b.seq == a.seq
