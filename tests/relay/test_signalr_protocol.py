"""SignalR hub protocol framing: handshake, record separators, VarInt lengths, every message type, bad input."""

import datetime as dt
import json

import msgpack
import pytest

from apps.relay import signalr as sr

RS = "\x1e"


# -- handshake


def test_a_json_handshake_is_parsed_and_what_follows_it_is_kept():
    protocol, rest = sr.handshake_parse(b'{"protocol":"json","version":1}\x1e{"type":6}\x1e')
    assert protocol == "json" and rest == b'{"type":6}\x1e'


def test_a_messagepack_handshake_is_accepted():
    assert sr.handshake_parse(b'{"protocol":"messagepack","version":1}\x1e') == ("messagepack", b"")


def test_an_incomplete_handshake_waits_for_more():
    assert sr.handshake_parse(b'{"protocol":"json",') == (None, b'{"protocol":"json",')


@pytest.mark.parametrize("raw, words", [
    (b'{"protocol":"xml","version":1}\x1e', "not supported"),
    (b'{"protocol":"json","version":2}\x1e', "version 2"),
    (b'{"protocol":"json"}\x1e', "'version'"),
    (b'{"version":1}\x1e', "'protocol'"),
    (b'not json\x1e', "not valid JSON"),
    (b'[1]\x1e', "JSON object"),
    (b'\xff\xfe\x1e', "not valid JSON"),
    (b"x" * 5000, "4096"),
])
def test_a_bad_handshake_gets_a_clear_error(raw, words):
    with pytest.raises(sr.SignalRProtocolError, match=words):
        sr.handshake_parse(raw)


def test_handshake_responses():
    assert sr.handshake_response() == "{}" + RS
    assert json.loads(sr.handshake_response("nope").rstrip(RS)) == {"error": "nope"}


# -- JSON


def test_several_json_messages_in_one_frame_and_one_split_across_frames():
    codec = sr.HubCodec("json")
    first = codec.feed(text='{"type":6}\x1e{"type":1,"target":"SendRMonitor","arguments":[1,2,"$F"]}\x1e{"type":1,"tar')
    assert [m.type for m in first] == [sr.PING, sr.INVOCATION]
    assert first[1].target == "SendRMonitor" and first[1].arguments == [1, 2, "$F"] and first[1].invocation_id is None
    second = codec.feed(text='get":"SendFlags","invocationId":"7","arguments":[]}\x1e')
    assert len(second) == 1 and second[0].target == "SendFlags" and second[0].invocation_id == "7"
    assert codec.feed(text="") == []


def test_json_message_types():
    parse = sr.json_parse
    completion = parse('{"type":3,"invocationId":"1","result":{"a":1}}')
    assert completion.type == sr.COMPLETION and completion.result == {"a": 1} and completion.has_result
    assert parse('{"type":3,"invocationId":"1","error":"boom"}').error == "boom"
    assert parse('{"type":7,"error":"bye","allowReconnect":true}').allow_reconnect is True
    assert parse('{"type":7}').error is None
    assert parse('{"type":5,"invocationId":"2"}').type == sr.CANCEL_INVOCATION
    assert parse('{"type":4,"invocationId":"3","target":"S","arguments":[]}').type == sr.STREAM_INVOCATION
    assert parse('{"type":2,"invocationId":"3","item":5}').item == 5
    assert parse('{"type":8,"sequenceId":4}').sequence_id == 4
    assert parse('{"type":1,"target":"T","arguments":[],"headers":{"h":"v"}}').headers == {"h": "v"}


