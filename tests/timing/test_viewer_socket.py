"""The viewer socket, driven with Channels' WebsocketCommunicator: full state, then patches that keep a viewer equal
to the worker's state after every pass; gaps, resets and reconnects resynchronise; access codes; JSON == MessagePack."""

import asyncio
import datetime as dt

import pytest
import pytest_asyncio
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from apps.controllog.models import ControlLogEntry
from apps.events.services import event_create
from apps.timing.fanout import control_log_publish, hubs_close, hubs_reset
from redmist.routing import websocket_urlpatterns
from tests.timing.viewer_support import FakeWorker, Viewer, race_messages, state_store_reset

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

app = URLRouter(websocket_urlpatterns)
ACCESS_ERROR = "Access code required or invalid for this event."


@pytest_asyncio.fixture(autouse=True)
async def _fresh(clean_redis):
    state_store_reset()
    hubs_reset()
    yield
    await hubs_close()  # before the loop closes (see hubs_close)


@pytest.fixture
def private_event(org_a):
    return event_create(organization=org_a, name="Secret Test Day", start_date=dt.date(2026, 5, 3),
                        is_private=True, access_code="4242")


async def _viewer(path="/ws/status/", *, binary=False, subprotocols=None) -> Viewer:
    communicator = WebsocketCommunicator(app, path, subprotocols=subprotocols)
    connected, _ = await communicator.connect()
    assert connected
    return Viewer(communicator, binary=binary)


async def _subscribe(viewer: Viewer, event_id: int, code=None, method="SubscribeToEventV2WithCode") -> dict:
    args = [event_id] if code is None else [event_id, code]
    await viewer.send({"id": 1, "method": method, "args": args})
    return await viewer.recv()


async def test_a_viewer_gets_the_full_state_then_patches_that_equal_the_workers_state_after_every_pass(event_a):
    messages = race_messages()
    async with FakeWorker(event_id=event_a.pk, channel_layer=get_channel_layer()) as worker:
        for m in messages[:150]:  # the race is under way before anyone watches
            await worker.publish(worker.apply(m))
        await worker.save()
        as_json = await _viewer()
        as_msgpack = await _viewer("/ws/status/?protocol=messagepack", binary=True)
        for viewer in (as_json, as_msgpack):
            assert (await _subscribe(viewer, event_a.pk))["type"] == "ok"
            await viewer.until_seq(worker.published_seq)
            assert viewer.kinds[0] == "state"
            assert viewer.as_json() == worker.engine.state_json()

        passes = resets = 0
        for m in messages[150:]:
            result = worker.apply(m)
            if await worker.publish(result) is None:
                continue
            passes += 1
            resets += result.reset
            expected = worker.engine.state_json()
            await as_json.until_seq(result.seq)
            assert as_json.state == expected, f"JSON viewer differs after pass {result.seq}"
            if passes % 25 == 0 or result.reset:
                await as_msgpack.until_seq(result.seq)
                assert as_msgpack.as_json() == expected, f"MessagePack viewer differs after pass {result.seq}"
        await as_msgpack.until_seq(worker.published_seq)
        assert as_msgpack.as_json() == as_json.state == worker.engine.state_json()
    assert passes > 500 and resets >= 1
    assert "reset" in as_json.kinds  # announced, then a fresh state followed
    assert as_json.kinds.count("state") >= 1 + resets
    for viewer in (as_json, as_msgpack):
        await viewer.communicator.disconnect()


async def test_json_and_messagepack_viewers_receive_the_same_patches(event_a):
    messages = race_messages()
    async with FakeWorker(event_id=event_a.pk, channel_layer=get_channel_layer()) as worker:
        for m in messages[:150]:
            await worker.publish(worker.apply(m))
        await worker.save()
        as_json = await _viewer()
        as_msgpack = await _viewer(subprotocols=["redmist.msgpack"], binary=True)
        for viewer in (as_json, as_msgpack):
            await _subscribe(viewer, event_a.pk, method="SubscribeToEventV2")
            await viewer.until_seq(worker.published_seq)
        for m in messages[150:550]:
            await worker.publish(worker.apply(m))
        await as_json.until_seq(worker.published_seq)
        await as_msgpack.until_seq(worker.published_seq)
    from apps.timing.livestate import car_patches_to_msgpack, session_patch_to_msgpack

    assert as_json.kinds.count("patches") == as_msgpack.kinds.count("patches") > 50
    assert as_msgpack.as_json() == as_json.state == worker.engine.state_json()
    # one patch set, both encodings: the MessagePack one is the JSON one at key numbers
    await as_json.communicator.disconnect()
    await as_msgpack.communicator.disconnect()
    sample = {"n": "70", "ovp": 2, "og": "0.787", "lastLapPitted": 3}
    arr = car_patches_to_msgpack([sample])[0]
    assert (arr[2], arr[20], arr[11], arr[17], arr[0]) == ("70", 2, "0.787", 3, None)
    assert session_patch_to_msgpack({"currentFlag": 2, "sessionName": "Race"})[15] == 2


