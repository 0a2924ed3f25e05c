"""After the document (``domain.lifecycle``): change (PATCH), cancel, payments and refunds of an
order. Each answers with what was recorded and the push request that takes it to QBO."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ninja import Router, Schema, Status

from ledgerlink.api.auth import label, need
from ledgerlink.api.errors import ERRORS
from ledgerlink.api.ingest import OrderOut, RequestRefOut, _load_order, _order_out, _request_ref
from ledgerlink.core.models import OrderPayment, OrderRefund, PushRequest
from ledgerlink.domain.lifecycle.cancel import cancel_order
from ledgerlink.domain.lifecycle.payments import record_payment
from ledgerlink.domain.lifecycle.refunds import record_refund

router = Router()


class CancelIn(Schema):
    reason: Any = None


class CancelOut(Schema):
    order: OrderOut
    void_request: RequestRefOut | None


@router.post("/orders/{order_id}/cancel", response={200: CancelOut, **ERRORS}, tags=["orders"])
def cancel_order_view(request, order_id: int, payload: CancelIn | None = None):
    """Cancel an order: unsent, its request is cancelled (nothing reaches QBO); posted, a ``void``
    request voids its document. 409 when it is cancelled already."""
    user = need(request, "operator")
    reason = payload.reason if payload is not None and isinstance(payload.reason, str) else ""
    order, void = cancel_order(order_id, reason=reason[:500], actor=user, actor_label=label(user))
    return Status(200, {"order": _order_out(_load_order(order.pk)), "void_request": _request_ref(void)})


class PaymentIn(Schema):  # Any: the service checks each field and names it (422)
    external_id: Any = None
    amount: Any = None
    date: Any = None
    method: Any = None
    reference: Any = None


class PaymentOut(Schema):
    id: int
    order: int
    external_id: str
    amount: Decimal
    date: date | None
    method: str
    reference: str
    created_at: datetime
    request: RequestRefOut


def _payment_out(payment: OrderPayment) -> dict:
    pr = PushRequest.objects.get(pk=payment.push_request_id)
    return {
        "id": payment.pk, "order": payment.order_id, "external_id": payment.external_id, "amount": payment.amount,
        "date": payment.date, "method": payment.method, "reference": payment.reference,
        "created_at": payment.created_at, "request": _request_ref(pr),
    }


@router.post("/orders/{order_id}/payments", response={200: PaymentOut, 201: PaymentOut, **ERRORS}, tags=["orders"])
def create_payment(request, order_id: int, payload: PaymentIn):
    """Record a payment of an invoice order: 201 with its ``payment`` request; 200 with the first one
    when (order, external_id) was recorded before. 409 for a sales-receipt or cancelled order; 422
    for a bad amount or more than the open balance."""
    user = need(request, "operator")
    result = record_payment(order_id, payload.dict(), actor=user, actor_label=label(user))
    return Status(201 if result.created else 200, _payment_out(result.payment))



class RefundIn(Schema):  # Any: the service checks each field and names it (422)
    external_id: Any = None
    lines: Any = None
    shipping: Any = None
    amount: Any = None
    reason: Any = None


class RefundOut(Schema):
    id: int
    order: int
    external_id: str
    kind: str
    lines: list
    shipping: Decimal
    amount: Decimal
    reason: str
    applied_amount: Decimal
    created_at: datetime
    request: RequestRefOut
    apply_request: RequestRefOut | None


def _refund_out(refund: OrderRefund) -> dict:
    requests = {pr.pk: pr for pr in PushRequest.objects.filter(pk__in=[refund.push_request_id,
                                                                        refund.apply_request_id])}
    return {
        "id": refund.pk, "order": refund.order_id, "external_id": refund.external_id, "kind": refund.kind,
        "lines": refund.lines, "shipping": refund.shipping, "amount": refund.amount, "reason": refund.reason,
        "applied_amount": refund.applied_amount, "created_at": refund.created_at,
        "request": _request_ref(requests[refund.push_request_id]),
        "apply_request": _request_ref(requests.get(refund.apply_request_id)),
    }


@router.post("/orders/{order_id}/refunds", response={200: RefundOut, 201: RefundOut, **ERRORS}, tags=["orders"])
def create_refund(request, order_id: int, payload: RefundIn):
    """Refund lines (``[{"sku", "quantity"}]`` and ``shipping``) or an ``amount``: an invoice order
    gets a credit memo (applied to the invoice while it owes something), a sales-receipt order a
    refund receipt. 201 new; 200 the first one when (order, external_id) was recorded before."""
    user = need(request, "operator")
    result = record_refund(order_id, payload.dict(), actor=user, actor_label=label(user))
    return Status(201 if result.created else 200, _refund_out(result.refund))
