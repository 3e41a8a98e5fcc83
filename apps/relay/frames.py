"""The relay socket's frame format: validation of everything a relay sends, before anything is stored.

A frame is a JSON text frame or a MessagePack binary frame holding one map:
  {"type": "hello", "event_id": 12, "epoch": "<relay run id>", "version": "1.4.0"}
  {"type": "rmonitor"|"multiloop", "id": 17, "session_id": 5, "data": "<raw lines>"}
  {"type": "x2pass"|"x2loop"|"flags"|"ftcar"|"competitors", "id": 18, "session_id": 5, "data": [...]}
  {"type": "session", "id": 19, "session_id": 5, "name": "Race", "tz_offset": -5.0}
{"type": "batch", "frames": [<frame>, …]} carries up to 500 frames in one WebSocket message.
Data frames may carry "ts": when the relay read them from the timing system (unix seconds or ISO 8601);
the engine runs on that clock, so a replayed recording behaves as it did live.
  {"type": "heartbeat", "version": "1.4.0"}
  {"type": "log", "level": "Error", "message": "...", "exception": "...", "timestamp": "<ISO 8601>"}
`id` is the relay's own message number within its epoch: 1, 2, 3, … with no gaps; it makes resends
idempotent and keeps the stream in the relay's order. The server answers with cumulative acks
{"type": "ack", "from": 5, "id": 9, "duplicates": 0, "entry": "<stream id>"} (messages 5 to 9 are
stored), or {"type": "error", "id": n, "code": …, "error": …, ["expected": k], ["retry_after": s]},
after which the relay resends from the first refused number.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import msgpack

from apps.relay.bus import NO_SESSION

TEXT_KINDS = {"rmonitor", "multiloop"}
LIST_KINDS = {"x2pass", "x2loop", "flags", "ftcar", "competitors"}
DATA_KINDS = TEXT_KINDS | LIST_KINDS | {"session"}
CONTROL_KINDS = {"hello", "heartbeat", "log"}
KINDS = DATA_KINDS | CONTROL_KINDS


class FrameError(Exception):
    def __init__(self, code: str, message: str, frame_id: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.frame_id = frame_id


@dataclasses.dataclass(frozen=True, slots=True)
class RelayFrame:
    kind: str
    frame_id: int | None = None
    session_id: int = NO_SESSION
    data: str = ""
    fields: dict = dataclasses.field(default_factory=dict)
    source_time: float | None = None

    @property
    def bus_kind(self) -> str:
        return "evtsessionchanged" if self.kind == "session" else self.kind


def _int(value, name: str, frame_id, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FrameError("bad_frame", f"'{name}' must be a whole number ≥ {minimum}", frame_id)
    return value


def _text(value, name: str, frame_id, *, max_length: int, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise FrameError("bad_frame", f"'{name}' must be a string", frame_id)
    if len(value) > max_length:
        raise FrameError("bad_frame", f"'{name}' is longer than {max_length} characters", frame_id)
    return value


def frame_decode(*, text: str | None, data: bytes | None, max_bytes: int) -> dict:
    size = len(data) if data is not None else len(text.encode()) if text is not None else 0
    if size > max_bytes:
        raise FrameError("too_large", f"frame of {size} bytes exceeds the {max_bytes}-byte limit")
    try:
        if data is not None:
            body = msgpack.unpackb(data, raw=False, strict_map_key=False)
        else:
            body = json.loads(text or "")
    except (ValueError, msgpack.exceptions.ExtraData, msgpack.exceptions.FormatError, msgpack.exceptions.StackError):
        raise FrameError("bad_frame", "frame is neither valid JSON nor valid MessagePack") from None
    if not isinstance(body, dict):
        raise FrameError("bad_frame", "frame must be a map/object")
    return body


def frame_parse(body: dict) -> RelayFrame:
    kind = body.get("type")
    raw_id = body.get("id")
    frame_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
    if kind not in KINDS:
        raise FrameError("unknown_type", f"unknown frame type {kind!r}; expected one of {sorted(KINDS)}", frame_id)

    if kind == "hello":
        return RelayFrame(kind, fields={
            "event_id": _int(body.get("event_id"), "event_id", None, minimum=1),
            "epoch": _text(body.get("epoch"), "epoch", None, max_length=64),
            "version": _text(body.get("version"), "version", None, max_length=18, required=False),
        })
    if kind == "heartbeat":
        return RelayFrame(kind, fields={"version": _text(body.get("version"), "version", None, max_length=18, required=False)})
    if kind == "log":
        timestamp = body.get("timestamp")
        try:
            when = dt.datetime.fromisoformat(timestamp) if isinstance(timestamp, str) else dt.datetime.now(dt.UTC)
        except ValueError:
            raise FrameError("bad_frame", "'timestamp' must be ISO 8601") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return RelayFrame(kind, fields={
            "timestamp": when,
            "level": _text(body.get("level", "Information"), "level", None, max_length=20)[:20],
            "message": _text(body.get("message"), "message", None, max_length=100_000)[:1024],
            "exception": _text(body.get("exception"), "exception", None, max_length=100_000, required=False)[:4096],
        })

    frame_id = _int(raw_id, "id", None, minimum=1)
    session_id = _int(body.get("session_id", NO_SESSION), "session_id", frame_id)
    source_time = _source_time(body.get("ts"), frame_id)
    if kind in TEXT_KINDS:
        data = _text(body.get("data"), "data", frame_id, max_length=10_000_000)
        if not data.strip():
            raise FrameError("bad_frame", "'data' is empty", frame_id)
        return RelayFrame(kind, frame_id, session_id, data, source_time=source_time)
    if kind in LIST_KINDS:
        value = body.get("data")
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise FrameError("bad_frame", "'data' is not valid JSON", frame_id) from None
        if not isinstance(value, list):
            raise FrameError("bad_frame", "'data' must be a list", frame_id)
        if kind == "competitors" and not all(isinstance(item, dict) for item in value):
            raise FrameError("bad_frame", "'data' must be a list of competitor objects", frame_id)
        return RelayFrame(kind, frame_id, session_id, json.dumps(value, separators=(",", ":"), default=str),
                          source_time=source_time)
    # session change
    name = _text(body.get("name", ""), "name", frame_id, max_length=64)
    offset = body.get("tz_offset", 0.0)
    if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not -24 <= offset <= 24:
        raise FrameError("bad_frame", "'tz_offset' must be hours between -24 and 24", frame_id)
    return RelayFrame(kind, frame_id, session_id, fields={"name": name, "tz_offset": float(offset)},
                      source_time=source_time)


def _source_time(value, frame_id) -> float | None:
    """`ts`: when the relay read the data from the timing system, unix seconds or ISO 8601."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            raise FrameError("bad_frame", "'ts' must be unix seconds or ISO 8601", frame_id) from None
        seconds = (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()
    else:
        raise FrameError("bad_frame", "'ts' must be unix seconds or ISO 8601", frame_id)
    if not 0 < seconds < 7_000_000_000:
        raise FrameError("bad_frame", "'ts' is out of range", frame_id)
    return seconds
