"""Small builders for engine tests: feed RMonitor lines and look at cars by number."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from apps.timing.engine import TimingEngine
from apps.timing.engine.replayfile import read_messages, replay

T0 = datetime(2025, 4, 26, 12, 0, 0)
ROOT = Path(__file__).resolve().parents[3]
REDMIST = ROOT / "data" / "recordings" / "redmist"
SEBRING = ROOT / "data" / "recordings" / "sebring-2009"


class Feed:
    """An engine plus a clock that moves 1 s per message, like a live relay."""

    def __init__(self, event_id: int = 1) -> None:
        self.engine = TimingEngine(event_id)
        self.now = T0
        self.results: list[Any] = []

    def send(self, *lines: str, seconds: float = 1.0):
        self.now += timedelta(seconds=seconds)
        r = self.engine.apply("rmonitor", "\r\n".join(lines) + "\r\n", session_id=1, received_at=self.now)
        self.results.append(r)
        return r

    def tick(self, seconds: float = 0.0):
        self.now += timedelta(seconds=seconds)
        return self.engine.tick(self.now)

    def car(self, number: str) -> dict[str, Any]:
        for c in self.engine.state_json()["carPositions"]:
            if c["n"] == number:
                return c
        raise KeyError(number)

    @property
    def state(self) -> dict[str, Any]:
        return self.engine.state_json()


def patch_for(result, number: str) -> dict[str, Any] | None:
    for p in result.car_patches:
        if p["n"] == number:
            return p
    return None


def competitor(reg: str, cls: int = 1, transponder: int | None = None, name: str = "Team") -> str:
    tp = transponder if transponder is not None else 1000 + abs(hash(reg)) % 9000
    return f'$A,"{reg}","{reg}",{tp},"{name} {reg}","","USA",{cls}'


def replay_file(name: str, engine: TimingEngine | None = None, *, mode: str = "auto", tick: bool = True,
                directory: Path = REDMIST, settle_seconds: float = 0.0):
    engine = engine or TimingEngine(1)
    stats = replay(engine, read_messages(directory / name, mode), tick=tick, settle_seconds=settle_seconds)
    return engine, stats


def cars_by_number(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["n"]: c for c in state["carPositions"]}


def replace_record_handler(engine: TimingEngine, record: type, handler: Any) -> None:
    """Swap the handler of one RMonitor record type, on both of the engine's dispatch paths
    (a message's records, and a message holding one record)."""
    engine._record_handlers[record] = handler
    if record in engine._one_record_handlers:
        engine._one_record_handlers[record] = handler


def run_payloads(payloads: list[str], also: Callable[[TimingEngine], Any] | None = None) -> tuple[list, dict, dict]:
    """Apply RMonitor messages 1 s apart to a new engine: each pass's outputs (with `also`'s
    reading of the engine after it), then the final state and the engine's counters (for
    comparing two ways of applying the same feed)."""
    engine = TimingEngine(1)
    out = []
    at = T0
    for p in payloads:
        at += timedelta(seconds=1)
        r = engine.apply("rmonitor", p, session_id=1, received_at=at)
        out.append((r.seq, r.session_patch, r.car_patches, r.rejections,
                    [lap.to_json() for lap in r.completed_laps], None if also is None else also(engine)))
    return out, engine.state_json(), dict(engine.counters)

