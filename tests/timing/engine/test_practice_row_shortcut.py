"""_apply_records skips a `$H` row whose best lap and time are already applied, found by the text
after its position (rmonitor.PRACTICE_TAILS) without parsing the row. Without that table (every
row parsed and applied) every pass, the state and the line memo's parses must come out the same,
whatever the rows' shapes: positions that move, bad heads, tails quoted_row does not read."""

from __future__ import annotations

import random

from apps.timing.engine import TimingEngine
from apps.timing.engine import engine as engine_module
from apps.timing.engine import rmonitor

from .helpers import T0, run_payloads

_SETUP = '$C,5,"GT"\r\n$A,"7","7",52474,"John","Johnson","USA",5\r\n$A,"8","8",52475,"Ann","Lee","USA",5\r\n'
_REGS = ["7", "8", "9"]  # "9" has no car
_TIMES = ['"00:01:40.000"', '"00:01:41.500"', '"00:00:00.000"', '"1:39.9"']


def _row(rng: random.Random) -> str:
    pos = rng.choice(["1", "2", "3", "12", "", "x", " 2", "1,2", "1,7", "3,8", "007"])
    reg = rng.choice(_REGS)
    lap = rng.choice(["2", "3", "0", "", " 3", "x"])
    time = rng.choice(_TIMES)
    tail = rng.choice(["", "", "", " ", "\t", ",extra"])
    quote = rng.choice(['"', '"', '"', ''])
    return f"$H,{pos},{quote}{reg}{quote},{lap},{time}{tail}"


def _payloads(rng: random.Random, count: int) -> list[str]:
    out = [_SETUP]
    for _ in range(count):
        lines = [_row(rng) for _ in range(rng.randint(1, 6))]
        if rng.random() < 0.2:
            lines.append('$G,1,"7",3,"00:05:00.000"')
        out.append(rng.choice(["\r\n", "\n"]).join(lines) + rng.choice(["", "\r\n", "\n"]))
    return out


_run = run_payloads


class _Forgetful(dict):
    def __setitem__(self, key, value) -> None:
        pass


def test_random_practice_blocks_give_the_passes_of_parsing_every_row(monkeypatch):
    payloads = _payloads(random.Random(11), 600)
    rmonitor.PRACTICE_TAILS.clear()
    rmonitor._ROW_HEADS.clear()
    fast = _run(payloads)
    with monkeypatch.context() as m:
        m.setattr(engine_module, "PRACTICE_TAILS", _Forgetful())
        m.setattr(rmonitor, "PRACTICE_TAILS", _Forgetful())
        slow = _run(payloads)
    assert fast == slow


def test_the_shortcut_is_taken_for_a_row_whose_position_alone_moved():
    engine = TimingEngine(1)
    engine.apply("rmonitor", _SETUP, session_id=1, received_at=T0)
    engine.apply("rmonitor", '$H,1,"7",2,"00:01:40.000"\n$H,2,"8",3,"00:01:41.500"', session_id=1, received_at=T0)
    memo = dict(engine._memo)
    r = engine.apply("rmonitor", '$H,2,"7",2,"00:01:40.000"\n$H,1,"8",3,"00:01:41.500"', session_id=1,
                     received_at=T0)
    assert not r.car_patches
    assert engine._memo == memo  # neither row was parsed


def test_tails_are_only_remembered_from_rows_quoted_row_reads():
    rmonitor.PRACTICE_TAILS.clear()
    for line in ['$H,1,"7",2,"00:01:40.000"\t', '$H,1,"7",2,"00:01:40.000" ', '$H,1,"7, 8",2,"x"',
                 '$H,1,"7",2,"00:01:40.000",', '$H,x,"7",2,"00:01:40.000"', '$H,1,"7", 2,"00:01:40.000"']:
        rmonitor.quoted_row(line)
    assert rmonitor.PRACTICE_TAILS == {}
    assert rmonitor.quoted_row('$H,1,"7",2,"00:01:40.000"') == rmonitor.PracticeInfo(1, "7", 2, "00:01:40.000")
    assert rmonitor.PRACTICE_TAILS == {'"7",2,"00:01:40.000"': ("7", (2, "00:01:40.000"))}
