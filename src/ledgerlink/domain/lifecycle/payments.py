"""Payments of invoice orders (``POST /orders/{id}/payments``): idempotent on (order, external_id),
each a ``payment`` request creating a QBO Payment linked to the invoice (``LinkedTxn``), with the
payment method by name (the mirror, else a ``payment_method`` request that finds or creates it) and
the site area's ``deposit_account`` (none: QBO's Undeposited Funds). Partial payments add up; more
than the open balance is refused before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from ledgerlink.core.models import Order, OrderPayment, PaymentMethod, PushRequest
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.lifecycle.documents import (
    S,
    document_request,
    is_posted,
    lock_order,
    open_balance,
    refuse_cancelled,
)
from ledgerlink.domain.lifecycle.inputs import parse_date, parse_decimal, require_object, text
from ledgerlink.domain.outbox.follow_ups import create_follow_up
from ledgerlink.domain.outbox.selectors import current_payload
from ledgerlink.domain.outbox.transitions import label_of
from ledgerlink.domain.payloads.build import json_number, push_kind
from ledgerlink.quickbooks import wire


@dataclass
class PaymentResult:
    payment: OrderPayment
    created: bool


def clean_payment_input(data) -> dict:
    data = require_object(data)
    return {
        "external_id": text(data, "external_id", max_len=200, required=True),
        "amount": parse_decimal(data.get("amount"), "amount"),
        "date": parse_date(data.get("date"), "date"),
        "method": text(data, "method", max_len=31),
        "reference": text(data, "reference", max_len=21),
    }


def record_payment(order_id: int, data, *, actor=None, actor_label: str | None = None) -> PaymentResult:
    """Record a payment of an invoice order and queue its ``payment`` request (waiting for the
    invoice when it is not in QBO yet). A repeat of (order, external_id) returns the first one."""
    label = label_of(actor, actor_label)
    with transaction.atomic():
        order = lock_order(order_id, actor)
        existing = OrderPayment.objects.filter(order=order, external_id=str((data or {}).get("external_id", "")).strip()
                                               ).first() if isinstance(data, dict) else None
        if existing is not None:
            return PaymentResult(existing, False)
        refuse_cancelled(order, "it takes no payments")
        if push_kind(order) == PushRequest.Kind.SALES_RECEIPT:
            raise ServiceError(
                f"order {order.pk} is posted as a sales receipt, which records the payment already; "
                "record a refund instead if money goes back",
                field="id", status=409,
            )
        clean = clean_payment_input(data)
        balance = open_balance(order)
        if clean["amount"] > balance:
            raise ServiceError(
                f"is more than the invoice's open balance ({balance}: total {order.total} less the payments "
                "and credits recorded)",
                field="amount",
            )
        doc = document_request(order)
        if doc is None:
            raise ServiceError(f"order {order.pk} has no document request", field="id", status=409)
        site_area = order.order_source.site_area
        company = site_area.company
        payload, fills = payment_payload(order, doc, clean)
        method_ref, method_wait = payment_method_ref(company, clean["method"], actor=actor, actor_label=label)
        if method_ref is not None:
            payload["PaymentMethodRef"] = method_ref
        elif method_wait is not None:
            fills.append(["PaymentMethodRef", method_wait.pk, "Ref"])
        if site_area.deposit_account:
            payload["DepositToAccountRef"] = {"value": site_area.deposit_account}
        if fills:
            payload["_fill"] = fills
        pr = create_follow_up(order=order, company=company, kind=PushRequest.Kind.PAYMENT, payload=payload,
                              actor=actor, actor_label=label, note=f"payment {clean['external_id']}")
        payment = OrderPayment.objects.create(
            order=order, external_id=clean["external_id"], amount=clean["amount"], date=clean["date"],
            method=clean["method"], reference=clean["reference"], push_request=pr, created_by=label,
        )
        record_audit("order.payment", actor=actor, actor_label=label, obj=order, payment=payment.pk,
                     external_id=payment.external_id, amount=str(payment.amount), request=pr.pk)
    return PaymentResult(payment, True)


def payment_payload(order: Order, doc: PushRequest, clean: dict) -> tuple[dict, list]:
    """The Payment body linked to the invoice, and what must still be filled in from the document."""
    amount = json_number(clean["amount"])
    payload: dict = {
        "TotalAmt": amount,
        "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": doc.qbo_id, "TxnType": "Invoice"}]}],
        "PrivateNote": wire.intent_marker(order.pk, "payment", clean["external_id"]),
    }
    fills: list = []
    if is_posted(doc):
        customer = current_payload(doc).get("CustomerRef")
        if customer:
            payload["CustomerRef"] = customer
    else:
        fills += [["Line.0.LinkedTxn.0.TxnId", doc.pk, "Id"], ["CustomerRef", doc.pk, "CustomerRef"]]
    if clean["date"] is not None:
        payload["TxnDate"] = clean["date"].isoformat()
    if clean["reference"]:
        payload["PaymentRefNum"] = clean["reference"]
    return payload, fills


def payment_method_ref(company, name: str, *, actor=None, actor_label: str = "system"
                       ) -> tuple[dict | None, PushRequest | None]:
    """``PaymentMethodRef`` for a method name: from the mirror, else the (new or pending)
    ``payment_method`` request that finds or creates it in QBO. (None, None) without a name."""
    if not name:
        return None, None
    method = PaymentMethod.objects.filter(company=company, name__iexact=name, active=True).first()
    if method is not None:
        return {"value": method.qbo_id, "name": method.name}, None
    for pr in PushRequest.objects.filter(
        company=company, kind=PushRequest.Kind.PAYMENT_METHOD,
        state__in=(*PushRequest.PENDING_STATES, S.SUCCEEDED),
    ).order_by("-id")[:50]:
        named = str(current_payload(pr).get("Name", ""))
        if named.lower() == name.lower():
            if pr.state == S.SUCCEEDED:
                remember_payment_method(company, pr.qbo_id, named)
                return {"value": pr.qbo_id, "name": named}, None
            return None, pr
    pr = create_follow_up(order=None, company=company, kind=PushRequest.Kind.PAYMENT_METHOD,
                          payload={"Name": name}, actor=actor, actor_label=actor_label,
                          note="payment method named by a payment (found or created in QuickBooks)")
    return None, pr


def remember_payment_method(company, qbo_id: str, name: str) -> None:
    """Mirror a payment method Ledgerlink found or created."""
    if qbo_id:
        PaymentMethod.objects.update_or_create(company=company, qbo_id=qbo_id, defaults={"name": name[:31],
                                                                                         "active": True})
