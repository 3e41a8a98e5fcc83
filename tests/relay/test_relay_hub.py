"""The SignalR RelayHub (`/relay/hub`): existing RedMist relays feed the same ingest path as our relay socket."""

import datetime as dt
import json

import msgpack
import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.events.models import CompetitorMetadata, Session
from apps.orgs.models import RelayLog
from apps.relay import signalr as sr
from apps.relay.bus import NO_SESSION, bus_get
from apps.relay.groups import relay_group_name
from redmist.asgi import application

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

RS = "\x1e"
HANDSHAKE_JSON = '{"protocol":"json","version":1}' + RS
HANDSHAKE_MSGPACK = b'{"protocol":"messagepack","version":1}\x1e'


def _bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


async def _open(headers, path="/relay/hub"):
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect()
    return communicator, connected


async def _json_hub(token):
    communicator, connected = await _open(_bearer(token))
    assert connected
    await communicator.send_to(text_data=HANDSHAKE_JSON)
    assert await communicator.receive_from() == "{}" + RS
    return communicator


async def _invoke(communicator, target, arguments, invocation_id=None):
    body = {"type": 1, "target": target, "arguments": arguments}
    if invocation_id is not None:
        body["invocationId"] = invocation_id
    await communicator.send_to(text_data=json.dumps(body) + RS)


async def _receive_json(communicator) -> dict:
    text = await communicator.receive_from()
    assert text.endswith(RS) and text.count(RS) == 1
    return json.loads(text[:-1])


async def _entries(event_id):
    bus = bus_get()
    await bus.ensure_group(event_id=event_id)
    return [message for _, message in await bus.read_new(event_id=event_id, consumer="test", count=1000)]


@pytest.fixture
def token_a(relay_a, machine_token):
    return machine_token(relay_a[0])


async def test_the_handshake_is_answered_and_send_rmonitor_appends_to_the_bus(token_a, event_a):
    hub = await _json_hub(token_a)
    await _invoke(hub, "SendRMonitor", [event_a.pk, 3, '$F,9999,"00:00:01","12:00:00","00:00:00","Green "'])
    await _invoke(hub, "SendRMonitor", [event_a.pk, 3, '$B,3,"Race"'], invocation_id="1")
    assert await _receive_json(hub) == {"type": 3, "invocationId": "1"}  # only the call with an id is answered
    entries = await _entries(event_a.pk)
    assert [(m.kind, m.session_id) for m in entries] == [("rmonitor", 3), ("rmonitor", 3)]
    assert entries[1].payload == '$B,3,"Race"'
    assert await hub.receive_nothing()
    await hub.disconnect()


async def test_several_invocations_in_one_frame_are_appended_in_order(token_a, event_a):
    hub = await _json_hub(token_a)
    frames = "".join(json.dumps({"type": 1, "target": target, "arguments": args, "invocationId": str(i)}) + RS
                     for i, (target, args) in enumerate([
                         ("SendRMonitor", [event_a.pk, 1, "$F,1"]),
                         ("SendSessionChange", [event_a.pk, 1, "Practice 1", -5.0]),
                         ("SendMultiloop", [event_a.pk, 1, "$H,1"]),
                         ("SendFlags", [event_a.pk, 1, [{"f": 1, "s": "2026-05-01T12:00:00", "e": None}]]),
                     ]))
    await hub.send_to(text_data=frames)
    replies = [await _receive_json(hub) for _ in range(4)]
    assert [r["invocationId"] for r in replies] == ["0", "1", "2", "3"] and not any("error" in r for r in replies)
    entries = await _entries(event_a.pk)
    assert [m.kind for m in entries] == ["rmonitor", "evtsessionchanged", "multiloop", "flags"]
    session = await Session.objects.aget(event=event_a, session_id=1)
    assert session.name == "Practice 1" and session.is_practice_qualifying
    assert json.loads(entries[3].payload)[0]["f"] == 1
    await hub.disconnect()


async def test_another_organizations_event_is_refused_with_a_completion_error(token_a, event_b):
    hub = await _json_hub(token_a)
    await _invoke(hub, "SendRMonitor", [event_b.pk, 1, "$F,1"], invocation_id="5")
    reply = await _receive_json(hub)
    assert reply["invocationId"] == "5" and "not one of your organization's events" in reply["error"]
    await _invoke(hub, "SendSessionChange", [event_b.pk, 1, "Race", 0.0])  # no id: refused without a reply
    assert await hub.receive_nothing()
    assert await bus_get().length(event_id=event_b.pk) == 0
    assert not await Session.objects.filter(event=event_b).aexists()
    await hub.disconnect()


