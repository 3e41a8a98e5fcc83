"""`manage.py relay`: a track-side relay client (Orbits RMonitor/Multiloop TCP feeds or a recording)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.relay.client.credentials import BasicCredentials, BearerCredentials, TokenError
from apps.relay.client.relay import Relay, RelayRefused
from apps.relay.client.sources import FileSource, TcpLineSource


def _host_port(value: str, default_port: int) -> tuple[str, int]:
    host, _, port = value.rpartition(":") if ":" in value else (value, "", "")
    try:
        return (host or value), int(port) if port else default_port
    except ValueError:
        raise CommandError(f"bad host:port {value!r}") from None


class Command(BaseCommand):
    help = "Stream timing data to a RedMist server: from an Orbits feed or a recording replayed at N× speed."

    def add_arguments(self, parser):
        parser.add_argument("--server", default="http://127.0.0.1:8000", help="The server's base URL.")
        parser.add_argument("--event", type=int, help="Event id (default: from --credentials).")
        parser.add_argument("--client-id", help="Relay client id (default: from --credentials).")
        parser.add_argument("--client-secret", help="Relay client secret (or env RELAY_CLIENT_SECRET).")
        parser.add_argument("--credentials", type=Path, help="A JSON file with event_id, relay_client_id and "
                                                            "relay_client_secret (as written by demo_setup).")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--file", nargs="+", type=Path, help="Recording(s) to replay, in order.")
        source.add_argument("--rmonitor", metavar="HOST[:PORT]", help="Orbits RMonitor TCP feed (port 50000).")
        source.add_argument("--multiloop", metavar="HOST[:PORT]", help="Orbits Multiloop TCP feed (port 50004).")
        parser.add_argument("--speed", type=float, default=1.0, help="Replay speed factor for --file (default 1).")
        parser.add_argument("--max", action="store_true", help="Replay as fast as the server acknowledges.")
        parser.add_argument("--auth", choices=("bearer", "basic"), default="bearer",
                            help="bearer (default): client-credentials tokens from --token-url; basic: id and secret.")
        parser.add_argument("--token-url", help="Token endpoint (default: SERVER/oauth/token; Keycloak's "
                                                 ".../realms/REALM/protocol/openid-connect/token also works).")
        parser.add_argument("--heartbeat", type=float, default=10.0, help="Seconds between heartbeats.")
        parser.add_argument("--keep-running", action="store_true", help="Stay connected after a recording ends.")
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args, **options):
        credentials = {}
        if options["credentials"]:
            try:
                credentials = json.loads(options["credentials"].read_text())
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read {options['credentials']}: {exc}") from None
        event_id = options["event"] or credentials.get("event_id")
        client_id = options["client_id"] or credentials.get("relay_client_id")
        secret = options["client_secret"] or os.environ.get("RELAY_CLIENT_SECRET") or credentials.get("relay_client_secret")
        if not (event_id and client_id and secret):
            raise CommandError("need --event, --client-id and --client-secret (or --credentials FILE)")
        if options["file"]:
            missing = [str(p) for p in options["file"] if not p.exists()]
            if missing:
                raise CommandError(f"no such recording: {', '.join(missing)}")
            source = FileSource(options["file"], speed=None if options["max"] else options["speed"])
        elif options["rmonitor"]:
            source = TcpLineSource(*_host_port(options["rmonitor"], 50000), kind="rmonitor")
        else:
            source = TcpLineSource(*_host_port(options["multiloop"], 50004), kind="multiloop")

        server = urlparse(options["server"])
        if server.scheme not in ("http", "https") or not server.netloc:
            raise CommandError(f"--server must be http(s)://host[:port], got {options['server']!r}")
        ws_url = f"{'wss' if server.scheme == 'https' else 'ws'}://{server.netloc}{server.path.rstrip('/')}/ws/relay/"
        if options["auth"] == "bearer":
            credentials_source = BearerCredentials(
                token_url=options["token_url"] or f"{options['server'].rstrip('/')}/oauth/token",
                client_id=client_id, client_secret=secret)
        else:
            credentials_source = BasicCredentials(client_id=client_id, client_secret=secret)
        spill_dir = settings.VAR_DIR / "relay-spill"
        spill_dir.mkdir(parents=True, exist_ok=True)
        relay = Relay(url=ws_url, event_id=int(event_id), headers=credentials_source.headers,
                      source=source, heartbeat_seconds=options["heartbeat"], spill_dir=spill_dir,
                      exit_when_done=not options["keep_running"])
        try:
            status = asyncio.run(self._run(relay, quiet=options["quiet"]))
        except (RelayRefused, TokenError) as exc:
            raise CommandError(f"the server refused this relay: {exc}") from None
        self.stdout.write(f"relay finished: {status.sent} sent, {status.acked} acknowledged, "
                          f"{status.resent} resent, {status.reconnects} reconnects")

    async def _run(self, relay: Relay, *, quiet: bool):
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, relay.stop)
        progress = None if quiet else asyncio.create_task(self._progress(relay))
        try:
            return await relay.run()
        finally:
            if progress:
                progress.cancel()
                sys.stderr.write("\n")

    async def _progress(self, relay: Relay) -> None:
        while True:
            s = relay.status
            total = s.source_total or 0
            share = f"{100 * s.source_read / total:5.1f}%" if total else "  live"
            sys.stderr.write(f"\r[{s.state:>12}] read {s.source_read}/{total or '?'} ({share}) "
                             f"sent {s.sent} acked {s.acked} buffered {len(relay.outbox)} "
                             f"reconnects {s.reconnects} {s.last_error[:40]:<40}")
            sys.stderr.flush()
            await asyncio.sleep(1)
