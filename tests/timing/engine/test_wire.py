"""Contract names and MessagePack layout (api-contract §2.3, §2.4, §11.1-11.3)."""

import calendar
from datetime import datetime

import msgpack

from apps.timing.engine import wire
from apps.timing.engine.state import CarPosition, FlagDuration

from .helpers import Feed, competitor


def _raw(data: bytes):
    # Decode without timestamp conversion to see the extension type on the wire.
    return msgpack.unpackb(data, raw=False, strict_map_key=False, timestamp=0)


def test_car_json_uses_the_terse_contract_names():
    c = wire.car_to_json(CarPosition(number="7", car_class="GT", overall_position=3))
    assert (c["n"], c["class"], c["ovp"], c["opg"], c["cpg"]) == ("7", "GT", 3, -999, -999)
    assert "lastLapPitted" in c and "LastLapPitted" not in c
    assert "LastLapPitted" in wire.car_to_json(CarPosition(), "db")
    assert "hg" not in c and c["temp"] is None and c["lstt"] == "00:00:00"
    assert len(c) == 67


def test_car_msgpack_is_a_positional_array_with_the_retired_gps_slot_false():
    arr = wire.car_to_msgpack(CarPosition(number="7", transponder_id=58488, overall_position=2,
                                          in_class_gap_by_fast_time="1.000", signal_bars=3))
    assert len(arr) == 68
    assert (arr[2], arr[3], arr[20], arr[23], arr[61], arr[62], arr[67]) == ("7", 58488, 2, -999, False, "1.000", 3)


def test_session_msgpack_has_35_keys_and_datetimes_as_timestamp_extension():
    f = Feed()
    f.send('$B,67,"Saturday 8 Hour"', '$C,1,"GTO"', competitor("70"), '$F,9999,"08:00:00","07:29:44","00:00:00","Green "')
    raw = _raw(f.engine.state_msgpack())
    assert isinstance(raw, list) and len(raw) == 35
    assert (raw[0], raw[2], raw[3], raw[4], raw[15]) == (1, 67, "Saturday 8 Hour", 9999, 1)
    assert isinstance(raw[9], msgpack.Timestamp)  # SessionStartTime, DateTime.MinValue when unset
    car = raw[14][0]
    assert len(car) == 68 and car[2] == "70" and car[61] is False
    entry = raw[13][0]
    assert entry == ["70", "Team 70", "", "GTO"]
    flag = raw[16][0]
    assert flag[0] == 1 and isinstance(flag[1], msgpack.Timestamp) and flag[2] is None


def test_msgpack_timestamps_round_trip_to_the_same_instant():
    packed = wire.packb([datetime(2026, 8, 2, 8, 59, 29)])
    (back,) = wire.unpackb(packed)
    assert back.replace(tzinfo=None) == datetime(2026, 8, 2, 8, 59, 29)
    # naive wall-clock values are written as if UTC (the reference drops DateTimeKind)
    assert msgpack.unpackb(packed, timestamp=0)[0].to_unix() == calendar.timegm((2026, 8, 2, 8, 59, 29, 0, 0, 0))


def test_session_json_is_camel_case_with_short_names_inside():
    f = Feed()
    f.send('$B,5,"Practice"', competitor("7"))
    s = f.state
    assert {"eventId", "sessionId", "carPositions", "eventEntries", "flagDurations", "hasTelemetrySource"} <= set(s)
    assert s["carPositions"][0]["n"] == "7" and s["eventEntries"][0]["no"] == "7"
    assert s["sessionStartTime"] == "0001-01-01T00:00:00"


def test_flag_duration_json_uses_f_s_e():
    d = wire.flag_duration_to_json(FlagDuration(2, datetime(2026, 8, 2, 9, 8, 50), None))
    assert d == {"f": 2, "s": "2026-08-02T09:08:50", "e": None}
    assert wire.flag_duration_from_json(d) == FlagDuration(2, datetime(2026, 8, 2, 9, 8, 50), None)


def test_patches_carry_only_changed_fields_by_contract_name_and_as_sparse_arrays():
    f = Feed()
    f.send(competitor("7"))
    r = f.send('$G,4,"7",2,"00:03:00.000"')
    p = next(p for p in r.car_patches if p["n"] == "7")
    assert {"n", "ovp", "llp", "ttm"} <= set(p) and "tp" not in p
    arr = wire.car_patch_to_msgpack(p)
    assert arr[2] == "7" and arr[20] == 4 and arr[15] == 2 and arr[3] is None and arr[61] is None
    sp = wire.session_patch_to_msgpack({"laps_to_go": 5})
    assert len(sp) == 35 and sp[4] == 5 and sp.count(None) == 34


def test_heartbeat_flag_changes_publish_the_whole_flag_duration_list():
    f = Feed()
    f.send('$F,9999,"08:00:00","09:00:00","00:00:00","Yellow"')
    f.send('$F,9999,"08:00:00","09:00:01","00:00:01","Yellow"')
    r = f.send('$F,9999,"08:00:00","09:00:52","00:00:52","Green "')
    assert r.flag_periods == r.session_patch["flagDurations"]
    assert [(p["f"], p["s"][-8:], p["e"] and p["e"][-8:]) for p in r.flag_periods] == \
        [(2, "09:00:00", "09:00:52"), (1, "09:00:52", None)]
    assert f.send('$F,9999,"08:00:00","09:00:53","00:00:53","Green "').flag_periods is None
