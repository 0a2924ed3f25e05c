"""Cancelling an order (``POST /orders/{id}/cancel``). Not sent yet: its requests are cancelled and
nothing reaches QBO. In QBO (or possibly: being sent, outcome unknown): a ``void`` request voids the
document the way QBO voids that entity (Invoice: ``operation=void``; SalesReceipt:
``operation=update&include=void``, sparse), waiting for the document when it is not confirmed yet."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ledgerlink.core.models import Order, PushRequest
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.lifecycle.documents import (
    document_entity,
    document_request,
    is_posted,
    latest_sync_token,
    lock_order,
    not_sent,
    refuse_cancelled,
)
from ledgerlink.domain.outbox.actions import cancel_request
from ledgerlink.domain.outbox.follow_ups import create_follow_up
from ledgerlink.domain.outbox.transitions import CANCELLABLE, label_of

# Follow-ups a cancel withdraws while they are unsent (a void is what the cancel itself sends).
WITHDRAWN_KINDS = ("update", "payment", "credit_memo", "refund_receipt")


def cancel_order(order_id: int, *, reason: str = "", actor=None, actor_label: str | None = None
                 ) -> tuple[Order, PushRequest | None]:
    """Cancel the order. Returns (order, the void request or None when nothing had reached QBO)."""
    label = label_of(actor, actor_label)
    with transaction.atomic():
        order = lock_order(order_id, actor)
        refuse_cancelled(order, "it cannot be cancelled again")
        doc = document_request(order)
        withdrawn = []
        for pr in PushRequest.objects.select_for_update().filter(
            order=order, kind__in=WITHDRAWN_KINDS, state__in=CANCELLABLE, outcome_unknown=False
        ).order_by("id"):
            cancel_request(pr.pk, note="order cancelled", actor=actor, actor_label=label)
            withdrawn.append(pr.pk)
        void = None
        if doc is None or not_sent(doc):
            if doc is not None and doc.state in CANCELLABLE:
                cancel_request(doc.pk, note=reason or "order cancelled", actor=actor, actor_label=label)
        else:
            entity = document_entity(doc)
            payload: dict = {"_entity": entity}
            if is_posted(doc):
                payload.update(Id=doc.qbo_id, SyncToken=latest_sync_token(order, doc))
            else:  # being sent, or its outcome is unknown: void what it turns out to have created
                payload.update(Id="", SyncToken="", _fill=[["Id", doc.pk, "Id"], ["SyncToken", doc.pk, "SyncToken"]])
            void = create_follow_up(
                order=order, company=doc.company, kind=PushRequest.Kind.VOID, payload=payload, actor=actor,
                actor_label=label, note=reason or "order cancelled",
            )
        order.status = Order.Status.CANCELLED
        order.updated_at = timezone.now()
        order.save(update_fields=["status", "updated_at"])
        record_audit(
            "order.cancel", actor=actor, actor_label=label, obj=order, reason=reason,
            document_request=doc.pk if doc is not None else None, document_state=doc.state if doc else None,
            void_request=void.pk if void is not None else None, withdrawn=withdrawn,
        )
    return order, void

