"""The audit log is append-only in the database too, not only in the ORM (``models.audit``): triggers
on ``core_auditlog`` make every UPDATE and DELETE fail, on SQLite and on PostgreSQL, whatever SQL the
application (or an injected statement) runs. One UPDATE stays possible: setting a set ``actor_id`` to
NULL and nothing else, which is what deleting a user does (``on_delete=SET_NULL``; the label stays).

Installed by migration ``core.0005_audit_append_only``. ``ledgerlink flush`` (Django's "empty every
table", used by the test suite between tests) drops them around its DELETEs on SQLite and puts them
back; on PostgreSQL flush uses TRUNCATE, which a row trigger does not see. What the triggers do not
stop: TRUNCATE and DROP, which PostgreSQL allows only to the table's owner (run Ledgerlink under a
role that does not own its tables to close that, docs/deploy.md); on SQLite whoever can write the
file can drop the triggers.
"""

from __future__ import annotations

TABLE = "core_auditlog"
MESSAGE = "the audit log is append-only"
# Every column but actor_id, which only deleting a user may change (to NULL).
_KEPT = ("id", "at", "actor_label", "action", "object_type", "object_id", "data")

_SQLITE_ONLY_ACTOR_CLEARED = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _KEPT) + " AND NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL"
SQLITE_INSTALL = [
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_no_update BEFORE UPDATE ON {TABLE}
        WHEN NOT ({_SQLITE_ONLY_ACTOR_CLEARED})
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_no_delete BEFORE DELETE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
]
SQLITE_UNINSTALL = [f"DROP TRIGGER IF EXISTS {TABLE}_no_update", f"DROP TRIGGER IF EXISTS {TABLE}_no_delete"]

_PG_ONLY_ACTOR_CLEARED = " AND ".join(f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in _KEPT if c != "data")
PG_INSTALL = [
    f"""CREATE OR REPLACE FUNCTION ledgerlink_audit_append_only() RETURNS trigger AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND {_PG_ONLY_ACTOR_CLEARED}
                AND NEW.data::text IS NOT DISTINCT FROM OLD.data::text AND NEW.actor_id IS NULL
                AND OLD.actor_id IS NOT NULL THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege';
        END;
        $$ LANGUAGE plpgsql""",
    f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}",
    f"""CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION ledgerlink_audit_append_only()""",
]
PG_UNINSTALL = [
    f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}",
    "DROP FUNCTION IF EXISTS ledgerlink_audit_append_only()",
]


def _statements(vendor: str, install: bool) -> list[str]:
    if vendor == "sqlite":
        return SQLITE_INSTALL if install else SQLITE_UNINSTALL
    if vendor == "postgresql":
        return PG_INSTALL if install else PG_UNINSTALL
    return []  # pragma: no cover - Ledgerlink runs on SQLite and PostgreSQL


def install(connection) -> None:
    with connection.cursor() as cursor:
        for sql in _statements(connection.vendor, True):
            cursor.execute(sql)


def uninstall(connection) -> None:
    with connection.cursor() as cursor:
        for sql in _statements(connection.vendor, False):
            cursor.execute(sql)


def installed(connection) -> bool:
    """True when the triggers are in place (for ``ledgerlink flush`` and the tests)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [TABLE])
            return cursor.fetchone()[0] == 2
        if connection.vendor == "postgresql":
            cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname = %s", [f"{TABLE}_append_only"])
            return cursor.fetchone()[0] == 1
    return False  # pragma: no cover
