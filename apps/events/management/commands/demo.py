"""Run the embedded server (daphne) and print where to look. Ctrl-C stops everything it started."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

DEMO_RACE = settings.BASE_DIR / "data" / "recordings" / "sebring-2009" / "2009_Sebring_ALMS_Session_5.txt"


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _wait_ready(url: str, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


class Command(BaseCommand):
    help = "Start the embedded server and print URLs and demo credentials (run demo_setup first)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--race", type=Path, default=DEMO_RACE, help="Recording the demo relay replays.")
        parser.add_argument("--speed", type=float, default=10.0, help="Replay speed (default 10×).")
        parser.add_argument("--no-relay", action="store_true", help="Only run the server.")

    def handle(self, *args, host: str, port: int, race: Path, speed: float, no_relay: bool, **options):
        credentials_path = settings.VAR_DIR / "demo.json"
        if not credentials_path.exists():
            raise CommandError("No demo credentials: run `python manage.py demo_setup` first.")
        credentials = json.loads(credentials_path.read_text())
        # SIGTERM (a service manager, a test) must clean up the children exactly like Ctrl-C does.
        signal.signal(signal.SIGTERM, _raise_interrupt)
        base = f"http://{host}:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "daphne", "--access-log", str(settings.VAR_DIR / "access.log"),
             "-b", host, "-p", str(port), "redmist.asgi:application"]
        )
        relay = None
        try:
            if not _wait_ready(f"{base}/healthz/ready", timeout=30):
                raise CommandError(f"The server did not become ready at {base}/healthz/ready")
            if not no_relay:
                # The bundled race goes through the real relay socket, exactly as a track-side relay would.
                relay = subprocess.Popen(
                    [sys.executable, "manage.py", "relay", "--server", base, "--credentials", str(credentials_path),
                     "--file", str(race), "--speed", str(speed), "--quiet"],
                    cwd=settings.BASE_DIR,
                    stdout=(settings.VAR_DIR / "demo-relay.log").open("ab"), stderr=subprocess.STDOUT,
                )
            self.stdout.write(self.style.SUCCESS(f"RedMist is running at {base}"))
            self.stdout.write(f"  Admin:      {base}/admin/  user {credentials['admin_username']!r} "
                              f"password {credentials['admin_password']!r}")
            self.stdout.write(f"  Health:     {base}/healthz/ready")
            self.stdout.write(f"  Event:      #{credentials['event_id']}")
            self.stdout.write(f"  Relay:      client id {credentials['relay_client_id']!r} (secret in {credentials_path})")
            if relay is not None:
                self.stdout.write(f"  Live race:  replaying {race.name} at {speed:g}x through the relay socket "
                                  f"(log: {settings.VAR_DIR / 'demo-relay.log'})")
                self.stdout.write(f"  Live board: {base}/live/{credentials['event_id']}/   <- open this")
                self.stdout.write(f"  Live state: {base}/status/v1/Events/GetCurrentSessionStateJson?eventId={credentials['event_id']}")
                self.stdout.write(f"  Viewers:    ws://{host}:{port}/ws/status/ (SubscribeToEventV2 {credentials['event_id']})")
                self.stdout.write(f"  Laps:       {base}/admin/timing/carlap/ (fill in as the race runs)")
            self.stdout.write("Press Ctrl-C to stop.")
            server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            if relay is not None and relay.poll() is None:
                relay.terminate()
            if server.poll() is None:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
