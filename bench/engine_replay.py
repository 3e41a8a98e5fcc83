"""Replay throughput of the timing engine against a read-and-split baseline.

Both methods run in one process, taking turns for several rounds; each keeps its best time.
Times are process CPU time (time.process_time), which is steadier than wall time on a shared
machine; on an idle machine the two agree.
Rates are RMonitor records per second, end to end from opening the file, as method A of the
performance anchors (/work/shared/notes/engine-perf-anchors.md) measures them:

- baseline: read the file as UTF-8 text (universal newlines), split into lines, drop `##` headers
  and blanks, `line.split(',')`;
- engine: the same read, then the replay reader builds relay messages and every message goes
  through `TimingEngine.apply()` (parse, state, enrichment, patches, lap records).

`--load bytes` starts both from the file's bytes already in memory instead (decode included),
which leaves the file read out of both: the figures of sessions 1-5.

Multiloop case (`--multiloop`): the same files with a synthetic Orbits Multiloop feed for the
same cars interleaved (after each RMonitor message with `$G` lap updates: one `$C` completed lap
and two `$S` sections per car, plus a `$L` crossing every 10th lap), as a Multiloop timing
system would send it. The Multiloop messages are generated before the timed runs (a second
input on its own socket); the RMonitor side is read from the file as in the RMonitor-only case.
Rates there count RMonitor and Multiloop records together, and the last column compares them
with the RMonitor-only engine rate (the done-criterion: within 20 %).

Usage: .venv/bin/python bench/engine_replay.py [--rounds 5] [--multiloop] [--load file|bytes] [FILE ...]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apps.timing.engine import TimingEngine  # noqa: E402
from apps.timing.engine.replayfile import ReplayMessage, group_by_heartbeat, iter_messages  # noqa: E402

DEFAULT_FILES = [
    ROOT / "data/recordings/redmist/TestSessionChanges.txt",
    ROOT / "data/recordings/sebring-2009/2009_Sebring_ALMS_Session_4.txt",
    ROOT / "data/recordings/sebring-2009/2009_Sebring_ALMS_Session_4_Lites.txt",
    ROOT / "data/recordings/sebring-2009/2009_Sebring_ALMS_Session_5.txt",
]


LOAD = "file"
_BYTES: dict[Path, bytes] = {}  # --load bytes: each file's bytes, read before the timed runs


def load(path: Path) -> str:
    """The recording's text, inside the timed run: read from the file (method A), or decoded
    from its bytes in memory (--load bytes)."""
    if LOAD == "file":
        with open(path, encoding="utf-8-sig") as f:
            return f.read()
    data = _BYTES.get(path)
    if data is None:
        data = _BYTES[path] = path.read_bytes()
    return data.decode("utf-8-sig")


def baseline(path: Path) -> int:
    n = 0
    for line in load(path).splitlines():
        if line and not line.startswith("##"):
            line.split(",")
            n += 1
    return n


GROUP = False


def engine_run(path: Path) -> int:
    eng = TimingEngine(1)
    apply = eng.apply
    n = 0
    for kind, payload, received_at, _ in _messages(load(path)):
        apply(kind, payload, session_id=1, received_at=received_at)
        n += 1
    return n


D = "\ufffd"  # the delimiter Multiloop reaches the engine with


def multiloop_for(payload: str, grid: dict[str, int]) -> list[str]:
    """Multiloop lines for the `$G` lap updates in one RMonitor message (`grid`: start positions)."""
    out: list[str] = []
    for line in payload.split("\n"):
        if not line.startswith("$G,"):
            continue
        parts = line.strip().split(",")
        if len(parts) < 5:
            continue
        try:
            pos, number, laps = int(parts[1]), parts[2].strip('"'), int(parts[3] or 0)
        except ValueError:
            continue
        if laps <= 0:
            continue
        ms = laps * 90_000 + pos * 500
        start = grid.setdefault(number, len(grid) + 1)
        out.append(f"$C{D}U{D}1{D}Q1{D}{pos:X}{D}{number}{D}1{D}{laps:X}{D}{ms:X}{D}15F90{D}T{D}15F90{D}1{D}0{D}0"
                   f"{D}0{D}0{D}{pos:X}{D}15F90{D}Running{D}G{D}{laps // 30:X}{D}{laps // 30 * 30:X}{D}{start:X}{D}0")
        out.append(f"$S{D}N{D}1{D}Q1{D}{number}{D}1{D}S1{D}{ms + 30000:X}{D}7530{D}{laps:X}")
        out.append(f"$S{D}N{D}1{D}Q1{D}{number}{D}1{D}S2{D}{ms + 60000:X}{D}7530{D}{laps:X}")
        if laps % 10 == 0:
            out.append(f"$L{D}N{D}1{D}Q1{D}{number}{D}1{D}SF{D}A{D}{ms:X}{D}G{D}{'P' if laps % 20 == 0 else 'T'}")
    return out


MULTILOOP = False
_ML_FEED: dict[tuple[Path, str], list[str | None]] = {}


def multiloop_feed(path: Path) -> list[str | None]:
    """Per RMonitor message (in replay order), the Multiloop message that follows it, or None.

    Generated once, outside the timed runs: it stands for a second input arriving on its own
    socket, so only applying it is timed, while the RMonitor side is read from the file as in
    the RMonitor-only case.
    """
    feed = _ML_FEED.get((path, LOAD))
    if feed is None:
        grid: dict[str, int] = {}
        feed = []
        for m in _messages(load(path)):
            lines = multiloop_for(m[1], grid) if "$G" in m[1] else []
            feed.append("\n".join(lines) if lines else None)
        feed = _ML_FEED[(path, LOAD)] = feed
    return feed


def _messages(text: str):
    stream = iter_messages(text)
    if not GROUP:
        return stream
    first = next(stream, None)
    if first is None or first[3]:
        # Timestamped captures already hold the relay's own messages: read them as in the
        # default mode (going through ReplayMessage objects would only time a slower reader).
        return stream if first is None else itertools.chain((first,), stream)
    messages = [ReplayMessage(*first)] + [ReplayMessage(*m) for m in stream]
    return [(m.kind, m.payload, m.received_at, m.timestamped) for m in group_by_heartbeat(messages)]


def engine_multiloop_run(path: Path) -> int:
    feed = multiloop_feed(path)
    eng = TimingEngine(1)
    apply = eng.apply
    n = 0
    for (kind, payload, received_at, _), ml in zip(_messages(load(path)), feed):
        apply(kind, payload, session_id=1, received_at=received_at)
        if ml is not None:
            apply("multiloop", ml, session_id=1, received_at=received_at)
        n += 1
    return n


def count_records(path: Path) -> int:
    return sum(1 for l in load(path).splitlines() if l.strip() and not l.startswith("##"))


def bench(path: Path, rounds: int, profile: bool = False) -> dict:
    records = count_records(path)
    best = {"baseline": float("inf"), "engine": float("inf"), "multiloop": float("inf")}
    cases = [("baseline", baseline), ("engine", engine_run)]
    ml_records = 0
    if MULTILOOP:
        cases.append(("multiloop", engine_multiloop_run))
        ml_records = sum(len(p.split("\n")) for p in multiloop_feed(path) if p is not None)
    for _ in range(rounds):
        for name, fn in cases:
            gc.collect()
            t0 = time.process_time()
            fn(path)
            dt = time.process_time() - t0
            best[name] = min(best[name], dt)
    if profile:
        import cProfile
        import pstats
        pr = cProfile.Profile()
        pr.runcall(engine_run, path)
        pstats.Stats(pr).sort_stats("tottime").print_stats(15)
    out = {"file": path.name, "records": records,
           "baseline_rps": records / best["baseline"], "engine_rps": records / best["engine"]}
    if MULTILOOP:
        out["ml_records"] = ml_records
        out["multiloop_rps"] = (records + ml_records) / best["multiloop"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path, default=DEFAULT_FILES)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="cProfile one engine run per file")
    ap.add_argument("--group-heartbeat", action="store_true",
                    help="plain-line files: one message per heartbeat second instead of one per line")
    ap.add_argument("--multiloop", action="store_true",
                    help="also replay each file with a synthetic Multiloop feed for the same cars interleaved")
    ap.add_argument("--load", choices=("both", "file", "bytes"), default="both",
                    help="file: time from opening the file (method A); bytes: from its bytes in memory; "
                         "both (default): one table each")
    args = ap.parse_args(argv)
    global GROUP, MULTILOOP, LOAD
    GROUP = args.group_heartbeat
    MULTILOOP = args.multiloop
    mode = "plain files: one message per heartbeat" if GROUP else "plain files: one message per line"
    print(f"Python {sys.version.split()[0]}, best of {args.rounds} rounds, records/s end to end ({mode})")
    for LOAD in (("file", "bytes") if args.load == "both" else (args.load,)):
        start = ("from opening the file (method A of the performance anchors)" if LOAD == "file"
                 else "from the file's bytes in memory (the file read left out of both)")
        print(f"\n{start}")
        _table(args)
    return 0


def _table(args: argparse.Namespace) -> None:
    print(f"{'file':45} {'records':>8} {'baseline':>12} {'engine':>12} {'engine/baseline':>16}")
    total_rec = total_b = total_e = 0.0
    results = []
    for f in args.files:
        r = bench(f, args.rounds, args.profile)
        results.append(r)
        ratio = r["engine_rps"] / r["baseline_rps"]
        print(f"{r['file']:45} {r['records']:8d} {r['baseline_rps']:12,.0f} {r['engine_rps']:12,.0f} {ratio:15.1%}")
        total_rec += r["records"]
        total_b += r["records"] / r["baseline_rps"]
        total_e += r["records"] / r["engine_rps"]
    print(f"{'all files':45} {int(total_rec):8d} {total_rec / total_b:12,.0f} {total_rec / total_e:12,.0f} "
          f"{(total_rec / total_e) / (total_rec / total_b):15.1%}")
    if MULTILOOP:
        print("\nwith Multiloop interleaved (RMonitor + Multiloop records per second)")
        print(f"{'file':45} {'ML recs':>8} {'rmonitor':>12} {'+multiloop':>12} {'vs rmonitor':>16}")
        for r in results:
            ratio = r["multiloop_rps"] / r["engine_rps"]
            print(f"{r['file']:45} {r['ml_records']:8d} {r['engine_rps']:12,.0f} {r['multiloop_rps']:12,.0f} "
                  f"{ratio:15.1%}")
        all_ml = sum(r["ml_records"] for r in results)
        t_ml = sum((r["records"] + r["ml_records"]) / r["multiloop_rps"] for r in results)
        print(f"{'all files':45} {all_ml:8d} {total_rec / total_e:12,.0f} {(total_rec + all_ml) / t_ml:12,.0f} "
              f"{((total_rec + all_ml) / t_ml) / (total_rec / total_e):15.1%}")


if __name__ == "__main__":
    raise SystemExit(main())
