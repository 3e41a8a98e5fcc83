"""_apply_records reads a block's `$G`/`$H` rows that the line memo lacks with quoted_row
directly (what parse_new would do for them), leaving the rows it does not read (None) and the
untrimmed ones to the general route. With quoted_row reading nothing every pass and the state
must come out the same."""

from __future__ import annotations

import random

from apps.timing.engine import engine as engine_module

from .helpers import run_payloads

_SETUP = ('$C,5,"GT"\r\n$A,"7","7",52474,"John","Johnson","USA",5\r\n$A,"8","8",52475,"Ann","Lee","USA",5\r\n'
          '$F,14,"00:12:45","13:34:23","00:09:47","Green "\r\n')


_TAILS = ["", "", " ", "\t", ",x"]


def _row(rng: random.Random) -> str:
    tag = rng.choice(["$G", "$H"])
    pos = rng.choice(["1", "2", "3", "", "x", " 2", "1,2"])
    reg = rng.choice(["7", "8", "9", "7 ", "7,8"])
    number = rng.choice(["0", "2", "3", "4", "", " 3", "x"])
    time = rng.choice(["00:01:40.000", "00:05:01.000", "00:00:00.000", "", "1:39.9"])
    lead, tail = rng.choice(["", "", " "]), rng.choice(_TAILS)
    return f'{lead}{tag},{pos},"{reg}",{number},"{time}"{tail}'


_run = run_payloads


def test_random_standings_blocks_give_the_passes_of_the_general_route(monkeypatch):
    rng = random.Random(5)
    payloads = [_SETUP] + [rng.choice(["\r\n", "\n", " \n"]).join(_row(rng) for _ in range(rng.randint(2, 6)))
                           for _ in range(800)]
    fast = _run(payloads)
    monkeypatch.setattr(engine_module, "quoted_row", lambda line: None)
    assert _run(payloads) == fast
