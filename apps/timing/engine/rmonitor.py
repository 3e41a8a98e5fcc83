"""RMonitor (Orbits "Result Monitor") records: tokenising and typed parsing.

One place turns a text line into a typed record or a `Rejection` carrying the reason. Nothing
here raises on bad input. Unlike the reference, fields are split as CSV, so a quoted name that
contains a comma stays one field.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any, Callable, Union

__all__ = [
    "Heartbeat", "Competitor", "CompetitorExt", "RunInfo", "ClassInfo", "Setting", "RaceInfo",
    "PracticeInfo", "Init", "Passing", "Corrected", "LineCrossing", "TrackInfo", "Rejection",
    "Record", "parse_line", "split_fields", "split_message", "LineParser", "heartbeat_values",
    "passing_record", "line_crossing_record",
]


@dataclass(slots=True)
class Heartbeat:  # $F
    laps_to_go: int
    time_to_go: str
    time_of_day: str
    race_time: str
    flag_text: str


@dataclass(slots=True)
class Competitor:  # $A
    reg: str
    number: str
    transponder: int | None  # None: unparsable, keep the previous value
    first_name: str
    last_name: str
    nationality: str
    class_no: int | None


@dataclass(slots=True)
class CompetitorExt:  # $COMP
    reg: str
    number: str
    class_no: int | None
    first_name: str
    last_name: str
    nationality: str
    additional: str


@dataclass(slots=True)
class RunInfo:  # $B
    run_number: int
    name: str


@dataclass(slots=True)
class ClassInfo:  # $C
    class_no: int
    name: str


@dataclass(slots=True)
class Setting:  # $E
    description: str
    value: str


@dataclass(slots=True)
class RaceInfo:  # $G
    position: int
    reg: str
    laps: int
    total_time: str


@dataclass(slots=True)
class PracticeInfo:  # $H
    position: int
    reg: str
    best_lap: int
    best_time: str


@dataclass(slots=True)
class Init:  # $I
    time_of_day: str
    date: str


@dataclass(slots=True)
class Passing:  # $J
    reg: str
    lap_time: str
    total_time: str


@dataclass(slots=True)
class Corrected:  # $COR
    reg: str
    number: str
    laps: int
    total_time: str
    correction: str


@dataclass(slots=True)
class LineCrossing:  # $L (IMSA enhanced)
    reg: str
    line: str
    status: str
    date: str
    time: str


@dataclass(slots=True)
class TrackInfo:  # $T (IMSA enhanced)
    name: str
    short_name: str
    distance: str
    sections: tuple[str, ...]


@dataclass(slots=True)
class Rejection:
    reason: str
    line: str


Record = Union[Heartbeat, Competitor, CompetitorExt, RunInfo, ClassInfo, Setting, RaceInfo,
               PracticeInfo, Init, Passing, Corrected, LineCrossing, TrackInfo]


def split_message(payload: str) -> list[str]:
    """Records of one relay message: split on LF, trim (handles CR, CRCRLF, BOM), drop blanks."""
    if payload.startswith("\ufeff"):
        payload = payload[1:]
    if "\n" not in payload.rstrip():
        # Most relay messages carry one record: skip the general loop.
        one = payload.strip()
        return [one] if one else []
    out = []
    for piece in payload.split("\n"):
        piece = piece.strip()
        if piece:
            if piece[0] == "\ufeff":
                piece = piece[1:].strip()
                if not piece:
                    continue
            out.append(piece)
    return out


def split_fields(line: str) -> list[str]:
    """Split one record into unquoted fields (CSV rules, quotes and outer spaces removed)."""
    if '"' in line:
        segs = line.split('"')
        # Odd segments are inside quotes. Only a comma in one of them needs a real CSV reader;
        # it is rare, so the common path is plain string operations.
        if "," in "".join(segs[1::2]):
            row = next(csv.reader((line,), skipinitialspace=True), [])
            return [f.strip() for f in row]
        fields = "".join(segs).split(",")
    else:
        fields = line.split(",")
    if ", " in line or " ," in line or "\t" in line:
        return [f.strip() for f in fields]
    return fields


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _need(f: list[str], n: int) -> str | None:
    return None if len(f) >= n else _short(f, n)


def _short(f: list[str], n: int) -> str:
    return f"{f[0]}: expected at least {n - 1} fields, got {len(f) - 1}"


def _heartbeat(f: list[str], line: str) -> Record | Rejection:
    if len(f) != 6:
        return Rejection(f"$F: expected exactly 5 fields, got {len(f) - 1}", line)
    return Heartbeat(_laps_to_go(f[1]), f[2], f[3], f[4], f[5])


def _laps_to_go(text: str) -> int:
    return int(text) if text.isdigit() else (_int(text) or 0)


def heartbeat_values(line: str) -> tuple[int, str, str, str, str] | None:
    """A `$F` line's (laps to go, time to go, time of day, race time, flag text), or None when
    `parse_line` must look at it (it says why). The heartbeat arrives every second for the
    whole event, so it skips the typed record. `line` may be the relay message as received:
    line ends after the line are allowed, a second line gives None."""
    # The shape timing systems send, `$F,14,"00:12:45","13:34:23","00:09:47","Green "`, is read
    # straight from its quote-split pieces. Quotes right after `$F,<digits>,` and around each
    # comma between the values, 5 commas in all (so none inside quotes) and no tab: exactly
    # the lines split_fields splits without the CSV reader and without stripping fields
    # (no space can touch a comma). Anything else takes the general route below.
    s = line.split('"')
    if len(s) == 9:
        head, ttg, c1, tod, c2, race, c3, flag, tail = s
        if c1 == c2 == c3 == "," and (not tail or tail.isspace()) and line.count(",") == 5 and "\t" not in line:
            laps = _HEARTBEAT_HEADS.get(head)
            if laps is None:
                laps = _heartbeat_head(head)
            if laps is not None:
                return laps, ttg, tod, race, flag
    line = line.strip()
    if "\n" in line:
        return None
    try:
        f = split_fields(line)
        if len(f) != 6 or f[0] != "$F":
            return None
        return _laps_to_go(f[1]), f[2], f[3], f[4], f[5]
    except (csv.Error, ValueError):  # e.g. laps "²" (isdigit() but not int()): parse_line rejects it
        return None


def passing_record(line: str) -> Passing | None:
    """A trimmed `$J` line's record as parse_line gives it, or None when parse_line must look."""
    # The shape timing systems send, `$J,"12","00:02:01.123","01:12:47.872"`, is read straight
    # from its quote-split pieces: quotes around each value, 3 commas in all (so none inside
    # quotes) and no tab, nothing after the last quote. Those are lines split_fields splits
    # without the CSV reader and without stripping fields (no space can touch a comma).
    s = line.split('"')
    if (len(s) == 7 and s[0] == "$J," and s[2] == "," and s[4] == "," and not s[6] and line.count(",") == 3
            and "\t" not in line):
        return Passing(s[1], s[3], s[5])
    return None


