"""_finish takes a short way for the usual pass, one that changed cars (and logged their laps)
and recorded nothing else: it relies on every other output setting `_touched`, except what
tick() and _heartbeat_checks() add themselves (tested there), and resets the accumulators
inline. An engine made to take the general way every time must give the same passes, and
after every pass the accumulators must be what _begin_common leaves."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.timing.engine import TimingEngine
from apps.timing.engine.replayfile import one_line_per_message, parse_messages, random_chunks

from .helpers import REDMIST, SEBRING, T0

_FIELDS = ("seq", "session_patch", "car_patches", "reset", "completed_laps", "flag_periods", "finished_session",
           "rejections", "relay_reset_request", "relay_reset_force")
_ACCUMULATORS = ("_car_changes", "_session_changes", "_completed", "_entries_changed", "_nsets", "_enriched_at",
                 "car_seq_at_pass_start", "_lap_car", "_touched", "_reset", "_flags_changed", "_finished",
                 "_pass_rejections", "_relay_reset", "_relay_force")


class _GeneralWay(TimingEngine):
    def _finish(self):
        self._touched = True  # (the general way resets it)
        return super()._finish()


def _replays():
    for path in (REDMIST / "TestSessionChanges.txt", REDMIST / "event-finish-with-reset.log",
                 SEBRING / "2009_Sebring_ALMS_Session_5.txt"):
        messages = parse_messages(path.read_text("utf-8-sig"))
        yield path.name, "as recorded", messages
        yield path.name, "random chunks", random_chunks(messages, 5)
    yield "TestAbnormalReset.txt", "one line each", one_line_per_message(
        parse_messages((REDMIST / "TestAbnormalReset.txt").read_text("utf-8-sig")))


def _passes(engine: TimingEngine, messages) -> list:
    out = []
    for i, m in enumerate(messages):
        results = [engine.apply(m.kind, m.payload, session_id=1, received_at=m.received_at)]
        if i % 40 == 0:
            # (ticks far apart: the end-of-session check and the consistency requests run)
            results.append(engine.tick(m.received_at + timedelta(minutes=30)))
        if i % 97 == 0 and engine.cars:
            engine.update_car(next(iter(engine.cars)), {"is_stale": False})
            results.append(engine.tick(m.received_at))
        for r in results:
            out.append([r.seq, r.session_patch, r.car_patches, r.reset, [lap.to_json() for lap in r.completed_laps],
                        r.flag_periods, r.finished_session, r.rejections, r.relay_reset_request,
                        r.relay_reset_force])
        after = [getattr(engine, a) for a in _ACCUMULATORS]
        engine._begin()
        assert after == [getattr(engine, a) for a in _ACCUMULATORS], m.payload[:80]
    return out


@pytest.mark.parametrize("name, layout, messages", list(_replays()), ids=lambda v: v if isinstance(v, str) else "")
def test_the_usual_way_gives_the_passes_of_the_general_way(name, layout, messages):
    usual = _passes(TimingEngine(1), messages)
    assert usual == _passes(_GeneralWay(1), messages)
    assert any(r[6] is not None or r[8] for r in usual) or "event-finish" not in name


@pytest.mark.parametrize("output", ["_finished", "_relay_reset", "_session_changes"])
def test_what_tick_and_the_heartbeat_checks_add_without_touched_takes_the_general_way(output):
    # Recorded by tick() or _heartbeat_checks() next to car changes, without `_touched`.
    engine = TimingEngine(1)
    for line in ('$C,1,"GT"', '$A,"7","7",123,"Ann","Lee","USA",1', '$G,1,"7",2,"00:02:00.000"'):
        engine.apply("rmonitor", line, session_id=1, received_at=T0)
    car = engine.cars["7"]
    engine._car_changes[car] = {"lp": 2}
    value = {"sessionId": 1} if output == "_finished" else True if output == "_relay_reset" else {"time_to_go": "1"}
    setattr(engine, output, value)
    r = engine._finish()
    assert r.car_patches == [{"n": "7", "lp": 2}]
    assert (r.finished_session, r.relay_reset_request, r.session_patch) == (
        value if output == "_finished" else None, output == "_relay_reset",
        {"timeToGo": "1"} if output == "_session_changes" else None)
