"""An order's timeline (its page): the document, each change, payment, refund and void, each with the
push request that takes it to QBO, oldest first; and what QBO's side says (voided / deleted there)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ledgerlink.core.models import AuditLog, Order, OrderPayment, OrderRefund, OrderVersion, PushRequest
from ledgerlink.quickbooks import wire


@dataclass
class Event:
    at: datetime
    what: str  # Document, Change, Payment, Refund, Void, QuickBooks
    title: str
    detail: str = ""
    request: PushRequest | None = None
    extra_request: PushRequest | None = None  # a refund's payment that applies it to the invoice
    by: str = ""


def _fmt(value) -> str:
    if isinstance(value, list):
        return "; ".join(f"{ln.get('sku') or ln.get('description')} x {ln.get('quantity')} @ {ln.get('unit_price')}"
                         for ln in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "—"
    return "—" if value in ("", None) else str(value)


def order_timeline(order: Order) -> list[Event]:
    requests = {pr.pk: pr for pr in PushRequest.objects.filter(order=order)}
    events: list[Event] = []
    for pr in requests.values():
        if pr.kind in wire.DOCUMENT_KINDS:
            events.append(Event(pr.created_at, "Document", pr.get_kind_display(),
                                f"QuickBooks Id {pr.qbo_id}" if pr.qbo_id else "", pr))
        elif pr.kind == PushRequest.Kind.VOID:
            events.append(Event(pr.created_at, "Void", "Order cancelled: void the document", "", pr))
    for version in OrderVersion.objects.filter(order=order).order_by("number"):
        changed = "; ".join(f"{field}: {_fmt(c['old'])} → {_fmt(c['new'])}" for field, c in version.changes.items())
        events.append(Event(version.created_at, "Change", f"Version {version.number}", changed,
                            requests.get(version.push_request_id), by=version.author_label))
    for payment in OrderPayment.objects.filter(order=order).order_by("id"):
        detail = " · ".join(x for x in (payment.method, payment.reference, str(payment.date or "")) if x)
        events.append(Event(payment.created_at, "Payment", f"{payment.amount} ({payment.external_id})", detail,
                            requests.get(payment.push_request_id), by=payment.created_by))
    for refund in OrderRefund.objects.filter(order=order).order_by("id"):
        lines = "; ".join(f"{ln['sku']} x {ln['quantity']}" for ln in refund.lines)
        parts = [lines, f"shipping {refund.shipping}" if refund.shipping else "", refund.reason,
                 f"{refund.applied_amount} applied to the invoice" if refund.applied_amount else ""]
        events.append(Event(refund.created_at, "Refund", f"{refund.amount} ({refund.external_id})",
                            " · ".join(p for p in parts if p), requests.get(refund.push_request_id),
                            requests.get(refund.apply_request_id), by=refund.created_by))
    for row in AuditLog.objects.filter(object_type="order", object_id=str(order.pk), action__in=(
            "order.voided_in_qbo", "order.deleted_in_qbo", "order.cancel")).order_by("id"):
        if row.action == "order.cancel":
            events.append(Event(row.at, "Cancel", "Order cancelled", str(row.data.get("reason") or ""),
                                by=row.actor_label))
        else:
            words = "voided" if row.action == "order.voided_in_qbo" else "deleted"
            events.append(Event(row.at, "QuickBooks", f"Document {words} inside QuickBooks",
                                "Nothing is re-posted by itself: re-queue, cancel the order or accept."))
    events.sort(key=lambda e: (e.at, e.what != "Document"))
    return events