def line_crossing_record(line: str) -> LineCrossing | None:
    """A trimmed `$L` line's record as parse_line gives it, or None when parse_line must look."""
    # IMSA's enhanced feed sends one for every timing line every car crosses, in one shape,
    # `$L,"45","P2","POP","01/27/2009","14:10:14.716"`: quotes around each value, 5 commas in
    # all (so none inside quotes), no tab, nothing after the last quote. Those are lines
    # split_fields splits without the CSV reader and without stripping fields.
    s = line.split('"')
    if (len(s) == 11 and s[0] == "$L," and s[2] == s[4] == s[6] == s[8] == "," and not s[10]
            and line.count(",") == 5 and "\t" not in line):
        return LineCrossing(s[1], s[3], s[5], s[7], s[9])
    return None


# `$F,<laps to go>,` -> laps to go, for the heads seen so far: laps to go changes a few times
# an hour at most, so the head is validated and converted once, not every second.
_HEARTBEAT_HEADS: dict[str, int] = {}


def _heartbeat_head(head: str) -> int | None:
    laps = head[3:-1]
    # isdecimal(): exactly the digits int() takes (no sign, space or underscore); longer
    # numbers are left to the general route, which rejects what int() cannot convert
    if head[:3] != "$F," or head[-1:] != "," or not laps.isdecimal() or len(laps) > 9:
        return None
    if len(_HEARTBEAT_HEADS) >= 256:
        _HEARTBEAT_HEADS.clear()  # bounds memory on a feed that counts laps down for hours
    value = _HEARTBEAT_HEADS[head] = int(laps)
    return value


def _competitor(f: list[str], line: str) -> Record | Rejection:
    if (r := _need(f, 8)) is not None:
        return Rejection(r, line)
    return Competitor(f[1], f[2], _uint(f[3]), f[4], f[5], f[6], _int(f[7]))


def _uint(text: str) -> int | None:
    v = _int(text)
    return v if v is not None and 0 <= v <= 0xFFFFFFFF else None