async def test_a_patch_set_lost_on_the_way_makes_every_viewer_resynchronise_and_end_equal(event_a):
    messages = race_messages()[:500]
    async with FakeWorker(event_id=event_a.pk, channel_layer=get_channel_layer()) as worker:
        await worker.save()
        viewer = await _viewer()
        await _subscribe(viewer, event_a.pk)
        await viewer.until_seq(0)
        dropped = changed = 0
        for m in messages:
            result = worker.apply(m)
            changed += result.changed
            lose = result.changed and changed in (200, 201, 350)
            dropped += lose
            await worker.publish(result, drop=lose)
        await asyncio.sleep(0.1)
        await viewer.until_seq(worker.published_seq)
        assert viewer.state == worker.engine.state_json()
    assert dropped == 3
    assert viewer.kinds.count("state") >= 2  # the first one, and the reload after the gap
    await viewer.communicator.disconnect()


async def test_a_viewer_that_skips_patches_asks_for_a_resync_and_ends_equal(event_a):
    messages = race_messages()[:450]
    async with FakeWorker(event_id=event_a.pk, channel_layer=get_channel_layer()) as worker:
        for m in messages[:150]:
            await worker.publish(worker.apply(m))
        await worker.save()
        viewer = await _viewer()
        await _subscribe(viewer, event_a.pk)
        await viewer.until_seq(worker.published_seq)
        for m in messages[150:300]:
            await worker.publish(worker.apply(m))
        # the client loses two messages (say, a UI hiccup) and notices the sequence gap on the next one
        assert [(await viewer.recv())["type"] for _ in range(2)] == ["patches", "patches"]
        message = await viewer.recv()
        assert message["type"] == "patches" and message["fromSeq"] != viewer.seq
        await viewer.send({"method": "Resync", "args": [event_a.pk]})
        for m in messages[300:]:
            await worker.publish(worker.apply(m))
        while message["type"] != "state":  # patches until the state arrives are useless to it
            message = await viewer.recv()
        viewer.handle(message)
        await viewer.until_seq(worker.published_seq)
        assert viewer.state == worker.engine.state_json()
    await viewer.communicator.disconnect()


async def test_a_viewer_that_reconnects_mid_race_ends_equal(event_a):
    messages = race_messages()
    async with FakeWorker(event_id=event_a.pk, channel_layer=get_channel_layer()) as worker:
        await worker.save()
        viewer = await _viewer()
        await _subscribe(viewer, event_a.pk)
        for m in messages[:300]:
            await worker.publish(worker.apply(m))
        await viewer.until_seq(worker.published_seq)
        await viewer.communicator.disconnect()
        for m in messages[300:700]:  # missed while away
            await worker.publish(worker.apply(m))
        again = await _viewer()
        await _subscribe(again, event_a.pk)
        for m in messages[700:900]:
            await worker.publish(worker.apply(m))
        await again.until_seq(worker.published_seq)
        assert again.kinds[0] == "state"
        assert again.state == worker.engine.state_json()
    await again.communicator.disconnect()


@pytest.mark.parametrize("method,args", [
    ("SubscribeToEventV2WithCode", ["{id}", "{code}"]),
    ("SubscribeToEventV2", ["{id}"]),
    ("SubscribeToControlLogs", ["{id}", "{code}"]),
    ("SubscribeToCarControlLogs", ["{id}", "7", "{code}"]),
    ("SubscribeToInCarDriverEventV2", ["{id}", "7", "{code}"]),
])
async def test_a_private_event_refuses_a_wrong_or_missing_code_on_every_subscription_and_sends_no_data(
        private_event, method, args):
    async with FakeWorker(event_id=private_event.pk, channel_layer=get_channel_layer()) as worker:
        await worker.save()
        for code in ("0000", None):
            viewer = await _viewer()
            filled = [private_event.pk if a == "{id}" else (code if a == "{code}" else a) for a in args]
            await viewer.send({"id": 9, "method": method, "args": filled})
            reply = await viewer.recv()
            assert reply == {"type": "error", "id": 9, "method": method, "error": ACCESS_ERROR}
            for m in race_messages()[:60]:
                await worker.publish(worker.apply(m))
            assert await viewer.communicator.receive_nothing(timeout=0.2)
            await viewer.communicator.disconnect()

        viewer = await _viewer()
        filled = [private_event.pk if a == "{id}" else ("4242" if a == "{code}" else a) for a in args]
        await viewer.send({"id": 10, "method": method, "args": filled})
        reply = await viewer.recv()
        if method == "SubscribeToEventV2":  # no code argument: a private event always refuses it
            assert reply["type"] == "error"
        else:
            assert reply["type"] == "ok"
            assert (await viewer.recv())["type"] in ("state", "controlLog", "inCar")
        await viewer.communicator.disconnect()


