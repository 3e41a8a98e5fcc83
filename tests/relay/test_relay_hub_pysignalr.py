"""A third-party SignalR client (pysignalr) against the RelayHub on a real daphne: negotiate, handshake,
invocations with and without completions, a refusal, and SendEventData pushed by a worker group message.
Needs PostgreSQL and Redis (the server is a subprocess sharing the test database and the channel layer)."""

import asyncio
import os

import pytest
import requests
from channels.layers import get_channel_layer
from django.conf import settings

from apps.relay.bus import bus_get
from apps.relay.groups import relay_group_name
from redmist.cancellation import task_stop
from tests.e2e.stack import Stack

pysignalr = pytest.importorskip("pysignalr")
from pysignalr.client import SignalRClient  # noqa: E402
from pysignalr.protocol.json import JSONProtocol  # noqa: E402
from pysignalr.protocol.messagepack import MessagepackProtocol  # noqa: E402

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL") or "postgres" not in os.environ.get("DATABASE_URL", ""),
                       reason="needs PostgreSQL and Redis (make test)"),
]


@pytest.fixture
def stack(tmp_path, clean_redis):
    instance = Stack(tmp_path, redis_url=settings.REDIS_URL)
    instance.start_server()
    yield instance
    instance.close()


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_pysignalr_feeds_the_hub_and_receives_send_event_data(stack, relay_a, event_a, event_b, protocol):
    # A JWT from the server's own client-credentials endpoint, as a relay gets it.
    client_row, secret = relay_a
    response = await asyncio.to_thread(requests.post, f"{stack.base_url}/oauth/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": client_row.client_id, "client_secret": secret})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    client = SignalRClient(f"{stack.base_url}/relay/hub", headers={"Authorization": f"Bearer {token}"},
                           protocol=JSONProtocol() if protocol == "json" else MessagepackProtocol(),
                           retry_count=1)
    completions: dict[str, object] = {}
    errors: list[str] = []
    resend: asyncio.Future = asyncio.get_running_loop().create_future()
    done = asyncio.Event()

    def record(name):
        async def callback(message):
            completions[name] = message
            if {"rmonitor", "heartbeat", "session"} <= completions.keys() and errors:
                done.set()
        return callback

    async def on_error(message):
        errors.append(message.error)
        if {"rmonitor", "heartbeat", "session"} <= completions.keys():
            done.set()

    async def on_send_event_data(arguments):
        if not resend.done():
            resend.set_result(arguments)

    async def on_open():
        await client.send("SendSessionChange", [event_a.pk, 4, "Race", -4.0], on_invocation=record("session"))
        await client.send("SendRMonitor", [event_a.pk, 4, '$B,4,"Race"'])  # fire and forget
        await client.send("SendRMonitor", [event_a.pk, 4, '$F,10,"00:10:00","12:00:00","00:01:00","Green "'],
                          on_invocation=record("rmonitor"))
        await client.send("SendHeartbeatV2", [event_a.pk, "3.0.0"], on_invocation=record("heartbeat"))
        await client.send("SendRMonitor", [event_b.pk, 4, "$F,1"], on_invocation=record("refused"))

    client.on_open(on_open)
    client.on_error(on_error)
    client.on("SendEventData", on_send_event_data)
    runner = asyncio.create_task(client.run())
    try:
        finished, _ = await asyncio.wait([runner, asyncio.create_task(done.wait())], timeout=20,
                                         return_when=asyncio.FIRST_COMPLETED)
        if runner in finished:
            raise AssertionError(f"the client stopped: {runner.exception()!r}\n{stack.log('server')[-3000:]}")
        assert done.is_set(), (completions, errors, stack.log("server")[-3000:])
        assert not completions["session"].error and not completions["rmonitor"].error
        assert completions["heartbeat"].result in ({"serviceStatuses": [], "eventConnections": []}, [[], []])
        assert len(errors) == 1 and "not one of your organization's events" in errors[0]

        bus = bus_get()
        await bus.ensure_group(event_id=event_a.pk)
        entries = [m for _, m in await bus.read_new(event_id=event_a.pk, consumer="test", count=100)]
        assert [m.kind for m in entries] == ["evtsessionchanged", "rmonitor", "rmonitor"]
        assert await bus.length(event_id=event_b.pk) == 0

        await get_channel_layer().group_send(relay_group_name(event_a.pk), {"type": "relay.resend", "force": True})
        assert await asyncio.wait_for(resend, timeout=10) == [True]
    finally:
        await task_stop(runner)
    assert "Traceback" not in stack.log("server"), stack.log("server")[-3000:]
