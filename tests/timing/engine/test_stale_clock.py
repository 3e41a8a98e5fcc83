"""The stale check's shortcuts agree with the plain rules: the race clock conversion (only the
seconds, within a minute it has seen) gives what parse_ms gives, and a skipped quiet check
gives what a full scan gives."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from apps.timing.engine import TimingEngine
from apps.timing.engine.positions import STALE_INPUTS, Enricher
from apps.timing.engine.stale import StaleTracker
from apps.timing.engine.timefmt import parse_ms

_ODD = ["", "00:12:4", "00:12:45.5", "00:12:45.123", "0:12:45", "00:12:4a", "00:1a:45", "0a:12:45", "-1:12:45",
        "00:12:-5", "00:12: 5", "00:12:+5", "00:12:\u0664\u0665", "\u0660\u0660:12:45", "00;12:45", "00:12;45",
        "99:99:99", "00:99:45", "00:12:99", "100:12:45", "00:12:45 ", " 00:12:45"]


def _ticks(start: int, n: int) -> list[str]:
    return [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(start, start + n)]


@pytest.mark.parametrize("seed", range(8))
def test_clock_ms_matches_parse_ms_on_ticking_and_odd_clocks(seed: int) -> None:
    rnd = random.Random(seed)
    texts = _ticks(rnd.randrange(0, 99 * 3600), 200)
    # odd texts that share the last minute's prefix, and prefixes of odd texts, in between
    for _ in range(80):
        i = rnd.randrange(len(texts))
        prefix = texts[i][:6] if rnd.random() < 0.5 else rnd.choice(_ODD)[:6]
        tail = rnd.choice(["45", "4", "4a", "99", "45.1", "", "\u0664\u0665", "-1", " 1", "00"])
        texts.insert(i, rnd.choice([prefix + tail, rnd.choice(_ODD)]))
    tracker = StaleTracker()
    for text in texts:
        assert tracker.clock_ms(text) == parse_ms(text), text


def test_clock_ms_reuses_a_minute_only_for_the_plain_form() -> None:
    tracker = StaleTracker()
    texts = _ODD + ["00:12:45", "01:02:03", "05:59:59"]
    texts += [t[:6] + "07" for t in texts]  # a later second in the same "minute"
    for first, second in itertools.product(texts, repeat=2):
        assert tracker.clock_ms(first) == parse_ms(first)
        assert tracker.clock_ms(second) == parse_ms(second), (first, second)
    assert tracker.clock_ms(None) == 0  # type: ignore[arg-type]  # what parse_ms says to no clock


def test_the_remembered_race_clock_is_what_parse_ms_gives() -> None:
    tracker = StaleTracker()
    texts = _ticks(3590, 30) + _ODD + _ticks(3590, 3)
    for a, b in zip(texts, texts[1:]):
        for text in (a, a, b):  # the same text again answers from memory
            tracker.flag = 1  # (quiet() converts the clock under the scanned flag)
            tracker.quiet(text, 1)
            assert tracker.text_ms == parse_ms(text), text
            tracker.check({}, [], 1, text, lambda *_: None)
            assert tracker.race_ms == parse_ms(text), text


def test_quiet_is_only_claimed_under_the_scanned_flag_within_the_window_and_records_the_clock() -> None:
    tracker = StaleTracker()
    assert not tracker.quiet("00:10:00", 1)  # no scan to rely on yet
    tracker.flag, tracker.race_ms, tracker.deadline = 1, 600_000, 605_000.0
    assert not tracker.quiet("00:10:01", 2)  # another flag
    assert tracker.race_ms == 600_000
    assert tracker.quiet("00:10:03", 1) and tracker.race_ms == 603_000
    assert tracker.quiet("00:10:03", 1)  # the same clock again
    assert not tracker.quiet("00:10:02", 1)  # the clock went back: rescan
    assert not tracker.quiet("00:10:06", 1)  # past the deadline
    assert tracker.race_ms == 603_000  # a check that must run records the clock itself


def _clock(ms: int) -> str:
    s = ms // 1000
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def _three_laps_each(send: Any, cars: list[str]) -> int:
    """Every car crosses three times, laps of about 60 s (the field becomes eligible for stale
    verdicts): returns the race clock in milliseconds at the last crossing's lap."""
    race = 0
    for lap in range(1, 4):
        race += 60_000
        for n in cars:
            t = race + 1000 * int(n)
            send(f'$G,{n},"{n}",{lap},"{_clock(t)}.000"')
            send(f'$J,"{n}","00:01:00.000","{_clock(t)}.000"')
    return race


