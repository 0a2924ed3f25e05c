"""`ledgerlink flush`: Django's (empty every table, the audit log too: a whole-database reset, which
the test suite runs between tests). On SQLite it runs DELETEs, which the audit log's append-only
triggers refuse, so they are dropped for the flush and put back after it (``core.audit_triggers``);
on PostgreSQL flush uses TRUNCATE, which the row triggers do not see."""

from __future__ import annotations

from django.core.management.commands import flush
from django.db import DEFAULT_DB_ALIAS, connections

from ledgerlink.core import audit_triggers


class Command(flush.Command):
    def handle(self, **options):
        connection = connections[options.get("database") or DEFAULT_DB_ALIAS]
        guarded = connection.vendor == "sqlite" and audit_triggers.installed(connection)
        if guarded:
            audit_triggers.uninstall(connection)
        try:
            return super().handle(**options)
        finally:
            if guarded:
                audit_triggers.install(connection)
