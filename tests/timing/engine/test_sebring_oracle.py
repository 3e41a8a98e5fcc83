"""The feed is its own oracle: after replay, every car matches the timing system's last word.

For each run in each Sebring 2009 recording, the state the engine finalized for that run (or the
final state for the last run) must give every car the overall position and laps of the last
`$G` the feed sent for it in that run, and the best lap and time of the last `$H`.
"""

import pytest

from apps.timing.engine import TimingEngine
from apps.timing.engine.replayfile import iter_records, read_messages, replay
from apps.timing.engine.rmonitor import PracticeInfo, RaceInfo, RunInfo, parse_line

from .helpers import SEBRING

FILES = ["2009_Sebring_ALMS_Session_4.txt", "2009_Sebring_ALMS_Session_4_Lites.txt",
         "2009_Sebring_ALMS_Session_5.txt", "Orbits_Mock_Session.txt"]


def feed_truth(messages):
    """Per run (in order): {reg: last $G}, {reg: last $H}, for cars the feed had named (by
    `$A`/`$COMP`, since the last `$I`) when it sent that last record."""
    runs = []
    current = None
    named: set[str] = set()
    for line in iter_records(messages):
        rec = parse_line(line)
        if line.startswith("$I"):
            named = set()
        elif line.startswith("$A") or line.startswith("$COMP"):
            named.add(rec.reg)
        if isinstance(rec, RunInfo) and (current is None or rec.run_number != current[0]):
            current = (rec.run_number, {}, {})
            runs.append(current)
        elif current is None:
            continue
        elif isinstance(rec, RaceInfo):
            current[1][rec.reg] = rec if rec.reg in named else None
        elif isinstance(rec, PracticeInfo):
            current[2][rec.reg] = rec if rec.reg in named else None
    return runs


@pytest.mark.parametrize("name", FILES)
def test_every_car_ends_each_run_with_the_feeds_last_race_and_practice_info(name):
    messages = read_messages(SEBRING / name)
    engine = TimingEngine(1)
    stats = replay(engine, messages)
    runs = feed_truth(messages)
    # each run change finalizes the outgoing run; the last run is still open (live state)
    states = []
    for s in [s for s in stats.finished_states if s["sessionId"] != 0] + [engine.state_json()]:
        if states and states[-1]["sessionId"] == s["sessionId"]:
            states[-1] = s  # finalized at the checkered, then again at the run change: keep the last
        else:
            states.append(s)
    assert [s["sessionId"] for s in states] == [r[0] for r in runs]
    checked = 0
    for (run, last_g, last_h), state in zip(runs, states):
        cars = {c["n"]: c for c in state["carPositions"]}
        for reg, g in last_g.items():
            if g is None:
                continue  # the last word came before the feed named the car
            car = cars[reg]
            assert (car["ovp"], car["llp"]) == (g.position, g.laps), (run, reg)
            checked += 1
        for reg, h in last_h.items():
            if h is None:
                continue
            assert (cars[reg]["bl"], cars[reg]["bt"]) == (h.best_lap, h.best_time), (run, reg)
    assert checked >= 6