class _CheckEveryPass(Enricher):
    """Tells the engine that every pass changed a stale input, so that it always checks the
    pass's cars (no quiet() shortcut for a pass that only moved positions)."""

    noted = property(lambda self: STALE_INPUTS, lambda self, value: None)


class _TwinEngines:
    """An engine and one whose stale tracker scans the whole field on every check (and checks
    every pass with car changes), fed the same messages (a class and `cars` entered first);
    send() checks after each message that both give every car the same stale verdict."""

    def __init__(self, cars: list[str]) -> None:
        self.inc, self.full = TimingEngine(1), TimingEngine(1)
        self.full.stale.always_full = True
        self.full.enricher = _CheckEveryPass()
        self.now = datetime(2024, 5, 1, 12)
        self.send('$C,1,"A"')
        for n in cars:
            self.send(f'$A,"{n}","{n}",{100 + int(n)},"D{n}","","USA",1')

    def send(self, payload: str) -> None:
        for engine in (self.inc, self.full):
            engine.apply("rmonitor", payload, session_id=1, received_at=self.now)
        assert ({c.number: c.is_stale for c in self.inc.cars.values()}
                == {c.number: c.is_stale for c in self.full.cars.values()}), payload


@pytest.mark.parametrize("seed", range(6))
def test_quiet_stale_checks_match_a_full_scan_when_the_race_clock_jumps_back(seed: int) -> None:
    # A quiet check (no car changes, clock between the last check and the deadline) is
    # skipped; a clock that went back must still rescan, as the full scan would un-stale cars.
    rnd = random.Random(seed)
    cars = ["1", "2", "3", "4"]
    twins = _TwinEngines(cars)
    send = twins.send
    race = _three_laps_each(send, cars)  # everyone on lap 3
    for _ in range(300):
        twins.now += timedelta(seconds=1)
        race = max(0, race + rnd.choice([1000, 1000, 1000, 5000, 20_000, -30_000]))
        send(f'$F,9999,"00:00:00","12:00:00","{_clock(race)}","Green "')


@pytest.mark.parametrize("seed", range(8))
def test_refreshes_between_heartbeats_give_a_full_scans_verdicts_when_the_flag_moves_under_a_stopped_clock(
        seed: int) -> None:
    # apply() skips the every-third-message check of a record that changed nothing once the
    # tracker found the field quiet at the same race clock text; a flag change under a stopped
    # clock (the same text) must still be checked, as must a clock the tracker has not seen.
    rnd = random.Random(seed)
    cars = ["1", "2", "3", "4"]
    twins = _TwinEngines(cars)
    send = twins.send
    race = _three_laps_each(send, cars)
    flag = "Green "
    stale_at = 0  # messages after which some car was stale: the verdicts compared are not all False
    for _ in range(400):
        twins.now += timedelta(seconds=1)
        step = rnd.random()
        if step < 0.3:
            race += rnd.choice([1000, 3000, 8000])
            send(f'$F,9999,"00:00:00","12:00:00","{_clock(race)}","{flag}"')
        elif step < 0.45:
            flag = rnd.choice(["Green ", "Yellow", "Red   "])  # under a stopped clock
            send(f'$F,9999,"00:00:00","12:00:00","{_clock(race)}","{flag}"')
        elif step < 0.55:
            n = rnd.choice(cars)
            send(f'$J,"{n}","00:01:0{rnd.randrange(10)}.000","{_clock(race)}.000"')
        else:
            send('$C,1,"A"')  # a refresh: changes nothing
        stale_at += any(c.is_stale for c in twins.full.cars.values())
    assert stale_at > 20


