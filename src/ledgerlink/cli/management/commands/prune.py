"""`ledgerlink prune [--days N] [--dry-run]`: retention of attempts and old payload revisions."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ledgerlink.domain.errors import ServiceError
from ledgerlink.ops.retention import prune


class Command(BaseCommand):
    help = (
        "Delete attempts and non-current payload revisions of succeeded push requests older than N "
        "days. Each order keeps its QBO Id, DocNumber, final state and current revision."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None,
                            help="keep this many days (default LEDGERLINK_RETENTION_DAYS, 90)")
        parser.add_argument("--dry-run", action="store_true", help="show what would go, delete nothing")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args, **options):
        days = options["days"] if options["days"] is not None else settings.LEDGERLINK_RETENTION_DAYS
        try:
            result = prune(days=days, dry_run=options["dry_run"])
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        if options["json"]:
            self.stdout.write(json.dumps(result.as_json(), indent=2))
            return
        verb = "would delete" if result.dry_run else "deleted"
        self.stdout.write(
            f"Succeeded requests completed before {result.cutoff:%Y-%m-%d %H:%M} UTC ({days} days): "
            f"{verb} {result.attempts} attempt(s) and {result.revisions} old revision(s) "
            f"of {result.requests} request(s)."
        )
        for company_id, counts in sorted(result.by_company.items()):
            self.stdout.write(
                f"  company {company_id}: {counts['attempts']} attempt(s), {counts['revisions']} revision(s)"
            )
        if result.dry_run:
            self.stdout.write("Dry run: nothing was deleted.")
