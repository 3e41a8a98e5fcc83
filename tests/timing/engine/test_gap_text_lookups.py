"""The gap loops look their texts up in timefmt's and gaps' memo dicts through lookups bound once
at import, not through format_delta/laps_text calls."""

from __future__ import annotations

from apps.timing.engine import gaps, timefmt


def test_the_gap_loops_look_up_the_live_text_caches() -> None:
    # bound once at import: they must stay the very dicts timefmt and gaps fill (timefmt only
    # ever clears its cache)
    assert gaps._delta_text.__self__ is timefmt._FORMAT_CACHE
    assert gaps._laps_behind_text.__self__ is gaps._LAPS_TEXT
    timefmt.format_delta(123_456)
    assert gaps._delta_text(123_456) == "2:03.456"


def test_a_delta_formatted_after_a_miss_is_remembered_with_format_deltas_text() -> None:
    for ms in (7, -7, 59_999, 60_000, 3_599_999, 3_600_000, 25 * 3_600_000 + 1_000):
        timefmt._FORMAT_CACHE.pop(ms, None)
        text = timefmt.format_new_delta(ms)
        assert gaps._delta_text(ms) == text
        timefmt._FORMAT_CACHE.pop(ms)
        assert timefmt.format_delta(ms) == text
