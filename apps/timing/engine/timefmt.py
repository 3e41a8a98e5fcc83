"""Race clock strings: parsing to milliseconds and the reference's display formats.

State keeps the raw strings the timing system sent; these helpers are only used for maths.
A parsed value of 0 means "no time" everywhere (the feed cannot tell a real zero from a
missing one), so every failure path returns 0 instead of raising.
"""

from __future__ import annotations

import math

__all__ = ["parse_ms", "format_delta", "format_new_delta", "laps_text", "MAX_MS"]

# .NET TimeSpan.MaxValue in milliseconds: anything longer overflowed in the reference and
# was reported as a parse failure, so it must be "no time" here too.
MAX_MS = 922_337_203_685_477


def parse_ms(text: str | None) -> int:
    """`H:MM:SS[.fff]` with unbounded hours and possibly negative seconds -> ms; 0 on failure."""
    if not text:
        return 0
    # The feed's usual HH:MM:SS.fff (lap and total times) and HH:MM:SS (the heartbeat's race
    # clock, parsed for the stale check every few seconds): a table lookup per field validates
    # and converts it in one step (only all-digit fields are keys), and gives what the general
    # path gives (whose float seconds round back to exactly these milliseconds). The separators
    # are part of the keys and every key has its field's full length, so the lookups also test
    # the separators and the text's length (slices and lookups are what a parse costs).
    hm = _HH_MM.get(text[:6])
    if hm is not None:
        ss = _SECONDS_DOT.get(text[6:9])
        if ss is not None:
            fff = _THREE_DIGITS.get(text[9:])
            if fff is not None:
                return (hm + ss) * 1000 + fff
        else:
            ss = _TWO_DIGITS.get(text[6:])
            if ss is not None:
                return (hm + ss) * 1000
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
_SECONDS_DOT = {f"{i:02d}.": i for i in range(100)}  # "SS." -> seconds
_THREE_DIGITS = {f"{i:03d}": i for i in range(1000)}
# "HH:MM:" -> seconds: 10,000 keys, about 1 MB and 6 ms at import. Kept because one lookup for
# both fields was measured 0.6-0.7 % faster over a whole replay than two-digit lookups each.
_HH_MM = {f"{h:02d}:{m:02d}:": (h * 60 + m) * 60 for h in range(100) for m in range(100)}  # -> seconds


def format_delta(ms: int) -> str:
    """Format a time difference the way the reference shows gaps: magnitude only.

    The hour part is the .NET hour *component* (0-23), matching `h:mm:ss.fff` on a TimeSpan.
    Memoised: the same few thousand deltas recur all race long.
    """
    v = _FORMAT_CACHE.get(ms)
    if v is None:
        v = format_new_delta(ms)
    return v


_FORMAT_CACHE: dict[int, str] = {}


def format_new_delta(ms: int) -> str:
    """format_delta for a delta the caller has just looked up in _FORMAT_CACHE and not found: the
    gap loops look texts up themselves, and a third of the deltas they meet are new, so the
    second lookup and call of going through format_delta were a good part of formatting one."""
    # Zero-padded fields from tables: a format spec costs more than the lookup.
    t = -ms if ms < 0 else ms
    secs, fff = divmod(t, 1000)
    if t >= 60_000:
        if t >= 3_600_000:
            v = f"{(secs // 3600) % 24}:{_D2[(secs // 60) % 60]}:{_D2[secs % 60]}.{_D3[fff]}"
        else:
            v = f"{secs // 60}:{_D2[secs % 60]}.{_D3[fff]}"
    else:
        v = f"{secs}.{_D3[fff]}"
    if len(_FORMAT_CACHE) >= 65536:
        _FORMAT_CACHE.clear()
    _FORMAT_CACHE[ms] = v
    return v


_D2 = tuple(f"{i:02d}" for i in range(100))
_D3 = tuple(f"{i:03d}" for i in range(1000))


def laps_text(laps: int) -> str:
    return f"{laps} lap" if laps == 1 else f"{laps} laps"
