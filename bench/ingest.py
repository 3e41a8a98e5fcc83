"""Relay ingest benchmark: messages/s accepted through one server process into the Redis stream, and
relay-to-patch latency at the worker at a paced rate, side by side with raw XADD from one client.

    .venv/bin/python bench/ingest.py [--messages 20000] [--rate 200] [--seconds 10] [--redis redis://127.0.0.1:6379/14]

It starts its own daphne (distributed mode: REDIS_URL set, SQLite in a temporary directory) and, for
the latency part, one `manage.py timing_worker`. The Redis database given is flushed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import redis.asyncio as aioredis
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RACE = ROOT / "data" / "recordings" / "redmist" / "TestSessionChanges.txt"


def _payloads(count: int) -> list[str]:
    from apps.timing.engine.replayfile import read_messages

    messages = [m.payload for m in read_messages(RACE)]
    return [messages[i % len(messages)] for i in range(count)]


async def raw_xadd(url: str, payloads: list[str]) -> float:
    client = aioredis.Redis.from_url(url)
    await client.delete("bench-raw")
    start = time.perf_counter()
    for index, payload in enumerate(payloads):
        await client.xadd("bench-raw", {"k": "rmonitor", "s": "1", "p": payload, "t": repr(time.time())},
                          maxlen=100_000, approximate=True)
    elapsed = time.perf_counter() - start
    await client.delete("bench-raw")
    await client.aclose()
    return len(payloads) / elapsed


async def _relay(url: str, event_id: int, auth: str):
    socket = await websockets.connect(url, additional_headers={"Authorization": auth}, compression=None, max_size=2**24)
    await socket.send(json.dumps({"type": "hello", "event_id": event_id, "epoch": os.urandom(8).hex()}))
    welcome = json.loads(await socket.recv())
    assert welcome["type"] == "welcome", welcome
    return socket


async def ingest(url: str, event_id: int, auth: str, payloads: list[str], window: int = 500, batch: int = 1) -> float:
    socket = await _relay(url, event_id, auth)
    acked = 0
    done = asyncio.Event()

    async def read():
        nonlocal acked
        async for raw in socket:
            reply = json.loads(raw)
            if reply["type"] == "ack":
                acked = reply["id"]
                if acked == len(payloads):
                    done.set()
            elif reply["type"] == "error":
                raise RuntimeError(reply)

    reader = asyncio.create_task(read())
    start = time.perf_counter()
    for first in range(1, len(payloads) + 1, batch):
        while first - acked > window:
            await asyncio.sleep(0.0005)
        frames = [{"type": "rmonitor", "id": index, "session_id": 1, "data": payloads[index - 1], "ts": time.time()}
                  for index in range(first, min(first + batch, len(payloads) + 1))]
        body = frames[0] if batch == 1 else {"type": "batch", "frames": frames}
        await socket.send(json.dumps(body))
    await asyncio.wait_for(done.wait(), timeout=300)
    elapsed = time.perf_counter() - start
    reader.cancel()
    await socket.close()
    return len(payloads) / elapsed


async def latency(url: str, event_id: int, auth: str, payloads: list[str], rate: float) -> list[float]:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(f"evt-{event_id}", channel)
    samples: list[float] = []

    async def listen():
        while True:
            message = await layer.receive(channel)
            if message.get("relay_at"):
                samples.append((time.time() - message["relay_at"]) * 1000)

    listener = asyncio.create_task(listen())
    socket = await _relay(url, event_id, auth)
    drain = asyncio.create_task(_drain(socket))
    start = time.perf_counter()
    for index, payload in enumerate(payloads, start=1):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await socket.send(json.dumps({"type": "rmonitor", "id": index, "session_id": 1, "data": payload,
                                      "ts": time.time()}))
    await asyncio.sleep(1.0)
    listener.cancel()
    drain.cancel()
    await socket.close()
    return samples


async def _drain(socket):
    async for _ in socket:
        pass


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    redis.Redis.from_url(args.redis).flushdb()

    var = Path(tempfile.mkdtemp(prefix="redmist-bench-"))
    env = {**os.environ, "REDIS_URL": args.redis, "REDMIST_VAR_DIR": str(var), "LOG_LEVEL": "WARNING",
           "SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnop", "RELAY_RATE_PER_SECOND": "1000000",
           "RELAY_RATE_BURST": "1000000"}
    env.pop("DATABASE_URL", None)
    os.environ.update({k: env[k] for k in ("REDIS_URL", "REDMIST_VAR_DIR", "SECRET_KEY")})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "redmist.settings")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([sys.executable, "manage.py", "demo_setup"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    credentials = json.loads((var / "demo.json").read_text())
    auth = "Basic " + base64.b64encode(f"{credentials['relay_client_id']}:{credentials['relay_client_secret']}".encode()).decode()

    import django

    django.setup()
    port = 8765
    server = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                               "redmist.asgi:application"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    worker = None
    try:
        time.sleep(3)
        url = f"ws://127.0.0.1:{port}/ws/relay/"
        payloads = _payloads(args.messages)
        raw = asyncio.run(raw_xadd(args.redis, payloads))
        single = asyncio.run(ingest(url, credentials["event_id"], auth, payloads))
        redis.Redis.from_url(args.redis).delete(f"evt-st-{credentials['event_id']}",
                                                f"evt-{credentials['event_id']}-relay-dedup")
        batched = asyncio.run(ingest(url, credentials["event_id"], auth, payloads, batch=100))
        print(f"raw XADD, one client, one at a time:          {raw:10,.0f} msgs/s")
        print(f"relay socket → stream, one message per frame: {single:10,.0f} msgs/s   ratio {single / raw:.2f}")
        print(f"relay socket → stream, batched as the relay:  {batched:10,.0f} msgs/s   ratio {batched / raw:.2f}")

        # The latency run starts from an empty stream: the ingest run's backlog is not what we measure.
        redis.Redis.from_url(args.redis).delete(f"evt-st-{credentials['event_id']}",
                                                f"evt-{credentials['event_id']}-relay-dedup")
        worker = subprocess.Popen([sys.executable, "manage.py", "timing_worker"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)
        paced = _payloads(int(args.rate * args.seconds))
        samples = asyncio.run(latency(url, credentials["event_id"], auth, paced, args.rate))
        print(f"relay-to-patch at {args.rate:.0f} msgs/s: {len(samples)} patch sets, "
              f"p50 {statistics.median(samples):.1f} ms, p99 {_percentile(samples, 0.99):.1f} ms, "
              f"max {max(samples):.1f} ms")
    finally:
        for process in (server, worker):
            if process is not None:
                process.terminate()
                process.wait(timeout=10)


if __name__ == "__main__":
    main()
