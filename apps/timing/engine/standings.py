"""A plain-text standings table from a SessionState JSON (for the replay command and logs)."""

from __future__ import annotations

from typing import Any

from .timefmt import parse_ms

__all__ = ["standings_rows", "standings_table"]

COLUMNS = ("pos", "cls", "car", "name", "class", "laps", "last", "best", "gap", "diff")


def _clock(value: str | None) -> str:
    # "00:02:23.425" reads better as "2:23.425" in a table; a zero time is no time.
    ms = parse_ms(value)
    if ms <= 0:
        return ""
    secs, fff = divmod(ms, 1000)
    h, rest = divmod(secs, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}.{fff:03d}" if h else f"{m}:{sec:02d}.{fff:03d}"


def standings_rows(state: dict[str, Any]) -> list[tuple[str, ...]]:
    names = {e["no"]: e["nm"] for e in state.get("eventEntries", [])}
    cars = sorted(state.get("carPositions", []), key=lambda c: (c["ovp"] <= 0, c["ovp"], c["n"] or ""))
    rows = []
    for c in cars:
        rows.append((str(c["ovp"] or ""), str(c["clp"] or ""), c["n"] or "", names.get(c["n"], "")[:28],
                     c["class"] or "", str(c["llp"]), _clock(c["ltm"]), _clock(c["bt"]),
                     c["og"] or "", c["od"] or ""))
    return rows


def standings_table(state: dict[str, Any]) -> str:
    rows = [COLUMNS] + standings_rows(state)
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    right = {0, 1, 5}
    lines = []
    for r in rows:
        cells = [r[i].rjust(widths[i]) if i in right else r[i].ljust(widths[i]) for i in range(len(COLUMNS))]
        lines.append("  ".join(cells).rstrip())
    head = f"Session {state.get('sessionId')} {state.get('sessionName', '')!s} - flag {state.get('currentFlag')}"
    return head + "\n" + "\n".join(lines)
