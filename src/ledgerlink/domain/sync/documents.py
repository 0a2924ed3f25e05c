"""An order's document changed inside QBO: voided or deleted by someone there (a webhook's Void /
Delete event, or CDC's records). The order says so (``qbo_status`` ``voided_in_qbo`` /
``deleted_in_qbo``), its page and the digest tell the person, and nothing is re-posted by itself: a
person decides (re-queue, cancel the order, or accept) from the order's page or the reconciliation."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ledgerlink.core.models import Company, Order, PushRequest
from ledgerlink.domain.audit import record_audit
from ledgerlink.quickbooks import wire

DOCUMENT_ENTITIES = tuple(wire.ENTITY_FOR_KIND[k] for k in wire.DOCUMENT_KINDS)
VOIDED, DELETED = "voided_in_qbo", "deleted_in_qbo"
KIND_OF = {wire.ENTITY_FOR_KIND[k]: k for k in wire.DOCUMENT_KINDS}


def is_voided(record: dict) -> bool:
    """How a voided sales form reads back (no status field): zero total and "Voided" in its note."""
    return float(record.get("TotalAmt") or 0) == 0 and "Voided" in str(record.get("PrivateNote") or "")


def status_of(record: dict) -> str:
    if record.get("status") == "Deleted":
        return DELETED
    if record.get("status") == "Voided" or is_voided(record):
        return VOIDED
    return ""


def mark_documents_changed(company: Company, entity: str, records: list[dict]) -> list[Order]:
    """Orders whose document ``records`` show voided or deleted in QBO, marked (a void Ledgerlink
    sent itself marks nothing). Returns the orders marked."""
    if entity not in KIND_OF:
        return []
    found = {str(r.get("Id")): status_of(r) for r in records if status_of(r)}
    if not found:
        return []
    marked = []
    with transaction.atomic():
        docs = PushRequest.objects.filter(company=company, kind=KIND_OF[entity], qbo_id__in=list(found),
                                          order__isnull=False).select_related("order")
        for doc in docs:
            order = doc.order
            status = found[doc.qbo_id]
            if status == VOIDED and PushRequest.objects.filter(
                    order=order, kind=PushRequest.Kind.VOID, state=PushRequest.State.SUCCEEDED).exists():
                continue  # our own void (the order was cancelled here)
            if order.qbo_status == status:
                continue
            Order.objects.filter(pk=order.pk).update(qbo_status=status, updated_at=timezone.now())
            record_audit(f"order.{status}", obj=order, entity=entity, qbo_id=doc.qbo_id)
            order.qbo_status = status
            marked.append(order)
    return marked
