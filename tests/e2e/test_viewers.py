"""Viewers over real WebSockets: daphne, `timing_worker` and `relay` as real processes on PostgreSQL and Redis.

The relay replays TestEntries, TestInitialPositions and TestStart; viewers subscribe on `ws/status/` (JSON and
MessagePack), take the full state and then apply each patch set themselves (tests/e2e/viewer_client.py). Every
viewer must end with exactly the worker's final state: the live state it saved in Redis (`evt-{id}-state`) at the
same sequence number, which is also the engine's direct replay of the recordings — also a viewer that joins
mid-race, one that disconnects and comes back, and one that loses patch sets and asks for a resync.
"""

import asyncio
import datetime as dt
import os

import pytest
import redis
from django.conf import settings

from apps.events.services import event_create
from apps.orgs.services import relay_client_create
from apps.timing.engine import wire
from apps.timing.livestate import session_from_msgpack
from tests.e2e.stack import Stack, wait_for
from tests.e2e.test_live_pipeline import FILES, _snapshot_state, expected
from tests.e2e.viewer_client import ViewerClient

pytestmark = [
    pytest.mark.slow,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL") or "postgres" not in os.environ.get("DATABASE_URL", ""),
                       reason="end-to-end tests need PostgreSQL and Redis (run them with `make test`)"),
]

ACCESS_ERROR = "Access code required or invalid for this event."
RACE_SPEED = 50  # TestStart (10 minutes of racing) takes ~12 s: long enough to act in the middle of it


@pytest.fixture
def stack(tmp_path, clean_redis):
    instance = Stack(tmp_path, redis_url=settings.REDIS_URL)
    instance.start_server()
    instance.start_worker()
    yield instance
    instance.close()


@pytest.fixture
def relay_credentials(org_a):
    client, secret = relay_client_create(organization=org_a)
    return client.client_id, secret


def _relay(stack: Stack, event, credentials, *, speed=RACE_SPEED):
    return stack.start_relay(event_id=event.pk, client_id=credentials[0], secret=credentials[1], files=FILES,
                             speed=speed)


def _url(stack: Stack, query: str = "") -> str:
    return f"ws://127.0.0.1:{stack.port}/ws/status/{query}"


def _worker_live_state(event_id: int) -> tuple[int, dict] | None:
    """(seq, SessionState JSON) as the worker last saved it for viewers."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        data = client.hgetall(f"evt-{event_id}-state")
    finally:
        client.close()
    if not data:
        return None
    return int(data[b"seq"]), wire.session_to_json(session_from_msgpack(data[b"state"]))


async def _race_finished(stack: Stack, relay, event_id: int) -> None:
    """The relay sent everything and the worker applied and snapshotted it all."""
    assert await asyncio.to_thread(relay.wait, 120) == 0, stack.log("relay")
    await asyncio.to_thread(wait_for, lambda: _snapshot_state(stack.redis_url, event_id), timeout=60,
                            what="the worker to cover the last stream entry with a snapshot")


async def _ends_equal(viewer: ViewerClient, event_id: int) -> dict:
    """Wait until the viewer is at the worker's saved sequence number, then compare the states."""
    final: dict = {}

    def caught_up():
        live = _worker_live_state(event_id)
        if live is None or viewer.state is None or viewer.seq != live[0]:
            return False
        final["seq"], final["state"] = live
        return True

    await viewer.until(caught_up, timeout=60, what="the worker's last sequence number")
    got = viewer.as_json()
    want = final["state"]
    if got != want:  # name the first difference rather than dumping two whole states
        cars_got = {c["n"]: c for c in got["carPositions"]}
        cars_want = {c["n"]: c for c in want["carPositions"]}
        session_diff = {k: (got.get(k), want.get(k)) for k in want if k != "carPositions" and got.get(k) != want[k]}
        car_diff = {n: {k: (cars_got.get(n, {}).get(k), v) for k, v in c.items() if cars_got.get(n, {}).get(k) != v}
                    for n, c in cars_want.items() if cars_got.get(n) != c}
        extra = set(cars_got) - set(cars_want)
        order = [c["n"] for c in got["carPositions"]] == [c["n"] for c in want["carPositions"]]
        raise AssertionError(f"{viewer.name} differs from the worker at seq {final['seq']}: session {session_diff}, "
                             f"cars {dict(list(car_diff.items())[:3])}, extra cars {extra}, same car order {order}")
    return want


