"""The engine's one-pass Multiloop path (`apply_text`) against parse_multiloop + apply_multiloop.

`apply_text` applies clean `$C`, `$S` and `$L` lines straight from their split fields and
remembers what each such line read as; these tests feed both paths the same (often malformed,
often repeated) text and require the same state, update and rejections, so a shortcut that
accepted, rejected or read a line differently, or a memo entry that differed from a fresh
read, would fail here.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest

from apps.timing.engine import TimingEngine
from apps.timing.engine.flaglist import Rejection
from apps.timing.engine import multiloop
from apps.timing.engine.multiloop import MultiloopState, apply_multiloop, apply_text, parse_multiloop

D = "\ufffd"

LAP = "$C|U|1|Q1|3|12|1|2A|3E8F0|15F90|T|15F90|1|0|0|0|0|3|15F90|Running|G|1|1E|5|0"
SECTION = "$S|N|1|Q1|12|1|S1|445C0|7530|2A"
CROSSING = "$L|N|1|Q1|12|1|SF|A|3E8F0|G|P"
OTHERS = [
    "$H|N|2F4|Q1|G|685E9B2F|9A0AB|0|D42B4",
    "$I|R|F005A|Q1|??|1|84E|",
    "$N|U|80004|Q1|12|1|45|4CAD63|20",
    "$F|R|5|Q1|K|0|D7108|6|6088A|1|0|1|00|1|81.63",
    "$R|R|4|Q1|Event||Qual 1|Q|685ECBB8",
    "$A|N|F|Q1|2F|A|U|BC6AD080|Some Message",
]


def both(text: str, state_a: MultiloopState | None = None, state_b: MultiloopState | None = None,
         memo: dict | None = None):
    a = state_a if state_a is not None else MultiloopState()
    b = state_b if state_b is not None else MultiloopState()
    items = parse_multiloop(text)
    expected_rejections = [r for r in items if isinstance(r, Rejection)]
    expected = apply_multiloop(a, items)
    rejections: list[Rejection] = []
    got = apply_text(b, text, rejections, memo)
    return (expected, expected_rejections, a), (got, rejections, b)


def mutate(rng: random.Random, line: str) -> str:
    """A sample line with a few random edits: fields emptied, padded, dropped, added or garbled."""
    parts = line.split("|")
    if rng.random() < 0.3:
        parts[3] = "0"  # a preamble that reads as hex, so a check on the wrong field shows
    for _ in range(rng.randint(0, 3)):
        i = rng.randrange(len(parts))
        choice = rng.randrange(10)
        if choice == 0:
            parts[i] = ""
        elif choice == 1:
            parts[i] = " " + parts[i]
        elif choice == 2:
            parts[i] += rng.choice(["G", "x", "-", "_", "\t", "\x00", "\u200b", "\u00e9", "0x1"])
        elif choice == 3 and len(parts) > 1:
            del parts[rng.randrange(1, len(parts))]
        elif choice == 4:
            parts.append(rng.choice(["", "7", "extra"]))
        elif choice == 5:
            parts[i] = rng.choice(["R", "N", "U", "Running", "P", "T", "S2", "??", "0", "FFFF", "ff", "Ab"])
        elif choice == 6:
            parts[i] = rng.choice(["1", "2", "12", "99"])  # car numbers and unique ids that collide
    sep = rng.choice([D, D, D, "\u00a6", "|"])
    text = sep.join(parts)
    if rng.random() < 0.05:
        text = "\ufeff" + text
    if rng.random() < 0.05:
        text += "\r"
    return text


@pytest.mark.parametrize("seed", range(4))
def test_apply_text_matches_parse_and_apply_on_mutated_lap_section_and_crossing_lines(seed):
    rng = random.Random(seed)
    a, b = MultiloopState(), MultiloopState()
    memo: dict = {}
    recent: list[str] = []
    for _ in range(1500):
        lines = [mutate(rng, rng.choice([LAP, LAP, SECTION, SECTION, CROSSING] + OTHERS))
                 for _ in range(rng.randint(1, 5))]
        if recent and rng.random() < 0.5:
            lines += rng.sample(recent, min(len(recent), 3))  # repeats: read from the memo
        recent = (recent + lines)[-20:]
        expected, got = both("\n".join(lines), a, b, memo)
        assert got == expected


def test_clean_lines_take_the_shortcut_and_still_match():
    lines = [LAP, SECTION, SECTION.replace("S1", "S2"), CROSSING, LAP.replace("|1|1E|5|0", "|2|1F|6|1")]
    text = "\n".join(line.replace("|", D) for line in lines)
    expected, got = both(text)
    assert got == expected
    assert expected[2].cars["12"].start_position == 6 and expected[2].cars["12"].sections == {}


def test_a_record_that_fails_to_apply_still_reports_the_later_lines_rejections():
    # A timestamp too large for a datetime makes the announcement applier raise.
    text = "\n".join([u for u in ("$Q bad", "$A|N|1|Q1|2F|A|U|FFFFFFFFFFFFFFFF|x", LAP, "$Z|N|1|Q1")])
    items = parse_multiloop(text)
    with pytest.raises(OverflowError):
        apply_multiloop(MultiloopState(), items)
    rejections: list[Rejection] = []
    with pytest.raises(OverflowError):
        apply_text(MultiloopState(), text, rejections)
    assert rejections == [r for r in items if isinstance(r, Rejection)] and len(rejections) == 2


def test_a_repeated_lap_and_its_sections_read_from_the_memo_give_the_same_state_and_update():
    lines = [LAP, SECTION, SECTION.replace("S1", "S2"), CROSSING]
    text = "\n".join(line.replace("|", D) for line in lines)
    a, b = MultiloopState(), MultiloopState()
    memo: dict = {}
    for _ in range(3):
        expected, got = both(text, a, b, memo)
        assert got == expected
    assert len(memo) == 4
    assert got[0].cars == {"12": {"completed_sections": list(b.cars["12"].sections.values())}}


def test_the_memo_never_holds_more_than_its_limit(monkeypatch):
    monkeypatch.setattr(multiloop, "MEMO_LIMIT", 5)
    memo: dict = {}
    state = MultiloopState()
    for lap in range(1, 20):
        apply_text(state, SECTION.replace("|2A", f"|{lap:X}").replace("|", D), [], memo)
        assert 1 <= len(memo) <= 5
    assert state.cars["12"].sections["S1"].last_lap == 19


def test_the_line_memo_is_not_part_of_the_engine_snapshot():
    eng = TimingEngine(1)
    eng.apply("multiloop", "\n".join(line.replace("|", D) for line in (LAP, SECTION)), session_id=1,
              received_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert len(eng.feeds.multiloop_lines) == 2
    assert "multiloop_lines" not in eng.feeds.snapshot()
    restored = TimingEngine.restore(eng.snapshot())
    assert restored.feeds.multiloop_lines == {}
    assert restored.feeds.multiloop.cars["12"].sections == eng.feeds.multiloop.cars["12"].sections
