"""TimingEngine: the facade the live worker and the replay tools drive.

One message at a time: `apply()` parses the message, applies every record to the state as it
goes, records each field that really changed, runs the derived computations for what changed
and returns a `PassResult` with the deltas. `tick()` runs the time-based rules. Nothing here
does I/O, and nothing raises on bad input: bad records are rejected with a reason and counted.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any, Callable, Mapping, Sequence

from . import wire
from .flags import FlagLog, Flags, flag_from_rmonitor
from .gaps import fast_key
from .laps import CompletedLap, LapLog
from .lifecycle import ConsistencyWatchdog, MissingCarWatchdog, SessionMonitor
from .pace import fastest_in_class, projected_lap_time_ms
from .positions import STALE_INPUTS, Enricher, rebuild_in_class_starting_positions
from .rmonitor import (ClassInfo, Competitor, CompetitorExt, Corrected, Heartbeat, Init, LineCrossing,
                       LineParser, Passing, PracticeInfo, RaceInfo, Rejection, RunInfo, Setting,
                       PRACTICE_TAILS, TrackInfo, _ROW_HEADS, heartbeat_values, quoted_row,
                       split_message)
from . import feeds as _feeds
from .stale import StaleTracker
from .state import (CarPosition, EventEntry, FlagDuration, SessionState, is_practice_or_qualifying,
                    position_rank)
from .timefmt import parse_ms

__all__ = ["TimingEngine", "PassResult", "CompetitorRow"]

PLACEHOLDER_SESSION_ID = 999999
STANDALONE_RESET = '$I, "00:00:00", "0/0/0000"'
REJECTION_MEMORY = 50
PREVIOUS_STATE_MIN_INTERVAL = timedelta(seconds=5)
_SNAPSHOT_VERSION = 1
_SESSION_JSON = wire.SESSION_JSON
_SESSION_ATTR_BY_JSON = wire.SESSION_ATTR_BY_JSON
# The pass's change record is keyed by contract JSON name (see wire.car_patches_from_record).
_CAR_JSON = wire.CAR_JSON
_J_CAR_CLASS = _CAR_JSON["car_class"]
_J_LAPS = _CAR_JSON["last_lap_completed"]
_J_LAST_LAP_TIME = _CAR_JSON["last_lap_time"]
_J_BEST_LAP, _J_BEST_TIME = _CAR_JSON["best_lap"], _CAR_JSON["best_time"]
_J_TOTAL_TIME, _J_POSITION, _J_TRACK_FLAG, _J_EVENT_ID, _J_SESSION_ID = (
    _CAR_JSON[a] for a in ("total_time", "overall_position", "track_flag", "event_id", "session_id"))
_J_LAPS_TO_GO, _J_TIME_TO_GO, _J_TIME_OF_DAY, _J_RACE_TIME = (
    _SESSION_JSON[a] for a in ("laps_to_go", "time_to_go", "local_time_of_day", "running_race_time"))
_CAR_ATTRS = frozenset(a for a, _, _, _ in wire.CAR_FIELDS) - {"number"}
_SESSION_ATTRS = frozenset(a for a, _, _ in wire.SESSION_FIELDS)
_PLAIN_SESSION = frozenset({"laps_to_go", "time_to_go", "local_time_of_day", "running_race_time", "current_flag",
                            "session_id", "session_name", "is_practice_qualifying"})
_IGNORED_KEY = {Corrected: "ignored:$COR", LineCrossing: "ignored:$L", TrackInfo: "ignored:$T"}

# Attributes that feed a cache on the car: parsed clock values and sort keys (see _set).
_MS_CACHE = {"total_time": "_ttm_ms", "last_lap_time": "_ltm_ms", "best_time": "_bt_ms",
             "overall_position": "_rank", "best_lap": "_fkey"}
# What else _set must do for a field, found with one lookup: its _MS_CACHE entry, or _TO_JSON for
# the fields whose JSON value is not the attribute's (the pass's record holds what patches show).
_TO_JSON = "to_json"
_LAP_COUNT = "lap_count"  # (the lap count: _set tells _log_laps to look)
_SET_EXTRA = {**_MS_CACHE, **dict.fromkeys(wire.CONVERTED_CAR_ATTRS, _TO_JSON), "last_lap_completed": _LAP_COUNT}
# _lap_car when the cars whose lap count this pass recorded are not known: _log_laps scans the
# pass's changes for them.
_SEVERAL = object()
# Flags under which a lap-0 `$G` row is a grid position (looked up once: enum members are
# slow to fetch from their class, and this runs for every row while the field forms up).
_GRID_FLAGS = (Flags.UNKNOWN, Flags.YELLOW, Flags.GREEN)
_SESSION_SCALARS = ("session_id", "session_name", "laps_to_go", "time_to_go", "local_time_of_day",
                    "running_race_time", "is_practice_qualifying", "current_flag")


class PassResult:
    """What one `apply()`/`tick()` changed. Empty results keep the previous `seq`.

    - seq: per-event pass number, incremented only by passes that changed something
    - session_patch: changed SessionState fields by contract JSON name (lists whole), or None
    - car_patches: one dict per changed car, "n" plus only the changed fields
    - reset: the field was cleared ($I or a new session): clients should reload full state
    - completed_laps: laps logged in this pass (CompletedLap, with a full car snapshot)
    - flag_periods: the whole FlagDurations list (JSON) when it changed, else None
    - finished_session: final SessionState JSON of a session that ended in this pass
    - rejections: reasons for records rejected in this pass
    - relay_reset_request: ask the relay to resend its data set (missing cars, or positions
      that stay inconsistent); relay_reset_force: ask it to reconnect to the timing system too
    """

    __slots__ = ("seq", "session_patch", "car_patches", "reset", "completed_laps", "flag_periods",
                 "finished_session", "rejections", "relay_reset_request", "relay_reset_force")

    def __init__(self, seq: int, session_patch: dict[str, Any] | None = None,
                 car_patches: list[dict[str, Any]] | None = None, reset: bool = False,
                 completed_laps: list[CompletedLap] | None = None,
                 flag_periods: list[dict[str, Any]] | None = None,
                 finished_session: dict[str, Any] | None = None,
                 rejections: list[str] | None = None, relay_reset_request: bool = False,
                 relay_reset_force: bool = False) -> None:
        self.seq = seq
        self.session_patch = session_patch
        self.car_patches = car_patches if car_patches is not None else []
        self.reset = reset
        self.completed_laps = completed_laps if completed_laps is not None else []
        self.flag_periods = flag_periods
        self.finished_session = finished_session
        self.rejections = rejections if rejections is not None else []
        self.relay_reset_request = relay_reset_request
        self.relay_reset_force = relay_reset_force

    def __repr__(self) -> str:
        return (f"PassResult(seq={self.seq}, session_patch={self.session_patch!r}, "
                f"car_patches={len(self.car_patches)}, reset={self.reset}, laps={len(self.completed_laps)}, "
                f"finished={self.finished_session is not None}, rejections={self.rejections!r})")

    @property
    def changed(self) -> bool:
        return bool(self.session_patch or self.car_patches or self.reset or self.completed_laps
                    or self.flag_periods is not None or self.finished_session is not None
                    or self.relay_reset_request)


class _NoItems(list):
    """The empty list a clock-only pass shares with every other one: it equals [] and reads
    like one, but refuses changes, so no consumer can alter another pass's result by accident."""

    __slots__ = ()

    def _shared(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("this empty list is shared by many PassResults: copy it before changing it")

    append = extend = insert = remove = pop = clear = sort = reverse = _shared
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _shared


_NO_ITEMS = _NoItems()
_new_object = object.__new__


class _ClockPass(PassResult):
    """A pass that changed session fields only (most of them move the heartbeat clock): a
    PassResult that stores just `seq` and `session_patch` and reads every other field from the
    class defaults, which are those of `PassResult(seq, patch)`. Built once a second per
    event, it costs half as much as setting all ten slots."""

    __slots__ = ()
    car_patches = completed_laps = rejections = _NO_ITEMS
    reset = relay_reset_request = relay_reset_force = False
    flag_periods = finished_session = None

    def __init__(self, seq: int, session_patch: dict[str, Any]) -> None:
        self.seq = seq
        self.session_patch = session_patch

    def __reduce__(self) -> tuple[Any, ...]:
        # The class defaults shadow the base's slots, which copy/pickle would try to set.
        return _ClockPass, (self.seq, self.session_patch)


class _CarPass(PassResult):
    """A pass without a reset, flag periods, finished session, rejections or relay requests:
    nearly every pass that changes cars. Like _ClockPass it reads the fields it does not
    carry from class defaults (those of a PassResult without them); `_finish` builds it
    without the ten-argument constructor call."""

    __slots__ = ()
    reset = relay_reset_request = relay_reset_force = False
    flag_periods = finished_session = None
    rejections = _NO_ITEMS

    def __init__(self, seq: int, session_patch: dict[str, Any] | None, car_patches: list[dict[str, Any]],
                 completed_laps: list[CompletedLap]) -> None:
        self.seq = seq
        self.session_patch = session_patch
        self.car_patches = car_patches
        self.completed_laps = completed_laps

    def __reduce__(self) -> tuple[Any, ...]:
        # The class defaults shadow the base's slots, which copy/pickle would try to set.
        return _CarPass, (self.seq, self.session_patch, self.car_patches, self.completed_laps)


# The CompetitorRow fields a car and its entry are resolved from (see _apply_competitor)
_applied_fields = attrgetter("number", "transponder", "first_name", "last_name", "class_no", "team")


@dataclass(slots=True)
class CompetitorRow:
    """What `$A`/`$COMP` told us about a competitor, kept to re-resolve classes later."""

    reg: str
    number: str
    transponder: int = 0
    first_name: str = ""
    last_name: str = ""
    nationality: str = ""
    class_no: int | None = None
    team: str = ""
    # The last `$A`/`$COMP` record applied, while applying it again would change nothing here
    # (records are memoised and never mutated, so the same object means the same line). Lets
    # the timing system's periodic refresh skip the field-by-field work; see _on_competitor.
    last_a: Any = field(default=None, compare=False, repr=False)
    last_comp: Any = field(default=None, compare=False, repr=False)
    # The engine's _context_epoch when this row was last resolved (or found resolved): while
    # it holds, the context the row resolves in (class names, session, flag) is unchanged.
    epoch: int = field(default=-1, compare=False, repr=False)


class TimingEngine:
    def __init__(self, event_id: int) -> None:
        self.event_id = event_id
        self._event_id_text = str(event_id)
        # _on_race's session id text, converted when the session's id object changes (a str()
        # per crossing was a good part of the handler)
        self._session_id_of: object = None
        self._session_id_text = "None"
        self._empty = PassResult(0)  # handed out again for passes that change nothing
        self.seq = 0
        self.rejection_count = 0
        self.last_rejections: deque[str] = deque(maxlen=REJECTION_MEMORY)
        self.counters: Counter[str] = Counter()
        self.relay_session_id = 0
        # (car number, lap) -> lap included a pit stop; set by whoever owns pit data
        self.pit_lap: Callable[[str, int], bool] | None = None
        self._handlers: dict[str, Callable[[str, datetime], None]] = {
            "evtsessionchanged": self._on_session_changed,
            # Hook points: "multiloop", "x2pass", "flags", "ftcar" register here as they are
            # written (see register_handler).
        }
        self._record_handlers: dict[type, Callable[[Any, datetime], None]] = {
            Heartbeat: self._on_heartbeat, Competitor: self._on_competitor,
            CompetitorExt: self._on_competitor_ext, RunInfo: self._on_run, ClassInfo: self._on_class,
            Setting: self._on_setting, RaceInfo: self._on_race, PracticeInfo: self._on_practice,
            Init: self._on_init, Passing: self._on_passing, Corrected: self._on_ignored,
            LineCrossing: self._on_ignored, TrackInfo: self._on_ignored,
        }
        # The records apply() handles on their own when a message holds one: not `$I` (its reset
        # rules are per message) nor `$F` (the heartbeat shortcut's leftovers: a flag change and
        # the like), which go through _apply_records with anything that does not parse.
        self._one_record_handlers = {t: h for t, h in self._record_handlers.items() if t not in (Init, Heartbeat)}
        self._class_changed = False  # a `$C` changed a class name: re-resolve the competitors
        self._parser = LineParser()
        self._memo = self._parser.memo
        self._init_state()
        _feeds.install(self)  # multiloop, x2pass, x2loop, flags, ftcar, loopsmetadata, evtconfchanged
        self._begin()

    # ------------------------------------------------------------------ state

    def _init_state(self) -> None:
        self.session = SessionState(event_id=self.event_id)
        self.cars: dict[str, CarPosition] = {}  # by car number, in arrival order
        self.entries: dict[str, EventEntry] = {}
        self.reg_to_number: dict[str, str] = {}
        self.transponders: dict[int, str] = {}
        self.competitors: dict[str, CompetitorRow] = {}
        # last applied competitor per reg: (row fields, (class name, session id, flag))
        self._comp_seen: dict[str, tuple[tuple, tuple]] = {}
        # Moves whenever what a competitor row resolves in may have changed: a session field
        # (the session id, the flag), a class name, a reset of the field (see CompetitorRow.epoch).
        self._context_epoch = 0
        self.classes: dict[int, str] = {}
        self.race_info: dict[str, tuple[int, int, str]] = {}
        self.race_laps_positive = 0
        self.practice_info: dict[str, tuple[int, str]] = {}
        self.passings: dict[str, tuple[str, str]] = {}
        self.starting: dict[str, int] = {}
        self.in_class_starting: dict[str, int] = {}
        self.starting_dirty = False
        self.last_run: int | None = None
        self.rm_flag = Flags.UNKNOWN
        self.last_flag_text = ""
        self.ft_flag = Flags.UNKNOWN
        self.track_name = ""
        self.track_length_m = 0.0
        self.laps = LapLog()
        self.flag_log = FlagLog()
        self._logged_flag = -1
        self.monitor = SessionMonitor()
        self.watchdog = MissingCarWatchdog()
        self.consistency = ConsistencyWatchdog()
        self.previous_session_state: dict[str, Any] | None = None
        self.last_previous_save: datetime | None = None
        self.rmonitor_messages = 0
        self.car_seq = 0
        self.enricher = Enricher()
        self.stale = StaleTracker()
        self.feeds = _feeds.FeedState()  # Multiloop, X2, relay flags, Flagtronics (feeds.py)

    # ------------------------------------------------------------------ hooks for other inputs
    # X2, Flagtronics, Multiloop and flag-list modules compute snake_case change dicts; these
    # apply them so patches, caches and enrichment inputs stay exact.

    def update_car(self, number: str, changes: Mapping[str, Any]) -> bool:
        """Apply `{attr: value}` to car `number` (unknown attributes are rejected); False if no such car."""
        self._touched = True
        car = self.cars.get(number)
        if car is None:
            return False
        self.enricher.forget_pace()  # (it may set a stale verdict or a pace flag)
        for attr, value in changes.items():
            if attr == "car_class":
                self._set_class(car, value)  # the class rankings must follow
            elif attr in _CAR_ATTRS:
                self._set(car, attr, value)
            else:
                self._reject(f"update_car: unknown field {attr!r}")
        if self.starting_dirty:
            self._apply_starting_positions()  # a new class renumbers the in-class grid
        return True

    def update_session(self, changes: Mapping[str, Any]) -> None:
        self._touched = True
        for attr, value in changes.items():
            if attr in _SESSION_ATTRS and attr not in ("car_positions", "event_entries", "flag_durations"):
                self._set_session(attr, value)
            else:
                self._reject(f"update_session: field {attr!r} cannot be set this way")

    def set_full_course_flag(self, flag: int, received_at: datetime) -> None:
        """Flagtronics' full-course flag: a purple turns an RMonitor yellow into Purple35."""
        self._touched = True
        self.ft_flag = Flags(flag) if flag in Flags._value2member_map_ else Flags.UNKNOWN
        self._set_current_flag(received_at)

    def replace_flag_periods(self, periods: list[FlagDuration]) -> None:
        """Adopt the relay's (or the purple override's) flag log instead of the derived one."""
        self._touched = True
        if self.flag_log.replace(periods):
            self._flags_changed = True

    @property
    def rejections(self) -> int:
        """Records rejected since the engine started (reasons of the last 50: last_rejections)."""
        return self.rejection_count

    def register_handler(self, kind: str, handler: Callable[[str, datetime], None]) -> None:
        """Add a message-kind handler; it mutates state through the engine's setters."""
        self._handlers[kind] = handler

    def set_loop_metadata(self, loops: Any) -> list[str]:
        """The event's X2 `LoopsMetadata` (JSON text or list of {id, type, name, eventId}).

        Cars X2 has seen are re-evaluated; their changes go out with the next pass (send a
        `loopsmetadata` message instead to get them in this one). Returns rejection reasons.
        """
        self._touched = True
        return [r.reason for r in _feeds.set_loop_metadata(self, loops)]

    # ------------------------------------------------------------------ pass bookkeeping

    def _begin(self) -> None:
        # The outputs few passes carry (_finish's "rare" ones; a relay force request comes with
        # a relay reset request): a pass without them leaves them empty, so only _begin_common
        # runs after it.
        self._reset = False
        self._flags_changed = False
        self._finished: dict[str, Any] | None = None
        self._pass_rejections: list[str] = []
        self._relay_reset = False
        self._relay_force = False
        self._begin_common()

    def _begin_common(self) -> None:
        """Start a pass after one without the rare outputs (their accumulators are still empty).
        _finish's usual way repeats these resets inline: change both (test_finish_usual_way.py)."""
        # car -> {contract JSON name: JSON value} of the fields changed in this pass (gaps.Changes)
        self._car_changes: dict[CarPosition, dict[str, Any]] = {}
        self._session_changes: dict[str, Any] = {}
        self._completed: list[CompletedLap] = []
        self._entries_changed = False
        self._nsets = 0  # car fields changed in this pass ...
        self._enriched_at = 0  # ... of which the enrichment has seen this many
        self.car_seq_at_pass_start = self.car_seq  # cars with a higher _seq were created in this pass
        # The car whose lap count (_J_LAPS) this pass recorded, None for none, _SEVERAL when
        # _log_laps must scan the changes for them: most passes with car changes complete no lap
        # or one, and `$G` (where nearly all lap counts are written) notes the car.
        self._lap_car: Any = None
        # Set by every public mutator (update_car & co.), and wherever a pass records anything
        # but car changes (session fields, flags, entries, rejections, resets, relay requests,
        # a finished session; laps are only logged for cars in the change record). So "nothing
        # recorded" is `not (self._car_changes or self._touched)`, two tests instead of
        # _pending()'s nine, for the heartbeat shortcut and the end of every RMonitor pass.
        # (test_heartbeat_fast_paths.py checks the public mutators, test_touched_marks_outputs.py
        # every write of the other accumulators.)
        self._touched = False

    def _set(self, car: CarPosition, attr: str, value: Any) -> None:
        """Mutate a car field and record the delta in the same step (by JSON name, with the JSON
        value); unchanged values are no-ops."""
        if getattr(car, attr) != value:
            setattr(car, attr, value)
            self._nsets += 1
            cache = _SET_EXTRA.get(attr)
            if cache is not None:
                if cache == "_rank":
                    car._rank = position_rank(value, car._seq)
                elif cache == "_fkey":
                    car._fkey = fast_key(car)
                elif cache is _TO_JSON:
                    value = wire.car_value_json(attr, value)  # (the car keeps the attribute's value)
                elif cache is _LAP_COUNT:
                    self._lap_car = _SEVERAL
                else:
                    setattr(car, cache, parse_ms(value))
                    if cache == "_bt_ms":
                        car._fkey = fast_key(car)
            ch = self._car_changes.get(car)
            if ch is None:
                self._car_changes[car] = {_CAR_JSON[attr]: value}
            else:
                ch[_CAR_JSON[attr]] = value

    def _put(self, car: CarPosition, attr: str, value: Any) -> None:
        """Setter for derived fields whose caller already compared (no parsed-value caches, and
        recorded as they are: none is in wire.CONVERTED_CAR_ATTRS)."""
        setattr(car, attr, value)
        self._nsets += 1
        if attr == "last_lap_completed":
            self._lap_car = _SEVERAL  # (see _log_laps)
        ch = self._car_changes.get(car)
        if ch is None:
            self._car_changes[car] = {_CAR_JSON[attr]: value}
        else:
            ch[_CAR_JSON[attr]] = value

    def _force(self, car: CarPosition, attr: str, value: Any) -> None:
        """Like _set, but the field goes into the patch even when it did not change."""
        if getattr(car, attr) != value:
            self._set(car, attr, value)
            return
        value = wire.car_value_json(attr, value)
        if attr == "last_lap_completed":
            self._lap_car = _SEVERAL  # recorded unchanged (the grid lap): _log_laps must look
        ch = self._car_changes.get(car)
        if ch is None:
            self._car_changes[car] = {_CAR_JSON[attr]: value}
        else:
            ch[_CAR_JSON[attr]] = value

    def _set_session(self, attr: str, value: Any) -> None:
        if getattr(self.session, attr) != value:
            setattr(self.session, attr, value)
            self._session_changes[attr] = value
            self._touched = True
            self._context_epoch += 1

    def _pending(self) -> bool:
        """Anything recorded for the current pass (the heartbeat shortcut only runs on none; it
        starts from `_touched`, which the public mutators set, as nothing else records between passes).
        apply() has an inline copy of this test for RMonitor passes: change both
        (tests/timing/engine/test_one_record_path.py lists the accumulators)."""
        return bool(self._car_changes or self._session_changes or self._flags_changed or self._pass_rejections
                    or self._reset or self._finished is not None or self._entries_changed or self._completed
                    or self._relay_reset)

    def _reject(self, reason: str) -> None:
        self.rejection_count += 1
        self.last_rejections.append(reason)
        self._pass_rejections.append(reason)
        self._touched = True

    def _finish(self) -> PassResult:
        cc = self._car_changes
        if (cc and not self._touched and not self._session_changes and self._finished is None
                and not self._relay_reset):
            # The usual pass: changed cars (and their laps) only. Every other output sets
            # _touched where it is recorded (test_touched_marks_outputs.py), except what tick()
            # (a finished session, relay requests) and _heartbeat_checks() (session fields) add
            # before they call this, tested above: the `not rare` way below, without its tests.
            result = _new_object(_CarPass)
            result.session_patch = None
            result.car_patches = car_patches = wire.car_patches_from_record(cc)
            result.completed_laps = completed = self._completed
            if car_patches or completed:
                self.seq += 1
            result.seq = self.seq
            # _begin_common's resets, less those of the outputs tested empty above
            self._car_changes = {}
            self._completed = []
            self._nsets = self._enriched_at = 0
            self.car_seq_at_pass_start = self.car_seq
            self._lap_car = None
            return result
        self._touched = False  # every way out below leaves the accumulators empty
        sc = self._session_changes
        completed = self._completed
        # What few passes carry (a relay force request comes with a relay reset request):
        # only these need the full PassResult (and _begin's full reset afterwards).
        rare = (self._reset or self._flags_changed or self._finished is not None or self._relay_reset
                or self._pass_rejections)
        if not cc and not rare and not completed and not self._entries_changed:
            if not sc:
                # Nothing changed (the accumulators are still empty): most refresh records.
                empty = self._empty
                if empty.seq != self.seq:
                    empty = self._empty = PassResult(self.seq)
                return empty
            # A heartbeat that moved the clock: the most common pass by far.
            self.seq += 1
            self._session_changes = {}
            names = _SESSION_JSON
            if _PLAIN_SESSION.issuperset(sc):
                return _ClockPass(self.seq, {names[a]: v for a, v in sc.items()})
            return _ClockPass(self.seq, wire.session_patch_to_json(sc))
        car_patches = wire.car_patches_from_record(cc)
        session_patch = wire.session_patch_to_json(sc) if sc else None
        flag_periods = None
        if self._flags_changed:
            flag_periods = [wire.flag_duration_to_json(f) for f in self.flag_log.periods]
            session_patch = session_patch or {}
            session_patch["flagDurations"] = flag_periods
        if self._entries_changed:
            session_patch = session_patch or {}
            session_patch["eventEntries"] = wire.entries_to_json(self.entries.values())
        if not rare:
            result = _new_object(_CarPass)  # _CarPass(seq, ...) without the __init__ call
            result.session_patch = session_patch
            result.car_patches = car_patches
            result.completed_laps = completed
            # (a changed entry list is in session_patch)
            if car_patches or session_patch or completed:
                self.seq += 1
            result.seq = self.seq
            self._begin_common()
        else:
            result = PassResult(self.seq, session_patch, car_patches, self._reset, completed,
                                flag_periods, self._finished, self._pass_rejections, self._relay_reset,
                                self._relay_force)
            if (car_patches or session_patch or completed or self._reset or self._flags_changed
                    or self._finished is not None or self._relay_reset):
                self.seq += 1
                result.seq = self.seq
            self._begin()
        return result

    # ------------------------------------------------------------------ public API

    def apply(self, kind: str, payload: str, *, session_id: int, received_at: datetime) -> PassResult:
        """Apply one relay message. Unknown kinds are counted and ignored."""
        if kind == "rmonitor":
            # The bulk of every feed: dispatched here rather than through the handler table.
            if payload[:3] == "$F," and not self._touched and self._logged_flag >= 0:
                # The heartbeat shortcut: a message holding one `$F` and nothing else, one a
                # second for the whole event, most of every feed. It only moves the session
                # clock, so its patch is built here in contract names; anything more (changes
                # made between passes by update_car & co., the first flag, a flag change, another
                # line or shape) goes through the general pass, with the same result. Inline
                # here: a method call was a tenth of its cost.
                values = heartbeat_values(payload)
                if values is not None and values[4] == self.last_flag_text:
                    laps, ttg, tod, race, _ = values
                    self.relay_session_id = session_id
                    n = self.rmonitor_messages = self.rmonitor_messages + 1
                    s = self.session
                    patch: dict[str, Any] = {}
                    if s.laps_to_go != laps:
                        s.laps_to_go = patch[_J_LAPS_TO_GO] = laps
                    if s.time_to_go != ttg:
                        s.time_to_go = patch[_J_TIME_TO_GO] = ttg
                    if s.local_time_of_day != tod:
                        s.local_time_of_day = patch[_J_TIME_OF_DAY] = tod
                    if s.running_race_time != race:
                        s.running_race_time = patch[_J_RACE_TIME] = race
                    # (the stale check is due every third message; most find nothing can flip)
                    if self.feeds.active or not n % 3 and self.cars and not self.stale.quiet(race, s.current_flag):
                        result = self._heartbeat_checks(patch, received_at)
                        if result is not None:
                            return result
                    if not patch:
                        return self._finish()
                    result = _new_object(_ClockPass)  # _ClockPass(seq, patch) without the __init__ call
                    result.seq = self.seq = self.seq + 1
                    result.session_patch = patch
                    return result
            self.relay_session_id = session_id
            # One record per message is what relays send most of the time (every line of a
            # plain feed, most captured blocks), and most of those records change nothing: the
            # timing system repeats its entries, classes and standings every few seconds. So
            # such a message is applied here, down to recognising an empty pass; others
            # (several records, a reset, a heartbeat the shortcut left, a line that does not
            # parse) go through _apply_records.
            line = payload.strip()
            rec = self._memo.get(line)  # (memoised lines are single clean records)
            if rec is None and line and "\n" not in line and line[0] != "\ufeff":
                rec = self._parser.parse_new(line)
            handler = self._one_record_handlers.get(type(rec))
            try:
                if handler is None:
                    self._apply_records(payload, received_at)
                else:
                    n = self.rmonitor_messages = self.rmonitor_messages + 1
                    try:
                        handler(rec, received_at)
                    except Exception as exc:
                        self._reject(f"{line[:40]}: {exc.__class__.__name__}: {exc}")
                    # What _end_of_records would find to do: mostly nothing but the reference's
                    # every-third-message stale check. (Other feeds re-apply their values only
                    # to cars this record changed; the session sync they also do there is done
                    # again just below.)
                    if self._car_changes or self._class_changed or self.starting_dirty:
                        self._end_of_records(False, received_at)
                    elif not n % 3:
                        st = self.stale
                        s = self.session
                        # Between two heartbeats the race clock and the flag stand still, so
                        # once the tracker found the field quiet at this clock nothing can flip
                        # until one of them moves or the tracker changes (check() and
                        # invalidate() clear quiet_at; a reset or anything else recorded sets
                        # _touched, which takes the full check).
                        if self._touched or st.quiet_at is not s.running_race_time or st.flag != s.current_flag:
                            self._check_stale()
                if self.feeds.active:
                    _feeds.after_rmonitor_message(self, received_at)
                if not (self._car_changes or self._touched):
                    # Nothing recorded (see _begin_common), so nothing to enrich either: most
                    # RMonitor passes end here, and _finish's call cost more than this.
                    empty = self._empty
                    if empty.seq != self.seq:
                        empty = self._empty = PassResult(self.seq)
                    return empty
                if self._nsets != self._enriched_at:
                    self._enrich()
            except Exception as exc:  # the engine must survive any feed; keep what was applied
                self._reject(f"rmonitor: internal error {exc.__class__.__name__}: {exc}")
            return self._finish()
        handler = self._handlers.get(kind)
        if handler is None:
            self.counters[f"ignored_kind:{kind}"] += 1
            return self._finish()
        self.relay_session_id = session_id
        try:
            handler(payload, received_at)
            if self._nsets != self._enriched_at:
                # Changes made after (or without) the RMonitor enrichment, e.g. by another input,
                # need the same derived fields.
                self._enrich()
        except Exception as exc:  # the engine must survive any feed; keep what was applied
            self._reject(f"{kind}: internal error {exc.__class__.__name__}: {exc}")
        return self._finish()

    def _heartbeat_checks(self, patch: dict[str, Any], received_at: datetime) -> PassResult | None:
        """The heartbeat shortcut's checks when other feeds are active or the stale check is due
        (every third message). Returns the pass's result when they changed more than the clock
        (`patch`: the clock fields it changed), None for a clock-only result."""
        feeds = self.feeds.active
        try:
            if not self.rmonitor_messages % 3:
                self._check_stale()
            if feeds:
                # Other feeds' time-based work after every RMonitor message (signal bars,
                # purple flags), as the general path does.
                _feeds.after_rmonitor_message(self, received_at)
            if self._nsets != self._enriched_at:
                self._enrich()
        except Exception as exc:
            self._reject(f"rmonitor: internal error {exc.__class__.__name__}: {exc}")
        # The pass started with nothing pending (apply() tested it); without other feeds only
        # stale verdicts (and their enrichment) or a rejection can have been added since.
        if self._pending() if feeds else self._car_changes or self._pass_rejections:
            # Something beyond the clock changed: the general result, with the clock fields
            # first as the heartbeat handler would have recorded them.
            sc = {_SESSION_ATTR_BY_JSON[key]: value for key, value in patch.items()}
            sc.update(self._session_changes)
            self._session_changes = sc
            return self._finish()
        return None

    def _final_state(self) -> dict[str, Any]:
        """The state to persist for the outgoing session.

        Orbits clears the field with `$I` just before it switches runs, so the current state is
        often empty by then; the copy saved at that reset still holds the session's cars.
        """
        current = self.state_json()
        prev = self.previous_session_state
        if (not current["carPositions"] and prev is not None and prev.get("sessionId") == current["sessionId"]
                and prev.get("carPositions")):
            return prev
        return current

    def tick(self, now: datetime) -> PassResult:
        """Time-based rules: the end-of-session check runs every 5 s of caller time."""
        try:
            if self.monitor.due(now):
                cars = list(self.cars.values())
                if self.monitor.check(now, self.session.current_flag, self.session.local_time_of_day, cars):
                    self._finished = self._final_state()
                    self.counters["finalized"] += 1
                    self.monitor.finished()
            request, force = self.consistency.check(now, [c.overall_position for c in self.cars.values()])
            if request:
                self._relay_reset = True
                self._relay_force = self._relay_force or force
                self.counters["consistency_resets"] += 1
        except Exception as exc:
            self._reject(f"tick: internal error {exc.__class__.__name__}: {exc}")
        return self._finish()

    def state(self) -> SessionState:
        s = self.session
        s.car_positions = list(self.cars.values())
        s.event_entries = list(self.entries.values())
        s.flag_durations = self.flag_log.periods
        return s

    def state_json(self, style: str = "web") -> dict[str, Any]:
        return wire.session_to_json(self.state(), style)

    def state_msgpack(self) -> bytes:
        return wire.session_to_msgpack(self.state())

    # ------------------------------------------------------------------ rmonitor

    def _apply_records(self, payload: str, received_at: datetime) -> None:
        """A message apply() does not take as one ordinary record: several records, a reset,
        a line that does not parse. Its records are split and applied in one pass."""
        full_reset = standalone = False
        if "$I" in payload or "\ufeff" in payload:
            # Reset classification is per message (§1.6), so it is decided before any record;
            # split_message also owns the byte-order-mark rules.
            lines: Sequence[str] = split_message(payload)
            if not lines:
                return  # byte-order marks and blanks only: no record
            if "$I" in payload:
                if len(lines) > 4:
                    full_reset = "$A" in payload or "$COMP" in payload
                elif len(lines) == 1:
                    standalone = bool(self.last_flag_text.strip()) and lines[0] == STANDALONE_RESET
        else:
            # Without a byte-order mark, split_message's lines are exactly these pieces,
            # trimmed, blanks dropped; both are done below, only for pieces the memo misses
            # (its keys are trimmed, non-blank lines).
            text = payload.strip()
            if not text:
                return  # a blank message: no record
            lines = text.split("\n")
        self.rmonitor_messages += 1
        heartbeats = "$F," in payload  # (the line test below costs the other lines more)
        handlers = self._record_handlers
        memo = self._memo
        parse_new = self._parser.parse_new
        practice_tails = PRACTICE_TAILS
        practice_info = self.practice_info
        row_heads = _ROW_HEADS
        for line in lines:
            tag = line[:3]
            if tag == "$H,":
                # A practice row whose best lap and time are the ones already applied
                # (most rows of a practice block: only the position moved) is a no-op
                # for _on_practice, so it is neither parsed nor applied.
                q = line.find('"')
                row = practice_tails.get(line[q:])
                if row is not None and practice_info.get(row[0]) == row[1] and line[:q] in row_heads:
                    continue
            rec = memo.get(line)
            if rec is None and (tag == "$G," or tag == "$H,"):
                # A standings row the memo lacks is mostly new text (its time moved): read as
                # parse_new would read it, without the memo's upkeep; the odd shapes (None) and
                # untrimmed lines take the general route.
                rec = quoted_row(line)
            if rec is None:
                line = line.strip()
                if not line:
                    continue
                rec = memo.get(line)
                if rec is None:
                    if heartbeats and line[:3] == "$F,":
                        # A heartbeat (one per block on a relay that groups by heartbeat, never
                        # memoised) is read by the shortcut's cheaper reader, which gives
                        # parse_line's values, or None where parse_line must look.
                        values = heartbeat_values(line)
                        rec = Heartbeat(*values) if values is not None else parse_new(line)
                    else:
                        rec = parse_new(line)
            h = handlers.get(type(rec))
            if h is None:
                self._reject(rec.reason if isinstance(rec, Rejection) else "unhandled record")
                continue
            if standalone:
                self.counters["standalone_reset_ignored"] += 1
                continue
            try:
                h(rec, received_at)
            except Exception as exc:
                self._reject(f"{line[:40]}: {exc.__class__.__name__}: {exc}")
        self._end_of_records(full_reset, received_at)

    def _end_of_records(self, full_reset: bool, received_at: datetime) -> None:
        if self._class_changed:
            self._class_changed = False  # (consumed here: apply()'s one-record path does not reset it)
            for row in list(self.competitors.values()):
                self._apply_competitor(row)
            self.starting_dirty = True
        if self.starting_dirty:
            self._apply_starting_positions()
        if full_reset and self.race_laps_positive > 0:
            self._restore_last_lap_times()
        if self.feeds.active:
            _feeds.after_rmonitor_records(self)  # §2.3/§3.2 re-application, before enrichment
        if self._car_changes:
            # The records' cars come first in the pass's record: the enrichment only adds cars
            # whose derived fields it changed (most of a crossing's cars: the car behind, the
            # fast-time neighbours), and none of those is a stale input, so the check need
            # only look at the cars recorded before it.
            changes = self._car_changes
            inputs = len(changes)
            enricher = self.enricher
            enricher.run(self.cars.values(), changes)  # type: ignore[arg-type]  # (_enrich inline)
            # (_check_stale inline, knowing there are car changes.) When no car changed a stale
            # input (e.g. a `$G` row only moved it), the check can only find what one without
            # car changes finds, which quiet() mostly answers.
            st = self.stale
            if self._reset:
                st.invalidate()
            cars = self.cars
            if cars:
                s = self.session
                text, flag = s.running_race_time, s.current_flag
                if enricher.noted & STALE_INPUTS or not st.quiet(text, flag):
                    st.check(changes, cars.values(), flag, text, self._put_stale, inputs)
            if self._lap_car is not None:  # (a lap count was recorded: see _log_laps)
                self._log_laps(received_at)
            # Stale verdicts and lap figures are outputs only: nothing the enrichment reads
            # changed since it ran, so apply() need not run it again.
            self._enriched_at = self._nsets
        elif self._reset or not self.rmonitor_messages % 3:
            self._check_stale()

    # -- record handlers ----------------------------------------------------------

    def _on_heartbeat(self, r: Heartbeat, received_at: datetime) -> None:
        s = self.session
        ch = self._session_changes
        flag_changed = r.flag_text != self.last_flag_text
        if flag_changed:
            self.last_flag_text = r.flag_text
            self.rm_flag = flag_from_rmonitor(r.flag_text)
        # Inlined compare-and-set: a heartbeat arrives every second for the whole event.
        if s.laps_to_go != r.laps_to_go:
            s.laps_to_go = ch["laps_to_go"] = r.laps_to_go
        if s.time_to_go != r.time_to_go:
            s.time_to_go = ch["time_to_go"] = r.time_to_go
        if s.local_time_of_day != r.time_of_day:
            s.local_time_of_day = ch["local_time_of_day"] = r.time_of_day
        if s.running_race_time != r.race_time:
            s.running_race_time = ch["running_race_time"] = r.race_time
        if ch:
            self._touched = True
        if flag_changed or self._logged_flag < 0:
            # The effective flag only moves with the heartbeat text (or a Flagtronics purple,
            # whose handler calls _set_current_flag itself).
            self._set_current_flag(received_at)

    def _set_current_flag(self, received_at: datetime) -> None:
        flag = self.rm_flag
        if flag == Flags.YELLOW and self.ft_flag == Flags.PURPLE35:
            flag = Flags.PURPLE35
        flag = int(flag)
        if self.session.current_flag != flag:
            self._set_session("current_flag", flag)
        if flag != self._logged_flag and not self.feeds.owns_flags(self):
            local = received_at + timedelta(hours=self.session.local_time_zone_offset)
            if self.flag_log.observe(flag, self.session.local_time_of_day, local.date()):
                self._flags_changed = self._touched = True
            self._logged_flag = flag

    def _on_competitor(self, r: Competitor, received_at: datetime) -> None:
        row = self.competitors.get(r.reg)
        if row is None:
            row = self.competitors[r.reg] = CompetitorRow(r.reg, r.number)
        elif row.last_a is r:
            # Orbits' periodic refresh: the row is as it was, and if its context is too, so is
            # everything it resolved to.
            if row.epoch != self._context_epoch:
                self._apply_competitor(row, True)
            return
        shared = (row.number, row.first_name, row.last_name, row.nationality, row.class_no)
        row.number = r.number
        if r.transponder is not None:
            row.transponder = r.transponder
        row.first_name, row.last_name, row.nationality = r.first_name, r.last_name, r.nationality
        if r.class_no is not None:
            row.class_no = r.class_no
        if shared != (row.number, row.first_name, row.last_name, row.nationality, row.class_no):
            row.last_comp = None  # the `$COMP` record last applied would now change the row
        self._apply_competitor(row)
        row.last_a = r  # only once applied: an error above must not leave the shortcut on

    def _on_competitor_ext(self, r: CompetitorExt, received_at: datetime) -> None:
        row = self.competitors.get(r.reg)
        if row is None:
            row = self.competitors[r.reg] = CompetitorRow(r.reg, r.number)
        elif row.last_comp is r:
            if row.epoch != self._context_epoch:  # (as in _on_competitor)
                self._apply_competitor(row, True)
            return
        shared = (row.number, row.first_name, row.last_name, row.nationality, row.class_no)
        row.number = r.number
        row.first_name, row.last_name, row.nationality = r.first_name, r.last_name, r.nationality
        if r.class_no is not None:
            row.class_no = r.class_no
        row.team = r.additional
        if shared != (row.number, row.first_name, row.last_name, row.nationality, row.class_no):
            row.last_a = None
        self._apply_competitor(row)
        row.last_comp = r  # only once applied: an error above must not leave the shortcut on

    def _apply_competitor(self, row: CompetitorRow, row_unchanged: bool = False) -> None:
        """Resolve `row` to its car and entry. `row_unchanged`: the row is exactly as when it was
        last applied, so only the context (class name, session, flag) can make a difference."""
        session = self.session
        class_name = self.classes.get(row.class_no) if row.class_no is not None else None
        context = (class_name, session.session_id, session.current_flag)
        seen = self._comp_seen.get(row.reg)
        if seen is not None and seen[1] == context and (row_unchanged or seen[0] == _applied_fields(row)):
            # The timing system's periodic refresh: nothing can change. (A reg seen before still
            # resolves to the same car: cars and reg_to_number only lose entries together with
            # _comp_seen, in _context_reset.)
            row.epoch = self._context_epoch
            return
        number = self.reg_to_number.get(row.reg, row.number)
        car = self.cars.get(number)
        if car is None:
            number = row.number
            car = self.cars.get(number)
        if car is None:
            self.car_seq += 1
            car = CarPosition(number=number, _seq=self.car_seq, _rank=position_rank(0, self.car_seq))
            car.car_class = class_name
            self.cars[number] = car
            self._car_changes[car] = {_J_CAR_CLASS: class_name} if class_name is not None else {}
            self.enricher.add_car(car)
            if row.reg in self.starting:
                self.starting_dirty = True
        else:
            self._set_class(car, class_name)
        self.reg_to_number[row.reg] = number
        self._set(car, "transponder_id", row.transponder)
        self._set(car, "event_id", str(self.event_id))
        self._set(car, "session_id", str(self.session.session_id))
        self._set(car, "track_flag", self.session.current_flag)
        if row.transponder:
            self.transponders[row.transponder] = number
        entry_class = class_name if class_name is not None else ("" if row.class_no is None else str(row.class_no))
        entry = EventEntry(number, f"{row.first_name} {row.last_name}".strip(), row.team, entry_class)
        old_entry = self.entries.get(number)
        if old_entry != entry:
            if old_entry is not None:
                del self.entries[number]
            self.entries[number] = entry
            self._entries_changed = self._touched = True
        self._comp_seen[row.reg] = (_applied_fields(row), context)
        row.epoch = self._context_epoch

    def _set_class(self, car: CarPosition, class_name: str | None) -> None:
        """Move a car to another class: its class group and the in-class grid follow."""
        if car.car_class != class_name:
            old = car.car_class
            self._set(car, "car_class", class_name)
            self.enricher.reclass(car, old)
            self.starting_dirty = True

    def _on_run(self, r: RunInfo, received_at: datetime) -> None:
        if r.run_number == PLACEHOLDER_SESSION_ID:
            return
        if r.run_number != self.session.session_id:
            # A new run is a new session (what the relay's session-change message announces):
            # the records after this one, even in the same message, belong to it.
            self.change_session(r.run_number, r.name, received_at)
            return
        if r.run_number == self.last_run:
            return
        self.last_run = r.run_number
        s = self.session
        if s.session_id != r.run_number or s.session_name != r.name:
            self._set_session("session_id", r.run_number)
            self._set_session("session_name", r.name)
            self._set_session("is_practice_qualifying", is_practice_or_qualifying(r.name))

    def _on_class(self, r: ClassInfo, received_at: datetime) -> None:
        if self.classes.get(r.class_no) != r.name:
            # Orbits repeats its class list every refresh; only a real change re-resolves.
            self.classes[r.class_no] = r.name
            self._class_changed = True
            self._context_epoch += 1

    def _on_setting(self, r: Setting, received_at: datetime) -> None:
        key = r.description.strip().upper()
        if key == "TRACKNAME":
            self.track_name = r.value
        elif key == "TRACKLENGTH":
            try:
                self.track_length_m = float(r.value) * 1609.344
            except ValueError:
                self._reject(f"$E: track length {r.value!r} is not a number")

    def _car_by_reg(self, reg: str, received_at: datetime) -> CarPosition | None:
        number = self.reg_to_number.get(reg)
        car = self.cars.get(number) if number is not None else None
        if car is None:
            self.counters["car_not_found"] += 1
            if self.watchdog.miss(received_at):
                self._relay_reset = self._relay_force = self._touched = True
            return None
        if self.watchdog.first_miss is not None:
            self.watchdog.hit()
        return car

    def _on_race(self, r: RaceInfo, received_at: datetime) -> None:
        old = self.race_info.get(r.reg)
        if r.laps == 0 and self.race_laps_positive == 0 and self.rm_flag in _GRID_FLAGS:
            if self.starting.get(r.reg) != r.position:
                self.starting[r.reg] = r.position
                self.starting_dirty = True
        if old is not None and old[0] == r.position and old[1] == r.laps:
            return  # a total-time-only change is not a change in the reference
        # _car_by_reg's lookups in place (a row per crossing); it counts a miss and tells the
        # watchdog, so a miss, or a hit the watchdog must hear of, goes through it.
        number = self.reg_to_number.get(r.reg)
        car = self.cars.get(number) if number is not None else None
        if car is None or self.watchdog.first_miss is not None:
            car = self._car_by_reg(r.reg, received_at)
            if car is None:
                # Unlike the reference, a row for an unknown car is not remembered: the next
                # refresh, once `$A` has arrived, must still apply (docs/engine.md).
                return
        self.race_info[r.reg] = (r.position, r.laps, r.total_time)
        old_laps = old[1] if old is not None else 0
        if (old_laps > 0) != (r.laps > 0):
            self.race_laps_positive += 1 if r.laps > 0 else -1
        position_changed = car.overall_position != r.position
        if r.laps == 0 and position_changed:
            self._force(car, "last_lap_completed", 0)  # so the grid lap gets logged
        # What _put does for each field below, with the car's change record looked up once
        # (this runs for every crossing, and a crossing changes two or three of these); the
        # record only enters the pass's changes once something was written, so the patch and
        # its key order are _put's. Compared first: most of these are already right.
        changes = self._car_changes
        ch = changes.get(car)
        fresh = ch is None
        if fresh:
            ch = {}
        written = 0
        if car.last_lap_completed != r.laps:  # (not after _force: it wrote r.laps, i.e. 0)
            car.last_lap_completed = ch[_J_LAPS] = r.laps
            written += 1
            lap_car = self._lap_car
            if lap_car is None:
                self._lap_car = car
            elif lap_car is not car:
                self._lap_car = _SEVERAL
        if car.total_time != r.total_time:
            car.total_time = ch[_J_TOTAL_TIME] = r.total_time
            car._ttm_ms = parse_ms(r.total_time)  # (the parsed cache _set would update)
            written += 1
        if position_changed:
            car.overall_position = ch[_J_POSITION] = r.position
            car._rank = position_rank(r.position, car._seq)
            written += 1
        flag = self.session.current_flag
        if car.track_flag != flag:
            car.track_flag = ch[_J_TRACK_FLAG] = flag
            written += 1
        text = self._event_id_text
        if car.event_id != text:
            car.event_id = ch[_J_EVENT_ID] = text
            written += 1
        sid = self.session.session_id
        if sid is not self._session_id_of:  # (the same object: the same text)
            self._session_id_of, self._session_id_text = sid, str(sid)
        text = self._session_id_text
        if car.session_id != text:
            car.session_id = ch[_J_SESSION_ID] = text
            written += 1
        if written:
            self._nsets += written
            if fresh:
                changes[car] = ch

    def _on_practice(self, r: PracticeInfo, received_at: datetime) -> None:
        row = (r.best_lap, r.best_time)
        if self.practice_info.get(r.reg) == row:
            return
        car = self._car_by_reg(r.reg, received_at)
        if car is None:
            return
        self.practice_info[r.reg] = row
        # _set's work for the two fields (best lap, then best time) with the change record looked
        # up once and the qualifying key computed once: a practice block sends one row per
        # crossing and most change one of them.
        lap = car.best_lap != r.best_lap
        time = car.best_time != r.best_time
        if not (lap or time):
            return
        changes = self._car_changes
        ch = changes.get(car)
        if ch is None:
            ch = changes[car] = {}
        if lap:
            car.best_lap = ch[_J_BEST_LAP] = r.best_lap
            self._nsets += 1
        if time:
            car.best_time = ch[_J_BEST_TIME] = r.best_time
            car._bt_ms = parse_ms(r.best_time)
            self._nsets += 1
        car._fkey = fast_key(car)  # (the parsed caches _set keeps for these two fields)

    def _on_passing(self, r: Passing, received_at: datetime) -> None:
        old = self.passings.get(r.reg)
        if old is not None and old[0] == r.lap_time:
            self.passings[r.reg] = (r.lap_time, r.total_time)
            return
        car = self._car_by_reg(r.reg, received_at)
        if car is None:
            return
        self.passings[r.reg] = (r.lap_time, r.total_time)
        # _set's work without its calls (this runs for every lap of every car): compared first,
        # then what _put does, with the car's change record looked up once as in _on_race, and
        # the parsed cache _set keeps for these two fields.
        changes = self._car_changes
        ch = changes.get(car)
        fresh = ch is None
        if fresh:
            ch = {}
        written = 0
        text = r.lap_time
        if car.last_lap_time != text:
            car.last_lap_time = ch[_J_LAST_LAP_TIME] = text
            car._ltm_ms = parse_ms(text)
            written += 1
        text = r.total_time
        if car.total_time != text:
            car.total_time = ch[_J_TOTAL_TIME] = text
            car._ttm_ms = parse_ms(text)
            written += 1
        if written:
            self._nsets += written
            if fresh:
                changes[car] = ch

    def _on_ignored(self, r: Any, received_at: datetime) -> None:
        # $COR (dropped by the reference too), IMSA $L/$T: parsed and counted, no state yet.
        self.counters[_IGNORED_KEY[type(r)]] += 1

    def _on_init(self, r: Init, received_at: datetime) -> None:
        self.competitors.clear()
        self.race_info.clear()
        self.race_laps_positive = 0
        self.practice_info.clear()
        if self.rm_flag == Flags.UNKNOWN:
            # Before the start nothing is worth keeping; once running, classes, passings and the
            # grid survive so the rebuilt field keeps last laps and starting positions.
            self.classes.clear()
            self.passings.clear()
            self.starting.clear()
            self.in_class_starting.clear()
        self._context_reset(received_at)

    def _context_reset(self, received_at: datetime) -> None:
        if self.last_previous_save is None or received_at - self.last_previous_save > PREVIOUS_STATE_MIN_INTERVAL:
            self.previous_session_state = self.state_json()
            self.last_previous_save = received_at
        self.reg_to_number.clear()
        self.transponders.clear()
        self.entries.clear()
        self.cars.clear()
        self._comp_seen.clear()
        self._context_epoch += 1
        self.enricher.clear()
        self._car_changes.clear()
        self._lap_car = None  # (no car's change record is left)
        self._reset = self._touched = True
        self.counters["resets"] += 1

    # -- end-of-message work ------------------------------------------------------

    def _apply_starting_positions(self) -> None:
        self.starting_dirty = False
        cars, starting, numbers = self.cars, self.starting, self.reg_to_number
        in_class = self.in_class_starting = rebuild_in_class_starting_positions(starting, numbers, cars)
        # Runs for every grid row while the field forms up; most values are already right.
        put = self._put
        for reg, number in numbers.items():
            car = cars.get(number)
            if car is None:
                continue
            v = starting.get(reg, 0)
            if car.overall_starting_position != v:
                put(car, "overall_starting_position", v)
            v = in_class.get(reg, 0)
            if car.in_class_starting_position != v:
                put(car, "in_class_starting_position", v)

    def _restore_last_lap_times(self) -> None:
        for number, car in self.cars.items():
            newest = self.laps.newest(number)
            if newest is None:
                continue
            value = newest.get("ltm")
            if value is not None and value != car.last_lap_time:
                self._set(car, "last_lap_time", value)
        self.counters["lap_time_restores"] += 1

    def _enrich(self) -> None:
        # The enrichment writes its derived fields into the pass's change record itself (see
        # gaps.record) instead of through _put: they are outputs, so they need not be counted
        # in _nsets, which only says whether inputs changed since this enrichment.
        self.enricher.run(self.cars.values(), self._car_changes)  # type: ignore[arg-type]  # a view iterates the same
        self._enriched_at = self._nsets

    def _check_stale(self) -> None:
        # The reference evaluates on every message with car patches and on every third one;
        # the tracker gives the same verdicts while only re-checking what can have changed.
        # (_end_of_records has its own copy for a pass it enriched.)
        st = self.stale
        if self._reset:
            st.invalidate()
        changes = self._car_changes
        if not changes and self.rmonitor_messages % 3:
            return
        if not self.cars:
            return
        session = self.session
        flag = session.current_flag
        text = session.running_race_time
        if not changes and st.quiet(text, flag):
            return  # most checks: nothing can have flipped since the last scan
        st.check(changes, self.cars.values(), flag, text, self._put_stale)

    def _put_stale(self, car: CarPosition, attr: str, value: Any) -> None:
        """The stale tracker's setter: a verdict that flips changes who may win the class's
        fastest pace (see _lap_pace)."""
        self._put(car, attr, value)
        g = self.enricher.groups.get(car.car_class)
        if g is not None:
            g.pace = None

    def _log_laps(self, received_at: datetime) -> None:
        """Log the laps of the cars whose lap count this pass recorded (_lap_car: not None)."""
        lap_car = self._lap_car
        if lap_car is _SEVERAL:
            cars: Any = [car for car, ch in self._car_changes.items() if _J_LAPS in ch]
        else:
            cars = (lap_car,)
        laps = self.laps
        last_logged = laps.last_logged
        try:
            for car in cars:
                lap = car.last_lap_completed
                number = car.number
                # (laps.should_log, in place: one call less per lap)
                if not number:
                    continue
                last = last_logged.get(number)
                if last is not None and (lap == 0 or lap <= last):
                    continue
                if self.pit_lap is not None:
                    # X2/Flagtronics know whether this lap included a pit stop (§5.11 "On log").
                    self._set(car, "lap_included_pit", bool(self.pit_lap(number, lap)))
                snapshot = wire.car_to_db_json(car)
                laps.record(number, lap, snapshot, car._ltm_ms if car.last_lap_time is not None else 0)
                flag = car.track_flag
                self._completed.append(CompletedLap(self.event_id, self.session.session_id, number, lap,
                                                    car.car_class, received_at,
                                                    flag if type(flag) is int else int(flag), snapshot))
            if self._completed:
                self._lap_pace()
        except BaseException:
            # An average may have changed without _lap_pace seeing it (the pass goes on)
            self.enricher.forget_pace()
            raise

    def _lap_pace(self) -> None:
        """§5.7/§5.8 for the cars and classes that just completed a lap."""
        history = self.laps.history
        flag = self.session.current_flag
        # A dict, not a set: class names hash differently in every process, and the order
        # of the pace flags' patches must not depend on that. (class -> its cars that logged)
        classes: dict[str | None, list[CarPosition]] = {}
        for lap in self._completed:
            car = self.cars.get(lap.car_number)
            if car is None:
                continue
            logged = classes.get(car.car_class)
            if logged is None:
                classes[car.car_class] = [car]
            else:
                logged.append(car)
            number = lap.car_number
            plt = projected_lap_time_ms(history.get(number, ()), flag, car.best_time, self.laps.lap_ms.get(number),
                                        car._bt_ms, self.laps.settled_flags.get(number))
            if car.projected_lap_time_ms != plt:
                self._put(car, "projected_lap_time_ms", plt)
        groups = self.enricher.groups
        averages = self.laps.averages
        for cls, logged in classes.items():
            g = groups.get(cls)
            if g is None:
                continue  # (no members: nothing to flag)
            kept = g.pace
            g.pace = None  # (unknown until the flags below are written)
            if kept is not None:
                # Since the class was last walked only the averages of the cars that logged a
                # lap changed (a member joining or leaving, a stale verdict flipping, laps
                # cleared or an update_car call forget the result), and only the winner holds
                # the flag: the winner of the walk is the best of the kept winner and these
                # cars, unless the kept winner's own average got worse.
                old, old_avg = winner, best_avg = kept
                for c in logged:
                    avg = averages.get(c.number)
                    if avg is None or c.is_stale:
                        if c is old:
                            break  # the runner-up is not kept: walk the class
                        continue
                    if c is old and avg > old_avg:  # type: ignore[operator]  # (kept with the winner)
                        break
                    if winner is None or avg < best_avg or (avg == best_avg and c._seq < winner._seq):  # type: ignore[operator]
                        winner, best_avg = c, avg
                else:
                    if winner is not old:
                        # (The new winner logged a lap, so its patch exists already: the walk's
                        # order of these two writes would give the same patches.)
                        if old is not None:
                            self._put(old, "in_class_fastest_average_pace", False)
                        self._put(winner, "in_class_fastest_average_pace", True)
                    g.pace = (winner, best_avg)
                    continue
            members = g.cars
            flagged: list[CarPosition] = []  # the members whose flag is set, in class order
            winner = fastest_in_class(members, averages, flagged)
            if winner is None or not flagged or winner.in_class_fastest_average_pace:
                # Usually the winner keeps the flag, or only it gains the flag, or only others
                # lose it: the writes a walk over the class would make, in its order.
                for c in flagged:
                    if c is not winner:
                        self._put(c, "in_class_fastest_average_pace", False)
                if winner is not None and not winner.in_class_fastest_average_pace:
                    self._put(winner, "in_class_fastest_average_pace", True)
            else:
                # The flag changes hands: losses and the gain in class order.
                for c in members:
                    v = c is winner
                    if c.in_class_fastest_average_pace != v:
                        self._put(c, "in_class_fastest_average_pace", v)
            g.pace = (winner, None if winner is None else averages.get(winner.number))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ sessions

    def _on_session_changed(self, payload: str, received_at: datetime) -> None:
        """The relay's `Session` row (§6.1): `{"sid", "eid", "n", "tz", ...}`.

        A different id starts a new session (the same path a new `$B` run takes, whichever
        arrives first); the current id only refreshes the name and time zone, so a relay's
        resend after a restart keeps the cars and the lap history (the reference's "resume").
        """
        try:
            row = json.loads(payload)
            sid = int(row["sid"])
        except (ValueError, TypeError, KeyError) as exc:
            self._reject(f"evtsessionchanged: unreadable session row ({exc.__class__.__name__})")
            return
        if sid == PLACEHOLDER_SESSION_ID:
            return
        name = str(row.get("n") or "")
        if sid != self.session.session_id:
            self.change_session(sid, name, received_at)
        elif name and name != self.session.session_name:
            self._set_session("session_name", name)
            self._set_session("is_practice_qualifying", is_practice_or_qualifying(name))
        tz = row.get("tz")
        if isinstance(tz, (int, float)) and not isinstance(tz, bool):
            self._set_session("local_time_zone_offset", float(tz))

    def change_session(self, session_id: int, name: str, received_at: datetime) -> None:
        """A new run: finalize the outgoing session and start a clean state (§6.1)."""
        self._touched = True
        if session_id == PLACEHOLDER_SESSION_ID or session_id == self.monitor.session_id and session_id == self.session.session_id:
            return
        self._finished = self._final_state()
        self.counters["finalized"] += 1
        self.laps.clear()
        self.enricher.forget_pace()  # (the averages are gone)
        self.monitor.clear()
        self.monitor.session_id = session_id
        if self.cars or self.entries:
            self._context_reset(received_at)
        else:
            self._reset = True
        self.race_info.clear()
        self.race_laps_positive = 0
        self.practice_info.clear()
        self.passings.clear()
        self.starting.clear()
        self.in_class_starting.clear()
        self.rm_flag = Flags.UNKNOWN
        self.ft_flag = Flags.UNKNOWN
        self.last_run = session_id
        old = self.session
        # The heartbeat clock belongs to the timing system, not the run: keep it until the next
        # `$F` (which may already have arrived in this very message). The flag starts unknown.
        fresh = SessionState(event_id=self.event_id, event_name=old.event_name,
                             session_id=session_id, session_name=name,
                             is_practice_qualifying=is_practice_or_qualifying(name),
                             laps_to_go=old.laps_to_go, time_to_go=old.time_to_go,
                             local_time_of_day=old.local_time_of_day, running_race_time=old.running_race_time,
                             local_time_zone_offset=old.local_time_zone_offset,
                             class_colors=old.class_colors, class_order=old.class_order)
        self.last_flag_text = ""
        for attr in _SESSION_SCALARS:
            self._set_session(attr, getattr(fresh, attr))
        self.session = fresh
        self._logged_flag = -1
        if self.flag_log.periods:
            self.flag_log.clear()
            self._flags_changed = True
        if self.entries:
            self.entries.clear()
            self._entries_changed = True
        # Orbits does not always resend the entry list for a new run (it sends `$I` when the
        # entries change), so the known competitors are carried into the new session as cars
        # without timing data. See docs/engine.md.
        for row in list(self.competitors.values()):
            self._apply_competitor(row)

    # ------------------------------------------------------------------ snapshot

    def snapshot(self) -> bytes:
        """The whole engine state as MessagePack, for a worker taking over this event."""
        state = self.state_json("db")
        extra = {car.number: [car._seq] for car in self.cars.values()}
        data = {
            "v": _SNAPSHOT_VERSION,
            "event_id": self.event_id,
            "seq": self.seq,
            "state": state,
            "car_seq": extra,
            "car_seq_next": self.car_seq,
            "reg_to_number": self.reg_to_number,
            "transponders": {str(k): v for k, v in self.transponders.items()},
            "competitors": [[r.reg, r.number, r.transponder, r.first_name, r.last_name, r.nationality,
                             r.class_no, r.team] for r in self.competitors.values()],
            "classes": {str(k): v for k, v in self.classes.items()},
            "race_info": {k: list(v) for k, v in self.race_info.items()},
            "practice_info": {k: list(v) for k, v in self.practice_info.items()},
            "passings": {k: list(v) for k, v in self.passings.items()},
            "starting": self.starting,
            "in_class_starting": self.in_class_starting,
            "last_run": self.last_run,
            "rm_flag": int(self.rm_flag),
            "last_flag_text": self.last_flag_text,
            "ft_flag": int(self.ft_flag),
            "track_name": self.track_name,
            "track_length_m": self.track_length_m,
            "laps_last": self.laps.last_logged,
            "laps_history": self.laps.history,
            "monitor": [self.monitor.session_id, self.monitor.finishing_started, self.monitor.finishing_last_t,
                        self.monitor.checkered_laps, self.monitor.last_count, self.monitor.last_count_t,
                        self.monitor.prev_flag, _dt_out(self.monitor.last_check_at)],
            "watchdog": [_dt_out(self.watchdog.first_miss), _dt_out(self.watchdog.last_forced),
                         self.watchdog.backoff.total_seconds()],
            "consistency": [_dt_out(self.consistency.next_check), self.consistency.retries,
                            _dt_out(self.consistency.last_error), _dt_out(self.consistency.last_forced)],
            "previous_session_state": self.previous_session_state,
            "last_previous_save": _dt_out(self.last_previous_save),
            "rmonitor_messages": self.rmonitor_messages,
            "relay_session_id": self.relay_session_id,
            "rejection_count": self.rejection_count,
            "last_rejections": list(self.last_rejections),
            "counters": dict(self.counters),
            "feeds": self.feeds.snapshot(),
        }
        return wire.packb(data)

    @classmethod
    def restore(cls, data: bytes) -> "TimingEngine":
        d = wire.unpackb(data)
        if d.get("v") != _SNAPSHOT_VERSION:
            raise ValueError(f"unsupported engine snapshot version {d.get('v')!r}")
        eng = cls(int(d["event_id"]))
        eng.seq = d["seq"]
        state = wire.session_from_json(d["state"])
        car_seq = d["car_seq"]
        for car in state.car_positions:
            car._seq = car_seq.get(car.number, [0])[0]
            car._ttm_ms = parse_ms(car.total_time)
            car._ltm_ms = parse_ms(car.last_lap_time)
            car._bt_ms = parse_ms(car.best_time)
            car._rank = position_rank(car.overall_position, car._seq)
            car._fkey = fast_key(car)
            eng.cars[car.number] = car
            eng.enricher.add_car(car)
        eng.car_seq = d["car_seq_next"]
        for e in state.event_entries:
            eng.entries[e.number] = e
        eng.flag_log.replace(state.flag_durations)
        state.car_positions, state.event_entries, state.flag_durations = [], [], []
        eng.session = state
        eng.reg_to_number = dict(d["reg_to_number"])
        eng.transponders = {int(k): v for k, v in d["transponders"].items()}
        eng.competitors = {r[0]: CompetitorRow(*r) for r in d["competitors"]}
        eng.classes = {int(k): v for k, v in d["classes"].items()}
        eng.race_info = {k: tuple(v) for k, v in d["race_info"].items()}  # type: ignore[misc]
        eng.race_laps_positive = sum(1 for v in eng.race_info.values() if v[1] > 0)
        eng.practice_info = {k: tuple(v) for k, v in d["practice_info"].items()}  # type: ignore[misc]
        eng.passings = {k: tuple(v) for k, v in d["passings"].items()}  # type: ignore[misc]
        eng.starting = dict(d["starting"])
        eng.in_class_starting = dict(d["in_class_starting"])
        eng.last_run = d["last_run"]
        eng.rm_flag = Flags(d["rm_flag"])
        eng.last_flag_text = d["last_flag_text"]
        eng.ft_flag = Flags(d["ft_flag"])
        eng.track_name = d["track_name"]
        eng.track_length_m = d["track_length_m"]
        eng.laps.last_logged = dict(d["laps_last"])
        eng.laps.history = {k: list(v) for k, v in d["laps_history"].items()}
        eng.laps.rebuild()
        m = d["monitor"]
        mon = eng.monitor
        (mon.session_id, mon.finishing_started, mon.finishing_last_t, checkered, mon.last_count,
         mon.last_count_t, mon.prev_flag, last_check) = m
        mon.checkered_laps = dict(checkered)
        mon.last_check_at = _dt_in(last_check)
        w = d["watchdog"]
        eng.watchdog.first_miss, eng.watchdog.last_forced = _dt_in(w[0]), _dt_in(w[1])
        eng.watchdog.backoff = timedelta(seconds=w[2])
        c = d["consistency"]
        eng.consistency.next_check, eng.consistency.retries = _dt_in(c[0]), c[1]
        eng.consistency.last_error, eng.consistency.last_forced = _dt_in(c[2]), _dt_in(c[3])
        eng.previous_session_state = d["previous_session_state"]
        eng.last_previous_save = _dt_in(d["last_previous_save"])
        eng.rmonitor_messages = d["rmonitor_messages"]
        eng.relay_session_id = d["relay_session_id"]
        eng.rejection_count = d["rejection_count"]
        eng.last_rejections.extend(d["last_rejections"])
        eng.counters.update(d["counters"])
        eng.feeds = _feeds.FeedState.restore(d.get("feeds"))
        return eng


def _dt_out(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt_in(value: str | None) -> datetime | None:
    # isoformat keeps the caller's choice of naive or aware clocks across a take-over.
    return None if value is None else datetime.fromisoformat(value)
