"""`manage.py timing_worker`: the always-on timing worker (distributed mode; one or more per deployment)."""

from __future__ import annotations

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.timing.worker.factory import worker_build


class Command(BaseCommand):
    help = "Run the timing worker: claim live events through Redis leases and keep their live state."

    def add_arguments(self, parser):
        parser.add_argument("--worker-id", default=None, help="Defaults to host-pid-random.")
        parser.add_argument("--max-events", type=int, default=None)

    def handle(self, *args, worker_id, max_events, **options):
        if not settings.REDIS_URL:
            raise CommandError(
                "REDIS_URL is not set: in the embedded default the server runs its own timing worker. "
                "Set REDIS_URL (and DATABASE_URL) to run workers as separate processes."
            )
        asyncio.run(self._run(worker_id, max_events))

    async def _run(self, worker_id, max_events) -> None:
        worker = worker_build(worker_id=worker_id, max_events=max_events)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        self.stdout.write(f"timing worker {worker.coordinator.worker_id} running; SIGTERM stops it cleanly")
        self.stdout.flush()
        await worker.run()
        self.stdout.write("timing worker stopped")
