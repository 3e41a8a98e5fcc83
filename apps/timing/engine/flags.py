"""Flag enum, RMonitor flag text mapping and the flag-period log derived from heartbeats."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import IntEnum

from .state import FlagDuration

__all__ = ["Flags", "flag_from_rmonitor", "flag_from_flagtronics", "FlagLog", "ACTIVE_FLAGS"]


class Flags(IntEnum):
    UNKNOWN = 0
    GREEN = 1
    YELLOW = 2
    RED = 3
    WHITE = 4
    CHECKERED = 5
    BLACK = 6
    PURPLE35 = 7
    PURPLE60 = 8
    BLUE = 9
    MEATBALL = 10
    DEBRIS = 11
    WAVING_YELLOW = 12


_RMONITOR = {
    "Green": Flags.GREEN,
    "Yellow": Flags.YELLOW,
    "Red": Flags.RED,
    "White": Flags.WHITE,
    "Finish": Flags.CHECKERED,
    "Black": Flags.BLACK,
    "Purple": Flags.PURPLE35,
    "Purple60": Flags.PURPLE60,
}

# Flags under which a session counts as running, for the end-of-session detector.
ACTIVE_FLAGS = frozenset({Flags.WHITE, Flags.GREEN, Flags.YELLOW, Flags.PURPLE35})


def flag_from_rmonitor(text: str) -> Flags:
    # Orbits pads to 6 characters ("Green "), and sends 6 blanks before a session starts.
    return _RMONITOR.get(text.strip(), Flags.UNKNOWN)


_FLAGTRONICS = {
    "Green": Flags.GREEN, "LocalGreen": Flags.GREEN,
    "FCYellow": Flags.YELLOW, "Yellow": Flags.YELLOW, "StYellow": Flags.YELLOW,
    "StYellowDB": Flags.YELLOW, "StYellowWhite": Flags.YELLOW, "WhiteStYellowDB": Flags.YELLOW,
    "Red": Flags.RED, "Black": Flags.BLACK, "MeatBall": Flags.MEATBALL, "Blue": Flags.BLUE,
    "Debris": Flags.DEBRIS, "White": Flags.WHITE, "WhiteDB": Flags.WHITE,
    "Checkered": Flags.CHECKERED, "LocalCheckered": Flags.CHECKERED, "Purple": Flags.PURPLE35,
}


def flag_from_flagtronics(text: str) -> Flags:
    if text.startswith("WavingYel"):
        return Flags.WAVING_YELLOW
    return _FLAGTRONICS.get(text, Flags.UNKNOWN)


class FlagLog:
    """Flag periods built from the heartbeat's flag changes, on the track's wall clock.

    The reference gets this list from the relay (`flags` messages) which derives it from the
    same heartbeat; doing it here keeps FlagDurations populated for RMonitor-only feeds. A
    `flags` handler can later replace the list wholesale via `replace()`.
    """

    __slots__ = ("periods", "_last_start")

    def __init__(self) -> None:
        self.periods: list[FlagDuration] = []
        self._last_start: datetime | None = None

    def observe(self, flag: int, time_of_day: str, on_date: date) -> bool:
        """Record the flag seen at `time_of_day`; True when the list changed."""
        current = self.periods[-1] if self.periods else None
        open_flag = current.flag if current is not None and current.end is None else None
        if open_flag == flag or (open_flag is None and flag == Flags.UNKNOWN):
            return False
        at = self._clock(time_of_day, on_date)
        if at is None:
            return False
        if current is not None and current.end is None:
            # Auto-complete: a new flag closes the open one at its own start time.
            current.end = at
        if flag != Flags.UNKNOWN:
            self.periods.append(FlagDuration(int(flag), at, None))
            self._last_start = at
        return True

    def _clock(self, time_of_day: str, on_date: date) -> datetime | None:
        try:
            hh, mm, ss = time_of_day.split(":")
            t = time(int(hh) % 24, int(mm), int(float(ss)))
        except (ValueError, TypeError):
            return None
        at = datetime.combine(on_date, t)
        # The timing clock wraps at midnight; periods must stay in order.
        if self._last_start is not None and at < self._last_start - timedelta(hours=12):
            at += timedelta(days=1)
        return at

    def replace(self, periods: list[FlagDuration]) -> bool:
        if periods == self.periods:
            return False
        self.periods = list(periods)
        self._last_start = periods[-1].start if periods else None
        return True

    def clear(self) -> None:
        self.periods = []
        self._last_start = None
