#!/bin/bash
# Instructions (valgrind cachegrind) of one replay of FILE through the engine, start-up subtracted.
# Exactly repeatable whatever the machine's load (code-layout noise about +-2M), so small engine
# changes can be judged on a busy machine; confirm with bench/engine_replay.py when it is quiet.
# Needs valgrind (apt install valgrind). Usage: bench/engine_instructions.sh [FILE]
# (default: the RedMist TestSessionChanges capture)
set -euo pipefail
cd "$(dirname "$0")/.."
FILE=${1:-data/recordings/redmist/TestSessionChanges.txt}
PY=${PY:-.venv/bin/python}
export PYTHONHASHSEED=0
count() {
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$PY" - "$FILE" "$1" <<'PYEOF' 2>&1 \
    | awk '/I *refs/ {gsub(",", "", $NF); print $NF}'
import sys
from pathlib import Path
sys.path.insert(0, ".")
from apps.timing.engine import TimingEngine
from apps.timing.engine.replayfile import iter_messages
messages = list(iter_messages(Path(sys.argv[1]).read_text("utf-8-sig")))
engine = TimingEngine(1)
for kind, payload, at, _ in messages[:int(sys.argv[2])]:
    engine.apply(kind, payload, session_id=1, received_at=at)
PYEOF
}
full=$(count 100000000)
base=$(count 0)
echo "$FILE: $(( (full - base) / 1000000 ))M instructions for the replay (reader excluded)"
