"""Relay → socket → Redis stream → timing worker → database, over real sockets and processes.

Each scenario replays TestEntries, TestInitialPositions and TestStart through `manage.py relay` and
checks that the worker's final state equals the engine's direct replay and that the stored laps are
exactly the laps the engine completed — also when processes or connections fail mid-race.
"""

import asyncio
import os
import signal
import subprocess
import time
from functools import lru_cache
from pathlib import Path

import pytest
import redis
from django.conf import settings

from apps.orgs.services import relay_client_create
from apps.timing.engine.engine import TimingEngine
from apps.timing.engine.replayfile import read_messages, replay
from apps.events.models import Session
from apps.relay.models import SourceLog
from apps.timing.models import CarLap
from tests.e2e.stack import PrivateRedis, Stack, wait_for

RECORDINGS = Path(__file__).resolve().parents[2] / "data" / "recordings" / "redmist"
FILES = [RECORDINGS / name for name in ("TestEntries.txt", "TestInitialPositions.txt", "TestStart.txt")]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL") or "postgres" not in os.environ.get("DATABASE_URL", ""),
                       reason="end-to-end tests need PostgreSQL and Redis (run them with `make test`)"),
]


@lru_cache(maxsize=None)
def expected(event_id: int):
    engine = TimingEngine(event_id)
    laps = []
    for message in (m for path in FILES for m in read_messages(path)):
        for result in (engine.apply(message.kind, message.payload, session_id=engine.session.session_id,
                                    received_at=message.received_at), engine.tick(message.received_at)):
            laps += [(lap.car_number, lap.lap_number) for lap in result.completed_laps]
    return engine.state_json(), sorted(laps)


def _snapshot_state(redis_url: str, event_id: int):
    client = redis.Redis.from_url(redis_url)
    snapshot = client.hgetall(f"evt-{event_id}-snapshot")
    last = client.xrevrange(f"evt-st-{event_id}", count=1)
    if not snapshot or not last or snapshot[b"last_entry"] != last[0][0]:
        return None
    return TimingEngine.restore(snapshot[b"engine"]).state_json()


def _finish_and_check(stack: Stack, relay, event) -> None:
    try:
        code = relay.wait(timeout=240)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the relay did not finish:\n{stack.log('relay')[-3000:]}\n"
                             f"server log:\n{stack.log('server')[-3000:]}") from None
    assert code == 0, stack.log("relay")
    state = wait_for(lambda: _snapshot_state(stack.redis_url, event.pk), timeout=60,
                     what="the worker to cover the last stream entry with a snapshot")
    want_state, want_laps = expected(event.pk)
    assert state == want_state
    stored = sorted(CarLap.objects.filter(event=event).values_list("car_number", "lap_number"))
    assert stored == want_laps, f"{len(stored)} laps stored, {len(want_laps)} expected"
    assert len(want_laps) > 100


@pytest.fixture
def relay_credentials(event_a):
    client, secret = relay_client_create(organization=event_a.organization)
    return client.client_id, secret


@pytest.fixture
def stack(tmp_path, clean_redis):
    instance = Stack(tmp_path, redis_url=settings.REDIS_URL)
    yield instance
    instance.close()


def test_a_replayed_race_through_the_relay_equals_the_direct_replay(stack, event_a, relay_credentials):
    stack.start_server()
    stack.start_worker()
    relay = stack.start_relay(event_id=event_a.pk, client_id=relay_credentials[0], secret=relay_credentials[1],
                              files=FILES, speed=None)
    _finish_and_check(stack, relay, event_a)
    # Source-data logging is on by default: every stream entry is kept once as a raw row.
    stream_length = redis.Redis.from_url(stack.redis_url).xlen(f"evt-st-{event_a.pk}")
    assert SourceLog.objects.filter(event=event_a).count() == stream_length > 1262
    assert Session.objects.filter(event=event_a, session_id=67, name="Saturday 8 Hour").exists()


def test_killing_the_worker_mid_race_loses_and_repeats_nothing(stack, event_a, relay_credentials):
    stack.start_server()
    first = stack.start_worker()
    relay = stack.start_relay(event_id=event_a.pk, client_id=relay_credentials[0], secret=relay_credentials[1],
                              files=FILES, speed=150)
    wait_for(lambda: CarLap.objects.filter(event=event_a).count() > 30, timeout=60, what="laps from the first worker")
    assert relay.poll() is None, "the race must still be running when the worker dies"
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    stack.start_worker()
    _finish_and_check(stack, relay, event_a)


def test_restarting_redis_mid_race_loses_and_repeats_nothing(tmp_path, event_a, relay_credentials):
    private = PrivateRedis(tmp_path / "redis")
    private.start()
    stack = Stack(tmp_path, redis_url=private.url)
    try:
        stack.start_server()
        stack.start_worker()
        relay = stack.start_relay(event_id=event_a.pk, client_id=relay_credentials[0], secret=relay_credentials[1],
                                  files=FILES, speed=150)
        wait_for(lambda: CarLap.objects.filter(event=event_a).count() > 30, timeout=60, what="laps before the restart")
        assert relay.poll() is None, "the race must still be running when Redis stops"
        private.stop()
        time.sleep(1.5)
        private.start()
        _finish_and_check(stack, relay, event_a)
    finally:
        stack.close()
        private.stop()


def test_dropping_the_relay_connection_mid_race_loses_and_repeats_nothing(stack, event_a, relay_credentials):
    stack.start_server()
    stack.start_worker()
    proxy = CuttableProxy(stack.port)
    proxy.start()
    try:
        relay = stack.start_relay(event_id=event_a.pk, client_id=relay_credentials[0], secret=relay_credentials[1],
                                  files=FILES, speed=150, server_url=f"http://127.0.0.1:{proxy.port}")
        wait_for(lambda: CarLap.objects.filter(event=event_a).count() > 30, timeout=60, what="laps before the cut")
        assert relay.poll() is None, "the race must still be running when the link drops"
        proxy.cut()
        wait_for(lambda: proxy.connections >= 2, timeout=30, what="the relay to reconnect")
        _finish_and_check(stack, relay, event_a)
    finally:
        proxy.stop()


def test_restarting_the_server_mid_race_loses_and_repeats_nothing(stack, event_a, relay_credentials):
    stack.start_server()
    stack.start_worker()
    relay = stack.start_relay(event_id=event_a.pk, client_id=relay_credentials[0], secret=relay_credentials[1],
                              files=FILES, speed=150)
    wait_for(lambda: CarLap.objects.filter(event=event_a).count() > 30, timeout=60, what="laps before the restart")
    assert relay.poll() is None, "the race must still be running when the server restarts"
    stack.stop_server()
    time.sleep(1)
    stack.start_server()
    _finish_and_check(stack, relay, event_a)


class CuttableProxy:
    """A TCP proxy in a thread whose connections the test can sever, like a dropped track-side uplink."""

    def __init__(self, target_port: int) -> None:
        import threading

        from tests.e2e.stack import free_port

        self.target_port = target_port
        self.port = free_port()
        self.connections = 0
        self._writers: list = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader, writer) -> None:
        self.connections += 1
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, upstream_writer]

        async def pipe(source, sink):
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    def cut(self) -> None:
        async def close_all():
            for writer in self._writers:
                writer.transport.abort()
            self._writers.clear()

        asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(timeout=10)

    def stop(self) -> None:
        async def shutdown():
            self._server.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
