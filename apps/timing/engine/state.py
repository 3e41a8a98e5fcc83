"""Session and car state: the reference's models as slotted dataclasses.

Attribute names are snake_case; wire.py owns the JSON names and MessagePack keys. Fields with
a leading underscore are engine caches (parsed clock values, creation order) and never go
on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["CarPosition", "SessionState", "EventEntry", "FlagDuration", "INVALID_POSITION"]

INVALID_POSITION = -999


@dataclass(slots=True, eq=False)
class CarPosition:
    event_id: str | None = None
    session_id: str | None = None
    number: str | None = None
    transponder_id: int = 0
    car_class: str | None = None
    best_time: str | None = None
    best_lap: int = 0
    is_best_time: bool = False
    is_best_time_class: bool = False
    in_class_gap: str | None = None
    in_class_difference: str | None = None
    overall_gap: str | None = None
    overall_difference: str | None = None
    total_time: str | None = None
    last_lap_time: str | None = None
    last_lap_completed: int = 0
    pit_stop_count: int | None = None
    last_lap_pitted: int | None = None
    laps_led_overall: int | None = None
    laps_led_in_class: int | None = None
    overall_position: int = 0
    class_position: int = 0
    overall_starting_position: int = 0
    overall_positions_gained: int = INVALID_POSITION
    in_class_starting_position: int = 0
    in_class_positions_gained: int = INVALID_POSITION
    is_overall_most_positions_gained: bool = False
    is_class_most_positions_gained: bool = False
    penality_laps: int = 0
    penality_warnings: int = 0
    black_flags: int = 0
    is_entered_pit: bool = False
    is_pit_start_finish: bool = False
    is_exited_pit: bool = False
    is_in_pit: bool = False
    lap_included_pit: bool = False
    last_loop_name: str = ""
    is_stale: bool = False
    track_flag: int = 0
    local_flag: int = 0
    lap_had_local_flag: bool | None = None
    completed_sections: list[Any] = field(default_factory=list)
    projected_lap_time_ms: int = 0
    lap_start_time: int = 0  # TimeOnly ticks (100 ns since midnight); never set by RMonitor
    driver_name: str = ""
    driver_id: str = ""
    in_car_video: Any = None
    latitude: float | None = None
    longitude: float | None = None
    current_status: str = ""
    impact_warning: bool = False
    in_class_fastest_average_pace: bool = False
    track_temp_deg_f: int | None = None
    track_precipitation_perc: int | None = None
    speed_mph: int | None = None
    pit_entry_time: datetime | None = None
    pit_duration_ms: int | None = None
    speed_violation: bool = False
    pit_speed_enforced: bool = False
    flagging_zone: int | None = None
    driver_source: str | None = None
    in_class_gap_by_fast_time: str | None = None
    in_class_difference_by_fast_time: str | None = None
    overall_gap_by_fast_time: str | None = None
    overall_difference_by_fast_time: str | None = None
    lap_position_percent: int | None = None
    signal_bars: int | None = None
    # --- engine caches, not on the wire ---
    _seq: int = 0
    _rank: int = 0  # sort key by overall position (0 = unplaced, last), then arrival order
    _ttm_ms: int = 0
    _ltm_ms: int = 0
    _bt_ms: int = 0
    _fkey: tuple = (0, 1, 0, "")  # qualifying sort key, see gaps.fast_key


@dataclass(slots=True)
class EventEntry:
    number: str
    name: str
    team: str
    car_class: str


@dataclass(slots=True)
class FlagDuration:
    flag: int
    start: datetime
    end: datetime | None = None


@dataclass(slots=True, eq=False)
class SessionState:
    event_id: int = 0
    event_name: str = ""
    session_id: int = 0
    session_name: str = ""
    laps_to_go: int = 0
    time_to_go: str = ""
    local_time_of_day: str = ""
    running_race_time: str = ""
    is_practice_qualifying: bool = False
    session_start_time: datetime | None = None
    session_end_time: datetime | None = None
    local_time_zone_offset: float = 0.0
    is_live: bool = False
    event_entries: list[EventEntry] = field(default_factory=list)
    car_positions: list[CarPosition] = field(default_factory=list)
    current_flag: int = 0
    flag_durations: list[FlagDuration] = field(default_factory=list)
    green_time_ms: int | None = None
    green_laps: int | None = None
    yellow_time_ms: int | None = None
    yellow_laps: int | None = None
    number_of_yellows: int | None = None
    red_time_ms: int | None = None
    average_race_speed: str | None = None
    lead_changes: int | None = None
    sections: list[Any] = field(default_factory=list)
    class_colors: dict[str, str] = field(default_factory=dict)
    announcements: list[Any] = field(default_factory=list)
    last_updated: datetime | None = None
    class_order: dict[str, str] = field(default_factory=dict)
    is_simulation: bool = False
    is_archived: bool = False
    track_temp_deg_f: int | None = None
    track_precipitation_perc: int | None = None
    has_telemetry_source: bool = False


UNPLACED_RANK = 1 << 40


def position_rank(position: int, seq: int) -> int:
    return (position if position > 0 else UNPLACED_RANK) * (1 << 20) + seq


def is_practice_or_qualifying(name: str) -> bool:
    low = name.lower()
    return "practice" in low or "qual" in low
