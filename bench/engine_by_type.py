"""Where the engine's time goes: wall time per message type, best of three replays.

Each message is keyed by the record types it holds (`$G+$H` for a two-record message, `multi`
for more than three records); a `perf_counter` pair around every `TimingEngine.apply()` adds
about 0.1 µs to each figure.

Usage: .venv/bin/python bench/engine_by_type.py [FILE ...]
"""

from __future__ import annotations

import gc
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apps.timing.engine import TimingEngine  # noqa: E402
from apps.timing.engine.replayfile import iter_messages  # noqa: E402

DEFAULT_FILES = [ROOT / "data/recordings/redmist/TestSessionChanges.txt",
                 ROOT / "data/recordings/sebring-2009/2009_Sebring_ALMS_Session_5.txt"]


def message_key(payload: str) -> str:
    lines = [line.strip() for line in payload.strip().split("\n") if line.strip()]
    if len(lines) > 3:
        return "multi"
    return "+".join(sorted({line.split(",")[0] for line in lines}))


def by_type(path: Path, rounds: int = 3) -> tuple[float, dict[str, float], dict[str, int]]:
    messages = list(iter_messages(path.read_text("utf-8-sig")))
    keys = [message_key(payload) for _, payload, _, _ in messages]
    best: tuple[float, dict[str, float], dict[str, int]] | None = None
    for _ in range(rounds):
        engine = TimingEngine(1)
        spent: dict[str, float] = defaultdict(float)
        count: dict[str, int] = defaultdict(int)
        clock = time.perf_counter
        gc.collect()
        for (kind, payload, received_at, _), key in zip(messages, keys):
            t0 = clock()
            engine.apply(kind, payload, session_id=1, received_at=received_at)
            spent[key] += clock() - t0
            count[key] += 1
        total = sum(spent.values())
        if best is None or total < best[0]:
            best = (total, dict(spent), dict(count))
    assert best is not None
    return best


def main(argv: list[str]) -> int:
    for path in [Path(a) for a in argv] or DEFAULT_FILES:
        total, spent, count = by_type(path)
        print(f"{path.name}: {total * 1e3:.1f} ms over {sum(count.values())} messages")
        for key in sorted(spent, key=lambda k: -spent[k])[:14]:
            print(f"  {key:22} n={count[key]:6d}  total={spent[key] * 1e3:6.1f} ms  "
                  f"per message={spent[key] / count[key] * 1e6:6.2f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