@pytest.mark.parametrize("record, words", [
    ("nope", "not valid JSON"),
    ("[]", "JSON object"),
    ('{"x":1}', "'type'"),
    ('{"type":"1"}', "'type'"),
    ('{"type":1,"arguments":[]}', "'target'"),
    ('{"type":1,"target":"T"}', "'arguments'"),
    ('{"type":1,"target":"T","arguments":[],"invocationId":5}', "'invocationId'"),
    ('{"type":1,"target":"T","arguments":[],"headers":{"a":1}}', "headers"),
    ('{"type":3}', "'invocationId'"),
    ('{"type":3,"invocationId":"1","result":1,"error":"e"}', "both"),
    ('{"type":4,"target":"T","arguments":[]}', "'invocationId'"),
    ('{"type":8}', "sequenceId"),
    ('{"type":42}', "unknown message type 42"),
])
def test_bad_json_messages_get_a_clear_error(record, words):
    with pytest.raises(sr.SignalRProtocolError, match=words):
        sr.json_parse(record)


def test_json_writers():
    assert json.loads(sr.json_completion("4").rstrip(RS)) == {"type": 3, "invocationId": "4"}
    assert json.loads(sr.json_completion("4", result=None, has_result=True).rstrip(RS))["result"] is None
    assert json.loads(sr.json_completion("4", error="no").rstrip(RS)) == {"type": 3, "invocationId": "4", "error": "no"}
    assert json.loads(sr.json_invocation("SendEventData", [True]).rstrip(RS)) == {
        "type": 1, "target": "SendEventData", "arguments": [True]}
    assert sr.json_ping() == '{"type":6}' + RS
    assert json.loads(sr.json_close("bad").rstrip(RS)) == {"type": 7, "error": "bad"}
    for frame in (sr.json_completion("1"), sr.json_ping(), sr.json_close()):
        assert frame.endswith(RS) and frame.count(RS) == 1


def test_a_json_message_over_the_limit_is_refused():
    codec = sr.HubCodec("json", max_message_bytes=100)
    with pytest.raises(sr.SignalRProtocolError, match="limit"):
        codec.feed(text='{"type":1,"target":"' + "x" * 200)


# -- MessagePack


@pytest.mark.parametrize("length, encoded", [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16384, b"\x80\x80\x01"),
                                             (2**31 - 1, b"\xff\xff\xff\xff\x07")])
def test_varint_lengths(length, encoded):
    assert sr.varint_encode(length) == encoded
    messages, rest = sr.msgpack_split(encoded + b"x" * min(length, 3))
    if length <= 3:
        assert messages == [b"x" * length] and rest == b""
    else:
        assert messages == [] and rest == encoded + b"x" * 3  # waits for the rest of the message


def _framed(body) -> bytes:
    payload = msgpack.packb(body, use_bin_type=True)
    return sr.varint_encode(len(payload)) + payload


def test_several_messagepack_messages_and_a_partial_one():
    codec = sr.HubCodec("messagepack")
    big_args = [1, 2, "$F," + "x" * 300]  # over 127 bytes: a two-byte length prefix
    data = _framed([6]) + _framed([1, {}, None, "SendRMonitor", big_args]) + _framed([1, {}, "9", "SendFlags", [1, 2, []], []])
    cut = len(data) - 4
    first = codec.feed(data=data[:cut])
    assert [m.type for m in first] == [sr.PING, sr.INVOCATION]
    assert first[1].arguments == big_args and first[1].invocation_id is None and first[1].stream_ids == []
    second = codec.feed(data=data[cut:])
    assert second[0].target == "SendFlags" and second[0].invocation_id == "9"


def test_a_split_length_prefix_waits():
    payload = msgpack.packb([1, {}, None, "T", ["y" * 200]])
    data = sr.varint_encode(len(payload)) + payload
    codec = sr.HubCodec("messagepack")
    assert codec.feed(data=data[:1]) == []
    assert codec.feed(data=data[1:])[0].arguments == ["y" * 200]


def test_messagepack_timestamps_arrive_as_datetimes():
    when = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    payload = msgpack.packb([1, {}, "1", "SaveLoggerMessage", [when, 2, "s", None]], datetime=True)
    message = sr.msgpack_parse(payload)
    assert message.arguments[0] == when


