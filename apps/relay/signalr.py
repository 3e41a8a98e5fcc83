"""The ASP.NET Core SignalR hub protocol: handshake, framing and messages, JSON and MessagePack.

Pure functions, no I/O (the hub consumer in apps/relay/hub.py does the socket work). Follows
dotnet/aspnetcore src/SignalR/docs/specs/HubProtocol.md and TransportProtocols.md:

* Handshake: the client's first message is JSON `{"protocol": "json"|"messagepack", "version": 1}` followed by
  the record separator 0x1E; the server answers `{}` + 0x1E, or `{"error": "…"}` + 0x1E, in JSON whichever
  protocol was chosen. Messages may follow the handshake in the same WebSocket frame.
* JSON protocol: text frames; each message is a JSON object terminated by 0x1E; a frame may hold several
  messages and a message may span frames.
* MessagePack protocol: binary frames; each message is a VarInt length (7 bits per byte, least significant
  group first, at most 5 bytes) followed by a MessagePack array `[type, …]`.

Message types: 1 Invocation, 2 StreamItem, 3 Completion, 4 StreamInvocation, 5 CancelInvocation, 6 Ping,
7 Close, 8 Ack, 9 Sequence. Every parse failure raises `SignalRProtocolError` with a readable message;
nothing else escapes the parsers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import msgpack

RECORD_SEPARATOR = "\x1e"
RS = b"\x1e"

INVOCATION = 1
STREAM_ITEM = 2
COMPLETION = 3
STREAM_INVOCATION = 4
CANCEL_INVOCATION = 5
PING = 6
CLOSE = 7
ACK = 8
SEQUENCE = 9
MESSAGE_TYPES = range(1, 10)

PROTOCOLS = {"json": 1, "messagepack": 1}

#: MessagePack completion result kinds.
RESULT_ERROR, RESULT_VOID, RESULT_VALUE = 1, 2, 3


class SignalRProtocolError(Exception):
    """The peer broke the protocol; the message says how."""


@dataclasses.dataclass(frozen=True, slots=True)
class HubMessage:
    type: int
    invocation_id: str | None = None
    target: str | None = None
    arguments: list = dataclasses.field(default_factory=list)
    stream_ids: list = dataclasses.field(default_factory=list)
    headers: dict = dataclasses.field(default_factory=dict)
    result: Any = None
    has_result: bool = False
    error: str | None = None
    allow_reconnect: bool = False
    item: Any = None
    sequence_id: int | None = None


# ---------------------------------------------------------------------------------------------- handshake


def handshake_parse(buffer: bytes) -> tuple[str | None, bytes]:
    """Split the handshake request off the front of `buffer`.

    Returns (protocol, rest). protocol is None while the separator has not arrived yet (rest is then the
    whole buffer). Raises SignalRProtocolError for a malformed request or an unsupported protocol/version.
    """
    end = buffer.find(RS)
    if end < 0:
        if len(buffer) > 4096:
            raise SignalRProtocolError("handshake request is longer than 4096 bytes without a record separator")
        return None, buffer
    raw, rest = buffer[:end], buffer[end + 1:]
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise SignalRProtocolError("handshake request is not valid JSON") from None
    if not isinstance(body, dict):
        raise SignalRProtocolError("handshake request must be a JSON object")
    protocol, version = body.get("protocol"), body.get("version")
    if not isinstance(protocol, str):
        raise SignalRProtocolError("handshake request is missing the 'protocol' property")
    if isinstance(version, bool) or not isinstance(version, int):
        raise SignalRProtocolError("handshake request is missing the 'version' property")
    if protocol not in PROTOCOLS:
        raise SignalRProtocolError(f"the protocol '{protocol}' is not supported (json, messagepack)")
    if version != PROTOCOLS[protocol]:
        raise SignalRProtocolError(f"the server does not support version {version} of the '{protocol}' protocol")
    return protocol, rest


def handshake_response(error: str | None = None) -> str:
    """`{}` + 0x1E, or `{"error": …}` + 0x1E; always JSON text."""
    return (json.dumps({"error": error}) if error else "{}") + RECORD_SEPARATOR


# ---------------------------------------------------------------------------------------------- JSON


def json_split(buffer: str) -> tuple[list[str], str]:
    """Complete records (without their separators) and the incomplete tail to keep for the next frame."""
    *records, tail = buffer.split(RECORD_SEPARATOR)
    return records, tail


def json_parse(record: str) -> HubMessage:
    try:
        body = json.loads(record)
    except (ValueError, RecursionError):
        raise SignalRProtocolError("message is not valid JSON") from None
    if not isinstance(body, dict):
        raise SignalRProtocolError("message must be a JSON object")
    kind = body.get("type")
    if isinstance(kind, bool) or not isinstance(kind, int):
        raise SignalRProtocolError("message is missing the 'type' property (an integer)")
    headers = body.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise SignalRProtocolError("'headers' must be a map of strings")
    invocation_id = body.get("invocationId")
    if invocation_id is not None and not isinstance(invocation_id, str):
        raise SignalRProtocolError("'invocationId' must be a string")

    if kind in (INVOCATION, STREAM_INVOCATION):
        target, arguments, stream_ids = body.get("target"), body.get("arguments"), body.get("streamIds") or []
        if not isinstance(target, str) or not target:
            raise SignalRProtocolError("invocation is missing the 'target' property")
        if not isinstance(arguments, list):
            raise SignalRProtocolError("invocation is missing the 'arguments' array")
        if not isinstance(stream_ids, list):
            raise SignalRProtocolError("'streamIds' must be an array")
        if kind == STREAM_INVOCATION and invocation_id is None:
            raise SignalRProtocolError("stream invocation is missing the 'invocationId' property")
        return HubMessage(kind, invocation_id, target, arguments, stream_ids, headers)
    if kind == COMPLETION:
        if invocation_id is None:
            raise SignalRProtocolError("completion is missing the 'invocationId' property")
        if "result" in body and body.get("error") is not None:
            raise SignalRProtocolError("completion must not carry both 'result' and 'error'")
        return HubMessage(kind, invocation_id, headers=headers, result=body.get("result"),
                          has_result="result" in body, error=body.get("error"))
    if kind == STREAM_ITEM:
        if invocation_id is None:
            raise SignalRProtocolError("stream item is missing the 'invocationId' property")
        return HubMessage(kind, invocation_id, headers=headers, item=body.get("item"))
    if kind == CANCEL_INVOCATION:
        if invocation_id is None:
            raise SignalRProtocolError("cancel invocation is missing the 'invocationId' property")
        return HubMessage(kind, invocation_id, headers=headers)
    if kind == PING:
        return HubMessage(PING)
    if kind == CLOSE:
        error = body.get("error")
        return HubMessage(CLOSE, error=error if isinstance(error, str) else None,
                          allow_reconnect=body.get("allowReconnect") is True)
    if kind in (ACK, SEQUENCE):
        sequence_id = body.get("sequenceId")
        if isinstance(sequence_id, bool) or not isinstance(sequence_id, int):
            raise SignalRProtocolError("'sequenceId' must be an integer")
        return HubMessage(kind, sequence_id=sequence_id)
    raise SignalRProtocolError(f"unknown message type {kind}")


def _json_default(value):
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(value).decode()
    return str(value)


def json_completion(invocation_id: str, *, result: Any = None, has_result: bool = False, error: str | None = None) -> str:
    body: dict = {"type": COMPLETION, "invocationId": invocation_id}
    if error is not None:
        body["error"] = error
    elif has_result:
        body["result"] = result
    return json.dumps(body, separators=(",", ":"), default=_json_default) + RECORD_SEPARATOR


def json_invocation(target: str, arguments: list, invocation_id: str | None = None) -> str:
    body: dict = {"type": INVOCATION, "target": target, "arguments": arguments}
    if invocation_id is not None:
        body["invocationId"] = invocation_id
    return json.dumps(body, separators=(",", ":"), default=_json_default) + RECORD_SEPARATOR


def json_ping() -> str:
    return '{"type":6}' + RECORD_SEPARATOR


def json_close(error: str | None = None, allow_reconnect: bool = False) -> str:
    body: dict = {"type": CLOSE}
    if error:
        body["error"] = error
    if allow_reconnect:
        body["allowReconnect"] = True
    return json.dumps(body, separators=(",", ":")) + RECORD_SEPARATOR


# ---------------------------------------------------------------------------------------------- MessagePack


def varint_encode(length: int) -> bytes:
    if length < 0 or length > 0x7FFFFFFF:
        raise ValueError("message length out of range")
    out = bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        if length:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def msgpack_split(buffer: bytes, *, max_bytes: int = 2**31 - 1) -> tuple[list[bytes], bytes]:
    """Complete length-prefixed messages and the incomplete tail."""
    messages, pos = [], 0
    while pos < len(buffer):
        length, shift, index = 0, 0, pos
        while True:
            if index >= len(buffer):
                return messages, buffer[pos:]  # the length prefix itself is incomplete
            byte = buffer[index]
            index += 1
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if index - pos >= 5:
                raise SignalRProtocolError("message length prefix is longer than 5 bytes")
        if length > max_bytes:
            raise SignalRProtocolError(f"message of {length} bytes exceeds the {max_bytes}-byte limit")
        if index + length > len(buffer):
            return messages, buffer[pos:]
        messages.append(buffer[index:index + length])
        pos = index + length
    return messages, b""


def _msgpack_frame(body: list) -> bytes:
    payload = msgpack.packb(body, use_bin_type=True, datetime=True, default=str)
    return varint_encode(len(payload)) + payload


def msgpack_parse(payload: bytes) -> HubMessage:
    try:
        body = msgpack.unpackb(payload, raw=False, strict_map_key=False, timestamp=3)
    except (ValueError, TypeError, msgpack.exceptions.ExtraData, msgpack.exceptions.FormatError,
            msgpack.exceptions.StackError, msgpack.exceptions.UnpackException):
        raise SignalRProtocolError("message is not valid MessagePack") from None
    if not isinstance(body, list) or not body:
        raise SignalRProtocolError("message must be a non-empty MessagePack array")
    kind = body[0]
    if isinstance(kind, bool) or not isinstance(kind, int):
        raise SignalRProtocolError("message type must be an integer")

    def at(index: int, default=None):
        return body[index] if index < len(body) else default

    def headers_at(index: int) -> dict:
        headers = at(index) or {}
        if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise SignalRProtocolError("'headers' must be a map of strings")
        return headers

    def need(count: int, what: str) -> None:
        if len(body) < count:
            raise SignalRProtocolError(f"{what} message has {len(body)} elements, expected at least {count}")

    if kind in (INVOCATION, STREAM_INVOCATION):
        need(5, "invocation")
        headers, invocation_id, target, arguments = headers_at(1), body[2], body[3], body[4]
        stream_ids = at(5) or []
        if invocation_id is not None and not isinstance(invocation_id, str):
            raise SignalRProtocolError("invocation id must be a string or nil")
        if kind == STREAM_INVOCATION and invocation_id is None:
            raise SignalRProtocolError("stream invocation needs an invocation id")
        if not isinstance(target, str) or not target:
            raise SignalRProtocolError("invocation target must be a non-empty string")
        if not isinstance(arguments, list) or not isinstance(stream_ids, list):
            raise SignalRProtocolError("invocation arguments and stream ids must be arrays")
        return HubMessage(kind, invocation_id, target, arguments, stream_ids, headers)
    if kind == COMPLETION:
        need(4, "completion")
        headers, invocation_id, result_kind = headers_at(1), body[2], body[3]
        if not isinstance(invocation_id, str):
            raise SignalRProtocolError("completion invocation id must be a string")
        if result_kind == RESULT_ERROR:
            return HubMessage(kind, invocation_id, headers=headers, error=str(at(4, "")))
        if result_kind == RESULT_VOID:
            return HubMessage(kind, invocation_id, headers=headers)
        if result_kind == RESULT_VALUE:
            need(5, "completion")
            return HubMessage(kind, invocation_id, headers=headers, result=body[4], has_result=True)
        raise SignalRProtocolError(f"unknown completion result kind {result_kind!r}")
    if kind == STREAM_ITEM:
        need(4, "stream item")
        return HubMessage(kind, body[2] if isinstance(body[2], str) else None, headers=headers_at(1), item=body[3])
    if kind == CANCEL_INVOCATION:
        need(3, "cancel invocation")
        return HubMessage(kind, body[2] if isinstance(body[2], str) else None, headers=headers_at(1))
    if kind == PING:
        return HubMessage(PING)
    if kind == CLOSE:
        error = at(1)
        return HubMessage(CLOSE, error=error if isinstance(error, str) else None, allow_reconnect=at(2) is True)
    if kind in (ACK, SEQUENCE):
        need(2, "ack/sequence")
        if isinstance(body[1], bool) or not isinstance(body[1], int):
            raise SignalRProtocolError("sequence id must be an integer")
        return HubMessage(kind, sequence_id=body[1])
    raise SignalRProtocolError(f"unknown message type {kind}")


def msgpack_completion(invocation_id: str, *, result: Any = None, has_result: bool = False,
                       error: str | None = None) -> bytes:
    if error is not None:
        return _msgpack_frame([COMPLETION, {}, invocation_id, RESULT_ERROR, error])
    if has_result:
        return _msgpack_frame([COMPLETION, {}, invocation_id, RESULT_VALUE, result])
    return _msgpack_frame([COMPLETION, {}, invocation_id, RESULT_VOID])


def msgpack_invocation(target: str, arguments: list, invocation_id: str | None = None) -> bytes:
    return _msgpack_frame([INVOCATION, {}, invocation_id, target, arguments, []])


def msgpack_ping() -> bytes:
    return b"\x02\x91\x06"  # length 2, then the array [6]


def msgpack_close(error: str | None = None, allow_reconnect: bool = False) -> bytes:
    return _msgpack_frame([CLOSE, error, allow_reconnect])


# ---------------------------------------------------------------------------------------------- codec


class HubCodec:
    """One connection's protocol state after the handshake: buffers partial frames, encodes replies."""

    def __init__(self, protocol: str, *, max_message_bytes: int = 1 << 20) -> None:
        self.protocol = protocol
        self.binary = protocol == "messagepack"
        self.max_message_bytes = max_message_bytes
        self._text = ""
        self._bytes = b""

    def feed(self, *, text: str | None = None, data: bytes | None = None) -> list[HubMessage]:
        """Every complete message in the buffered input; raises SignalRProtocolError on bad input."""
        if self.binary:
            if data is None:
                data = (text or "").encode("utf-8")
            messages, self._bytes = msgpack_split(self._bytes + data, max_bytes=self.max_message_bytes)
            if len(self._bytes) > self.max_message_bytes + 5:
                raise SignalRProtocolError(f"message exceeds the {self.max_message_bytes}-byte limit")
            return [msgpack_parse(m) for m in messages]
        if text is None:
            try:
                text = (data or b"").decode("utf-8")
            except UnicodeDecodeError:
                raise SignalRProtocolError("a JSON protocol frame is not valid UTF-8") from None
        records, self._text = json_split(self._text + text)
        if len(self._text) > self.max_message_bytes:
            raise SignalRProtocolError(f"message exceeds the {self.max_message_bytes}-byte limit")
        return [json_parse(r) for r in records if r.strip()]

    def completion(self, invocation_id: str, *, result: Any = None, has_result: bool = False,
                   error: str | None = None) -> str | bytes:
        encode = msgpack_completion if self.binary else json_completion
        return encode(invocation_id, result=result, has_result=has_result, error=error)

    def invocation(self, target: str, arguments: list) -> str | bytes:
        return (msgpack_invocation if self.binary else json_invocation)(target, arguments)

    def ping(self) -> str | bytes:
        return msgpack_ping() if self.binary else json_ping()

    def close(self, error: str | None = None, allow_reconnect: bool = False) -> str | bytes:
        return (msgpack_close if self.binary else json_close)(error, allow_reconnect)
