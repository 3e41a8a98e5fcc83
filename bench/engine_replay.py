"""Replay throughput of the timing engine against a read-and-split baseline.

Both methods run in one process, taking turns for several rounds; each keeps its best time.
Times are process CPU time (time.process_time), which is steadier than wall time on a shared
machine; on an idle machine the two agree.
Rates are RMonitor records per second, end to end from the file's bytes:

- baseline: decode, split into lines, drop `##` headers and blanks, `line.split(',')`;
- engine: the same read, then the replay reader builds relay messages and every message goes
  through `TimingEngine.apply()` (parse, state, enrichment, patches, lap records).

Usage: .venv/bin/python bench/engine_replay.py [--rounds 5] [FILE ...]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apps.timing.engine import TimingEngine  # noqa: E402
from apps.timing.engine.replayfile import group_by_heartbeat, parse_messages  # noqa: E402

DEFAULT_FILES = [
    ROOT / "data/recordings/redmist/TestSessionChanges.txt",
    ROOT / "data/recordings/sebring-2009/2009_Sebring_ALMS_Session_4.txt",
    ROOT / "data/recordings/sebring-2009/2009_Sebring_ALMS_Session_4_Lites.txt",
    ROOT / "data/recordings/sebring-2009/2009_Sebring_ALMS_Session_5.txt",
]


def baseline(data: bytes) -> int:
    n = 0
    for line in data.decode("utf-8-sig").splitlines():
        if line and not line.startswith("##"):
            line.split(",")
            n += 1
    return n


GROUP = False


def engine_run(data: bytes) -> int:
    messages = parse_messages(data.decode("utf-8-sig"))
    if GROUP and not messages[0].timestamped:
        messages = group_by_heartbeat(messages)
    eng = TimingEngine(1)
    apply = eng.apply
    for m in messages:
        apply(m.kind, m.payload, session_id=1, received_at=m.received_at)
    return len(messages)


def count_records(data: bytes) -> int:
    return sum(1 for l in data.decode("utf-8-sig").splitlines() if l.strip() and not l.startswith("##"))


def bench(path: Path, rounds: int, profile: bool = False) -> dict:
    data = path.read_bytes()
    records = count_records(data)
    best = {"baseline": float("inf"), "engine": float("inf")}
    for _ in range(rounds):
        for name, fn in (("baseline", baseline), ("engine", engine_run)):
            gc.collect()
            t0 = time.process_time()
            fn(data)
            dt = time.process_time() - t0
            best[name] = min(best[name], dt)
    if profile:
        import cProfile
        import pstats
        pr = cProfile.Profile()
        pr.runcall(engine_run, data)
        pstats.Stats(pr).sort_stats("tottime").print_stats(15)
    return {"file": path.name, "records": records,
            "baseline_rps": records / best["baseline"], "engine_rps": records / best["engine"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path, default=DEFAULT_FILES)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="cProfile one engine run per file")
    ap.add_argument("--group-heartbeat", action="store_true",
                    help="plain-line files: one message per heartbeat second instead of one per line")
    args = ap.parse_args(argv)
    global GROUP
    GROUP = args.group_heartbeat
    mode = "plain files: one message per heartbeat" if GROUP else "plain files: one message per line"
    print(f"Python {sys.version.split()[0]}, best of {args.rounds} rounds, records/s end to end ({mode})")
    print(f"{'file':45} {'records':>8} {'baseline':>12} {'engine':>12} {'engine/baseline':>16}")
    total_rec = total_b = total_e = 0.0
    for f in args.files:
        r = bench(f, args.rounds, args.profile)
        ratio = r["engine_rps"] / r["baseline_rps"]
        print(f"{r['file']:45} {r['records']:8d} {r['baseline_rps']:12,.0f} {r['engine_rps']:12,.0f} {ratio:15.1%}")
        total_rec += r["records"]
        total_b += r["records"] / r["baseline_rps"]
        total_e += r["records"] / r["engine_rps"]
    print(f"{'all files':45} {int(total_rec):8d} {total_rec / total_b:12,.0f} {total_rec / total_e:12,.0f} "
          f"{(total_rec / total_e) / (total_rec / total_b):15.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
