"""The relay socket authenticates, binds to one of the organization's events, acks and deduplicates."""

import json
import uuid

import msgpack
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from apps.events.models import CompetitorMetadata, Session
from apps.orgs.models import RelayLog
from apps.relay.bus import bus_get
from redmist.asgi import application
from tests.relay.conftest import basic_auth

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def _connect(headers):
    communicator = WebsocketCommunicator(application, "/ws/relay/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _hello(communicator, event_id, epoch=None):
    await communicator.send_json_to({"type": "hello", "event_id": event_id, "epoch": epoch or uuid.uuid4().hex, "version": "1.0"})
    return await communicator.receive_json_from()


async def test_a_relay_without_credentials_is_refused_and_disconnected(event_a):
    communicator = await _connect([])
    reply = await communicator.receive_json_from()
    assert reply["code"] == "unauthorized"
    assert (await communicator.receive_output())["type"] == "websocket.close"


@pytest.mark.parametrize("which", ["wrong_secret", "unknown_client", "disabled"])
async def test_bad_or_disabled_credentials_are_refused(relay_a, event_a, which):
    client, secret = relay_a
    if which == "disabled":
        client.is_active = False
        await client.asave()
    client_id = "relay-nobody" if which == "unknown_client" else client.client_id
    communicator = await _connect(basic_auth(client_id, secret + "x" if which == "wrong_secret" else secret))
    reply = await communicator.receive_json_from()
    assert reply["type"] == "error" and reply["code"] == "unauthorized"
    output = await communicator.receive_output()
    assert output == {"type": "websocket.close", "code": 4401}


async def test_another_organizations_event_is_refused(relay_a, event_b):
    client, secret = relay_a
    communicator = await _connect(basic_auth(client.client_id, secret))
    reply = await _hello(communicator, event_b.pk)
    assert reply["code"] == "forbidden"
    await communicator.send_json_to({"type": "rmonitor", "id": 1, "session_id": 1, "data": "$F,1"})
    assert (await communicator.receive_json_from())["code"] == "no_hello"
    assert await bus_get().length(event_id=event_b.pk) == 0
    await communicator.disconnect()


async def test_data_is_acked_appended_and_a_resend_is_not_appended_twice(relay_a, event_a):
    client, secret = relay_a
    communicator = await _connect(basic_auth(client.client_id, secret))
    epoch = uuid.uuid4().hex
    assert (await _hello(communicator, event_a.pk, epoch))["last_id"] == 0
    for frame_id in (1, 2, 2, 4, 3):
        await communicator.send_json_to({"type": "rmonitor", "id": frame_id, "session_id": 4,
                                         "data": f'$F,9999,"00:00:0{frame_id}","12:00:00","00:00:00","Green "'})
    acked, answered, duplicates, errors = set(), 0, 0, []
    while answered < 5:
        reply = await communicator.receive_json_from()
        if reply["type"] == "ack":
            acked.update(range(reply["from"], reply["id"] + 1))
            duplicates += reply["duplicates"]
            answered += reply["count"]
        else:
            errors.append(reply)
            answered += 1
    assert acked == {1, 2, 3} and duplicates == 1
    assert [(e["id"], e["code"], e["expected"]) for e in errors] == [(4, "out_of_order", 3)]
    assert await bus_get().length(event_id=event_a.pk) == 3
    await communicator.disconnect()

    again = await _connect(basic_auth(client.client_id, secret))
    assert (await _hello(again, event_a.pk, epoch))["last_id"] == 3
    await again.disconnect()


async def test_messagepack_frames_get_messagepack_replies(relay_a, event_a):
    client, secret = relay_a
    communicator = await _connect(basic_auth(client.client_id, secret))
    await communicator.send_to(bytes_data=msgpack.packb({"type": "hello", "event_id": event_a.pk, "epoch": "e1"}))
    welcome = msgpack.unpackb(await communicator.receive_from())
    assert welcome["type"] == "welcome"
    await communicator.send_to(bytes_data=msgpack.packb({"type": "multiloop", "id": 1, "session_id": 2, "data": "$H\ufffdN\ufffd1"}))
    assert msgpack.unpackb(await communicator.receive_from())["type"] == "ack"
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json at all", "bad_frame"),
        ("[1, 2, 3]", "bad_frame"),
        (json.dumps({"type": "teleport", "id": 1}), "unknown_type"),
        (json.dumps({"type": "rmonitor", "id": 0, "data": "$F"}), "bad_frame"),
        (json.dumps({"type": "rmonitor", "id": 5, "data": ""}), "bad_frame"),
        (json.dumps({"type": "x2pass", "id": 6, "data": "{not json"}), "bad_frame"),
        (json.dumps({"type": "session", "id": 7, "session_id": 3, "tz_offset": 99}), "bad_frame"),
        (json.dumps({"type": "rmonitor", "id": 8, "data": "x" * 3000}), "too_large"),
    ],
)
async def test_garbage_and_oversize_frames_get_an_error_and_the_connection_stays_usable(relay_a, event_a, frame, code):
    client, secret = relay_a
    with override_settings(RELAY_MAX_FRAME_BYTES=2048):
        communicator = await _connect(basic_auth(client.client_id, secret))
        await _hello(communicator, event_a.pk)
        await communicator.send_to(text_data=frame)
        reply = await communicator.receive_json_from()
        assert reply["type"] == "error" and reply["code"] == code
        await communicator.send_json_to({"type": "rmonitor", "id": 1, "session_id": 1, "data": "$F,1"})
        assert (await communicator.receive_json_from())["type"] == "ack"
        await communicator.disconnect()


