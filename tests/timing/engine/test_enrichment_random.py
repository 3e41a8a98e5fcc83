"""Random race feeds: the incremental enrichment must publish what recomputing everything on
every pass publishes (the `always_full` reference mode), pass by pass.

The feeds stress what the recordings rarely do: several cars crossing and setting bests in one
message, a car's position changing and changing back within a message, tied best times and
gains, best times withdrawn, class changes, and inputs set by another handler in their own pass.
Stale verdicts (and the pace award that reads them) are left out: the stale tracker's
incremental rules are tested on their own in test_laps_and_stale.py.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import pytest

from apps.timing.engine import TimingEngine

_SKIP = ("st", "faic")


def _fmt(ms: int) -> str:
    h, r = divmod(ms, 3_600_000)
    m, r = divmod(r, 60_000)
    s, f = divmod(r, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{f:03d}"


def _patches(result) -> list[dict]:
    out = []
    for p in result.car_patches:
        q = {k: v for k, v in p.items() if k not in _SKIP}
        if len(q) > 1:
            out.append(q)
    return sorted(out, key=lambda p: p["n"])


def _incremental_and_full(ext: bool = True) -> tuple[TimingEngine, TimingEngine]:
    """An engine as shipped and one that recomputes every derived field and stale verdict on
    every pass, as the reference does; with `ext`, both take `update_car` calls as "ext"
    messages (JSON `[number, changes]`)."""
    inc, full = TimingEngine(1), TimingEngine(1)
    full.enricher.always_full = True
    full.stale.always_full = True
    if ext:
        for e in (inc, full):
            e.register_handler("ext", lambda p, t, e=e: e.update_car(*json.loads(p)))
    return inc, full


def _race(seed: int, messages: int, joins: bool = False) -> None:
    rnd = random.Random(seed)
    ncars = rnd.choice([3, 8, 20, 44])
    ncls = rnd.choice([1, 2, 4])
    nums = [str(i + 1) for i in range(ncars)]
    cls = {n: rnd.randint(1, ncls) for n in nums}
    inc, full = _incremental_and_full()
    now = datetime(2025, 1, 1, 12)
    step = [0]

    def send(kind: str, payload: str) -> None:
        a = inc.apply(kind, payload, session_id=1, received_at=now)
        b = full.apply(kind, payload, session_id=1, received_at=now)
        assert _patches(a) == _patches(b), (seed, step[0], payload)

    def rm(lines: list[str]) -> None:
        send("rmonitor", "\r\n".join(lines) + "\r\n")

    rm([f'$C,{i + 1},"C{i + 1}"' for i in range(ncls)] + ['$F,9999,"00:00:00","12:00:00","00:00:00","Green "']
       + [f'$A,"{n}","{n}",{1000 + int(n)},"D{n}","","USA",{cls[n]}' for n in nums])
    order = nums[:]
    rnd.shuffle(order)
    laps = dict.fromkeys(nums, 0)
    tot = dict.fromkeys(nums, 0)
    best = dict.fromkeys(nums, 0)
    rm([f'$G,{i + 1},"{n}",0,"00:00:00.000"' for i, n in enumerate(order)])
    race = 0

    def cross(n: str, lines: list[str], jump: bool) -> None:
        lap = 60_000 + rnd.choice([0, 0, 1000, 2000, rnd.randint(0, 90_000)])
        laps[n] += 1
        tot[n] += lap
        i = order.index(n)
        if i > 0 and rnd.random() < 0.4:
            j = rnd.randrange(i) if jump else i - 1
            order.insert(j, order.pop(i))
        lines.append(f'$G,{order.index(n) + 1},"{n}",{laps[n]},"{_fmt(tot[n])}"')
        if rnd.random() < 0.8:
            lines.append(f'$J,"{n}","{_fmt(lap)}","{_fmt(tot[n])}"')
        if best[n] == 0 or lap <= best[n] or rnd.random() < 0.05:
            best[n] = lap if rnd.random() < 0.9 else rnd.choice([60_000, 61_000, 0])
            lines.append(f'$H,1,"{n}",{laps[n] if best[n] else 0},"{_fmt(best[n])}"')

    for step[0] in range(messages):
        now += timedelta(seconds=rnd.choice([0.2, 1, 5]))
        race += rnd.randint(500, 3000)
        lines = [f'$F,9999,"00:00:00","12:00:00","{_fmt(race)[:8]}","{rnd.choice(["Green ", "Green ", "Yellow"])}"']
        r = rnd.random()
        if r < 0.5:
            cross(rnd.choice(nums), lines, jump=False)
        elif r < 0.6:
            for n in rnd.sample(nums, min(len(nums), rnd.randint(2, 5))):
                cross(n, lines, jump=True)
            lines += [f'$G,{p + 1},"{m}",{laps[m]},"{_fmt(tot[m])}"' for p, m in enumerate(order)]
        elif r < 0.65 and len(nums) > 2:
            # a position that changes and changes back within the message
            i = rnd.randrange(1, len(nums))
            a, b = order[i - 1], order[i]
            lines += [f'$G,{i + 1},"{a}",{laps[a]},"{_fmt(tot[a])}"', f'$G,{i},"{b}",{laps[b]},"{_fmt(tot[b])}"',
                      f'$G,{i},"{a}",{laps[a]},"{_fmt(tot[a])}"', f'$G,{i + 1},"{b}",{laps[b]},"{_fmt(tot[b])}"']
        elif r < 0.72:
            n = rnd.choice(nums)
            t = rnd.choice([60_000, 61_000, 62_000, 0])
            lines.append(f'$H,1,"{n}",{rnd.randint(1, 5) if t else 0},"{_fmt(t)}"')
        elif r < 0.75:
            n = rnd.choice(nums)
            cls[n] = rnd.randint(1, ncls)
            lines.append(f'$A,"{n}","{n}",{1000 + int(n)},"D{n}","","USA",{cls[n]}')
        elif r < 0.78:
            n = rnd.choice(nums)
            attrs = ["overall_position", "best_time", "total_time", "last_lap_completed"]
            if joins:
                # grid positions beyond the cars joined so far (gains out of range until enough
                # cars join)
                attrs += ["overall_starting_position", "in_class_starting_position"]
            attr = rnd.choice(attrs)
            value = {"overall_position": rnd.randint(1, len(nums)), "best_time": _fmt(rnd.choice([60_000, 0])),
                     "total_time": _fmt(tot[n]), "last_lap_completed": laps[n],
                     "overall_starting_position": rnd.randint(0, len(nums) + 6),
                     "in_class_starting_position": rnd.randint(0, 8)}[attr]
            send("ext", json.dumps([n, {attr: value}]))
        elif joins and r < 0.86:
            # A car joins the running race (the groups take it in without a re-sort), in the
            # same message as its first position, a leader crossing or its own crossing.
            n = str(len(nums) + 1)
            nums.append(n)
            order.append(n)
            cls[n] = rnd.randint(1, ncls)
            laps[n] = tot[n] = best[n] = 0
            lines.append(f'$A,"{n}","{n}",{1000 + int(n)},"D{n}","","USA",{cls[n]}')
            k = rnd.random()
            if k < 0.3:
                tot[n] = race
                lines.append(f'$G,{len(order)},"{n}",0,"{_fmt(race)}"')
            elif k < 0.6:
                cross(order[0], lines, jump=False)
            elif k < 0.8:
                cross(n, lines, jump=True)
        rm(lines)
    assert inc.state_json()["carPositions"] is not None


@pytest.mark.parametrize("seed", range(12))
def test_random_feed_incremental_matches_full_recompute(seed):
    _race(seed, 250)


@pytest.mark.parametrize("seed", range(12))
def test_cars_joining_a_running_race_match_the_full_recompute(seed):
    _race(100 + seed, 250, joins=True)


@pytest.mark.parametrize("seed", range(6))
def test_inputs_changed_again_after_an_enrichment_in_the_same_pass_are_processed_again(seed):
    # A pass can enrich more than once (e.g. Multiloop starting positions, then the end of
    # the pass); Enricher.run() then takes in the pass's earlier changes again.
    rnd = random.Random(seed)
    nums = [str(i + 1) for i in range(6)]
    inc, full = _incremental_and_full(ext=False)

    def steps(e, payload):
        for k, (n, changes) in enumerate(json.loads(payload)):
            if k:
                e._enrich()
            e.update_car(n, changes)

    for e in (inc, full):
        e.register_handler("steps", lambda p, t, e=e: steps(e, p))
    now = datetime(2025, 1, 1, 12)

    def send(kind, payload):
        a = inc.apply(kind, payload, session_id=1, received_at=now)
        b = full.apply(kind, payload, session_id=1, received_at=now)
        assert _patches(a) == _patches(b), (seed, payload)

    send("rmonitor", '$C,1,"A"\r\n$C,2,"B"\r\n'
         + "".join(f'$A,"{n}","{n}",{1000 + int(n)},"D{n}","","USA",{1 + int(n) % 2}\r\n' for n in nums)
         + "".join(f'$G,{i + 1},"{n}",1,"{_fmt(60_000 + 500 * i)}"\r\n' for i, n in enumerate(nums)))
    for _ in range(150):
        batch = []
        for _ in range(rnd.randint(2, 4)):
            n = rnd.choice(nums)
            attr = rnd.choice(["overall_position", "total_time", "last_lap_time", "best_time",
                               "last_lap_completed", "overall_starting_position"])
            value = {"overall_position": rnd.randint(1, 6), "total_time": _fmt(rnd.choice([60_000, 61_000, 62_500])),
                     "last_lap_time": _fmt(rnd.choice([60_000, 90_000, 200_000])),
                     "best_time": _fmt(rnd.choice([59_000, 60_000, 0])), "last_lap_completed": rnd.randint(1, 2),
                     "overall_starting_position": rnd.randint(0, 6)}[attr]
            batch.append([n, {attr: value}])
        send("steps", json.dumps(batch))


def test_a_class_set_by_another_input_recomputes_the_gains_like_the_full_recompute():
    # A new car's first class needs only its own gains (Enricher.add_car); a class set on a
    # car already in the field must still recompute the gains.
    inc, full = _incremental_and_full()
    now = datetime(2025, 1, 1, 12)
    feed = [("rmonitor", '$C,1,"A"\r\n' + "".join(f'$A,"{n}","{n}",{1000 + n},"D{n}","","USA",1\r\n' for n in (1, 2, 3))
             + "".join(f'$G,{n},"{n}",1,"{_fmt(60_000 + n)}"\r\n' for n in (1, 2, 3))),
            ("ext", json.dumps(["1", {"in_class_starting_position": 3}])),
            ("ext", json.dumps(["1", {"car_class": "Z"}]))]

    def gains(e):
        return [(c.number, c.overall_positions_gained, c.in_class_positions_gained, c.is_overall_most_positions_gained,
                 c.is_class_most_positions_gained) for c in e.cars.values()]

    for kind, payload in feed:
        for e in (inc, full):
            e.apply(kind, payload, session_id=1, received_at=now)
        assert gains(inc) == gains(full), payload
    assert inc.cars["1"].in_class_positions_gained != 2  # the class gain did change


def test_a_class_changed_by_another_input_moves_the_car_between_class_groups():
    # update_car is the public way for other inputs to change a car; a new class must re-place
    # the car in the class rankings exactly as a class change from `$A` does.
    grid = ('$C,1,"A"\r\n$C,2,"B"\r\n$F,9999,"00:00:00","12:00:00","00:00:00","Green "\r\n'
            + "".join(f'$A,"{n}","{n}",{1000 + n},"D{n}","","USA",{1 if n <= 3 else 2}\r\n' for n in range(1, 6))
            + "".join(f'$G,{n},"{n}",0,"00:00:00.000"\r\n' for n in range(1, 6)))
    lap = "".join(f'$G,{n},"{n}",1,"{_fmt(60_000 + n * 100)}"\r\n' for n in range(1, 6))
    now = datetime(2025, 1, 1, 12)
    engines = _incremental_and_full(ext=False)
    for e in engines:
        e.apply("rmonitor", grid, session_id=1, received_at=now)
        e.apply("rmonitor", lap, session_id=1, received_at=now)
        assert [e.cars[n].in_class_starting_position for n in "12345"] == [1, 2, 3, 1, 2]
        e.update_car("2", {"car_class": "B"})
        # the in-class grid is renumbered at once, not with some later record
        assert [e.cars[n].in_class_starting_position for n in "12345"] == [1, 1, 2, 2, 3]
        e.apply("rmonitor", '$G,1,"1",2,"00:02:00.500"\r\n', session_id=1, received_at=now)
    for e in engines:
        by_class: dict = {}
        for c in sorted(e.cars.values(), key=lambda c: c.overall_position):
            by_class.setdefault(c.car_class, []).append(c)
        for members in by_class.values():
            assert [c.class_position for c in members] == list(range(1, len(members) + 1))
        assert e.cars["2"].class_position == 1 and e.cars["4"].class_position == 2
        assert e.cars["3"].in_class_gap == e.cars["3"].in_class_difference  # its class leader is now car 1
