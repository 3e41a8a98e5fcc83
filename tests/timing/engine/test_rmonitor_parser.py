from apps.timing.engine.rmonitor import (ClassInfo, Competitor, CompetitorExt, Corrected, Heartbeat, Init,
                                         LineCrossing, Passing, PracticeInfo, RaceInfo, Rejection, RunInfo,
                                         Setting, TrackInfo, parse_line, split_fields, split_message)


def test_heartbeat_fields_are_typed_and_the_padded_flag_text_is_kept_raw():
    r = parse_line('$F,14,"00:12:45","13:34:23","00:09:47","Green "')
    assert r == Heartbeat(14, "00:12:45", "13:34:23", "00:09:47", "Green ")
    spaced = parse_line('$F, 14, "00:12:45", "13:34:23", "00:09:47", "Green "')
    assert (spaced.laps_to_go, spaced.time_to_go) == (14, "00:12:45")


def test_heartbeat_with_a_wrong_field_count_is_rejected_with_a_reason():
    r = parse_line('$F,14,"00:12:45","13:34:23","00:09:47"')
    assert isinstance(r, Rejection) and "exactly 5" in r.reason


def test_heartbeat_keeps_negative_pre_start_race_time_and_oversized_countdown():
    r = parse_line('$F,9999,"08:00:47","08:59:12","00:00:-47","      "')
    assert (r.time_to_go, r.race_time, r.flag_text.strip()) == ("08:00:47", "00:00:-47", "")


def test_competitor_with_unparsable_transponder_and_class_reports_none_so_the_engine_keeps_old_values():
    r = parse_line('$A,"1234BE","12X",x52474,"John","Johnson","USA",five')
    assert r == Competitor("1234BE", "12X", None, "John", "Johnson", "USA", None)


def test_comp_reads_class_from_field_three_and_trims_the_team():
    r = parse_line('$COMP,"70","70",1,"Round 3 Racing","","","  Trim-Tex  "')
    assert r == CompetitorExt("70", "70", 1, "Round 3 Racing", "", "", "Trim-Tex")


def test_a_quoted_field_containing_a_comma_stays_one_field():
    r = parse_line('$COMP,"7","7",2,"Smith, Jones Racing","Porsche, 911","","Team, A"')
    assert isinstance(r, CompetitorExt)
    assert (r.first_name, r.last_name, r.additional) == ("Smith, Jones Racing", "Porsche, 911", "Team, A")


def test_cor_is_its_own_record_not_a_class_record():
    r = parse_line('$COR,"12","12",45,"01:02:03.456","+00:00:10.000"')
    assert isinstance(r, Corrected) and r.laps == 45


def test_race_info_with_blank_laps_means_lap_zero():
    assert parse_line('$G,1,"70",,"00:00:00.000"') == RaceInfo(1, "70", 0, "00:00:00.000")


def test_race_info_with_a_non_numeric_position_is_rejected():
    r = parse_line('$G,x,"70",3,"00:08:05.341"')
    assert isinstance(r, Rejection) and "position" in r.reason


def test_other_record_types_parse_to_their_dataclasses():
    assert parse_line('$B,67,"Saturday 8 Hour"') == RunInfo(67, "Saturday 8 Hour")
    assert parse_line('$C,5,"Formula 300"') == ClassInfo(5, "Formula 300")
    assert parse_line('$E,"TRACKLENGTH","4.048"') == Setting("TRACKLENGTH", "4.048")
    assert parse_line('$H,2,"70",2,"00:02:21.740"') == PracticeInfo(2, "70", 2, "00:02:21.740")
    assert parse_line('$I, "00:00:00", "0/0/0000"') == Init("00:00:00", "0/0/0000")
    assert parse_line('$J,"70","00:02:23.425","00:08:05.341"') == Passing("70", "00:02:23.425", "00:08:05.341")
    assert parse_line('$L,"45","P2","POP","01/27/2009","14:10:14.716"') == LineCrossing("45", "P2", "POP", "01/27/2009", "14:10:14.716")
    t = parse_line('$T,"Sebring International Raceway","Sebring","3.74","S1"')
    assert isinstance(t, TrackInfo) and t.short_name == "Sebring" and t.sections == ("S1",)


def test_invalid_run_number_and_unknown_commands_are_rejections_not_exceptions():
    assert isinstance(parse_line("$B,invalid"), Rejection)
    r = parse_line("$UNKNOWN,1,2")
    assert isinstance(r, Rejection) and "unknown command" in r.reason
    for junk in ["", ",,,", "$", '$G,"', "$H,1,2", "\x00\x01"]:
        assert isinstance(parse_line(junk), Rejection)


def test_a_message_splits_into_trimmed_records_across_bom_crcrlf_and_blank_lines():
    payload = '\ufeff$F,1,"a","b","c","Green "\r\r\n\r\n  $G,1,"7",2,"00:01:00.000" \r\n\n'
    assert split_message(payload) == ['$F,1,"a","b","c","Green "', '$G,1,"7",2,"00:01:00.000"']
    assert split_message("") == [] and split_message("\r\n\r\n") == []


def test_fields_lose_quotes_and_surrounding_spaces_only():
    assert split_fields('$I, "00:00:00", "0/0/0000"') == ["$I", "00:00:00", "0/0/0000"]
    assert split_fields('$A,"1","1",5,"Round 3 Racing","","",1')[4] == "Round 3 Racing"
