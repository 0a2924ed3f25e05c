"""The audit log records who did what, when, to which object: edits, re-queues, cancels, rule and
connection changes; a refused action leaves no row."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from django.utils import timezone

from ledgerlink.core.models import AuditLog, PushRequest
from ledgerlink.domain.companies.health import set_company_status
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.ingest.automation import create_rule, delete_rule, update_rule
from ledgerlink.domain.ingest.orders import ingest_order
from ledgerlink.domain.outbox.actions import cancel_request, requeue_request
from ledgerlink.domain.outbox.selectors import current_payload
from tests.ledgerlink.factories import make_user, make_world, order_data


def rows(since_id: int = 0) -> list[tuple]:
    return list(
        AuditLog.objects.filter(id__gt=since_id)
        .order_by("id")
        .values_list("action", "actor__username", "actor_label", "object_type", "object_id")
    )


def last_id() -> int:
    return AuditLog.objects.order_by("-id").values_list("id", flat=True).first() or 0


@pytest.mark.django_db
def test_edit_requeue_and_cancel_are_audited_with_actor_object_and_utc_time():
    world = make_world()
    operator = make_user("olga", "operator")
    order, created = ingest_order(order_data(), actor_label="api:feed")
    assert created
    pr = PushRequest.objects.get(order=order)
    assert rows() == [
        ("order.ingest", None, "api:feed", "order", str(order.pk)),
        ("push_request.create", None, "api:feed", "pushrequest", str(pr.pk)),
    ]

    start = last_id()
    before = timezone.now()
    cancel_request(pr.pk, note="wrong customer", actor=operator)
    edited = copy.deepcopy(current_payload(PushRequest.objects.get(pk=pr.pk)))
    edited["CustomerRef"] = {"value": str(world.acme.qbo_id)}
    edited["PrivateNote"] = "fixed by olga"
    requeue_request(pr.pk, payload=edited, note="set customer", actor=operator)
    assert PushRequest.objects.get(pk=pr.pk).state == "queued"

    got = rows(start)
    assert got == [
        ("push_request.cancel", "olga", "olga", "pushrequest", str(pr.pk)),
        ("push_request.requeue", "olga", "olga", "pushrequest", str(pr.pk)),
    ]
    cancel = AuditLog.objects.get(action="push_request.cancel")
    assert cancel.data == {"from_state": "queued", "note": "wrong customer"}
    requeue = AuditLog.objects.filter(action="push_request.requeue").order_by("id").first()
    assert requeue.data["edited"] is True
    assert requeue.data["from_revision"] == 1 and requeue.data["revision"] == 2
    assert requeue.data["note"] == "set customer"
    assert before <= requeue.at <= timezone.now()
    assert requeue.at.utcoffset() == timedelta(0)  # stored and read back in UTC
    # The edit itself is kept as a revision naming its author (payload edits never overwrite).
    revision = PushRequest.objects.get(pk=pr.pk).revisions.get(number=2)
    assert (revision.author, revision.author_label, revision.payload["PrivateNote"]) == (operator, "olga", "fixed by olga")


@pytest.mark.django_db
def test_a_refused_action_writes_no_audit_row():
    make_world()
    operator = make_user("olga", "operator")
    order, _ = ingest_order(order_data())
    pr = PushRequest.objects.get(order=order)
    start = last_id()
    with pytest.raises(ServiceError):
        requeue_request(pr.pk, actor=operator)  # queued: nothing to re-queue (409)
    with pytest.raises(ServiceError):
        requeue_request(pr.pk + 1000, actor=operator)
    assert rows(start) == []


@pytest.mark.django_db
def test_rule_and_connection_changes_are_audited():
    world = make_world()
    admin = make_user("ada", "admin")
    start = last_id()
    rule = create_rule(name="Trade show email", conditions={"email": "missing"},
                       actions={"set_email": "tradeshow@example.com"}, actor=admin)
    update_rule(rule.pk, name="Trade show e-mail", actor=admin)
    delete_rule(rule.pk, actor=admin)
    set_company_status(world.company.pk, "paused", actor=admin, reason="month end")
    assert rows(start) == [
        ("rule.create", "ada", "ada", "automationrule", str(rule.pk)),
        ("rule.update", "ada", "ada", "automationrule", str(rule.pk)),
        ("rule.delete", "ada", "ada", "automationrule", str(rule.pk)),
        ("company.status_changed", "ada", "ada", "company", str(world.company.pk)),
    ]
    update = AuditLog.objects.get(action="rule.update")
    assert update.data == {"before": {"name": "Trade show email"}, "after": {"name": "Trade show e-mail"}}
    deleted = AuditLog.objects.get(action="rule.delete")
    assert deleted.data["actions"] == {"set_email": "tradeshow@example.com"}
    status = AuditLog.objects.get(action="company.status_changed")
    assert status.data == {"old": "active", "new": "paused", "reason": "month end"}
