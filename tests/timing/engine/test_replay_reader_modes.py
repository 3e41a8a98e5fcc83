"""The replay reader picks the layout from the text alone, the same way for every entry point."""

from __future__ import annotations

import pytest

from apps.timing.engine.replayfile import iter_messages, parse_messages

HEADER = "##2025-04-26 12:29:44.712\n"
PLAIN = '$A,"1"\r\n$F,1\r\n$G,1\r\n$F,2\r\n'


@pytest.mark.parametrize("text, layout", [
    (HEADER + PLAIN + HEADER + "$F,3\n", "blocks"),  # the usual capture: headers from the start
    ("\ufeff" + HEADER + PLAIN, "blocks"),
    (PLAIN + HEADER + PLAIN, "blocks"),  # plain lines first: one message per line until the first header
    (PLAIN * 40 + HEADER + PLAIN, "blocks"),  # the first header comes after line 50
    ("\n" * 49 + HEADER + PLAIN, "blocks"),
    ("##not a time|flags\n[1]\n" + PLAIN, "blocks"),
    (PLAIN * 40, "lines"),
    ("$F,1\n# ##\n$F,2 ##x\n", "lines"),  # "##" inside a line is not a header
    ("", "lines"),
])
def test_auto_mode_reads_a_text_the_way_its_layout_says(text, layout):
    auto = list(iter_messages(text))
    assert auto == list(iter_messages(text, layout))
    if layout == "blocks":  # (without headers, both layouts read the same)
        assert auto != list(iter_messages(text, "lines"))
    assert [(m.kind, m.payload, m.received_at, m.timestamped) for m in parse_messages(text)] == auto


def test_a_header_capture_read_as_blocks_keeps_every_block_and_its_clock():
    text = HEADER + "$F,1\n\n##2025-04-26 12:29:45.001|flags\n[1]\n##bad\n$F,2\n##2025-04-26 12:29:46.500\n\n"
    got = list(iter_messages(text))
    assert [(k, p, ts) for k, p, _, ts in got] == [("rmonitor", "$F,1\n", True), ("flags", "[1]", True),
                                                   ("rmonitor", "$F,2", False)]
    assert [at.isoformat() for _, _, at, _ in got] == ["2025-04-26T12:29:44.712000", "2025-04-26T12:29:45.001000",
                                                      "2000-01-01T00:00:01"]
