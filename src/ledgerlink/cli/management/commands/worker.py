"""``ledgerlink worker [--concurrency N] [--once] [--worker-id X]``: push requests to QBO.

Stops cleanly on SIGTERM/SIGINT: in-flight requests finish, claimed-but-unsent ones are released.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import connection
from django.utils import timezone

from ledgerlink.core.models import WorkerHeartbeat
from ledgerlink.worker.loop import run_worker


class Command(BaseCommand):
    help = "Run the push worker (claims with a lease, per-Company limits, retries, SIGTERM-safe)."

    def add_arguments(self, parser):
        parser.add_argument("--concurrency", type=int, default=4, help="sender threads (default 4)")
        parser.add_argument("--once", action="store_true", help="send what is due now, then exit")
        parser.add_argument("--worker-id", default=None, help="worker id (default host:pid:random)")
        parser.add_argument("--until-idle", action="store_true", help="exit when nothing is pending")
        parser.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")

    def handle(self, *args, **opts):
        if connection.vendor == "sqlite":
            live = WorkerHeartbeat.objects.filter(
                stopped_at__isnull=True, last_seen__gte=timezone.now() - timedelta(seconds=30)
            ).exclude(worker_id=opts["worker_id"] or "")
            if live.exists():
                self.stderr.write(
                    "warning: another worker is running on this SQLite database; SQLite supports one "
                    "worker process (use PostgreSQL for several)"
                )
        worker = run_worker(
            worker_id=opts["worker_id"],
            concurrency=max(1, opts["concurrency"]),
            once=opts["once"],
            until_idle=opts["until_idle"],
            timeout=opts["timeout"],
            install_signals=True,
        )
        self.stderr.write(f"worker {worker.worker_id} stopped: {worker.requests_done} requests sent")
