"""_log_laps applies LapLog.should_log in place (lap 0 once per car, later laps when the count
rises past the last logged one): random lap counts, with regressions, repeats and jumps,
logged as the rule itself logs them."""

from __future__ import annotations

import random
from datetime import timedelta

from apps.timing.engine import TimingEngine
from apps.timing.engine.laps import LapLog

from .helpers import T0

_SETUP = ('$F,14,"00:12:45","13:34:23","00:09:47","Green "', '$C,5,"GT"',
          '$A,"7","7",52474,"John","Johnson","USA",5', '$A,"8","8",52475,"Jane","Jones","USA",5')


def test_random_lap_counts_are_logged_as_should_log_decides() -> None:
    rng = random.Random(61)
    for _ in range(150):
        engine = TimingEngine(1)
        for line in _SETUP:
            engine.apply("rmonitor", line, session_id=1, received_at=T0)
        rule = LapLog()
        laps = {"7": 0, "8": 0}
        for i in range(rng.randint(1, 30)):
            number = rng.choice("78")
            laps[number] = max(0, laps[number] + rng.choice([0, 1, 1, 1, 2, 5, -1, -3]))
            lap = laps[number]
            position = 1 if number == "7" else 2
            result = engine.apply("rmonitor", f'$G,{position},"{number}",{lap},"00:05:{i:02d}.000"',
                                  session_id=1, received_at=T0 + timedelta(seconds=i))
            want = []
            if rule.should_log(number, lap):
                rule.last_logged[number] = lap
                want = [(number, lap)]
            assert [(l.car_number, l.lap_number) for l in result.completed_laps] == want, (number, lap)
