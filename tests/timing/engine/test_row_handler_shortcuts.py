"""The `$G`, `$H` and `$J` handlers' inline lookups and setters against their plain versions
(_car_by_reg, _set, _put): random races through two engines, one with the plain handler, must
give the same passes (patch key order included), the same state and the same parsed caches."""

from __future__ import annotations

import pickle
import random
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest

from apps.timing.engine import TimingEngine
from apps.timing.engine.flags import Flags
from apps.timing.engine.rmonitor import Passing, PracticeInfo, RaceInfo
from apps.timing.engine.state import position_rank
from apps.timing.engine.timefmt import parse_ms

from .helpers import T0, replace_record_handler


def _plain_on_passing(self: TimingEngine, r: Passing, received_at: datetime) -> None:
    # The handler as it was before the shortcut (the general lookup and setter).
    old = self.passings.get(r.reg)
    if old is not None and old[0] == r.lap_time:
        self.passings[r.reg] = (r.lap_time, r.total_time)
        return
    car = self._car_by_reg(r.reg, received_at)
    if car is None:
        return
    self.passings[r.reg] = (r.lap_time, r.total_time)
    self._set(car, "last_lap_time", r.lap_time)
    self._set(car, "total_time", r.total_time)


def _plain_on_race(self: TimingEngine, r: RaceInfo, received_at: datetime) -> None:
    # The handler with _put for every field (its record looked up per field).
    old = self.race_info.get(r.reg)
    if r.laps == 0 and self.race_laps_positive == 0 and self.rm_flag in (Flags.UNKNOWN, Flags.YELLOW, Flags.GREEN):
        if self.starting.get(r.reg) != r.position:
            self.starting[r.reg] = r.position
            self.starting_dirty = True
    if old is not None and old[0] == r.position and old[1] == r.laps:
        return
    car = self._car_by_reg(r.reg, received_at)
    if car is None:
        return
    self.race_info[r.reg] = (r.position, r.laps, r.total_time)
    old_laps = old[1] if old is not None else 0
    if (old_laps > 0) != (r.laps > 0):
        self.race_laps_positive += 1 if r.laps > 0 else -1
    position_changed = car.overall_position != r.position
    if r.laps == 0 and position_changed:
        self._force(car, "last_lap_completed", 0)
    elif car.last_lap_completed != r.laps:
        self._put(car, "last_lap_completed", r.laps)
    if car.total_time != r.total_time:
        self._put(car, "total_time", r.total_time)
        car._ttm_ms = parse_ms(r.total_time)
    if position_changed:
        self._put(car, "overall_position", r.position)
        car._rank = position_rank(r.position, car._seq)
    for attr, value in (("track_flag", self.session.current_flag), ("event_id", self._event_id_text),
                        ("session_id", str(self.session.session_id))):
        if getattr(car, attr) != value:
            self._put(car, attr, value)


def _plain_on_practice(self: TimingEngine, r: PracticeInfo, received_at: datetime) -> None:
    # The handler as it was before the shortcut (the general lookup and setter).
    row = (r.best_lap, r.best_time)
    if self.practice_info.get(r.reg) == row:
        return
    car = self._car_by_reg(r.reg, received_at)
    if car is None:
        return
    self.practice_info[r.reg] = row
    self._set(car, "best_lap", r.best_lap)
    self._set(car, "best_time", r.best_time)


_PLAIN = {Passing: _plain_on_passing, RaceInfo: _plain_on_race, PracticeInfo: _plain_on_practice}


def _logging(engine: TimingEngine, handler: Any, log: list[int]) -> Any:
    # The count of written fields after each row: the enrichment reruns on it within a pass.
    def run(r: Any, received_at: datetime) -> None:
        handler(r, received_at)
        log.append(engine._nsets)
    return run


def _clock(rng: random.Random) -> str:
    return rng.choice(["", "00:00:00.000", "x", f"00:01:{rng.randint(20, 40):02d}.{rng.randint(0, 999):03d}",
                       f"00:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.000"])


def _message(rng: random.Random, regs: list[str]) -> str:
    lines = []
    for _ in range(rng.randint(1, 6)):
        reg = rng.choice(regs)
        kind = rng.random()
        if kind < 0.45:
            lines.append(f'$J,"{reg}","{_clock(rng)}","{_clock(rng)}"')
        elif kind < 0.65:
            lines.append(f'$G,{rng.randint(1, len(regs))},"{reg}",{rng.randint(0, 9)},"{_clock(rng)}"')
        elif kind < 0.75:
            lines.append(f'$H,{rng.randint(1, len(regs))},"{reg}",{rng.randint(0, 3)},"{_clock(rng)}"')
        elif kind < 0.85:
            lines.append(f'$A,"{reg}","{reg}",{1000 + regs.index(reg)},"Team","{reg}","USA",{rng.randint(1, 2)}')
        elif kind < 0.9:
            lines.append('$I,"12:00:00.000","01 Jan 25"')
        elif kind < 0.95:
            lines.append(f'$F,{rng.randint(0, 20)},"00:10:00","12:00:00","00:{rng.randint(0, 59):02d}:00",'
                         f'"{rng.choice(["Green ", "Yellow", "Red   "])}"')
        else:
            lines.append(f'$B,{rng.randint(1, 3)},"Run"')
    return "\r\n".join(lines) + "\r\n"


def _outputs(result: Any) -> bytes:
    return pickle.dumps((result.seq, result.session_patch, result.car_patches, result.reset,
                         [lap.to_json() for lap in result.completed_laps], result.flag_periods,
                         result.finished_session, result.rejections, result.relay_reset_request,
                         result.relay_reset_force))


@pytest.mark.parametrize("record", [Passing, RaceInfo, PracticeInfo], ids=["$J", "$G", "$H"])
def test_rows_give_what_the_plain_handler_gives(record: type) -> None:
    rng = random.Random(41)
    for _ in range(60):
        regs = [str(n) for n in rng.sample(range(1, 99), rng.randint(2, 8))] + ["404"]  # 404: never entered
        fast, plain = TimingEngine(1), TimingEngine(1)
        fast_log: list[int] = []
        plain_log: list[int] = []
        replace_record_handler(fast, record, _logging(fast, fast._record_handlers[record], fast_log))
        replace_record_handler(plain, record, _logging(plain, partial(_PLAIN[record], plain), plain_log))
        now = T0
        for _ in range(150):
            now += timedelta(seconds=rng.choice([0.5, 1, 1, 5, 40]))
            payload = _message(rng, regs)
            got = fast.apply("rmonitor", payload, session_id=1, received_at=now)
            want = plain.apply("rmonitor", payload, session_id=1, received_at=now)
            assert _outputs(got) == _outputs(want), payload
            for car in fast.cars.values():
                assert car._ltm_ms == parse_ms(car.last_lap_time) and car._ttm_ms == parse_ms(car.total_time)
                assert car._rank == position_rank(car.overall_position, car._seq)
                other = plain.cars[car.number]  # (a new car's qualifying key is a placeholder)
                assert car._bt_ms == other._bt_ms and car._fkey == other._fkey
            assert fast_log == plain_log
        assert fast.state_json() == plain.state_json()
        assert fast.counters == plain.counters and fast.passings == plain.passings
        assert fast.race_info == plain.race_info and fast.starting == plain.starting
        assert fast.practice_info == plain.practice_info
        assert fast.snapshot() == plain.snapshot()