@pytest.mark.parametrize("seed", range(8))
def test_a_pass_that_only_moves_positions_gives_a_full_scans_verdicts(seed: int) -> None:
    # A pass whose cars changed no stale input (a `$G` row with a new position only) asks the
    # tracker whether the clock left it quiet instead of checking its cars; once the clock has
    # passed a car's limit, that pass must still flip it, as the full scan does.
    rnd = random.Random(seed)
    cars = ["1", "2", "3", "4", "5"]
    twins = _TwinEngines(cars)
    send = twins.send
    race = _three_laps_each(send, cars)
    row = {n: [3, race + 1000 * int(n)] for n in cars}  # laps, total time
    order = list(cars)
    flag = "Green "
    stale_at = position_only = 0
    for _ in range(600):
        twins.now += timedelta(seconds=1)
        step = rnd.random()
        if step < 0.3:
            race += rnd.choice([1000, 3000, 8000, 30_000])
            if rnd.random() < 0.1:
                flag = rnd.choice(["Green ", "Yellow"])
            send(f'$F,9999,"00:00:00","12:00:00","{_clock(race)}","{flag}"')
        elif step < 0.93:
            i = rnd.randrange(len(order) - 1)
            order[i], order[i + 1] = order[i + 1], order[i]
            for n in (order[i], order[i + 1]):
                laps, t = row[n]
                send(f'$G,{order.index(n) + 1},"{n}",{laps},"{_clock(t)}.{t % 1000:03d}"')
            position_only += 1
        else:
            n = rnd.choice(cars)
            row[n] = [row[n][0] + 1, race]
            laps, t = row[n]
            send(f'$G,{order.index(n) + 1},"{n}",{laps},"{_clock(t)}.000"')
            send(f'$J,"{n}","00:01:0{rnd.randrange(10)}.000","{_clock(t)}.000"')
        stale_at += any(c.is_stale for c in twins.full.cars.values())
    assert stale_at > 20 and position_only > 100


def test_the_trackers_tolerance_table_is_one_plus_the_tolerance_rule() -> None:
    from apps.timing.engine import stale
    from apps.timing.engine.flags import Flags
    from apps.timing.engine.state import CarPosition

    flags = [int(f) for f in Flags] + [None, -1]
    for session_flag, car_flag in itertools.product(flags, repeat=2):
        car = CarPosition(number="1", track_flag=car_flag)
        odd_flag, odd_grow = stale._ODD_GROWTH.get(session_flag, stale._NO_ODD_GROWTH)
        grow = odd_grow if car.track_flag == odd_flag else stale._GROWTH
        assert grow == 1 + stale._tolerance(car, session_flag), (session_flag, car_flag)