def _competitor_ext(f: list[str], line: str) -> Record | Rejection:
    if (r := _need(f, 8)) is not None:
        return Rejection(r, line)
    return CompetitorExt(f[1], f[2], _int(f[3]), f[4], f[5], f[6], f[7].strip())


def _run(f: list[str], line: str) -> Record | Rejection:
    if (r := _need(f, 3)) is not None:
        return Rejection(r, line)
    n = _int(f[1])
    if n is None:
        return Rejection(f"$B: run number {f[1]!r} is not an integer", line)
    return RunInfo(n, f[2])


def _class(f: list[str], line: str) -> Record | Rejection:
    if (r := _need(f, 3)) is not None:
        return Rejection(r, line)
    n = _int(f[1])
    if n is None:
        return Rejection(f"$C: class number {f[1]!r} is not an integer", line)
    return ClassInfo(n, f[2].strip())


def _setting(f: list[str], line: str) -> Record | Rejection:
    if (r := _need(f, 3)) is not None:
        return Rejection(r, line)
    return Setting(f[1], f[2])


def _race(f: list[str], line: str) -> Record | Rejection:
    if len(f) < 5:  # (_need's test inline in the three record types of every crossing)
        return Rejection(_short(f, 5), line)
    pos = _int(f[1])
    if pos is None:
        return Rejection(f"$G: position {f[1]!r} is not an integer", line)
    # Laps are blank before a car's first crossing: that means 0, not an error.
    return RaceInfo(pos, f[2], _int(f[3]) or 0, f[4])


def _practice(f: list[str], line: str) -> Record | Rejection:
    if len(f) < 5:
        return Rejection(_short(f, 5), line)
    pos = _int(f[1])
    best_lap = _int(f[3])
    if best_lap is None:
        return Rejection(f"$H: best lap {f[3]!r} is not an integer", line)
    return PracticeInfo(pos or 0, f[2], best_lap, f[4])


def quoted_row(line: str) -> RaceInfo | PracticeInfo | None:
    """A `$G` or `$H` line in the shape timing systems send, `$G,3,"12",14,"01:02:03.456"`, read
    from its quote-split pieces: the record parse_line gives, or None where parse_line must look.

    These rows arrive for every crossing and, unlike the entry list, are mostly new text (the
    time changes), so the memo rarely has them; the general route's splits, joins and int()
    calls were most of their cost. The shape: both numbers plain decimal digits right after
    the tag and between the two quoted values, no comma inside the quotes, nothing after the
    last quote and no tab. Those are exactly the lines split_fields splits without the CSV reader
    into these five fields without stripping them (no space can touch a comma), and whose
    numbers int() reads.
    """
    s = line.split('"')
    if len(s) == 5:
        head, reg, mid, value, tail = s
        if not tail and "," not in reg and "," not in value and "\t" not in line:
            kind = _ROW_HEADS.get(head)
            if kind is None:
                kind = _row_number(head, 3)
            number = _ROW_NUMBERS.get(mid)
            if number is None:
                if mid == ",," and kind is not None and kind[0] == "G":
                    # Laps are blank before a car's first crossing: 0, as _race reads them.
                    return RaceInfo(kind[1], reg, 0, value)
                number = _row_number(mid, 1)
            if kind is not None and number is not None:
                tag, pos = kind
                if tag == "G":
                    return RaceInfo(pos, reg, number, value)
                if len(PRACTICE_TAILS) >= 4096:
                    PRACTICE_TAILS.clear()  # bounds memory on any feed
                PRACTICE_TAILS[line[len(head):]] = (reg, (number, value))
                return PracticeInfo(pos, reg, number, value)
    return None


# The part of a `$H` row after its position, from its opening quote (`"12",14,"00:01:02.456"`)
# -> (reg, (best lap, best time)), for the rows quoted_row read. A practice row is resent with
# a new position far more often than with a new best lap, so its text is mostly new to the
# line memo while this part is not; the position is the one field the engine ignores in it.
# After a head in _ROW_HEADS starting `$H,`, such a tail makes a line quoted_row reads into
# these values.
PRACTICE_TAILS: dict[str, tuple[str, tuple[int, str]]] = {}


# `$G,<position>,` -> ("G", position) and `,<laps>,` -> laps for the texts seen so far, validated
# and converted once (positions and lap counts repeat all session).
_ROW_HEADS: dict[str, tuple[str, int]] = {}
_ROW_NUMBERS: dict[str, int] = {}


