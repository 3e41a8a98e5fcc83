"""The embedded default: no Redis, no PostgreSQL; the README's main job brings up a working server."""

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def embedded_env(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG")}
    environment["REDMIST_VAR_DIR"] = str(tmp_path)
    return environment


def _manage(environment, *args):
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environment,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_the_demo_runs_on_sqlite_without_redis_replays_a_race_and_the_admin_login_works(embedded_env, tmp_path):
    _manage(embedded_env, "migrate", "--verbosity", "0")
    _manage(embedded_env, "demo_setup")
    credentials = json.loads((tmp_path / "demo.json").read_text())
    assert (tmp_path / "redmist.sqlite3").exists()

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", str(port), "--speed", "300"], cwd=ROOT, env=embedded_env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        banner = ""
        deadline = time.monotonic() + 60
        while "Press Ctrl-C" not in banner and time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            banner += line
        assert "Press Ctrl-C" in banner, banner
        assert f"{base}/admin/" in banner

        ready = requests.get(f"{base}/healthz/ready", timeout=5)
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "redis": "not configured"}

        browser = requests.Session()
        login_page = browser.get(f"{base}/admin/login/", timeout=5)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text).group(1)
        response = browser.post(
            f"{base}/admin/login/?next=/admin/",
            data={"csrfmiddlewaretoken": token, "username": credentials["admin_username"],
                  "password": credentials["admin_password"], "next": "/admin/"},
            headers={"Referer": f"{base}/admin/login/"},
            timeout=5,
        )
        assert response.status_code == 200
        assert "Organizer console" in response.text
        assert "Demo Endurance Race" in browser.get(f"{base}/admin/events/event/", timeout=5).text
        assert browser.get(f"{base}/static/admin/css/base.css", timeout=5).status_code == 200

        # The bundled race streams through the relay socket into the embedded worker: laps get stored.
        deadline = time.monotonic() + 60
        laps = 0
        while laps < 20 and time.monotonic() < deadline:
            time.sleep(0.5)
            with sqlite3.connect(tmp_path / "redmist.sqlite3", timeout=5) as db:
                laps = db.execute("SELECT COUNT(*) FROM timing_carlap").fetchone()[0]
        assert laps >= 20, (tmp_path / "demo-relay.log").read_text()
        state = requests.get(f"{base}/status/v1/Events/GetCurrentSessionStateJson",
                             params={"eventId": credentials["event_id"]}, timeout=5).json()
        assert len(state["carPositions"]) >= 10 and state["sessionName"]
    finally:
        server.terminate()
        server.wait(timeout=15)
    # Stopping the demo stops everything it started: nothing is left serving the port.
    time.sleep(1)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