async def test_an_unknown_event_and_a_bad_message_get_clear_errors():
    viewer = await _viewer()
    await viewer.send({"id": 1, "method": "SubscribeToEventV2", "args": [987654]})
    assert (await viewer.recv())["error"] == "Event not found."
    await viewer.send({"id": 2, "method": "SubscribeToEventV2", "args": ["x"]})
    assert (await viewer.recv())["error"] == "eventId must be an integer"
    await viewer.send({"id": 3, "method": "Nope", "args": []})
    assert "Unknown method" in (await viewer.recv())["error"]
    await viewer.communicator.send_to(text_data="not json")
    assert (await viewer.recv())["error"].startswith("Bad message")
    await viewer.communicator.disconnect()


async def test_control_log_subscribers_get_the_log_then_each_update_for_their_event_or_car(event_a):
    await ControlLogEntry.objects.acreate(event=event_a, order_id=1, car1="7", note="Contact T3", status="Reviewed")
    await ControlLogEntry.objects.acreate(event=event_a, order_id=2, car1="12", note="Track limits")
    whole = await _viewer()
    car7 = await _viewer("/ws/status/?protocol=messagepack", binary=True)
    assert (await _subscribe(whole, event_a.pk, method="SubscribeToControlLogs"))["type"] == "ok"
    initial = await whole.recv()
    assert initial["type"] == "controlLog" and initial["log"]["cn"] == ""
    assert [e["n"] for e in initial["log"]["entries"]] == ["Contact T3", "Track limits"]
    await car7.send({"method": "SubscribeToCarControlLogs", "args": [event_a.pk, "7", None]})
    assert (await car7.recv())["type"] == "ok"
    car_log = await car7.recv()
    assert car_log["log"][0] == "7" and [e[7] for e in car_log["log"][1]] == ["Contact T3"]

    layer = get_channel_layer()
    await control_log_publish(channel_layer=layer, event_id=event_a.pk,
                              log={"cn": "7", "entries": [{"o": 3, "n": "Drive-through", "c1": "7"}]})
    update = await car7.recv()
    assert update["type"] == "controlLog" and update["log"][1][0][7] == "Drive-through"
    assert await whole.communicator.receive_nothing(timeout=0.2)
    for viewer in (whole, car7):
        await viewer.communicator.disconnect()


async def test_in_car_mode_sends_the_car_its_neighbours_gaps_and_flag_and_updates_when_they_change(event_a):
    async with FakeWorker(event_id=event_a.pk, channel_layer=get_channel_layer()) as worker:
        messages = race_messages()
        for m in messages[:700]:
            await worker.publish(worker.apply(m))
        await worker.save()
        state = worker.engine.state_json()
        mid = sorted(state["carPositions"], key=lambda c: c["ovp"] or 999)[5]
        viewer = await _viewer()
        await viewer.send({"method": "SubscribeToInCarDriverEventV2", "args": [event_a.pk, mid["n"], None]})
        assert (await viewer.recv())["type"] == "ok"
        payload = (await viewer.recv())["payload"]
        assert payload["n"] == mid["n"] and payload["o"] == str(mid["ovp"]) and payload["p"] == str(mid["clp"])
        own = payload["c"][2]
        assert own["n"] == mid["n"]
        ahead = next(c for c in state["carPositions"] if c["ovp"] == mid["ovp"] - 1)
        slots = [c["n"] for c in payload["c"] if c]
        assert ahead["n"] in slots
        assert payload["f"] in (mid["flg"], state["currentFlag"])
        for m in messages[700:1000]:
            await worker.publish(worker.apply(m))
        update = await viewer.recv(timeout=5)
        assert update["type"] == "inCar"
    await viewer.communicator.disconnect()


async def test_closing_the_hub_stops_its_receive_loop(event_a):
    from apps.timing import fanout

    viewer = await _viewer()
    await _subscribe(viewer, event_a.pk)
    hub = fanout._hubs[asyncio.get_running_loop()]
    assert hub._task is not None and not hub._task.done()
    await viewer.communicator.disconnect()
    await hubs_close()
    assert hub._task.done() and asyncio.get_running_loop() not in fanout._hubs
