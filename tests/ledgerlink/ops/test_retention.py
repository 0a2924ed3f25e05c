"""Retention: attempts and old revisions of succeeded requests go after N days; the rest stays."""

import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ledgerlink.core.models import Attempt, AuditLog, Order, PushRequest, PushRevision
from ledgerlink.ops.retention import prune
from tests.ledgerlink.factories import make_attempt, make_company, make_request, make_source

S = PushRequest.State


@pytest.fixture
def rows(db):
    now = timezone.now()
    acme = make_company()
    src = make_source(acme)
    old = now - dt.timedelta(days=91)
    # Old, succeeded, three revisions, three attempts: 3 attempts + 2 revisions go.
    done_old = make_request(acme, S.SUCCEEDED, source=src, number="OLD-1", completed_at=old, revisions=3,
                            qbo_id="145", qbo_doc_number="1001")
    Order.objects.filter(pk=done_old.order_id).update(status=Order.Status.PUSHED, qbo_id="145", qbo_doc_number="1001")
    for outcome in ("transient", "transient", "succeeded"):
        make_attempt(done_old, outcome, duration_ms=100, started_at=old, response_body='{"Invoice": {"Id": "145"}}')
    # Old, succeeded, one revision, one attempt: 1 attempt goes, its only revision stays.
    done_old2 = make_request(acme, S.SUCCEEDED, source=src, number="OLD-2", completed_at=old, qbo_id="146")
    make_attempt(done_old2, "succeeded", started_at=old)
    # Recent success: kept whole.
    recent = make_request(acme, S.SUCCEEDED, source=src, number="NEW-1", completed_at=now - dt.timedelta(days=89),
                          revisions=2)
    make_attempt(recent, "succeeded")
    # Old failure and old cancellation: never pruned.
    failed = make_request(acme, S.FAILED, source=src, number="F-1", created_at=old, revisions=2,
                          error_kind="invalid_email")
    make_attempt(failed, "failed", started_at=old, http_status=400)
    cancelled = make_request(acme, S.CANCELLED, source=src, number="C-1", created_at=old, completed_at=old)
    make_attempt(cancelled, "failed", started_at=old, http_status=400)
    return {"acme": acme, "done_old": done_old, "done_old2": done_old2, "recent": recent, "failed": failed,
            "cancelled": cancelled}


def test_dry_run_counts_and_deletes_nothing(rows):
    before = (Attempt.objects.count(), PushRevision.objects.count())
    result = prune(days=90, dry_run=True)
    assert (result.requests, result.attempts, result.revisions) == (2, 4, 2)
    assert result.by_company == {rows["acme"].pk: {"attempts": 4, "revisions": 2}}
    assert (Attempt.objects.count(), PushRevision.objects.count()) == before
    assert not AuditLog.objects.filter(action="retention.pruned").exists()


def test_prune_keeps_qbo_id_docnumber_final_state_and_current_revision(rows):
    result = prune(days=90)
    assert (result.requests, result.attempts, result.revisions) == (2, 4, 2)

    done = PushRequest.objects.get(pk=rows["done_old"].pk)
    assert (done.state, done.qbo_id, done.qbo_doc_number, done.revision) == ("succeeded", "145", "1001", 3)
    assert list(done.revisions.values_list("number", flat=True)) == [3]
    assert done.attempts.count() == 0
    order = Order.objects.get(pk=done.order_id)
    assert (order.status, order.qbo_id, order.qbo_doc_number) == ("pushed", "145", "1001")
    assert list(rows["done_old2"].revisions.values_list("number", flat=True)) == [1]
    assert rows["done_old2"].attempts.count() == 0

    assert rows["recent"].attempts.count() == 1 and rows["recent"].revisions.count() == 2
    assert rows["failed"].attempts.count() == 1 and rows["failed"].revisions.count() == 2
    assert rows["cancelled"].attempts.count() == 1

    audit = AuditLog.objects.get(action="retention.pruned")
    assert {k: audit.data[k] for k in ("days", "requests", "attempts", "revisions")} == {
        "days": 90, "requests": 2, "attempts": 4, "revisions": 2,
    }
    # Idempotent.
    again = prune(days=90)
    assert (again.requests, again.attempts, again.revisions) == (0, 0, 0)
    assert AuditLog.objects.filter(action="retention.pruned").count() == 1


def test_shorter_retention_reaches_recent_successes(rows):
    result = prune(days=30, batch_size=1)
    assert (result.requests, result.attempts, result.revisions) == (3, 5, 3)
    assert rows["recent"].revisions.count() == 1


def test_prune_command(rows, capsys):
    call_command("prune", "--dry-run")
    out = capsys.readouterr().out
    assert "(90 days): would delete 4 attempt(s) and 2 old revision(s) of 2 request(s)." in out
    assert f"  company {rows['acme'].pk}: 4 attempt(s), 2 revision(s)" in out
    assert out.rstrip().endswith("Dry run: nothing was deleted.")
    assert Attempt.objects.count() == 7

    call_command("prune", "--days", "90", "--json")
    data = json.loads(capsys.readouterr().out)
    assert (data["dry_run"], data["requests"], data["attempts"], data["revisions"]) == (False, 2, 4, 2)
    assert Attempt.objects.count() == 3

    with pytest.raises(CommandError, match="Keep at least 1 day"):
        call_command("prune", "--days", "0")
