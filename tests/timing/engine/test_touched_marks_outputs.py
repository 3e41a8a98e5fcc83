"""A pass that recorded nothing is told by two tests, `_car_changes` and `_touched` (see
TimingEngine._begin_common): every write of another output must set `_touched`, or its output
would be dropped with the shared empty result and leak into the next pass."""

from __future__ import annotations

import ast
import inspect
import random
from pathlib import Path

import pytest

from apps.timing.engine import TimingEngine, engine as engine_module
from apps.timing.engine.replayfile import one_line_per_message, parse_messages, random_chunks
from apps.timing.engine.stale import NOT_QUIET

from .helpers import REDMIST, SEBRING

ENGINE_DIR = Path(engine_module.__file__).parent
# Outputs that a truthy assignment records
_FLAG_OUTPUTS = {"_reset", "_flags_changed", "_entries_changed", "_relay_reset", "_finished"}
# Passes that build their result from every accumulator themselves (they end in _finish)
_FINISHING = {"tick", "_heartbeat_checks", "_begin", "_begin_common", "_finish"}


def _records_an_output(node: ast.AST) -> bool:
    if isinstance(node, ast.Assign):
        falsy = isinstance(node.value, ast.Constant) and not node.value.value
        for target in node.targets:
            if isinstance(target, ast.Attribute) and target.attr in _FLAG_OUTPUTS and not falsy:
                return True
            if (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Attribute)
                    and target.value.attr == "_session_changes"):
                return True
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append"
            and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "_pass_rejections"):
        return True
    return False


def _sets_touched(fn: ast.AST) -> bool:
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value is True:
            if any(isinstance(t, ast.Attribute) and t.attr == "_touched" for t in node.targets):
                return True
    return False


def _writers_without_touched(source: str) -> list[str]:
    missing = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or fn.name in _FINISHING:
            continue
        if any(_records_an_output(n) for n in ast.walk(fn)) and not _sets_touched(fn):
            missing.append(fn.name)
    return missing


def test_every_function_of_the_engine_that_records_an_output_other_than_cars_sets_touched():
    missing = {path.name: names for path in sorted(ENGINE_DIR.glob("*.py"))
               if (names := _writers_without_touched(path.read_text()))}
    assert missing == {}


def test_the_source_check_finds_a_writer_that_forgets_touched():
    source = inspect.getsource(TimingEngine._car_by_reg).replace(" = self._touched = True", " = True")
    assert _writers_without_touched("class E:\n" + source) == ["_car_by_reg"]
    source = "def f(self):\n    self._session_changes['x'] = 1\n    self._pass_rejections.append('r')\n"
    assert _writers_without_touched(source) == ["f"]


def _replays():
    for path in (REDMIST / "TestSessionChanges.txt", REDMIST / "TestResetRetainLapTime.txt",
                 REDMIST / "event-finish-with-reset.log", SEBRING / "2009_Sebring_ALMS_Session_4.txt"):
        messages = parse_messages(path.read_text("utf-8-sig"))
        yield path.name, "as recorded", messages
        yield path.name, "random chunks", random_chunks(messages, 11)
    yield "TestAbnormalReset.txt", "one line each", one_line_per_message(
        parse_messages((REDMIST / "TestAbnormalReset.txt").read_text("utf-8-sig")))


@pytest.mark.parametrize("name, layout, messages", list(_replays()), ids=lambda v: v if isinstance(v, str) else "")
def test_a_pass_that_returns_the_empty_result_leaves_no_output_behind(name, layout, messages):
    engine = TimingEngine(1)
    empty = 0
    for m in messages:
        result = engine.apply(m.kind, m.payload, session_id=1, received_at=m.received_at)
        if result is engine._empty:
            empty += 1
            # The empty result skipped _finish, so whatever the pass recorded would still be here.
            assert not engine._pending(), (m.payload[:80], engine._session_changes, engine._pass_rejections)
    assert empty > 0


def test_skipping_the_stale_checks_found_quiet_at_the_same_clock_changes_no_pass():
    # One engine skips the every-third-message checks apply() finds quiet at an unchanged race
    # clock and flag, the other is made to run them all (as the reference does). Rows of three
    # cars are dropped for long stretches, so cars go stale and come back between heartbeats.
    messages = parse_messages((SEBRING / "2009_Sebring_ALMS_Session_5.txt").read_text("utf-8-sig"))
    rng = random.Random(3)
    dropped = ('"1"', '"26"', '"73"')
    off = False
    kept = []
    for m in messages:
        if m.payload.startswith("$F") and rng.random() < 0.02:
            off = not off
        if not (off and any(d in m.payload for d in dropped)):
            kept.append(m)
    engines = skipping, checking = TimingEngine(1), TimingEngine(1)
    checks = {skipping: 0, checking: 0}
    for e in engines:
        def counted(*args, _real=e._check_stale, _e=e, **kwargs):
            checks[_e] += 1
            return _real(*args, **kwargs)
        e._check_stale = counted
    stale_seen = 0
    for m in kept:
        a = skipping.apply(m.kind, m.payload, session_id=1, received_at=m.received_at)
        checking.stale.quiet_at = NOT_QUIET  # (no quiet clock known: apply() cannot skip)
        b = checking.apply(m.kind, m.payload, session_id=1, received_at=m.received_at)
        assert (a.seq, a.session_patch, a.car_patches, len(a.completed_laps)) == \
            (b.seq, b.session_patch, b.car_patches, len(b.completed_laps)), m.payload
        stale_seen += sum(1 for p in a.car_patches if p.get("st"))
    assert skipping.state_json() == checking.state_json()
    assert checks[skipping] < checks[checking] * 0.9, checks
    assert stale_seen > 0
