"""The `$J` handler's inline lookup and setters against the plain version (_car_by_reg, _set):
random races through two engines, one with the plain handler, must give the same passes, the
same state and the same parsed caches."""

from __future__ import annotations

import pickle
import random
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from apps.timing.engine import TimingEngine
from apps.timing.engine.rmonitor import Passing
from apps.timing.engine.timefmt import parse_ms

from .helpers import T0


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
        elif kind < 0.75:
            lines.append(f'$G,{rng.randint(1, len(regs))},"{reg}",{rng.randint(0, 9)},"{_clock(rng)}"')
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


def test_passing_rows_give_what_the_general_lookup_and_setter_give() -> None:
    rng = random.Random(41)
    for _ in range(60):
        regs = [str(n) for n in rng.sample(range(1, 99), rng.randint(2, 8))] + ["404"]  # 404: never entered
        fast, plain = TimingEngine(1), TimingEngine(1)
        plain._record_handlers[Passing] = partial(_plain_on_passing, plain)
        now = T0
        for _ in range(150):
            now += timedelta(seconds=rng.choice([0.5, 1, 1, 5, 40]))
            payload = _message(rng, regs)
            got = fast.apply("rmonitor", payload, session_id=1, received_at=now)
            want = plain.apply("rmonitor", payload, session_id=1, received_at=now)
            assert _outputs(got) == _outputs(want), payload
            for car in fast.cars.values():
                assert car._ltm_ms == parse_ms(car.last_lap_time) and car._ttm_ms == parse_ms(car.total_time)
        assert fast.state_json() == plain.state_json()
        assert fast.counters == plain.counters and fast.passings == plain.passings
        assert fast.snapshot() == plain.snapshot()
