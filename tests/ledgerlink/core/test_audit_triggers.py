"""The audit log is append-only in the database, not only in the ORM: raw UPDATE and DELETE of
core_auditlog fail on SQLite and on PostgreSQL (run this file with DATABASE_URL=postgres://...),
while deleting a user still clears its actor (issue 18)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from ledgerlink.core import audit_triggers
from ledgerlink.core.models import AuditLog
from ledgerlink.domain.audit import record_audit
from ledgerlink.ops.retention import prune
from tests.ledgerlink.factories import make_user


def _raw(sql: str, params=()) -> None:
    with transaction.atomic(), connection.cursor() as cursor:  # a savepoint: PostgreSQL goes on after the error
        cursor.execute(sql, params)


def _rows():
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, action, actor_label, data FROM core_auditlog ORDER BY id")
        return cursor.fetchall()


@pytest.mark.django_db
def test_raw_update_and_delete_of_the_audit_log_fail_in_the_database():
    assert audit_triggers.installed(connection)
    record_audit("order.ingest", actor_label="api:feed", order=1)
    record_audit("push_request.requeue", actor_label="ann", request=2)
    before = _rows()
    attempts = [
        "UPDATE core_auditlog SET action = 'nothing.happened'",
        "UPDATE core_auditlog SET actor_label = 'someone-else' WHERE actor_label = 'ann'",
        "UPDATE core_auditlog SET data = '{}'",
        "UPDATE core_auditlog SET at = at",  # even an update that changes nothing
        "UPDATE core_auditlog SET id = id + 100",
        "DELETE FROM core_auditlog",
        "DELETE FROM core_auditlog WHERE actor_label = 'api:feed'",
    ]
    for sql in attempts:
        with pytest.raises(DatabaseError) as exc:
            _raw(sql)
        assert audit_triggers.MESSAGE in str(exc.value), sql
    assert _rows() == before
    # the ORM refuses first, as before
    with pytest.raises(PermissionError):
        AuditLog.objects.all().delete()
    # appending still works
    record_audit("user.login", actor_label="ann")
    assert len(_rows()) == 3


@pytest.mark.django_db
def test_deleting_a_user_still_clears_the_actor_but_nothing_else():
    user = make_user("bob", "operator")
    record_audit("company.status_changed", actor=user, company=7)
    user_id = user.pk
    # setting the actor to another user is refused: only NULL, as deleting a user does
    other = make_user("mallory", "admin")
    with pytest.raises(DatabaseError):
        _raw("UPDATE core_auditlog SET actor_id = %s", [other.pk])
    with pytest.raises(DatabaseError):
        _raw("UPDATE core_auditlog SET actor_id = NULL, actor_label = 'x'")
    user.delete()
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor_id, entry.actor_label, entry.data) == (
        "company.status_changed", None, "bob", {"company": 7})
    assert user_id != other.pk


@pytest.mark.django_db
def test_prune_leaves_the_audit_log_alone():
    record_audit("order.ingest", actor_label="api:feed")
    before = _rows()
    prune(days=1)
    assert _rows()[: len(before)] == before


@pytest.mark.django_db(transaction=True)
def test_flush_empties_the_audit_log_and_puts_the_triggers_back():
    record_audit("order.ingest", actor_label="api:feed")
    call_command("flush", interactive=False, verbosity=0)
    assert _rows() == []
    assert audit_triggers.installed(connection)
    record_audit("order.ingest", actor_label="api:feed")
    with pytest.raises(DatabaseError):
        _raw("DELETE FROM core_auditlog")
