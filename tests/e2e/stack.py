"""A real distributed stack for end-to-end tests: daphne, timing workers and relays as subprocesses,
real PostgreSQL (the test database) and real Redis (the suite's, or a private one that can be restarted)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def database_url() -> str:
    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    return f"postgres://{user}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


class PrivateRedis:
    """A redis-server of the test's own, with an append-only file so a restart keeps the data."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(self._ping, timeout=10, what="redis-server")

    def _ping(self) -> bool:
        try:
            return redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # a clean shutdown flushes the append-only file
            self.process.wait(timeout=10)


class Stack:
    def __init__(self, tmp_path: Path, *, redis_url: str) -> None:
        self.tmp_path = tmp_path
        self.redis_url = redis_url
        self.port = free_port()
        self.server: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.processes: list[subprocess.Popen] = []
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url,
            "SECRET_KEY": "e2e-test-secret-key-0123456789-abcdefghijkl",
            "REDMIST_VAR_DIR": str(tmp_path),
            "WORKER_SNAPSHOT_MS": "200",
            "WORKER_LEASE_MS": "2000",
            "LOG_LEVEL": "WARNING",
        }

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, args: list[str], name: str, **kwargs) -> subprocess.Popen:
        log = (self.tmp_path / f"{name}.log").open("ab")
        process = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, **kwargs)
        self.processes.append(process)
        return process

    def start_server(self) -> None:
        self.server = self._spawn([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
                                   "redmist.asgi:application"], "server")
        wait_for(self._server_up, timeout=30, what="daphne")

    def _server_up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop_server(self) -> None:
        self.server.kill()
        self.server.wait(timeout=10)

    def start_worker(self) -> subprocess.Popen:
        worker = self._spawn([sys.executable, "manage.py", "timing_worker"], f"worker{len(self.workers)}")
        self.workers.append(worker)
        return worker

    def start_relay(self, *, event_id: int, client_id: str, secret: str, files: list[Path], speed: float | None,
                    server_url: str | None = None) -> subprocess.Popen:
        speed_args = ["--max"] if speed is None else ["--speed", str(speed)]
        return self._spawn(
            [sys.executable, "manage.py", "relay", "--server", server_url or self.base_url, "--event", str(event_id),
             "--client-id", client_id, f"--client-secret={secret}",  # a secret may begin with "-"
             "--heartbeat", "1", "--quiet",
             "--file", *map(str, files), *speed_args],
            "relay",
        )

    def log(self, name: str) -> str:
        path = self.tmp_path / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
