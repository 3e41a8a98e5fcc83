"""The in-class fastest-pace flag is moved with one walk over the class (fastest_in_class
collects the flagged cars): the writes must be the plain walk's, value and order."""

from __future__ import annotations

import random
from datetime import datetime

from apps.timing.engine import TimingEngine
from apps.timing.engine.laps import CompletedLap
from apps.timing.engine.pace import fastest_in_class

T0 = datetime(2025, 1, 1, 12)


def test_the_pace_flag_writes_are_the_plain_walks_whoever_held_or_wins_it() -> None:
    rng = random.Random(11)
    engine = TimingEngine(1)
    lines = ['$C,1,"A"', '$C,2,"B"'] + [f'$A,"{n}","{n}",{1000 + n},"D{n}","","USA",{1 + n % 2}' for n in range(1, 13)]
    engine.apply("rmonitor", "\r\n".join(lines) + "\r\n", session_id=1, received_at=T0)
    cars = list(engine.cars.values())
    writes: list[tuple[str, bool]] = []
    engine._put = lambda car, attr, value: (writes.append((car.number, value)) if attr == "in_class_fastest_average_pace"
                                            else None)
    for _ in range(3_000):
        for c in cars:
            c.in_class_fastest_average_pace = rng.random() < 0.15
            c.is_stale = rng.random() < 0.2
            engine.laps.averages[c.number] = rng.choice([None, 0.0, 60_000.0, 60_500.0, float(rng.randint(59_000, 62_000))])
        car = rng.choice(cars)
        members = engine.enricher.groups[car.car_class].cars
        winner = fastest_in_class(members, engine.laps.averages)
        want = [(c.number, c is winner) for c in members if c.in_class_fastest_average_pace != (c is winner)]
        writes.clear()
        engine._completed = [CompletedLap(1, 1, car.number, 1, car.car_class, T0, 1, {})]
        # (the state above was set behind the engine's back: the kept results cannot know)
        engine.enricher.forget_pace()
        engine._lap_pace()
        assert writes == want


def test_fastest_in_class_lists_the_flagged_cars_in_order() -> None:
    engine = TimingEngine(1)
    engine.apply("rmonitor", "\r\n".join(f'$A,"{n}","{n}",{n},"","","",1' for n in range(1, 6)) + "\r\n",
                 session_id=1, received_at=T0)
    cars = list(engine.cars.values())
    cars[1].in_class_fastest_average_pace = cars[3].in_class_fastest_average_pace = True
    flagged: list = []
    assert fastest_in_class(cars, {c.number: 1.0 for c in cars}, flagged) is cars[0]
    assert flagged == [cars[1], cars[3]]
