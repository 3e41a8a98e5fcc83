"""Reading recorded feeds and replaying them through an engine (no Django needed).

Two layouts exist (data/README.md): blocks headed by `##yyyy-MM-dd HH:mm:ss.fff[|type]`, each
block one relay message; and plain RMonitor lines without timestamps. Plain lines get a
synthetic clock that advances 1 s per `$F` heartbeat, the convention the reference's tests use,
so the 5 s end-of-session check sees roughly every fifth heartbeat.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable, Iterator

__all__ = ["ReplayMessage", "read_messages", "parse_messages", "iter_messages", "one_line_per_message", "group_by_heartbeat",
           "random_chunks", "replay", "ReplayStats", "SYNTHETIC_START"]

SYNTHETIC_START = datetime(2000, 1, 1)


@dataclass(slots=True)
class ReplayMessage:
    kind: str
    payload: str
    received_at: datetime
    timestamped: bool  # False when the clock is synthetic


def _parse_header(text: str) -> tuple[datetime | None, str]:
    stamp, _, kind = text.partition("|")
    try:
        return datetime.fromisoformat(stamp.strip()), (kind.strip() or "rmonitor")
    except ValueError:
        return None, (kind.strip() or "rmonitor")


def parse_messages(text: str, mode: str = "auto") -> list[ReplayMessage]:
    """Split a recording into messages.

    mode "auto": blocks when the text has `##` headers, else one message per line;
    "blocks": header blocks (text before the first header becomes one message per line);
    "lines": every `$` line is its own message and headers are ignored (as the reference's
    end-of-event tests do).
    """
    return [ReplayMessage(k, p, at, ts) for k, p, at, ts in iter_messages(text, mode)]


def iter_messages(text: str, mode: str = "auto") -> Iterator[tuple[str, str, datetime, bool]]:
    """`parse_messages` as a stream of (kind, payload, received_at, timestamped) tuples.

    Replays of long recordings go through here: a tuple per message is several times cheaper
    than a `ReplayMessage`, which matters next to an engine that spends a few µs per record.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if mode == "auto":
        # A header line anywhere: the first line starts with "##", any other follows a "\n".
        mode = "blocks" if text.startswith("##") or "\n##" in text else "lines"
    if mode != "lines" and text.startswith("##"):
        # The usual capture layout splits on its headers: a list of all the lines (a third of
        # the reader's time on a 3 MB capture) is only built for the other layouts.
        return _iter_header_blocks(text)
    lines = text.split("\n")
    if mode == "lines":
        return _iter_lines(lines)
    return _iter_blocks(lines)


def _iter_lines(lines: list[str]) -> Iterator[tuple[str, str, datetime, bool]]:
    clock = SYNTHETIC_START
    second = timedelta(seconds=1)
    for raw in lines:
        line = raw.strip()
        if line[:1] != "$":
            line = line.lstrip("\ufeff")
            if line[:1] != "$":
                continue
        if line[:2] == "$F":
            clock += second
        yield "rmonitor", line, clock, False


class _SyntheticClock:
    """1 s per `$F` heartbeat, for blocks without a readable timestamp."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = SYNTHETIC_START

    def at(self, payload: str) -> datetime:
        if payload.lstrip().startswith("$F"):
            self.now += timedelta(seconds=1)
        return self.now


def _iter_header_blocks(text: str) -> Iterator[tuple[str, str, datetime, bool]]:
    # The common capture layout: every block starts with a header line.
    clock = _SyntheticClock()
    fromiso = datetime.fromisoformat
    blocks = text.split("\n##")
    blocks[0] = blocks[0][2:]  # the text starts with a header (no copy of the whole text to drop it)
    for block in blocks:
        head, _, payload = block.partition("\n")
        if not payload or payload.isspace():
            continue
        if "|" not in head:
            try:
                yield "rmonitor", payload, fromiso(head), True
                continue
            except ValueError:
                pass  # blanks around the timestamp, or none: the general header parse below
        stamp, kind = _parse_header(head)
        if stamp is None:
            yield kind, payload, clock.at(payload), False
        else:
            yield kind, payload, stamp, True


def _iter_blocks(lines: list[str]) -> Iterator[tuple[str, str, datetime, bool]]:
    clock = _SyntheticClock()
    header: tuple[datetime | None, str] | None = None
    body: list[str] = []
    for raw in lines:
        stripped = raw.strip().lstrip("\ufeff")
        if stripped.startswith("##"):
            if header is not None:
                yield from _block(header, body, clock)
            header = _parse_header(stripped[2:])
            body = []
        elif header is None:
            if stripped.startswith("$"):
                yield "rmonitor", stripped, clock.at(stripped), False
        else:
            body.append(raw)
    if header is not None:
        yield from _block(header, body, clock)


def _block(header: tuple[datetime | None, str], body: list[str],
           clock: _SyntheticClock) -> Iterator[tuple[str, str, datetime, bool]]:
    payload = "\n".join(body)
    if payload.strip():
        stamp, kind = header
        if stamp is None:
            yield kind, payload, clock.at(payload), False
        else:
            yield kind, payload, stamp, True


def read_messages(path: str | Path, mode: str = "auto") -> list[ReplayMessage]:
    data = Path(path).read_bytes()
    return parse_messages(data.decode("utf-8-sig", errors="replace"), mode)


def one_line_per_message(messages: Iterable[ReplayMessage]) -> list[ReplayMessage]:
    out = []
    for m in messages:
        for line in m.payload.split("\n"):
            if line.strip():
                out.append(ReplayMessage(m.kind, line, m.received_at, m.timestamped))
    return out


def group_by_heartbeat(messages: Iterable[ReplayMessage]) -> list[ReplayMessage]:
    """Regroup a plain line stream into one message per heartbeat second (each `$F` starts a new
    message), the way a relay reading the timing system's socket would forward bursts."""
    out: list[ReplayMessage] = []
    lines: list[str] = []
    last: ReplayMessage | None = None
    for m in messages:
        if m.payload.lstrip()[:2] == "$F" and lines and last is not None:
            out.append(ReplayMessage(last.kind, "\n".join(lines), last.received_at, last.timestamped))
            lines = []
        lines.append(m.payload)
        last = m
    if lines and last is not None:
        out.append(ReplayMessage(last.kind, "\n".join(lines), last.received_at, last.timestamped))
    return out