async def test_bad_arguments_and_unknown_methods_get_completion_errors(token_a, event_a):
    hub = await _json_hub(token_a)
    await _invoke(hub, "SendRMonitor", [event_a.pk, 1], invocation_id="1")
    assert "expects 3" in (await _receive_json(hub))["error"]
    await _invoke(hub, "SendRMonitor", ["x", 1, "$F"], invocation_id="2")
    assert "eventId" in (await _receive_json(hub))["error"]
    await _invoke(hub, "SendRMonitor", [event_a.pk, 1, "  "], invocation_id="3")
    assert "empty" in (await _receive_json(hub))["error"]
    await _invoke(hub, "DropDatabase", [], invocation_id="4")
    assert "does not exist" in (await _receive_json(hub))["error"]
    await hub.send_to(text_data='{"type":4,"invocationId":"5","target":"SendRMonitor","arguments":[]}' + RS)
    assert "Streaming is not supported" in (await _receive_json(hub))["error"]
    await hub.send_to(text_data='{"type":6}' + RS)  # a ping needs no answer
    assert await hub.receive_nothing()
    assert await bus_get().length(event_id=event_a.pk) == 0
    await hub.disconnect()


async def test_event_zero_is_ignored_as_the_reference_does(token_a, event_a):
    hub = await _json_hub(token_a)
    await _invoke(hub, "SendRMonitor", [0, 1, "$F,1"], invocation_id="1")
    assert await _receive_json(hub) == {"type": 3, "invocationId": "1"}
    await hub.disconnect()


async def test_a_protocol_violation_closes_the_connection_with_an_error(token_a):
    hub = await _json_hub(token_a)
    await hub.send_to(text_data='{"type":1,"arguments":[]}' + RS)
    close = await _receive_json(hub)
    assert close["type"] == 7 and "'target'" in close["error"]
    assert (await hub.receive_output())["type"] == "websocket.close"


async def test_an_unsupported_handshake_is_answered_with_an_error_and_closed(token_a):
    hub, connected = await _open(_bearer(token_a))
    assert connected
    await hub.send_to(text_data='{"protocol":"xml","version":1}' + RS)
    assert "not supported" in json.loads((await hub.receive_from())[:-1])["error"]
    assert (await hub.receive_output())["type"] == "websocket.close"


@pytest.mark.parametrize("headers", [[], _bearer("not-a-token"), [(b"authorization", b"Basic !!")]])
async def test_no_or_an_invalid_token_is_refused(event_a, headers):
    _, connected = await _open(headers)
    assert not connected


async def test_heartbeats_mark_the_event_live_and_v2_returns_telemetry(token_a, event_a, relay_a):
    hub = await _json_hub(token_a)
    await _invoke(hub, "SendHeartbeat", [event_a.pk, "2.1.0"], invocation_id="1")
    assert await _receive_json(hub) == {"type": 3, "invocationId": "1"}
    await _invoke(hub, "SendHeartbeatV2", [event_a.pk, "2.1.0"], invocation_id="2")
    assert (await _receive_json(hub))["result"] == {"serviceStatuses": [], "eventConnections": []}
    await event_a.arefresh_from_db()
    assert event_a.is_live
    await hub.disconnect()


async def test_competitors_and_logger_messages_are_stored(token_a, event_a):
    hub = await _json_hub(token_a)
    await _invoke(hub, "SendCompetitorMetadata", [event_a.pk, [{"n": "42", "fn": "Ana", "ln": "Lee", "cl": "GT"}]], "1")
    assert "error" not in await _receive_json(hub)
    await _invoke(hub, "SaveLoggerMessage", ["2026-05-01T12:00:00Z", 4, "feed lost", None], "2")
    assert "error" not in await _receive_json(hub)
    metadata = await CompetitorMetadata.objects.aget(event=event_a, car_number="42")
    assert (metadata.first_name, metadata.car_class) == ("Ana", "GT")
    log = await RelayLog.objects.aget()
    assert (log.level, log.message) == ("Error", "feed lost")
    assert [m.kind for m in await _entries(event_a.pk)] == ["competitors"]
    await hub.disconnect()


async def test_send_event_data_reaches_the_relay_when_the_worker_asks(token_a, event_a):
    hub = await _json_hub(token_a)
    await _invoke(hub, "SendHeartbeat", [event_a.pk, "2.1.0"], invocation_id="1")  # joins the event's relay group
    await _receive_json(hub)
    await get_channel_layer().group_send(relay_group_name(event_a.pk), {"type": "relay.resend", "force": True})
    assert await _receive_json(hub) == {"type": 1, "target": "SendEventData", "arguments": [True]}
    await hub.disconnect()


