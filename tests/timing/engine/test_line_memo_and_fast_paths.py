"""The engine's shortcuts for what feeds repeat give the same results as the general path."""

from __future__ import annotations

from datetime import datetime, timedelta

from apps.timing.engine import TimingEngine
from apps.timing.engine.replayfile import iter_messages, parse_messages, read_messages
from apps.timing.engine.rmonitor import LineParser, Rejection, heartbeat_values, parse_line

from .conftest import REDMIST, SEBRING

T0 = datetime(2024, 5, 1, 12, 0, 0)


def test_the_line_memo_returns_what_parse_line_returns_and_skips_heartbeats_and_passings():
    parser = LineParser()
    lines = ['$A,"12","12X",52474,"John","Johnson","USA",5', '$C,5,"GTU"', '$G,3,"12",14,"01:12:47.872"',
             '$F,14,"00:12:45","13:34:23","00:09:47","Green "', '$J,"12","00:02:01.123","01:12:47.872"',
             '$Z,bogus']
    for line in lines + lines:
        assert parser.parse(line) == parse_line(line)
    assert set(parser.memo) == {lines[0], lines[1], lines[2], lines[5]}


def test_the_line_memo_never_holds_more_than_its_limit():
    parser = LineParser(limit=100)
    for i in range(1000):
        parser.parse(f'$G,1,"{i}",{i},"00:00:{i % 60:02d}.000"')
        assert len(parser.memo) <= 100


def test_records_handed_out_by_the_memo_are_never_changed_by_the_engine():
    engine = TimingEngine(1)
    for kind, payload, at, _ in iter_messages((SEBRING / "2009_Sebring_ALMS_Session_5.txt").read_text("utf-8-sig")):
        engine.apply(kind, payload, session_id=1, received_at=at)
    memo = engine._parser.memo
    assert len(memo) > 100
    assert all(record == parse_line(line) for line, record in memo.items())


def test_heartbeat_values_agree_with_the_typed_record_and_leave_bad_lines_to_parse_line():
    for line in ['$F,14,"00:12:45","13:34:23","00:09:47","Green "',
                 '$F, 14, "00:12:45", "13:34:23", "00:09:47", "Green "',
                 '$F,9999,"08:00:47","08:59:12","00:00:-47","      "',
                 '$F,,"00:00:00","00:00:00","00:00:00","Finish"',
                 '$F,"x\r,y",1,2,3,4', '$F,14,"a,b","c","d","e"']:
        r = parse_line(line)
        assert heartbeat_values(line) == (r.laps_to_go, r.time_to_go, r.time_of_day, r.race_time, r.flag_text)
    for line in ['$F,14,"00:12:45","13:34:23","00:09:47"', '$F,14,"a,b","c","d","e",x', '$F,"a,b",x\ry,1,2,3']:
        assert isinstance(parse_line(line), Rejection)
        assert heartbeat_values(line) is None


def _results(engine: TimingEngine, messages):
    out = []
    for kind, payload, at in messages:
        r = engine.apply(kind, payload, session_id=1, received_at=at)
        out.append((r.seq, r.session_patch, r.car_patches, r.reset, r.rejections, r.flag_periods,
                    [lap.to_json() for lap in r.completed_laps]))
    return out, engine.state_json()


def test_one_line_messages_give_the_same_passes_as_the_general_path():
    # A leading byte-order mark sends each message down the general path (split_message).
    msgs = [(m.kind, m.payload, m.received_at) for m in read_messages(SEBRING / "2009_Sebring_ALMS_Session_4.txt")]
    fast = _results(TimingEngine(1), msgs)
    general = _results(TimingEngine(1), [(k, "\ufeff" + p, at) for k, p, at in msgs])
    assert fast == general


