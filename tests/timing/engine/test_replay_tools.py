"""The recording reader, the replay driver and the `replay` management command."""

import json
from datetime import datetime

import pytest

from apps.timing.engine.replayfile import SYNTHETIC_START, parse_messages, read_messages, replay_files
from apps.timing.engine.standings import standings_rows, standings_table

from .helpers import REDMIST, SEBRING


def test_block_recordings_become_one_message_per_block_with_the_capture_clock():
    text = "\ufeff##2025-04-26 12:29:44.712\n$F,1,\"a\",\"b\",\"c\",\"\"\r\r\n$B,67,\"x\"\n\n##2025-04-26 12:29:45.001\n$F,2\n"
    msgs = parse_messages(text)
    assert [m.received_at for m in msgs] == [datetime(2025, 4, 26, 12, 29, 44, 712000), datetime(2025, 4, 26, 12, 29, 45, 1000)]
    assert msgs[0].payload.count("$") == 2 and all(m.kind == "rmonitor" and m.timestamped for m in msgs)


def test_typed_headers_set_the_message_kind():
    msgs = parse_messages('##2026-08-02 12:59:29.363|flags\n[{"f":1}]\n##2026-08-02 13:08:45.374|rmonitor\n$F,1\n')
    assert [m.kind for m in msgs] == ["flags", "rmonitor"]


def test_plain_lines_get_a_clock_that_moves_one_second_per_heartbeat():
    msgs = parse_messages('$A,"1"\r\n$F,1\r\n$G,1\r\n$F,2\r\n')
    assert [m.payload for m in msgs] == ['$A,"1"', "$F,1", "$G,1", "$F,2"]
    assert [(m.received_at - SYNTHETIC_START).seconds for m in msgs] == [0, 1, 1, 2]
    assert not any(m.timestamped for m in msgs)


def test_lines_mode_ignores_headers_like_the_reference_end_of_event_loader():
    msgs = read_messages(REDMIST / "event-finish-with-stopped.log", "lines")
    assert len(msgs) == 889 and all("\n" not in m.payload for m in msgs)


def test_every_recording_reads_into_messages_with_all_its_records():
    for path in list(REDMIST.glob("Test*.txt")) + list(SEBRING.glob("*.txt")):
        text = path.read_bytes().decode("utf-8-sig")
        records = sum(1 for l in text.splitlines() if l.strip().startswith("$"))
        got = sum(sum(1 for l in m.payload.splitlines() if l.strip().startswith("$")) for m in read_messages(path))
        assert got == records, path.name


def test_standings_table_lists_cars_in_position_order_with_names():
    engine, stats = replay_files([REDMIST / "TestEntries.txt", REDMIST / "TestInitialPositions.txt",
                                  REDMIST / "TestStart.txt"])
    state = engine.state_json()
    rows = standings_rows(state)
    assert rows[0][:3] == ("1", "1", "2") and rows[1][2] == "70" and rows[1][8] == "0.787"
    assert "Round 3 Racing" in standings_table(state).splitlines()[3]
    assert stats.messages == 14 + 21 + 1227


def test_replay_command_prints_standings_and_writes_the_final_state(tmp_path, capsys):
    django = pytest.importorskip("django")
    from django.conf import settings
    if not settings.configured:
        pytest.skip("Django settings are not configured")
    from django.core.management import call_command
    out = tmp_path / "state.json"
    call_command("replay", str(REDMIST / "TestEntries.txt"), str(REDMIST / "TestInitialPositions.txt"),
                 str(REDMIST / "TestStart.txt"), "--max", "--json", str(out))
    printed = capsys.readouterr().out
    assert "Round 3 Racing" in printed and "0.787" in printed
    state = json.loads(out.read_text())
    assert state["sessionId"] == 67 and len(state["carPositions"]) == 52


def test_standings_show_clock_times_compactly_and_zero_as_blank():
    from apps.timing.engine.standings import _clock
    assert (_clock("00:02:23.425"), _clock("01:02:03.400"), _clock("00:00:00.000"), _clock(None)) == \
        ("2:23.425", "1:02:03.400", "", "")
