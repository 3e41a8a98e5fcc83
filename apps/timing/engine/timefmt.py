"""Race clock strings: parsing to milliseconds and the reference's display formats.

State keeps the raw strings the timing system sent; these helpers are only used for maths.
A parsed value of 0 means "no time" everywhere (the feed cannot tell a real zero from a
missing one), so every failure path returns 0 instead of raising.
"""

from __future__ import annotations

import math

__all__ = ["parse_ms", "format_delta", "laps_text", "MAX_MS"]

# .NET TimeSpan.MaxValue in milliseconds: anything longer overflowed in the reference and
# was reported as a parse failure, so it must be "no time" here too.
MAX_MS = 922_337_203_685_477


def parse_ms(text: str | None) -> int:
    """`H:MM:SS[.fff]` with unbounded hours and possibly negative seconds -> ms; 0 on failure."""
    if not text:
        return 0
    if len(text) == 12 and text[2] == ":" and text[5] == ":" and text[8] == "." and text.isascii():
        # The feed's usual HH:MM:SS.fff: the digits as one integer give the same value as the
        # general path (whose float seconds round back to exactly these milliseconds).
        digits = text.replace(":", "").replace(".", "", 1)
        if len(digits) == 9 and digits.isdigit():
            v = int(digits)
            return ((v // 10_000_000 * 60 + v // 100_000 % 100) * 60 + v // 1000 % 100) * 1000 + v % 1000
    elif len(text) == 8 and text[2] == ":" and text[5] == ":":
        # HH:MM:SS, the heartbeat's race clock (parsed for the stale check every few seconds):
        # a table lookup per field validates and converts in one step.
        hh = _TWO_DIGITS.get(text[:2])
        mm = _TWO_DIGITS.get(text[3:5])
        ss = _TWO_DIGITS.get(text[6:])
        if hh is not None and mm is not None and ss is not None:
            return ((hh * 60 + mm) * 60 + ss) * 1000
    parts = text.split(":")
    if len(parts) != 3:
        return 0
    try:
        h = int(parts[0])
        m = int(parts[1])
        sec = parts[2]
        if "." in sec:
            s = float(sec)
            if s != s or s in (math.inf, -math.inf):
                return 0
            whole = math.floor(s)
            total = (h * 3600 + m * 60 + whole) * 1000 + round((s - whole) * 1000)
        else:
            total = (h * 3600 + m * 60 + int(sec)) * 1000
    except (ValueError, OverflowError):
        return 0
    if total > MAX_MS or total < -MAX_MS:
        return 0
    return total


_TWO_DIGITS = {f"{i:02d}": i for i in range(100)}


def format_delta(ms: int) -> str:
    """Format a time difference the way the reference shows gaps: magnitude only.

    The hour part is the .NET hour *component* (0-23), matching `h:mm:ss.fff` on a TimeSpan.
    Memoised: the same few thousand deltas recur all race long.
    """
    v = _FORMAT_CACHE.get(ms)
    if v is None:
        v = _format_delta(ms)
        if len(_FORMAT_CACHE) >= 65536:
            _FORMAT_CACHE.clear()
        _FORMAT_CACHE[ms] = v
    return v


_FORMAT_CACHE: dict[int, str] = {}


def _format_delta(ms: int) -> str:
    # Zero-padded fields from tables: a format spec costs more than the lookup, and about
    # a third of the gaps a race publishes are deltas not seen before.
    t = -ms if ms < 0 else ms
    secs, fff = divmod(t, 1000)
    if t >= 60_000:
        if t >= 3_600_000:
            return f"{(secs // 3600) % 24}:{_D2[(secs // 60) % 60]}:{_D2[secs % 60]}.{_D3[fff]}"
        return f"{secs // 60}:{_D2[secs % 60]}.{_D3[fff]}"
    return f"{secs}.{_D3[fff]}"


_D2 = tuple(f"{i:02d}" for i in range(100))
_D3 = tuple(f"{i:03d}" for i in range(1000))


def laps_text(laps: int) -> str:
    return f"{laps} lap" if laps == 1 else f"{laps} laps"
