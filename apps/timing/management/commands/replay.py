"""Replay recorded timing feeds through the engine and print the final standings."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from apps.timing.engine.replayfile import replay_files
from apps.timing.engine.standings import standings_table


class Command(BaseCommand):
    help = "Replay RMonitor recordings (## blocks or plain lines) and print the final standings."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", help="recordings, replayed in order into one engine")
        pace = parser.add_mutually_exclusive_group()
        pace.add_argument("--speed", type=float, default=None, help="replay at N x real time")
        pace.add_argument("--max", action="store_true", help="as fast as possible (default)")
        parser.add_argument("--json", dest="json_out", default=None, help="write the final state JSON here")
        parser.add_argument("--event-id", type=int, default=1)
        parser.add_argument("--settle", type=float, default=0.0,
                            help="keep ticking N seconds after the last message (ends finished sessions)")

    def handle(self, *args, **opts):
        from apps.timing.engine import TimingEngine

        pace = _pacer(opts["speed"]) if opts["speed"] else None
        bar = _ProgressBar(sys.stderr)
        try:
            engine, stats = replay_files(opts["files"], TimingEngine(opts["event_id"]), settle_seconds=opts["settle"],
                                         progress=bar.update, pace=pace)
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        bar.done()
        state = engine.state_json()
        self.stdout.write(standings_table(state))
        self.stdout.write(f"\n{stats.messages} messages, {stats.completed_laps} laps logged, "
                          f"{stats.finalized_sessions} sessions finalized, {engine.rejection_count} records rejected")
        if opts["json_out"]:
            with open(opts["json_out"], "w", encoding="utf-8") as fh:
                json.dump(state, fh, indent=1, default=str)


def _pacer(speed: float):
    start: list[float | datetime] = []

    def pace(at: datetime) -> None:
        if not start:
            start.extend([time.monotonic(), at])
            return
        due = start[0] + (at - start[1]).total_seconds() / speed
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return pace


class _ProgressBar:
    def __init__(self, stream) -> None:
        self.stream = stream
        self.shown = False

    def update(self, name: str, i: int, n: int) -> None:
        if n < 2000 or not self.stream.isatty() and i not in (0, n):
            return  # short files need no bar; logs get start and end only
        width = 30
        done = int(width * i / max(n, 1))
        self.stream.write(f"\r{name[-40:]:40} [{'#' * done}{'.' * (width - done)}] {i * 100 // max(n, 1):3d}%")
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            self.stream.write("\n")
