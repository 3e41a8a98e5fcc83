"""Relay flag lists folded into the session's flag periods (spec §6.4, checklist 92-97)."""

from datetime import datetime

from apps.timing.engine.flaglist import (
    FlagPeriod,
    Flags,
    flag_duration_ms,
    flag_totals_ms,
    flaglist_reconcile,
    parse_flag_list,
    parse_local_datetime,
)


def at(hms: str, day: int = 2) -> datetime:
    h, m, s = (int(x) for x in hms.split(":"))
    return datetime(2026, 8, day, h, m, s)


def test_a_relay_list_parses_flag_start_and_open_end():
    periods, rejections = parse_flag_list('[{"f":1,"s":"2026-08-02T08:59:29","e":null}]')
    assert rejections == []
    assert periods == [FlagPeriod(Flags.GREEN, at("08:59:29"), None)]


def test_long_property_names_are_accepted_too():
    periods, _ = parse_flag_list('[{"Flag":2,"StartTime":"2026-08-02T09:08:50","EndTime":"2026-08-02T09:15:33"}]')
    assert periods == [FlagPeriod(Flags.YELLOW, at("09:08:50"), at("09:15:33"))]


def test_a_zone_suffix_is_dropped_without_moving_the_wall_clock():
    assert parse_local_datetime("2026-08-02T09:08:50Z") == at("09:08:50")
    assert parse_local_datetime("2026-08-02T09:08:50.1234567") == datetime(2026, 8, 2, 9, 8, 50, 123456)


def test_bad_elements_are_rejected_with_a_reason_and_the_rest_still_parse():
    payload = (
        '[{"f":1,"s":"2026-08-02T08:59:29"},'
        ' {"f":"x","s":"2026-08-02T09:00:00"},'
        ' {"f":99,"s":"2026-08-02T09:00:00"},'
        ' {"f":2,"s":"yesterday"},'
        ' {"f":2,"s":"2026-08-02T09:00:00","e":"2026-08-02T08:00:00"},'
        ' 7]'
    )
    periods, rejections = parse_flag_list(payload)
    assert periods == [FlagPeriod(Flags.GREEN, at("08:59:29"))]
    reasons = [r.reason for r in rejections]
    assert reasons == [
        "flag 'f' is not an integer",
        "unknown flag value 99",
        "start time 's' missing or not ISO-8601",
        "end time is before start time",
        "flag entry is not an object",
    ]


def test_invalid_json_is_one_rejection_and_null_is_nothing():
    periods, rejections = parse_flag_list("not json")
    assert periods == [] and rejections[0].reason.startswith("invalid JSON")
    assert parse_flag_list("null") == ([], [])
    assert parse_flag_list("{}")[1][0].reason == "flag list is not a JSON array"


def test_a_full_list_persists_every_period_with_exact_times_and_the_open_one_stays_open():
    incoming = [
        FlagPeriod(Flags.YELLOW, at("10:00:00"), at("10:04:59")),
        FlagPeriod(Flags.GREEN, at("10:05:00"), at("10:59:59")),
        FlagPeriod(Flags.WHITE, at("11:00:00"), at("11:01:59")),
        FlagPeriod(Flags.CHECKERED, at("11:02:00"), None),
    ]
    periods, changed = flaglist_reconcile([], incoming)
    assert changed
    assert periods == incoming


def test_a_later_message_gives_an_open_flag_its_end_time():
    existing = [FlagPeriod(Flags.GREEN, at("10:00:00"))]
    periods, changed = flaglist_reconcile(existing, [FlagPeriod(Flags.GREEN, at("10:00:00"), at("10:10:00"))])
    assert changed
    assert periods == [FlagPeriod(Flags.GREEN, at("10:00:00"), at("10:10:00"))]


def test_a_new_flag_auto_completes_the_open_flag_at_its_own_start():
    existing = [FlagPeriod(Flags.GREEN, at("08:59:29"))]
    periods, changed = flaglist_reconcile(existing, [FlagPeriod(Flags.YELLOW, at("09:08:50"))])
    assert changed
    assert periods == [
        FlagPeriod(Flags.GREEN, at("08:59:29"), at("09:08:50")),
        FlagPeriod(Flags.YELLOW, at("09:08:50")),
    ]