def _row_number(piece: str, start: int) -> Any:
    """quoted_row's number from `piece` (`$G,<digits>,` with start 3, `,<digits>,` with start 1),
    remembered; None when it is not one."""
    digits = piece[start:-1]
    # isdecimal(): exactly the digits int() takes without a sign, space or underscore; longer
    # numbers are left to the general route
    if piece[-1:] != "," or not digits.isdecimal() or len(digits) > 9:
        return None
    if start == 1:
        if piece[:1] != ",":
            return None
        table: dict[str, Any] = _ROW_NUMBERS
        value: Any = int(digits)
    else:
        if piece[:3] not in ("$G,", "$H,"):
            return None
        table = _ROW_HEADS
        value = (piece[1], int(digits))
    if len(table) >= 4096:
        table.clear()  # bounds memory on any feed
    table[piece] = value
    return value


def _init(f: list[str], line: str) -> Record | Rejection:
    return Init(f[1] if len(f) > 1 else "", f[2] if len(f) > 2 else "")


def _passing(f: list[str], line: str) -> Record | Rejection:
    if len(f) < 4:
        return Rejection(_short(f, 4), line)
    return Passing(f[1], f[2], f[3])


def _corrected(f: list[str], line: str) -> Record | Rejection:
    if (r := _need(f, 5)) is not None:
        return Rejection(r, line)
    return Corrected(f[1], f[2], _int(f[3]) or 0, f[4], f[5] if len(f) > 5 else "")


def _line_crossing(f: list[str], line: str) -> Record | Rejection:
    if (r := _need(f, 6)) is not None:
        return Rejection(r, line)
    return LineCrossing(f[1], f[2], f[3], f[4], f[5])


def _track(f: list[str], line: str) -> Record | Rejection:
    if (r := _need(f, 2)) is not None:
        return Rejection(r, line)
    return TrackInfo(f[1], f[2] if len(f) > 2 else "", f[3] if len(f) > 3 else "", tuple(f[4:]))


_PARSERS: dict[str, Callable[[list[str], str], Record | Rejection]] = {
    "$F": _heartbeat, "$A": _competitor, "$COMP": _competitor_ext, "$B": _run, "$C": _class,
    "$E": _setting, "$G": _race, "$H": _practice, "$I": _init, "$J": _passing,
    "$COR": _corrected, "$L": _line_crossing, "$T": _track,
}


def parse_line(line: str) -> Record | Rejection:
    """Parse one trimmed record line. Never raises."""
    try:
        fields = split_fields(line)
        parser = _PARSERS.get(fields[0])
        if parser is None:
            tag = fields[0].strip()
            parser = _PARSERS.get(tag)
            if parser is None:
                return Rejection(f"unknown command {tag[:12]!r}", line)
        return parser(fields, line)
    except Exception as exc:  # pragma: no cover - defensive: the engine must never raise
        return Rejection(f"unparsable record: {exc.__class__.__name__}", line)


# Lines that are new every time (clock, lap times, IMSA line crossings with their time of day):
# memoising them would only churn the memo.
_UNIQUE_TAGS = ("$F", "$J", "$L")
_ROW_TAGS = frozenset({"$G", "$H"})  # what quoted_row reads


class LineParser:
    """`parse_line` with a memo of the lines timing systems repeat.

    Orbits resends its entry list, classes and standings every few seconds, mostly unchanged,
    so the same text arrives again and again. Parsing is a pure function of the line, and
    nothing mutates a parsed record, so the memoised record is handed out again. The memo is
    dropped whole when it reaches `limit` lines (1,024 lines hold about 256 KiB; a larger memo
    was measured no faster on the recordings), which bounds memory on any feed.
    """

    __slots__ = ("memo", "limit")

    def __init__(self, limit: int = 1024) -> None:
        self.memo: dict[str, Record | Rejection] = {}
        self.limit = limit

    def parse(self, line: str) -> Record | Rejection:
        rec = self.memo.get(line)
        if rec is None:
            rec = self.parse_new(line)
        return rec

    def parse_new(self, line: str) -> Record | Rejection:
        """`parse` for a line the caller has just looked up in `memo` and not found."""
        if line.startswith(_UNIQUE_TAGS):
            if line[:3] == "$J,":
                rec = passing_record(line)  # (one per lap of every car)
                if rec is not None:
                    return rec
            elif line[:3] == "$L,":
                rec = line_crossing_record(line)  # (one per timing line of every car's lap)
                if rec is not None:
                    return rec
            return parse_line(line)
        rec = quoted_row(line) if line[:2] in _ROW_TAGS else None
        if rec is None:
            rec = parse_line(line)
        memo = self.memo
        if len(memo) >= self.limit:
            memo.clear()
        memo[line] = rec
        return rec
