"""`$G`/`$H` rows read by rmonitor.quoted_row (the shortcut LineParser.parse_new takes for them)
give exactly what parse_line gives, and anything outside the shape goes to parse_line."""

from __future__ import annotations

import random

import pytest

from apps.timing.engine import rmonitor
from apps.timing.engine.rmonitor import LineParser, PracticeInfo, RaceInfo, Rejection, parse_line, quoted_row

_NUMBERS = ["0", "1", "12", "007", "", " 3", "3 ", "-1", "+2", "1_0", "²", "١٢", "x", "1,2", "\t4", "4\t",
            "1234567890", "999999999"]
_VALUES = ["", "60", " 60", "60 ", "6,0", "a\tb", "6 0", "00:07:30.095", "\t", "'", "00:00:-47"]


def _line(rng: random.Random) -> str:
    # Mostly the usual shape, with one or two odd pieces now and then.
    tag = rng.choice(["$G", "$H", "$G", "$H", "$J", "$GX", "$g", " $G"])
    sep = "," if rng.random() < 0.8 else rng.choice([", ", " ,", ";"])
    numbers = [rng.choice(_NUMBERS) if rng.random() < 0.3 else str(rng.randint(0, 300)) for _ in range(2)]
    reg, value = (rng.choice(_VALUES) if rng.random() < 0.3 else "12" for _ in range(2))
    line = f'{tag}{sep}{numbers[0]},"{reg}",{numbers[1]},"{value}"'
    return line + ("" if rng.random() < 0.8 else rng.choice(['"', ",", ',"x"', " "]))


def test_rows_read_by_the_shortcut_are_what_parse_line_reads() -> None:
    rng = random.Random(7)
    taken = 0
    for _ in range(40_000):
        line = _line(rng)
        rec = quoted_row(line)
        if rec is not None:
            taken += 1
            assert type(rec) is type(parse_line(line)) and rec == parse_line(line), line
    assert taken > 2_000  # the shortcut did take many of them


@pytest.mark.parametrize("line", [
    '$G,3,"12",14,"01:02:03.456"', '$H,3,"12",14,"01:02:03.456"', '$G,0,"12",0,""', '$H,11,"60",1,"00:02:22.215"',
    '$G,007,"1 2",1,"x"', '$G,6,"246",,"00:00:00.000"',  # blank laps: 0 in a `$G` row, as parse_line reads them
])
def test_the_usual_rows_take_the_shortcut(line: str) -> None:
    rec = quoted_row(line)
    assert rec is not None and rec == parse_line(line)
    assert isinstance(rec, RaceInfo if line.startswith("$G") else PracticeInfo)


@pytest.mark.parametrize("line", [
    '$H,6,"246",,"00:00:00.000"',  # blank best lap: a rejection for $H (parse_line decides)
    '$G, 3,"12",14,"01:02:03.456"',  # spaces: fields are stripped
    '$G,3,"1\t2",14,"01:02:03.456"',  # a tab anywhere: fields are stripped
    '$G,3,"1,2",14,"01:02:03.456"',  # a comma in quotes: the CSV reader
    '$G,3,"12",14,"01:02:03.456",7',  # more fields
    '$G,-3,"12",14,"01:02:03.456"', '$G,3,"12",+14,"01:02:03.456"', '$G,1_0,"12",14,"x"',
    '$G,1234567890,"12",14,"x"',  # longer numbers: parse_line
    '$G,3,12,14,"x"', '$GX,3,"12",14,"x"',
])
def test_other_shapes_go_to_parse_line(line: str) -> None:
    assert quoted_row(line) is None


def test_the_remembered_numbers_are_bounded() -> None:
    for n in range(10_000):
        assert quoted_row(f'$G,{n},"1",{n + 1},"x"') == RaceInfo(n, "1", n + 1, "x")
    assert len(rmonitor._ROW_HEADS) <= 4096 and len(rmonitor._ROW_NUMBERS) <= 4096


def test_the_line_parser_gives_parse_lines_records_for_rows_too() -> None:
    parser = LineParser()
    for line in ['$G,3,"12",14,"01:02:03.456"', '$H,6,"246",,"00:00:00.000"', '$G,3,"1,2",14,"x"', '$H,1,"7",x,"y"']:
        rec = parser.parse_new(line)
        assert rec == parse_line(line) and parser.parse(line) is rec
    assert isinstance(parser.parse('$H,1,"7",x,"y"'), Rejection)
