import pytest

from apps.timing.engine.timefmt import MAX_MS, format_delta, laps_text, parse_ms


@pytest.mark.parametrize("text,ms", [
    ("01:23:45.678", 5_025_678),
    ("08:15:30", 29_730_000),
    ("1:02:03.4", 3_723_400),
    ("25:00:00.000", 90_000_000),
    ("48:00:15.989", 172_815_989),
    ("124:30:12.005", 448_212_005),
    ("26:03:04", 93_784_000),
    ("00:00:-47", -47_000),
    ("00:01:32", 92_000),
])
def test_race_clock_strings_parse_with_unbounded_hours_and_negative_seconds(text, ms):
    assert parse_ms(text) == ms


@pytest.mark.parametrize("text", [None, "", "invalid", "12:34", "2147483647:00:00.000", "1:2:3:4", "a:00:00"])
def test_unparsable_clock_strings_mean_no_time(text):
    assert parse_ms(text) == 0


@pytest.mark.parametrize("ms,text", [
    (787, "0.787"), (30_500, "30.500"), (61_000, "1:01.000"), (3_605_250, "1:00:05.250"), (0, "0.000"),
    (59_999, "59.999"), (60_000, "1:00.000"), (3_599_999, "59:59.999"), (3_600_000, "1:00:00.000"),
    (-59_999, "59.999"), (-60_000, "1:00.000"), (-3_605_250, "1:00:05.250"), (1_794_750, "29:54.750"),
    (5_400_000, "1:30:00.000"),
])
def test_gap_format_switches_on_magnitude_and_never_prints_a_sign(ms, text):
    assert format_delta(ms) == text


def test_gap_format_uses_the_hour_component_past_a_day_and_survives_extremes():
    assert format_delta(25 * 3_600_000 + 1_000) == "1:00:01.000"
    for extreme in (-(2**63) // 10_000, (2**63 - 1) // 10_000):
        assert isinstance(format_delta(extreme), str)


@pytest.mark.parametrize("n,text", [(1, "1 lap"), (0, "0 laps"), (2, "2 laps"), (5, "5 laps"), (-1, "-1 laps")])
def test_lap_term_is_singular_only_for_one(n, text):
    assert laps_text(n) == text


def test_race_clock_fast_path_agrees_with_the_general_rule():
    import random

    def general(text: str) -> int:  # parse_ms's rule for H:MM:SS without a fraction
        parts = text.split(":")
        if len(parts) != 3 or "." in parts[2]:
            return -1  # not this case
        try:
            return (int(parts[0]) * 3600 + int(parts[1]) * 60 + int(parts[2])) * 1000
        except ValueError:
            return 0

    rng = random.Random(8)
    odd = ["+1:00:00", "1_:00:00", " 1:00:00", "\u0660\u0660:01:02", "00:-1:02", "00:01:+2", "99:99:99", "00:00:00"]
    clean = [f"{rng.randint(0, 99):02d}:{rng.randint(0, 99):02d}:{rng.randint(0, 99):02d}" for _ in range(2000)]
    assert_parse_ms_agrees(general, odd + clean + mutated(rng, clean, 20000, "0123456789:.-+ _a\u0660\u00b2"))


def test_lap_time_fast_path_agrees_with_the_general_rule():
    import math
    import random

    def general(text: str) -> int:  # parse_ms's rule for H:MM:SS.fff
        parts = text.split(":")
        if len(parts) != 3 or "." not in parts[2]:
            return -1  # not this case
        try:
            s = float(parts[2])
            if s != s or s in (math.inf, -math.inf):
                return 0
            whole = math.floor(s)
            total = (int(parts[0]) * 3600 + int(parts[1]) * 60 + whole) * 1000 + round((s - whole) * 1000)
        except (ValueError, OverflowError):
            return 0
        return total if -MAX_MS <= total <= MAX_MS else 0

    rng = random.Random(9)
    odd = ["+1:00:00.000", "1_:00:00.000", "00:00:0_.000", "00:00:00.1_0", " 1:00:00.000", "\u0660\u0660:01:02.000",
           "00:-1:02.000", "00:01:+2.000", "00:01:02.-10", "99:99:99.999", "00:00:00.000", "00:00:00.5e2"]
    clean = [f"{rng.randint(0, 99):02d}:{rng.randint(0, 99):02d}:{rng.randint(0, 99):02d}.{rng.randint(0, 999):03d}"
             for _ in range(2000)]
    assert_parse_ms_agrees(general, odd + clean + mutated(rng, clean, 30000, "0123456789:.-+ _ae\u0660\u00b2"))


def mutated(rng, texts: list[str], n: int, alphabet: str) -> list[str]:
    """`n` variants of `texts` with one character replaced from `alphabet`; a variant may be
    picked again, so some carry several changes."""
    pool = list(texts)
    for _ in range(n):
        t = list(rng.choice(pool))
        t[rng.randrange(len(t))] = rng.choice(alphabet)
        pool.append("".join(t))
    return pool[len(texts):]


def assert_parse_ms_agrees(general, samples: list[str]) -> None:
    """parse_ms equals `general` wherever that rule applies (it returns -1 for other shapes)."""
    for text in samples:
        want = general(text)
        if want >= 0:
            assert parse_ms(text) == want, text


def test_clock_strings_one_character_short_or_long_take_the_general_rule():
    # The fast path's lookups by slice test the text's length: a time with a field cut short or
    # run on must parse as the general rule parses it, not as its neighbour of the usual length.
    import random

    rng = random.Random(10)
    texts = []
    for _ in range(300):
        t = f"{rng.randint(0, 99):02d}:{rng.randint(0, 99):02d}:{rng.randint(0, 99):02d}.{rng.randint(0, 999):03d}"
        for cut in (7, 8, 9, 10, 11):
            texts.append(t[:cut])
        texts += [t + rng.choice("0123456789"), t[:8] + rng.choice("0123456789"), t[:8] + ":" + t[9:]]
        texts += [t[:5] + rng.choice("0123456789") + t[5:], t[:2] + t[3:], t[:8] + ".1" + t[9:]]

    def general(text: str) -> int:  # parse_ms's rule, as the tests above spell it
        import math

        parts = text.split(":")
        if len(parts) != 3:
            return 0
        try:
            s = float(parts[2])
            whole = math.floor(s)
            return (int(parts[0]) * 3600 + int(parts[1]) * 60 + whole) * 1000 + round((s - whole) * 1000)
        except ValueError:
            return 0

    for text in texts:
        assert parse_ms(text) == general(text), text
