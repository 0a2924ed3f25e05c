"""`ledgerlink send-digests [--dry-run]`: email the admins the failure digests that are due.

Workers call ``ledgerlink.ops.digests.send_digests()`` from their periodic loop; this
command is for cron or a systemd timer when they do not."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ledgerlink.ops.digests import send_digests


class Command(BaseCommand):
    help = "Email LEDGERLINK_ADMIN_EMAILS the failure digests that are due (one per growth)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="print what would be sent, send nothing")

    def handle(self, *args, **options):
        digests = send_digests(dry_run=options["dry_run"])
        verb = "would send" if options["dry_run"] else "sent"
        self.stdout.write(f"{verb} {len(digests)} digest(s)")
        for d in digests:
            self.stdout.write(f"  company {d.company_id} [{d.key}]: {d.subject}")
            if options["dry_run"]:
                self.stdout.write("    " + d.body.replace("\n", "\n    ").rstrip())