async def test_several_viewers_json_and_messagepack_end_equal_to_the_worker(stack, event_a, relay_credentials):
    viewers = [
        await ViewerClient(_url(stack), name="json-v2").start(),
        await ViewerClient(_url(stack), name="json-v1").start(),
        await ViewerClient(_url(stack), binary=True, subprotocols=["redmist.msgpack"], name="msgpack").start(),
        await ViewerClient(_url(stack, "?protocol=messagepack"), binary=True, name="msgpack-query").start(),
    ]
    methods = ["SubscribeToEventV2", "SubscribeToEvent", "SubscribeToEventV2WithCode", "subscribetoeventv2"]
    for viewer, method in zip(viewers, methods):
        reply = await viewer.call(method, event_a.pk)
        assert reply["type"] == "ok" and reply["method"] == method, reply
    relay = _relay(stack, event_a, relay_credentials)
    first = viewers[0]
    await first.until(lambda: first.applied > 5, timeout=60, what="patch sets mid-race")
    assert relay.poll() is None, "the race must still be running when the late viewer joins"
    late = await ViewerClient(_url(stack), name="json-late").start()
    assert (await late.call("SubscribeToEventV2WithCode", event_a.pk, None))["type"] == "ok"
    viewers.append(late)

    await _race_finished(stack, relay, event_a.pk)
    final = None
    for viewer in viewers:
        final = await _ends_equal(viewer, event_a.pk)
    assert final == expected(event_a.pk)[0]  # the worker's state is the direct replay's
    for viewer in viewers:
        assert [k for k in viewer.kinds if k not in ("ok", "error")][0] == "state", viewer.name
        assert viewer.gaps == [], f"{viewer.name}: patch sets that did not chain: {viewer.gaps[:5]}"
        assert viewer.applied > 0, (viewer.name, viewer.applied)
    assert all(v.applied > 10 for v in viewers[:4]), [v.applied for v in viewers]
    for viewer in viewers:
        await viewer.close()


async def test_viewers_that_reconnect_or_skip_patch_sets_mid_race_end_equal(stack, event_a, relay_credentials):
    leaver = await ViewerClient(_url(stack), name="leaver").start()
    skipper = await ViewerClient(_url(stack), name="skipper").start()
    skipper_mp = await ViewerClient(_url(stack), binary=True, subprotocols=["redmist.msgpack"],
                                    name="skipper-msgpack").start()
    for viewer in (leaver, skipper, skipper_mp):
        assert (await viewer.call("SubscribeToEventV2", event_a.pk))["type"] == "ok"
    relay = _relay(stack, event_a, relay_credentials)
    for viewer in (leaver, skipper, skipper_mp):
        await viewer.until(lambda: viewer.applied > 5, timeout=60, what="patch sets mid-race")
    assert relay.poll() is None, "the race must still be running when the viewers drop out or skip"
    for viewer in (skipper, skipper_mp):
        viewer.drop_next = 3  # the client loses three patch sets (a UI hiccup) and notices the gap on the fourth
    left_at = leaver.seq
    await leaver.close()
    await asyncio.sleep(0.3)  # the race goes on without it
    again = await ViewerClient(_url(stack), name="reconnected").start()
    assert (await again.call("SubscribeToEventV2", event_a.pk))["type"] == "ok"
    await again.until(lambda: again.state is not None, timeout=30, what="the full state after reconnecting")
    assert again.kinds[again.kinds.index("ok") + 1] == "state"
    assert again.seq > left_at
    for viewer in (skipper, skipper_mp):
        await viewer.until(lambda: viewer.resyncs_sent >= 1 and not viewer._awaiting_state, timeout=60,
                           what="the state after the resync request")

    await _race_finished(stack, relay, event_a.pk)
    want = expected(event_a.pk)[0]
    assert await _ends_equal(again, event_a.pk) == want
    assert again.gaps == []
    for viewer in (skipper, skipper_mp):
        assert await _ends_equal(viewer, event_a.pk) == want
        assert viewer.dropped == 3 and viewer.resyncs_sent == 1 and len(viewer.gaps) == 1, viewer.gaps
        assert any(r["method"] == "Resync" and r["type"] == "ok" for r in viewer.replies)
        assert viewer.kinds.count("state") >= 2  # the first one and the one the resync asked for
    for viewer in (again, skipper, skipper_mp):
        await viewer.close()


@pytest.fixture
def private(org_a):
    return event_create(organization=org_a, name="Secret Test Day", start_date=dt.date(2026, 5, 3),
                        is_private=True, access_code="4242")


async def test_a_private_event_refuses_a_wrong_access_code_over_the_socket_and_sends_no_data(stack, private,
                                                                                            relay_credentials):
    wrong = await ViewerClient(_url(stack), name="wrong-code").start()
    missing = await ViewerClient(_url(stack), binary=True, subprotocols=["redmist.msgpack"], name="no-code").start()
    right = await ViewerClient(_url(stack), name="right-code").start()
    reply = await wrong.call("SubscribeToEventV2WithCode", private.pk, "0000")
    assert reply == {"type": "error", "id": reply["id"], "method": "SubscribeToEventV2WithCode",
                     "error": ACCESS_ERROR}
    reply = await missing.call("SubscribeToEventV2", private.pk)
    assert reply["type"] == "error" and reply["error"] == ACCESS_ERROR
    assert (await right.call("SubscribeToEventV2WithCode", private.pk, "4242"))["type"] == "ok"

    relay = _relay(stack, private, relay_credentials, speed=150)
    await _race_finished(stack, relay, private.pk)
    await _ends_equal(right, private.pk)
    assert right.applied > 0 and right.data_messages > right.applied
    for viewer in (wrong, missing):
        assert viewer.kinds == ["error"] and viewer.data_messages == 0 and viewer.state is None, viewer.kinds[:5]
    for viewer in (wrong, missing, right):
        await viewer.close()