async def test_a_relay_over_its_rate_gets_rate_limited_errors(relay_a, event_a):
    client, secret = relay_a
    with override_settings(RELAY_RATE_PER_SECOND=1, RELAY_RATE_BURST=3):
        communicator = await _connect(basic_auth(client.client_id, secret))
        await _hello(communicator, event_a.pk)
        for frame_id in range(1, 6):
            await communicator.send_json_to({"type": "rmonitor", "id": frame_id, "data": "$F,1"})
        acked, errors = [], {}
        while len(acked) + len(errors) < 5:
            reply = await communicator.receive_json_from()
            if reply["type"] == "ack":
                acked += range(reply["from"], reply["from"] + reply["count"])
            else:
                errors[reply["id"]] = reply
        assert acked == [1, 2, 3] and sorted(errors) == [4, 5]
        assert errors[5]["code"] == "rate_limited" and errors[5]["retry_after"] > 0
        await communicator.disconnect()


async def test_session_change_competitors_heartbeat_and_logs_are_stored(relay_a, event_a):
    client, secret = relay_a
    communicator = await _connect(basic_auth(client.client_id, secret))
    await _hello(communicator, event_a.pk)
    await communicator.send_json_to({"type": "session", "id": 1, "session_id": 42, "name": "Qualifying 1", "tz_offset": -5})
    assert (await communicator.receive_json_from())["type"] == "ack"
    await communicator.send_json_to({"type": "competitors", "id": 2, "data": [
        {"n": "7", "fn": "Ann", "ln": "Lee", "cl": "GTU", "t": 1234567},
        {"CarNumber": "8", "FirstName": "Bo", "Class": "GTO"},
        {"fn": "nobody"},
    ]})
    warning = await communicator.receive_json_from()
    assert warning["type"] == "warning" and "car number" in warning["skipped"][0]
    assert (await communicator.receive_json_from())["type"] == "ack"
    await communicator.send_json_to({"type": "heartbeat", "version": "2.1.0"})
    assert (await communicator.receive_json_from())["type"] == "heartbeat_ack"
    await communicator.send_json_to({"type": "log", "level": "Error", "message": "decoder offline", "timestamp": "2026-05-01T12:00:00Z"})
    await communicator.send_json_to({"type": "heartbeat", "version": "2.1.0"})
    await communicator.receive_json_from()
    await communicator.disconnect()

    session = await Session.objects.aget(event=event_a, session_id=42)
    assert session.is_practice_qualifying and session.local_time_zone_offset == -5
    cars = {c.car_number: c async for c in CompetitorMetadata.objects.filter(event=event_a)}
    assert set(cars) == {"7", "8"} and cars["7"].transponder == 1234567 and cars["8"].car_class == "GTO"
    await event_a.arefresh_from_db()
    assert event_a.is_live and event_a.last_heartbeat is not None
    log = await RelayLog.objects.aget(organization_id=event_a.organization_id)
    assert log.message == "decoder offline"
    messages = await bus_get().claim_pending(event_id=event_a.pk, consumer="t")  # nothing read yet
    assert messages == []
    assert await bus_get().length(event_id=event_a.pk) == 2


