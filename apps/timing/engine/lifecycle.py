"""Session lifecycle: end-of-session detection after the checkered flag (§6.2) and the
missing-car watchdog that asks the relay for a forced resend (§1.6)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable

from .flags import ACTIVE_FLAGS, Flags
from .state import CarPosition
from .timefmt import parse_ms

__all__ = ["SessionMonitor", "MissingCarWatchdog", "CHECK_INTERVAL"]

CHECK_INTERVAL = timedelta(seconds=5)
IDLE_AFTER_CHECKERED_MS = 60_000


class SessionMonitor:
    """Compares each check with the previous one, every CHECK_INTERVAL of caller time."""

    __slots__ = ("session_id", "finishing_started", "finishing_last_t", "checkered_laps",
                 "last_count", "last_count_t", "prev_flag", "last_check_at")

    def __init__(self) -> None:
        self.session_id = 0
        self.last_check_at: datetime | None = None
        self.clear()

    def clear(self) -> None:
        self.finishing_started: int | None = None
        self.finishing_last_t: int | None = None
        self.checkered_laps: dict[str, int] = {}
        self.last_count = 0
        self.last_count_t: int | None = None
        self.prev_flag: int | None = None

    def due(self, now: datetime) -> bool:
        return self.last_check_at is None or now - self.last_check_at >= CHECK_INTERVAL

    def check(self, now: datetime, flag: int, time_of_day: str, cars: Iterable[CarPosition]) -> bool:
        """One periodic check; True when the session has ended."""
        self.last_check_at = now
        prev = self.prev_flag
        self.prev_flag = flag
        if prev is None and self.finishing_started is None:
            return False
        if self.finishing_started is not None:
            t = parse_ms(time_of_day)
            changes = 0
            snap = self.checkered_laps
            for c in cars:
                before = snap.get(c.number) if c.number is not None else None
                if before is not None and before != c.last_lap_completed:
                    changes += 1
            ended = False
            if changes != self.last_count:
                self.last_count = changes
                self.last_count_t = t
            elif self.last_count_t is not None and t - self.last_count_t > IDLE_AFTER_CHECKERED_MS:
                ended = True
            elif self.finishing_last_t is not None and self.finishing_last_t == t:
                ended = True  # the timing clock stopped
            self.finishing_last_t = t
            return ended
        if prev in ACTIVE_FLAGS and flag == Flags.CHECKERED:
            self.checkered_laps = {c.number: c.last_lap_completed for c in cars if c.number is not None}
            self.finishing_started = parse_ms(time_of_day)
        return False

    def finished(self) -> None:
        """Forget the session after it was finalized (the reference resets its id to 0)."""
        self.session_id = 0
        prev = self.prev_flag
        self.clear()
        self.prev_flag = prev


class MissingCarWatchdog:
    """Records for unknown cars for >= 10 s mean the relay's data set is out of step."""

    __slots__ = ("first_miss", "last_forced", "backoff")

    FIRST_AFTER = timedelta(seconds=10)
    FIRST_BACKOFF = timedelta(seconds=60)
    MAX_BACKOFF = timedelta(hours=1)

    def __init__(self) -> None:
        self.first_miss: datetime | None = None
        self.last_forced: datetime | None = None
        self.backoff = self.FIRST_BACKOFF

    def hit(self) -> None:
        self.first_miss = None
        self.last_forced = None
        self.backoff = self.FIRST_BACKOFF

    def miss(self, now: datetime) -> bool:
        """True when a forced relay reset should be requested now."""
        if self.first_miss is None:
            self.first_miss = now
            return False
        if now - self.first_miss < self.FIRST_AFTER:
            return False
        if self.last_forced is None:
            self.last_forced = now
            return True
        if now - self.last_forced > self.backoff:
            self.last_forced = now
            self.backoff = min(self.backoff * 2, self.MAX_BACKOFF)
            return True
        return False


class ConsistencyWatchdog:
    """§1.7: overall positions must be exactly 1..N. A field that stays inconsistent through
    three re-checks 750 ms apart means the relay's data set is out of step."""

    __slots__ = ("next_check", "retries", "last_error", "last_forced")

    INTERVAL = timedelta(seconds=10)
    RETRY = timedelta(milliseconds=750)
    RETRIES = 3

    def __init__(self) -> None:
        self.next_check: datetime | None = None
        self.retries = 0
        self.last_error: datetime | None = None
        self.last_forced: datetime | None = None

    @staticmethod
    def consistent(positions: list[int]) -> bool:
        return sorted(positions) == list(range(1, len(positions) + 1))

    def check(self, now: datetime, positions: list[int]) -> tuple[bool, bool]:
        """(request a relay reset?, forced?) for this tick."""
        if self.next_check is not None and now < self.next_check:
            return False, False
        # Before any car has a position (entry list only) there is nothing to be out of step.
        if not positions or not any(positions) or self.consistent(positions):
            self.retries = 0
            self.next_check = now + self.INTERVAL
            return False, False
        if self.retries < self.RETRIES:
            self.retries += 1
            self.next_check = now + self.RETRY
            return False, False
        self.retries = 0
        self.next_check = now + self.INTERVAL
        previous, self.last_error = self.last_error, now
        force = (previous is not None and timedelta(minutes=1) <= now - previous <= timedelta(minutes=2)
                 and (self.last_forced is None or now - self.last_forced >= timedelta(minutes=3)))
        if force:
            self.last_forced = now
        return True, force
