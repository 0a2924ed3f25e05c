"""``ledgerlink backup [--output PATH]``: a consistent backup of the whole database, app running."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from ledgerlink.ops.backups import BackupError, backup_database, describe_counts


class Command(BaseCommand):
    help = (
        "Back up the database while Ledgerlink runs: SQLite's online backup API (one .sqlite3 file) "
        "or pg_dump --format=custom on PostgreSQL. The Fernet keys (LEDGERLINK_ENCRYPTION_KEYS) are "
        "not in the backup; keep them separately."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output",
            "-o",
            help="File to write (default: ledgerlink-backup-<UTC time>.sqlite3|.pgdump in the working "
            "directory). An existing file is never overwritten.",
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Database alias (default: default).")

    def handle(self, *args, **options):
        quiet = options["verbosity"] == 0

        def progress(line: str) -> None:
            if not quiet:
                self.stdout.write(line)

        try:
            result = backup_database(options["output"], using=options["database"], progress=progress)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if result.counts:
            progress(f"Backed up {describe_counts(result.counts)}")
        self.stdout.write(
            self.style.SUCCESS(f"Backup written to {result.path} ({result.size} bytes, sha256 {result.sha256})")
        )