def test_heartbeats_that_change_the_flag_or_come_first_take_the_general_path_with_the_same_result():
    engine = TimingEngine(1)
    first = engine.apply("rmonitor", '$F,14,"00:12:45","13:34:23","00:09:47","Green "', session_id=1, received_at=T0)
    assert first.session_patch["currentFlag"] == 1 and first.flag_periods
    same = engine.apply("rmonitor", '$F,14,"00:12:44","13:34:24","00:09:48","Green "', session_id=1,
                        received_at=T0 + timedelta(seconds=1))
    assert same.session_patch == {"timeToGo": "00:12:44", "localTimeOfDay": "13:34:24", "runningRaceTime": "00:09:48"}
    assert same.seq == first.seq + 1
    yellow = engine.apply("rmonitor", '$F,14,"00:12:43","13:34:25","00:09:49","Yellow"', session_id=1,
                          received_at=T0 + timedelta(seconds=2))
    assert yellow.session_patch["currentFlag"] == 2 and yellow.flag_periods
    unchanged = engine.apply("rmonitor", '$F,14,"00:12:43","13:34:25","00:09:49","Yellow"', session_id=1,
                             received_at=T0 + timedelta(seconds=3))
    assert not unchanged.changed and unchanged.seq == yellow.seq


def test_the_streaming_reader_yields_what_parse_messages_builds():
    for path in (REDMIST / "TestSessionChanges.txt", SEBRING / "2009_Sebring_ALMS_Session_5.txt"):
        text = path.read_text("utf-8-sig")
        assert [(m.kind, m.payload, m.received_at, m.timestamped) for m in parse_messages(text)] == list(iter_messages(text))


def test_changes_made_between_passes_go_out_with_the_next_heartbeat():
    engine = TimingEngine(1)
    engine.apply("rmonitor", '$A,"1","1",101,"Ann","Lee","",1\n$C,1,"GT"\n$G,1,"1",3,"00:05:00.000"',
                 session_id=1, received_at=T0)
    engine.apply("rmonitor", '$F,14,"00:12:45","13:34:23","00:09:47","Green "', session_id=1, received_at=T0)
    for i in range(6):  # wherever the every-third-message stale check falls
        assert engine.update_car("1", {"is_in_pit": i % 2 == 0})
        engine.update_session({"track_temp_deg_f": 70 + i})
        r = engine.apply("rmonitor", f'$F,14,"00:12:4{i}","13:34:2{i}","00:09:4{i}","Green "', session_id=1,
                         received_at=T0 + timedelta(seconds=i + 1))
        assert r.car_patches == [{"n": "1", "ip": i % 2 == 0}]
        assert r.session_patch["trackTempDegF"] == 70 + i and r.session_patch["timeToGo"] == f"00:12:4{i}"


def test_with_in_car_data_active_heartbeats_give_the_same_passes_as_the_general_path():
    msgs = [(m.kind, m.payload, m.received_at) for m in read_messages(REDMIST / "TestFlagtronicsPurple.txt")]
    engine = TimingEngine(1)
    fast = _results(engine, msgs)
    assert engine.feeds.active and engine.feeds.full_course is not None  # the purple override is live
    general = _results(TimingEngine(1), [(k, "\ufeff" + p if k == "rmonitor" else p, at) for k, p, at in msgs])
    assert fast == general


def test_passing_lines_read_from_their_quotes_give_what_parse_line_gives_and_odd_ones_go_to_it():
    from apps.timing.engine.rmonitor import passing_record

    usual = ['$J,"12","00:02:01.123","01:12:47.872"', '$J," 12 ","","00:00:00.000"', '$J,"1\r2","a b","c"']
    for line in usual:
        assert passing_record(line) == parse_line(line)
        assert LineParser().parse(line) == parse_line(line)
    odd = ['$J, "12", "00:02:01.123", "01:12:47.872"', '$J,"1,2","00:02:01.123","01:12:47.872"',
           '$J,"12","00:02:01.123","01:12:47.872",x', '$J,12,00:02:01.123,01:12:47.872', '$J,"12","a\tb","c"',
           '$J,"12","00:02:01.123"', '$J,"12","00:02:01.123","01:12:47.872""']
    for line in odd:
        assert passing_record(line) is None
        assert LineParser().parse(line) == parse_line(line)
