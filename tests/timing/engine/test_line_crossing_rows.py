"""IMSA `$L` line crossings read by rmonitor.line_crossing_record (the shortcut LineParser takes
for them) give exactly what parse_line gives, and anything outside the usual shape goes to it."""

from __future__ import annotations

import random

from apps.timing.engine.rmonitor import LineCrossing, LineParser, line_crossing_record, parse_line

_PIECES = ["45", "P2", "POP", "01/27/2009", "14:10:14.716", "", " 4", "4 ", "a,b", "a\tb", "\r", "x y"]


def _line(rng: random.Random) -> str:
    values = [rng.choice(_PIECES) if rng.random() < 0.2 else rng.choice(["45", "P2", "SFP"])
              for _ in range(rng.choice([5, 5, 5, 4, 6]))]
    quote = '"' if rng.random() < 0.95 else ""
    sep = "," if rng.random() < 0.9 else rng.choice([", ", " ,"])
    line = rng.choice(["$L", "$L", "$L", "$LX", " $L"]) + "," + sep.join(f"{quote}{v}{quote}" for v in values)
    return line + ("" if rng.random() < 0.9 else rng.choice(['"', ",", ",x", " "]))


def test_line_crossings_read_by_the_shortcut_are_what_parse_line_reads():
    rng = random.Random(13)
    taken = 0
    for _ in range(20_000):
        line = _line(rng)
        rec = line_crossing_record(line)
        want = parse_line(line)
        if rec is not None:
            taken += 1
            assert type(rec) is type(want) and rec == want, line
        assert LineParser().parse(line) == want, line
    assert taken > 3_000


def test_the_usual_line_crossing_takes_the_shortcut():
    line = '$L,"45","P2","POP","01/27/2009","14:10:14.716"'
    assert line_crossing_record(line) == LineCrossing("45", "P2", "POP", "01/27/2009", "14:10:14.716") == parse_line(line)
    for odd in ['$L, "45","P2","POP","01/27/2009","14:10:14.716"', '$L,"4,5","P2","POP","01/27/2009","x"',
                '$L,"45","P2","POP","01/27/2009"', '$L,"45","P2","POP","01/27/2009","x",y', '$L,45,P2,POP,1,2']:
        assert line_crossing_record(odd) is None