async def test_messagepack_relays_send_positional_objects_and_get_binary_replies(token_a, event_a):
    hub, connected = await _open(_bearer(token_a))
    assert connected
    when = dt.datetime(2026, 5, 1, 12, 0, 1, tzinfo=dt.UTC)
    passing = [0, event_a.pk, 77, 1, 123456, 56, 3, when, when, True, False]  # X2 Passing keys 0-10
    calls = [
        [1, {}, "1", "SendPassings", [event_a.pk, 2, [passing] * 30]],
        [1, {}, "2", "SendHeartbeatV2", [event_a.pk, "2.1.0"]],
        [1, {}, None, "SendLoopChange", [event_a.pk, [[0, event_a.pk, 1, "Pit In", ""]]], []],
    ]
    frame = HANDSHAKE_MSGPACK
    for call in calls:
        payload = msgpack.packb(call, datetime=True)
        frame += sr.varint_encode(len(payload)) + payload
    await hub.send_to(bytes_data=frame)
    assert await hub.receive_from() == b"{}\x1e"
    messages, _ = sr.msgpack_split(await hub.receive_from())
    assert msgpack.unpackb(messages[0]) == [3, {}, "1", 2]
    messages, _ = sr.msgpack_split(await hub.receive_from())
    assert msgpack.unpackb(messages[0]) == [3, {}, "2", 3, [[], []]]
    entries = await _entries(event_a.pk)
    assert [(m.kind, m.session_id) for m in entries] == [("x2pass", 2), ("x2pass", 2), ("x2loop", NO_SESSION)]
    chunk = json.loads(entries[0].payload)
    assert len(chunk) == 25 and len(json.loads(entries[1].payload)) == 5
    assert chunk[0]["t"] == 123456 and chunk[0]["o"] == event_a.organization_id and chunk[0]["tu"].startswith("2026-05-01T12:00:01")
    assert json.loads(entries[2].payload)[0]["name"] == "Pit In"

    await get_channel_layer().group_send(relay_group_name(event_a.pk), {"type": "relay.resend", "force": False})
    messages, _ = sr.msgpack_split(await hub.receive_from())
    assert msgpack.unpackb(messages[0]) == [1, {}, None, "SendEventData", [False], []]
    await hub.disconnect()


async def test_negotiate_then_connect_with_the_connection_token(token_a, relay_b, machine_token, event_a):
    from asgiref.sync import sync_to_async

    def negotiate(token, method="post"):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        return getattr(Client(), method)("/relay/hub/negotiate?negotiateVersion=1", **headers)

    response = await sync_to_async(negotiate)(token_a)
    assert response.status_code == 200
    body = response.json()
    assert body["negotiateVersion"] == 1 and body["availableTransports"][0]["transport"] == "WebSockets"
    assert (await sync_to_async(negotiate)(None)).status_code == 401
    assert (await sync_to_async(negotiate)(token_a, "get")).status_code == 405

    hub, connected = await _open(_bearer(token_a), f"/relay/hub?id={body['connectionToken']}")
    assert connected
    await hub.disconnect()
    # A token issued to one relay client cannot be used by another, and a made-up one is refused.
    _, connected = await _open(_bearer(machine_token(relay_b[0])), f"/relay/hub?id={body['connectionToken']}")
    assert not connected
    _, connected = await _open(_bearer(token_a), "/relay/hub?id=made-up")
    assert not connected


async def test_a_handshake_split_across_frames_and_followed_by_an_invocation(token_a, event_a):
    hub, connected = await _open(_bearer(token_a))
    assert connected
    await hub.send_to(text_data='{"protocol":"js')
    assert await hub.receive_nothing()
    await hub.send_to(text_data='on","version":1}' + RS + json.dumps(
        {"type": 1, "invocationId": "1", "target": "sendrmonitor", "arguments": [event_a.pk, 1, "$F,1"]}) + RS)
    assert await hub.receive_from() == "{}" + RS
    assert await _receive_json(hub) == {"type": 3, "invocationId": "1"}  # method names match case-insensitively
    assert await bus_get().length(event_id=event_a.pk) == 1
    await hub.disconnect()


async def test_nothing_is_read_after_a_protocol_error(token_a, event_a):
    hub = await _json_hub(token_a)
    await hub.send_to(text_data="garbage" + RS + json.dumps(
        {"type": 1, "target": "SendRMonitor", "arguments": [event_a.pk, 1, "$F,1"]}) + RS)
    assert (await _receive_json(hub))["type"] == 7
    assert (await hub.receive_output())["type"] == "websocket.close"
    assert await bus_get().length(event_id=event_a.pk) == 0


async def test_the_server_pings_and_closes_a_silent_relay(token_a, monkeypatch):
    from apps.relay import hub as hub_module

    monkeypatch.setattr(hub_module, "KEEPALIVE_SECONDS", 0.05)
    monkeypatch.setattr(hub_module, "CLIENT_TIMEOUT_SECONDS", 0.3)
    hub = await _json_hub(token_a)
    assert await _receive_json(hub) == {"type": 6}
    while (message := await _receive_json(hub))["type"] == 6:
        pass
    assert message["type"] == 7 and "timeout" in message["error"].lower()
    assert (await hub.receive_output())["type"] == "websocket.close"
