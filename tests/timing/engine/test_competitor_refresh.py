"""Orbits repeats its `$A`/`$COMP` rows on every refresh; the engine skips rows that are
exactly as last applied (same memoised record, same class name, session and flag). These pin
that shortcut to the full application, which an engine without any memory of applied rows does."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from apps.timing.engine import TimingEngine
from apps.timing.engine.replayfile import iter_messages

from .helpers import REDMIST, SEBRING, T0


class _AlwaysFullEngine(TimingEngine):
    """Forgets every applied competitor before each record, so each one takes the full path."""

    def _apply_competitor(self, row, row_unchanged=False):  # type: ignore[no-untyped-def]
        self._comp_seen.clear()
        super()._apply_competitor(row, False)
        row.epoch = -1  # (no context is ever known to be unchanged: the next refresh applies too)


def _result(r: Any) -> str:
    return json.dumps([r.seq, r.session_patch, r.car_patches, r.reset, [l.to_json() for l in r.completed_laps],
                       r.flag_periods, r.finished_session, r.rejections], sort_keys=False, default=str)


def _same_passes(messages: list[tuple[str, str, Any]]) -> None:
    fast, full = TimingEngine(1), _AlwaysFullEngine(1)
    for kind, payload, at in messages:
        a = fast.apply(kind, payload, session_id=1, received_at=at)
        b = full.apply(kind, payload, session_id=1, received_at=at)
        assert _result(a) == _result(b), payload[:80]
    assert fast.state_json("db") == full.state_json("db")


@pytest.mark.parametrize("path", [SEBRING / "2009_Sebring_ALMS_Session_5.txt", SEBRING / "Orbits_Mock_Session.txt",
                                  REDMIST / "TestMidRaceClassChange.txt", REDMIST / "TestEntries.txt"],
                         ids=lambda p: p.name)
def test_competitor_refreshes_give_the_same_passes_as_applying_every_row_in_full(path) -> None:
    text = path.read_text("utf-8-sig")
    _same_passes([(kind, payload, at) for kind, payload, at, _ in iter_messages(text)])


def test_alternating_competitor_rows_that_disagree_are_applied_in_full_every_time() -> None:
    # `$A` and `$COMP` with different driver names: each refresh really changes the row.
    a = '$A,"12","12",1234,"Ann","Lee","USA",1'
    comp = '$COMP,"12","12",1,"Bob","Ray","USA","Team X",""'
    lines = ['$C,1,"GT"', a, comp, a, '$F,0,"00:00:00","12:00:00","00:00:00","Green "', comp, a, a, comp,
             '$C,1,"GTD"', comp, a, '$F,0,"00:00:00","12:00:01","00:00:01","Yellow"', a, comp, comp]
    msgs = [("rmonitor", line + "\r\n", T0 + timedelta(seconds=i)) for i, line in enumerate(lines)]
    _same_passes(msgs)
    eng = TimingEngine(1)
    names = []
    for kind, payload, at in msgs:
        r = eng.apply(kind, payload, session_id=1, received_at=at)
        names += [e["nm"] for e in (r.session_patch or {}).get("eventEntries", [])]
    assert names[:4] == ["Ann Lee", "Bob Ray", "Ann Lee", "Bob Ray"]


@pytest.mark.parametrize("change, expect", [
    ('$F,0,"00:00:00","12:00:01","00:00:01","Yellow"', lambda car: car.track_flag == 2),
    ('$B,7,"Race"', lambda car: car.session_id == "7"),
])
def test_a_refresh_row_after_its_context_moved_is_applied_again(change, expect) -> None:
    # The same `$A` record (memoised: the same object) after the flag or the session changed
    # must reach the car again; nothing else in between touches the car.
    a = '$A,"12","12",1234,"Ann","Lee","USA",1'
    eng = TimingEngine(1)
    for line in ('$F,0,"00:00:00","12:00:00","00:00:00","Green "', '$C,1,"GT"', a, a, change, a):
        eng.apply("rmonitor", line, session_id=1, received_at=T0)
    assert expect(eng.cars["12"]), eng.cars["12"]

