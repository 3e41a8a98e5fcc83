"""The record path's shortcuts give what the plain parser gives."""

from __future__ import annotations

from datetime import datetime

from apps.timing.engine import TimingEngine
from apps.timing.engine.rmonitor import LineParser, parse_line

_T0 = datetime(2024, 5, 1, 12)


def test_parse_new_memoises_like_parse_and_both_message_paths_reuse_the_memoised_record() -> None:
    line = '$C,5,"GTU"'
    parser = LineParser()
    rec = parser.parse_new(line)
    assert rec == parse_line(line) and parser.memo == {line: rec}
    assert parser.parse(line) is rec
    passing = '$J,"12","00:02:01.123","01:12:47.872"'
    assert parser.parse_new(passing) == parse_line(passing) and passing not in parser.memo

    engine = TimingEngine(1)
    engine.apply("rmonitor", line, session_id=1, received_at=_T0)  # one-record path
    first = engine._parser.memo[line]
    engine.apply("rmonitor", line + "\r\n" + '$C,6,"GTO"', session_id=1, received_at=_T0)  # general path
    assert engine._parser.memo[line] is first
    assert engine.classes == {5: "GTU", 6: "GTO"}
