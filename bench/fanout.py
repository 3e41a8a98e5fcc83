"""Viewer fan-out benchmark: N viewers on one server process receive a replayed race's patch stream.

    .venv/bin/python bench/fanout.py [--viewers 500 2000] [--burst 100] [--paced-seconds 10] [--redis redis://127.0.0.1:6379/14]

To iterate on one case, pick the kinds, sizes and phases, e.g. only ours at N=2000, paced only:

    .venv/bin/python bench/fanout.py --kinds ours --viewers 2000 --phases paced

Three servers, one process each, measured in the same run with the same client:
  ours   daphne + redmist.asgi (the StatusConsumer and the per-process hub; RedisChannelLayer)
  naive  daphne + a Channels consumer per socket that joins the event group and serializes every message itself
  raw    a `websockets` server that broadcasts each Redis pub/sub message (the practical limit)
Each phase: connect N viewers (50 at a time) and subscribe; idle RSS; a burst (patch sets as fast as possible) with
peak RSS sampled every 20 ms; then paced at 5 patch sets/s. Latency = receive time - relay time (stamped by the
producer, read from the message's fixed prefix). Needs Redis; uses a scratch SQLite database under var/bench.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GROUP_EVENT = 1
PREFIX = b'{"type":"patches","relayAt":'


# ---------------------------------------------------------------- the naive consumer (served by daphne)

def _naive_app():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "redmist.settings")
    import django

    django.setup()
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import URLRouter
    from django.urls import path

    class NaiveConsumer(AsyncWebsocketConsumer):
        async def connect(self):
            await self.accept()
            await self.channel_layer.group_add(f"evt-{GROUP_EVENT}", self.channel_name)

        async def disconnect(self, code):
            await self.channel_layer.group_discard(f"evt-{GROUP_EVENT}", self.channel_name)

        async def receive(self, text_data=None, bytes_data=None):
            pass

        async def timing_patches(self, m):
            await self.send(text_data=json.dumps({
                "type": "patches", "relayAt": m["relay_at"], "eventId": m["event_id"], "fromSeq": m["from_seq"],
                "seq": m["seq"], "sessionPatch": m["session"], "carPatches": m["cars"]}, separators=(",", ":")))

    return URLRouter([path("ws/status/", NaiveConsumer.as_asgi())])


class _Lazy:
    app = None

    async def __call__(self, scope, receive, send):
        if _Lazy.app is None:
            _Lazy.app = _naive_app()
        await _Lazy.app(scope, receive, send)


naive_application = _Lazy()


# ---------------------------------------------------------------- the raw websockets server

async def raw_server(port: int, redis_url: str) -> None:
    import redis.asyncio as aioredis
    import websockets
    from websockets.asyncio.server import serve

    clients: set = set()

    async def handler(ws):
        clients.add(ws)
        try:
            async for _ in ws:
                pass
        finally:
            clients.discard(ws)

    async with serve(handler, "127.0.0.1", port, compression=None, max_queue=16):
        client = aioredis.Redis.from_url(redis_url)
        pubsub = client.pubsub()
        await pubsub.subscribe("bench-raw")
        async for message in pubsub.listen():
            if message["type"] == "message":
                websockets.broadcast(clients, message["data"].decode())


# ---------------------------------------------------------------- the replayed race

def patch_stream() -> list[dict]:
    from apps.timing.engine.engine import TimingEngine
    from apps.timing.engine.replayfile import read_messages

    recordings = ROOT / "data" / "recordings" / "redmist"
    engine = TimingEngine(GROUP_EVENT)
    out = []
    for name in ("TestEntries.txt", "TestInitialPositions.txt", "TestStart.txt"):
        for m in read_messages(recordings / name):
            r = engine.apply(m.kind, m.payload, session_id=0, received_at=m.received_at)
            if r.changed and not r.reset and (r.session_patch or r.car_patches):
                out.append({"session": r.session_patch or None, "cars": list(r.car_patches)})
    return out


class Producer:
    def __init__(self, redis_url: str) -> None:
        from channels_redis.core import RedisChannelLayer

        self.layer = RedisChannelLayer(hosts=[{"address": redis_url, "socket_timeout": None, "max_connections": 1000}],
                                       capacity=100_000, expiry=600)
        import redis.asyncio as aioredis

        self.redis = aioredis.Redis.from_url(redis_url)
        self.seq = 0
        self.stream = patch_stream()
        self.i = 0

    async def send(self, kind: str) -> None:
        from apps.timing.fanout import PatchSet, patches_frame

        body = self.stream[self.i % len(self.stream)]
        self.i += 1
        message = {"type": "timing.patches", "event_id": GROUP_EVENT, "from_seq": self.seq, "seq": self.seq + 1,
                   "reset": False, "session": body["session"], "cars": body["cars"], "relay_at": time.time(),
                   "sent_at": time.time()}
        self.seq += 1
        if kind == "raw":
            await self.redis.publish("bench-raw", patches_frame(GROUP_EVENT, PatchSet(message)).payload(False))
        else:
            await self.layer.group_send(f"evt-{GROUP_EVENT}", message)


# ---------------------------------------------------------------- the client

def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Clients:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.received = 0
        self.states = 0
        self.first = self.last = 0.0
        self.sockets: list = []
        self.tasks: list = []

    async def _reader(self, ws, ready: asyncio.Event | None) -> None:
        try:
            async for data in ws:
                now = time.time()
                raw = data.encode() if isinstance(data, str) else data
                if raw.startswith(PREFIX):
                    end = raw.index(b",", len(PREFIX))
                    self.latencies.append(now - float(raw[len(PREFIX):end]))
                    self.received += 1
                    self.last = now
                elif b'"type":"state"' in raw[:40]:
                    self.states += 1
        except Exception:
            pass

    async def connect(self, url: str, n: int, subscribe: bool) -> float:
        import websockets

        start = time.monotonic()
        for i in range(0, n, 50):
            batch = await asyncio.gather(*(websockets.connect(url, compression=None, max_size=None, max_queue=None,
                                                              ping_interval=None, open_timeout=60)
                                           for _ in range(min(50, n - i))))
            for ws in batch:
                if subscribe:
                    await ws.send(json.dumps({"id": 1, "method": "SubscribeToEventV2", "args": [GROUP_EVENT]}))
                self.sockets.append(ws)
                self.tasks.append(asyncio.create_task(self._reader(ws, None)))
        return time.monotonic() - start

    def reset(self) -> None:
        self.latencies, self.received, self.first, self.last = [], 0, 0.0, 0.0

    async def close(self) -> None:
        for ws in self.sockets:
            await ws.close()
        for t in self.tasks:
            t.cancel()


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {port}")


def start_server(kind: str, env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if kind == "raw":
        cmd = [sys.executable, __file__, "--raw-server", str(port), "--redis", env["REDIS_URL"]]
    else:
        app = "redmist.asgi:application" if kind == "ours" else "bench.fanout:naive_application"
        cmd = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


async def run_one(kind: str, n: int, args, env: dict) -> dict:
    proc, port = start_server(kind, env)
    producer = Producer(env["REDIS_URL"])
    clients = Clients()
    warm = Clients()
    try:
        await asyncio.sleep(1.0)
        # Warm up (imports, the hub, the first state) with a few viewers so the baseline excludes one-off costs.
        await warm.connect(f"ws://127.0.0.1:{port}/ws/status/", 10, subscribe=kind == "ours")
        await asyncio.sleep(0.5)
        await producer.send(kind)
        await asyncio.sleep(1.0)
        base = rss_kib(proc.pid)
        connect_s = await clients.connect(f"ws://127.0.0.1:{port}/ws/status/", n, subscribe=kind == "ours")
        await asyncio.sleep(2.0)
        if kind == "ours":  # give the hub a first patch set so every viewer is live, then settle
            await producer.send(kind)
            await asyncio.sleep(1.0)
        idle = rss_kib(proc.pid)
        clients.reset()
        # burst
        peak = idle
        t0 = time.time()
        total = args.burst * n if "burst" in args.phases else 0
        sampling = True

        async def sample():
            nonlocal peak
            while sampling:
                peak = max(peak, rss_kib(proc.pid))
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample())
        for _ in range(args.burst if "burst" in args.phases else 0):
            await producer.send(kind)
        deadline = time.monotonic() + args.burst_timeout
        while clients.received < total and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        sampling = False
        await sampler
        burst_received = clients.received
        burst_rate = burst_received / max(1e-9, clients.last - t0) if burst_received else float("nan")
        burst_p50, burst_p99 = pct(clients.latencies, 0.5), pct(clients.latencies, 0.99)
        await asyncio.sleep(1.0)
        # paced
        clients.reset()
        sets = int(args.paced_seconds * 5) if "paced" in args.phases else 0
        start = time.monotonic()
        for i in range(sets):
            await asyncio.sleep(max(0.0, start + i * 0.2 - time.monotonic()))
            await producer.send(kind)
        deadline = time.monotonic() + 10
        while clients.received < sets * n and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return {
            "kind": kind, "n": n, "connect_s": connect_s, "idle_kib_per_conn": (idle - base) / n,
            "base_mib": base / 1024, "idle_mib": idle / 1024, "peak_mib": peak / 1024,
            "burst_rate": burst_rate, "burst_loss": 1 - burst_received / total if total else float("nan"), "burst_p50": burst_p50,
            "burst_p99": burst_p99, "paced_p50": pct(clients.latencies, 0.5), "paced_p99": pct(clients.latencies, 0.99),
            "paced_loss": 1 - clients.received / (sets * n) if sets else float("nan"), "states": clients.states,
        }
    finally:
        await clients.close()
        await warm.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        await producer.redis.aclose()


def prepare(env: dict) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True)
    script = (
        "from apps.events.models import Event; from apps.orgs.models import Organization; import datetime as d;"
        "o,_=Organization.objects.get_or_create(short_name='bench', defaults={'name':'Bench'});"
        f"Event.objects.filter(pk={GROUP_EVENT}).exists() or Event.objects.create(pk={GROUP_EVENT}, organization=o,"
        " name='Bench race', start_date=d.date.today(), end_date=d.date.today())"
    )
    subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True)


async def main(args) -> None:
    import redis

    var = ROOT / "var" / "bench"
    var.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "REDIS_URL": args.redis, "DATABASE_URL": f"sqlite:///{var / 'bench.sqlite3'}",
           "SECRET_KEY": "bench-only-secret-key-0123456789-0123456789", "REDMIST_VAR_DIR": str(var),
           "DJANGO_SETTINGS_MODULE": "redmist.settings", "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    os.environ.update({k: env[k] for k in ("REDIS_URL", "DATABASE_URL", "SECRET_KEY", "REDMIST_VAR_DIR",
                                           "DJANGO_SETTINGS_MODULE")})
    prepare(env)
    import django

    django.setup()
    rows = []
    for n in args.viewers:
        for kind in args.kinds:
            redis.Redis.from_url(args.redis).flushdb()
            row = await run_one(kind, n, args, env)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print()
    print(f"burst = {args.burst} patch sets as fast as possible; paced = 5 patch sets/s for {args.paced_seconds} s; "
          f"{len(patch_stream())} distinct patch sets from a replayed race (TestEntries+TestInitialPositions+TestStart)")
    print("| N | server | connect s | burst deliveries/s | burst p50 / p99 ms | burst loss | paced p50 / p99 ms "
          "| paced loss | idle KiB/conn | RSS base → idle → burst peak MiB | peak/idle |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r['kind']} | {r['connect_s']:.1f} | {r['burst_rate']:,.0f} | {r['burst_p50']:.0f} / "
              f"{r['burst_p99']:.0f} | {r['burst_loss']:.1%} | {r['paced_p50']:.0f} / {r['paced_p99']:.0f} | "
              f"{r['paced_loss']:.1%} | {r['idle_kib_per_conn']:.1f} | {r['base_mib']:.0f} → {r['idle_mib']:.0f} → "
              f"{r['peak_mib']:.0f} | {r['peak_mib'] / r['idle_mib']:.2f} |")
    for n in args.viewers:
        by = {r["kind"]: r for r in rows if r["n"] == n}
        if {"ours", "naive", "raw"} <= set(by):
            o, nv, rw = by["ours"], by["naive"], by["raw"]
            print(f"N={n}: burst ours/naive = {o['burst_rate'] / nv['burst_rate']:.1f}x (target ≥ 8), "
                  f"ours/raw = {o['burst_rate'] / rw['burst_rate']:.2f} (target ≥ 0.5); paced p99 ours/raw = "
                  f"{o['paced_p99'] / rw['paced_p99']:.2f} (target ≤ 1.5); idle {o['idle_kib_per_conn']:.1f} KiB/conn "
                  f"(target < 30); peak/idle {o['peak_mib'] / o['idle_mib']:.2f} (target ≤ 2)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--kinds", nargs="+", default=["raw", "ours", "naive"])
    parser.add_argument("--phases", nargs="+", choices=["burst", "paced"], default=["burst", "paced"],
                        help="phases to run (idle memory is always measured)")
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--burst-timeout", type=float, default=60)
    parser.add_argument("--paced-seconds", type=float, default=10)
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    parser.add_argument("--raw-server", type=int, default=None)
    a = parser.parse_args()
    if a.raw_server:
        asyncio.run(raw_server(a.raw_server, a.redis))
    else:
        asyncio.run(main(a))