def test_open_flags_inside_one_message_are_closed_by_the_next_one():
    # The reference only auto-completes rows already stored; we also close rows arriving together.
    incoming = [FlagPeriod(Flags.GREEN, at("09:00:00")), FlagPeriod(Flags.YELLOW, at("09:10:00"))]
    periods, _ = flaglist_reconcile([], incoming)
    assert periods[0] == FlagPeriod(Flags.GREEN, at("09:00:00"), at("09:10:00"))
    assert periods[1].end is None


def test_an_identical_message_reports_no_change():
    existing = [FlagPeriod(Flags.GREEN, at("08:59:29"), at("09:08:50")), FlagPeriod(Flags.YELLOW, at("09:08:50"))]
    periods, changed = flaglist_reconcile(existing, list(existing))
    assert not changed
    assert periods == existing


def test_an_end_time_the_log_already_has_is_not_overwritten_by_the_relay():
    # After a purple split the yellow ends 09:09:05; the relay keeps reporting 09:15:33.
    existing = [
        FlagPeriod(Flags.YELLOW, at("09:08:50"), at("09:09:05")),
        FlagPeriod(Flags.PURPLE35, at("09:09:06"), at("09:15:10")),
        FlagPeriod(Flags.YELLOW, at("09:15:11")),
    ]
    incoming = [
        FlagPeriod(Flags.YELLOW, at("09:08:50"), at("09:15:33")),
        FlagPeriod(Flags.GREEN, at("09:15:34")),
    ]
    periods, changed = flaglist_reconcile(existing, incoming)
    assert changed
    assert periods == [
        FlagPeriod(Flags.YELLOW, at("09:08:50"), at("09:09:05")),
        FlagPeriod(Flags.PURPLE35, at("09:09:06"), at("09:15:10")),
        FlagPeriod(Flags.YELLOW, at("09:15:11"), at("09:15:34")),
        FlagPeriod(Flags.GREEN, at("09:15:34")),
    ]


def test_a_yellow_that_a_purple_took_over_is_never_put_back():
    existing = [FlagPeriod(Flags.PURPLE35, at("13:10:00"))]
    periods, changed = flaglist_reconcile(existing, [FlagPeriod(Flags.YELLOW, at("13:10:00"))])
    assert not changed and periods == existing

    incoming = [
        FlagPeriod(Flags.YELLOW, at("13:10:00"), at("13:24:59")),
        FlagPeriod(Flags.GREEN, at("13:25:00")),
    ]
    periods, _ = flaglist_reconcile(existing, incoming)
    assert periods == [
        FlagPeriod(Flags.PURPLE35, at("13:10:00"), at("13:25:00")),
        FlagPeriod(Flags.GREEN, at("13:25:00")),
    ]


def test_a_flag_starting_far_beyond_the_clock_is_ignored():
    periods, changed = flaglist_reconcile([], [FlagPeriod(Flags.GREEN, at("23:00:00"))], now=at("09:00:00"))
    assert periods == [] and not changed


def test_durations_measure_closed_periods_and_running_ones_to_now():
    green = FlagPeriod(Flags.GREEN, at("08:59:29"), at("09:08:50"))
    yellow = FlagPeriod(Flags.YELLOW, at("09:08:50"))
    assert flag_duration_ms(green, None) == 561_000
    assert flag_duration_ms(yellow, None) is None
    assert flag_duration_ms(yellow, at("09:09:00")) == 10_000
    assert flag_totals_ms([green, yellow], at("09:09:00")) == {Flags.GREEN: 561_000, Flags.YELLOW: 10_000}


def test_a_period_serialises_with_the_contracts_short_keys():
    assert FlagPeriod(Flags.YELLOW, at("09:08:50")).to_json() == {"f": 2, "s": "2026-08-02T09:08:50", "e": None}


def test_random_garbage_never_raises():
    import random

    rng = random.Random(3)
    pieces = ['[', ']', '{', '}', '"f"', '"s"', '"e"', ':', ',', '1', '99', 'true', 'null', '"2026-08-02T09:08:50"',
              '"2026-08-02T09:08:50.1234567+02:00"', '"x"']
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 20)))
        periods, _ = parse_flag_list(text)
        flaglist_reconcile([], periods)