def test_messagepack_message_types():
    parse = sr.msgpack_parse
    assert parse(msgpack.packb([3, {}, "1", 1, "err"])).error == "err"
    void = parse(msgpack.packb([3, {}, "1", 2]))
    assert void.type == sr.COMPLETION and not void.has_result
    assert parse(msgpack.packb([3, {}, "1", 3, 42])).result == 42
    assert parse(msgpack.packb([7, "bye", True])).allow_reconnect is True
    assert parse(msgpack.packb([7, None])).error is None
    assert parse(msgpack.packb([5, {}, "1"])).type == sr.CANCEL_INVOCATION
    assert parse(msgpack.packb([9, 3])).sequence_id == 3


@pytest.mark.parametrize("payload, words", [
    (b"\xc1", "not valid MessagePack"),
    (msgpack.packb({"type": 1}), "array"),
    (msgpack.packb([]), "array"),
    (msgpack.packb(["1"]), "integer"),
    (msgpack.packb([1, {}, None, "T"]), "at least 5"),
    (msgpack.packb([1, {}, 5, "T", []]), "invocation id"),
    (msgpack.packb([1, {}, None, "", []]), "target"),
    (msgpack.packb([1, {}, None, "T", 5]), "arrays"),
    (msgpack.packb([1, {"a": 1}, None, "T", []]), "headers"),
    (msgpack.packb([3, {}, "1", 9]), "result kind"),
    (msgpack.packb([4, {}, None, "T", []]), "stream invocation"),
    (msgpack.packb([99]), "unknown message type 99"),
    (msgpack.packb([1, {}, None, "T", []]) + b"\x00", "not valid MessagePack"),
])
def test_bad_messagepack_messages_get_a_clear_error(payload, words):
    with pytest.raises(sr.SignalRProtocolError, match=words):
        sr.msgpack_parse(payload)


def test_an_overlong_length_prefix_is_refused():
    with pytest.raises(sr.SignalRProtocolError, match="5 bytes"):
        sr.msgpack_split(b"\xff\xff\xff\xff\xff\x01")
    with pytest.raises(sr.SignalRProtocolError, match="limit"):
        sr.msgpack_split(sr.varint_encode(5000), max_bytes=100)


def test_messagepack_writers():
    def unframe(frame: bytes):
        messages, rest = sr.msgpack_split(frame)
        assert rest == b"" and len(messages) == 1
        return msgpack.unpackb(messages[0])

    assert sr.msgpack_ping() == b"\x02\x91\x06" and unframe(sr.msgpack_ping()) == [6]
    assert unframe(sr.msgpack_completion("1")) == [3, {}, "1", 2]
    assert unframe(sr.msgpack_completion("1", error="no")) == [3, {}, "1", 1, "no"]
    assert unframe(sr.msgpack_completion("1", result=[[], []], has_result=True)) == [3, {}, "1", 3, [[], []]]
    assert unframe(sr.msgpack_invocation("SendEventData", [False])) == [1, {}, None, "SendEventData", [False], []]
    assert unframe(sr.msgpack_close("bad")) == [7, "bad", False]


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
def test_random_garbage_never_escapes_as_anything_but_a_protocol_error(protocol):
    import random

    rng = random.Random(7)
    for _ in range(300):
        codec = sr.HubCodec(protocol, max_message_bytes=4096)
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        if rng.random() < 0.5:
            blob = blob.replace(b"\x1e", b"") + b"\x1e"
        try:
            codec.feed(data=blob)
        except sr.SignalRProtocolError:
            pass


def test_deeply_nested_input_is_a_protocol_error():
    with pytest.raises(sr.SignalRProtocolError):
        sr.json_parse("[" * 100_000 + "]" * 100_000)
    with pytest.raises(sr.SignalRProtocolError):
        sr.msgpack_parse(b"\x91" * 100_000 + b"\x06")
