"""`ledgerlink status`: per Company, how the queue is doing (a table, or --json)."""

from __future__ import annotations

import datetime as dt
import json

from django.core.management.base import BaseCommand
from django.utils import timezone

from ledgerlink.ops import stats


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _when(value: dt.datetime | None, now: dt.datetime) -> str:
    if value is None:
        return "-"
    delta = (value - now).total_seconds()
    return f"in {_age(delta)}" if delta >= 0 else f"{_age(-delta)} ago"


class Command(BaseCommand):
    help = (
        "Per Company: requests by state, oldest pending age, in flight, last success, 429s in the "
        "last hour, paused / needs reconnect, token expiry; then the workers' heartbeats."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")

    def handle(self, *args, **options):
        now = timezone.now()
        snaps = stats.company_snapshots(now)
        beats = stats.worker_heartbeats(now)
        if options["json"]:
            data = {
                "at": now.isoformat(),
                "companies": [s.as_json() for s in snaps],
                "workers": [
                    {"worker_id": b.worker_id, "hostname": b.hostname, "pid": b.pid,
                     "age_s": round(b.age_s, 3), "fresh": b.fresh}
                    for b in beats
                ],
                "workers_fresh": sum(1 for b in beats if b.fresh),
            }
            self.stdout.write(json.dumps(data, indent=2))
            return
        header = ["id", "company", "status", *stats.STATES, "oldest pending", "in flight", "last success",
                  "429/h", "access token", "refresh token"]
        rows = []
        for s in snaps:
            status = s.status
            if s.throttled_until is not None:
                status += " (throttled)"
            rows.append([
                str(s.id), s.name, status, *[str(s.requests[st]) for st in stats.STATES],
                _age(s.oldest_pending_age_s), str(s.in_flight), _when(s.last_success_at, now),
                str(s.throttled_429_last_hour), _when(s.access_token_expires_at, now),
                _when(s.refresh_token_expires_at, now),
            ])
        self._table(header, rows)
        if not snaps:
            self.stdout.write("(no Company connected)")
        self.stdout.write("")
        fresh = sum(1 for b in beats if b.fresh)
        self.stdout.write(f"workers: {fresh} fresh of {len(beats)} running")
        if beats:
            self._table(["worker", "host", "pid", "last seen", "fresh"],
                        [[b.worker_id, b.hostname, str(b.pid), f"{_age(b.age_s)} ago", "yes" if b.fresh else "NO"]
                         for b in beats])

    def _table(self, header: list[str], rows: list[list[str]]) -> None:
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
        self.stdout.write("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
        for row in rows:
            self.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