async def test_a_relay_with_a_bearer_token_from_the_token_endpoint_is_accepted(relay_a, event_a):
    from apps.orgs.machine_auth import client_credentials_exchange

    client, secret = relay_a
    issued = await database_sync_to_async(client_credentials_exchange)(client_id=client.client_id, client_secret=secret)
    communicator = await _connect([(b"authorization", f"Bearer {issued.access_token}".encode())])
    assert (await _hello(communicator, event_a.pk))["type"] == "welcome"
    await communicator.disconnect()

    tampered = issued.access_token[:-4] + ("AAAA" if not issued.access_token.endswith("AAAA") else "BBBB")
    refused = await _connect([(b"authorization", f"Bearer {tampered}".encode())])
    assert (await refused.receive_json_from())["code"] == "unauthorized"


async def test_an_api_client_token_cannot_feed_a_relay_socket(org_a, event_a):
    from apps.orgs.machine_auth import client_credentials_exchange
    from apps.orgs.services import api_client_create

    client, secret = await database_sync_to_async(api_client_create)(organization=org_a)
    issued = await database_sync_to_async(client_credentials_exchange)(client_id=client.client_id, client_secret=secret)
    communicator = await _connect([(b"authorization", f"Bearer {issued.access_token}".encode())])
    reply = await communicator.receive_json_from()
    assert reply["code"] == "unauthorized" and "not a relay" in reply["error"]


async def test_the_worker_can_ask_a_connected_relay_to_resend_its_cached_data(relay_a, event_a):
    from channels.layers import get_channel_layer

    client, secret = relay_a
    communicator = await _connect(basic_auth(client.client_id, secret))
    await _hello(communicator, event_a.pk)
    await get_channel_layer().group_send(f"relay-event-{event_a.pk}", {"type": "relay.resend", "force": True})
    assert await communicator.receive_json_from() == {"type": "send_event_data", "force": True}
    await communicator.disconnect()


async def test_a_batch_frame_stores_its_messages_in_order_and_stops_at_the_first_refusal(relay_a, event_a):
    client, secret = relay_a
    communicator = await _connect(basic_auth(client.client_id, secret))
    await _hello(communicator, event_a.pk)
    frames = [{"type": "rmonitor", "id": i, "session_id": 1, "data": f"$F,{i}"} for i in range(1, 4)]
    frames += [{"type": "teleport", "id": 4}, {"type": "rmonitor", "id": 5, "data": "$F,5"}]
    await communicator.send_json_to({"type": "batch", "frames": frames})
    replies = [await communicator.receive_json_from(), await communicator.receive_json_from()]
    kinds = {r["type"]: r for r in replies}
    assert kinds["error"]["id"] == 4 and kinds["error"]["code"] == "unknown_type"
    assert (kinds["ack"]["from"], kinds["ack"]["id"]) == (1, 3)
    assert await bus_get().length(event_id=event_a.pk) == 3
    await communicator.send_json_to({"type": "batch", "frames": "nope"})
    assert (await communicator.receive_json_from())["code"] == "bad_frame"
    await communicator.disconnect()