def _random_field_run(seed: int, rescan: bool) -> list:
    """A random session driven straight into a tracker: cars cross at random (several
    stale inputs at a time, in random change-record order), the clock mostly runs but jumps
    ahead (several cars turning stale in one check) and now and then back, the flag changes,
    cars join, the tracker is invalidated. Returns every setter call and the verdicts after
    each check. `rescan`: whenever the clock passes the deadline, scan the whole field (as
    the tracker did before it kept each car's limit)."""
    from apps.timing.engine.state import CarPosition

    rnd = random.Random(seed)
    tracker = StaleTracker()
    cars: list[CarPosition] = []
    log: list = []
    race = 0
    flag = 1

    def add_car(laps: int = 0) -> None:
        cars.append(CarPosition(number=str(len(cars)), track_flag=rnd.choice([0, 1, 2]), last_lap_completed=laps))

    def set_time(car: CarPosition, attr: str, cache: str, ms: int | None) -> None:
        setattr(car, attr, None if ms is None else _clock(ms) + f".{ms % 1000:03d}")
        setattr(car, cache, 0 if ms is None else parse_ms(getattr(car, attr)))

    for _ in range(rnd.randrange(2, 12)):
        add_car(rnd.choice([0, 1, 2, 3, 5, 8, 9]))
    for _ in range(400):
        changes: dict = {}
        crossing = rnd.sample(cars, rnd.randrange(0, min(4, len(cars)) + 1))
        for car in crossing:
            ch = changes.setdefault(car, {})
            kind = rnd.random()
            if kind < 0.5:  # a crossing: laps, total and last lap time
                lap_ms = rnd.choice([900, 1000, 1500, 20_000, 60_000, 61_234, 90_000])
                set_time(car, "last_lap_time", "_ltm_ms", lap_ms if rnd.random() > 0.05 else None)
                set_time(car, "total_time", "_ttm_ms", max(0, race - rnd.randrange(0, 3000)))
                car.last_lap_completed += 1
                ch.update(llp=car.last_lap_completed, ttm=car.total_time, ltm=car.last_lap_time)
            elif kind < 0.7:
                car.last_lap_completed += 1
                ch["llp"] = car.last_lap_completed
            elif kind < 0.8:
                car.track_flag = rnd.choice([0, 1, 2, 4])
                ch["flg"] = car.track_flag
            elif kind < 0.85:
                set_time(car, "total_time", "_ttm_ms", None)
                ch["ttm"] = None
            # else: only fields the check does not read
            ch["bt"] = "x"
        if rnd.random() < 0.01:  # every car's lap count falls below 3 (no real-world case)
            for car in cars:
                car.last_lap_completed = rnd.randrange(3)
                changes.setdefault(car, {})["llp"] = car.last_lap_completed
        if rnd.random() < 0.03:
            add_car()  # (a new car, sometimes with changes in the same pass)
            if rnd.random() < 0.5:
                changes[cars[-1]] = {"llp": 0}
        if rnd.random() < 0.03:
            flag = rnd.choice([1, 1, 2, 3, 4])
        if rnd.random() < 0.02:
            tracker.invalidate()
        race = max(0, race + rnd.choice([0, 1000, 1000, 3000, 30_000, 100_000, -20_000]
                                        if rnd.random() < 0.2 else [0, 1000, 2000]))

        joined: list[int] = []  # field indexes of cars the setter adds to the change record

        def setter(car: CarPosition, attr: str, value: bool) -> None:
            log.append((car.number, value))
            setattr(car, attr, value)
            if car not in changes:
                joined.append(cars.index(car))
            changes.setdefault(car, {})["st"] = value

        if rescan:
            tracker.nscan = -1  # (no evaluation of the whole field to rely on)
        tracker.check(changes, cars, flag, _clock(race), setter)
        # Cars that join the change record join it in the field's order, as in a full scan.
        assert joined == sorted(joined)
        log.append([c.is_stale for c in cars])
    return log


@pytest.mark.parametrize("seed", range(40))
def test_due_cars_alone_give_a_full_scans_verdicts_and_setter_order_on_random_fields(seed: int) -> None:
    # When the clock passes the deadline the tracker re-evaluates only the cars whose own
    # limit it passed; a scan of the whole field must see the same flips in the same order.
    # (Against the tracker, not always_full: the tracker's changed-car rules are older and
    # differ from a scan per check for a car joining a field already past lap 3.)
    assert _random_field_run(seed, False) == _random_field_run(seed, True)


def test_every_car_a_message_crosses_with_is_rechecked_though_the_check_skips_enrichment_only_cars() -> None:
    # The engine tells the check how many cars the records changed (they come first in the
    # pass's record; the enrichment appends the cars whose gaps it moved): a count too small
    # would leave the second crossing car of a message stale, too large would cost time only.
    cars = ["1", "2", "3", "4", "5"]
    twins = _TwinEngines(cars)
    send, inc, full, now = twins.send, twins.inc, twins.full, twins.now
    send('$F,9999,"00:00:00","12:00:00","00:00:00","Green "')
    race = _three_laps_each(send, cars)
    for _ in range(3):  # (the check runs every third message)
        race += 100_000  # every car is stale by now
        send(f'$F,9999,"00:00:00","12:00:00","{_clock(race)}","Green "')
    assert all(c.is_stale for c in inc.cars.values())
    # Cars 2 and 4 cross in one message: both recover, and the cars behind them get new gaps
    # (enrichment-only changes) in the same pass.
    t = race - 500
    message = f'$G,2,"2",4,"{_clock(t)}.000"\n$G,4,"4",4,"{_clock(t)}.400"'
    full.apply("rmonitor", message, session_id=1, received_at=now)
    result = inc.apply("rmonitor", message, session_id=1, received_at=now)
    assert [p["n"] for p in result.car_patches][2:], "no enrichment-only car in the pass"
    stale = {c.number: c.is_stale for c in inc.cars.values()}
    assert stale == {c.number: c.is_stale for c in full.cars.values()}
    assert stale == {"1": True, "2": False, "3": True, "4": False, "5": True}