def random_chunks(messages: Iterable[ReplayMessage], seed: int, max_lines: int = 40) -> list[ReplayMessage]:
    """Regroup the lines into messages of random size (line boundaries are kept)."""
    rng = random.Random(seed)
    lines: list[tuple[str, datetime, bool]] = []
    for m in messages:
        for line in m.payload.split("\n"):
            if line.strip():
                lines.append((line, m.received_at, m.timestamped))
    out = []
    i = 0
    while i < len(lines):
        n = rng.randint(1, max_lines)
        chunk = lines[i:i + n]
        out.append(ReplayMessage("rmonitor", "\n".join(c[0] for c in chunk), chunk[-1][1], chunk[-1][2]))
        i += n
    return out


@dataclass(slots=True)
class ReplayStats:
    messages: int = 0
    records: int = 0
    finalized_sessions: int = 0
    finished_states: list | None = None
    completed_laps: int = 0
    resets: int = 0


def replay(engine, messages: Iterable[ReplayMessage], *, tick: bool = True, settle_seconds: float = 0.0,
           keep_finished: bool = True, progress: Callable[[int], None] | None = None,
           pace: Callable[[datetime], None] | None = None) -> ReplayStats:
    """Drive `engine` like the live worker: apply each message, then let time-based rules run.

    `settle_seconds` keeps ticking after the last message, as the live worker does when the
    feed goes quiet (a stopped clock then ends a finished session).
    """
    stats = ReplayStats(finished_states=[] if keep_finished else None)
    last: datetime | None = None
    for i, m in enumerate(messages):
        if pace is not None:
            pace(m.received_at)  # the caller sleeps here for real-time replays
        r = engine.apply(m.kind, m.payload, session_id=engine.session.session_id, received_at=m.received_at)
        stats.messages += 1
        _collect(stats, r)
        if tick:
            _collect(stats, engine.tick(m.received_at))
        last = m.received_at
        if progress is not None and i % 500 == 0:
            progress(i)
    if tick and last is not None and settle_seconds > 0:
        step = timedelta(seconds=5)
        t = last
        while t - last < timedelta(seconds=settle_seconds):
            t += step
            _collect(stats, engine.tick(t))
    return stats


def _collect(stats: ReplayStats, r) -> None:
    if r.finished_session is not None:
        stats.finalized_sessions += 1
        if stats.finished_states is not None:
            stats.finished_states.append(r.finished_session)
    stats.completed_laps += len(r.completed_laps)
    if r.reset:
        stats.resets += 1


def iter_records(messages: Iterable[ReplayMessage]) -> Iterator[str]:
    for m in messages:
        for line in m.payload.split("\n"):
            line = line.strip().lstrip("\ufeff")
            if line:
                yield line


def replay_files(paths: Iterable[str | Path], engine=None, *, settle_seconds: float = 0.0,
                 progress: Callable[[str, int, int], None] | None = None,
                 pace: Callable[[datetime], None] | None = None):
    """Replay several recordings in order into one engine (e.g. entries, grid, then the start)."""
    if engine is None:
        from .engine import TimingEngine
        engine = TimingEngine(1)
    total = ReplayStats(finished_states=[])
    for path in paths:
        messages = read_messages(path)
        n = len(messages)
        cb = (lambda i, _p=str(path), _n=n: progress(_p, i, _n)) if progress is not None else None
        st = replay(engine, messages, settle_seconds=settle_seconds, progress=cb, pace=pace)
        if progress is not None:
            progress(str(path), n, n)
        total.messages += st.messages
        total.finalized_sessions += st.finalized_sessions
        total.completed_laps += st.completed_laps
        total.resets += st.resets
        total.finished_states.extend(st.finished_states or [])
    return engine, total
