"""``ledgerlink restore PATH``: replace the database's contents with a backup."""

import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from ledgerlink.ops.backups import BackupError, describe_counts, restore_database


class Command(BaseCommand):
    help = (
        "Restore a backup made by `ledgerlink backup`, replacing everything in the database. Stop the "
        "workers and the web app first. A safety backup of the current database is written next to "
        "the file being restored."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The backup file (.sqlite3 on SQLite, .pgdump on PostgreSQL).")
        parser.add_argument(
            "--noinput",
            "--no-input",
            "--yes",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation.",
        )
        parser.add_argument(
            "--no-safety-backup",
            action="store_false",
            dest="safety_backup",
            help="Do not back up the current database first.",
        )
        parser.add_argument("--force", action="store_true", help="Restore even while a worker is running.")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Database alias (default: default).")

    def handle(self, *args, **options):
        quiet = options["verbosity"] == 0

        def progress(line: str) -> None:
            if not quiet:
                self.stdout.write(line)

        if options["interactive"]:
            if not sys.stdin.isatty():
                raise CommandError("Restore replaces the whole database: confirm with --noinput (or --yes).")
            answer = input(
                f"This replaces everything in the database with {options['path']}. Type 'yes' to continue: "
            )
            if answer.strip().lower() != "yes":
                raise CommandError("Restore cancelled; nothing was changed.")
        try:
            result = restore_database(
                options["path"],
                using=options["database"],
                progress=progress,
                safety_backup=options["safety_backup"],
                force=options["force"],
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        progress(f"The database now holds {describe_counts(result.counts)}")
        if result.pending_migrations:
            self.stdout.write(
                self.style.WARNING(
                    f"The backup predates {len(result.pending_migrations)} migration(s): run `ledgerlink migrate`."
                )
            )
        self.stdout.write(self.style.SUCCESS(f"Restored {result.path}"))
