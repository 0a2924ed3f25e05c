"""Refunds (``POST /orders/{id}/refunds``): lines ``[{"sku", "quantity"}]`` (+ ``shipping``) or an
``amount``, idempotent on (order, external_id). An invoice order gets a ``credit_memo`` request, and,
while the invoice still owes something, a ``payment`` request that applies the credit to it (a
Payment of 0 linking the invoice and the credit memo); a sales-receipt order gets a
``refund_receipt`` request paid from the site area's ``refund_account`` (missing: caught before
sending, with the fix). The lines are built by the document's own line builder
(``payloads.build.build_payload`` over the refunded quantities), so they carry what the document's
lines carry (items, tax codes); the order's tax is refunded in proportion to the refunded lines.
Never more than the order's total less its earlier refunds."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from ledgerlink.core.models import Order, OrderLine, OrderRefund, PushRequest
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.lifecycle.documents import (
    ZERO,
    document_request,
    is_posted,
    live,
    lock_order,
    open_balance,
    refunded_amount,
    refuse_cancelled,
)
from ledgerlink.domain.lifecycle.inputs import parse_decimal, require_object, text
from ledgerlink.domain.outbox.follow_ups import create_follow_up
from ledgerlink.domain.outbox.selectors import current_payload
from ledgerlink.domain.outbox.transitions import label_of
from ledgerlink.domain.payloads.build import build_payload, json_number, line_amount, money, push_kind
from ledgerlink.domain.payloads.preflight import preflight_payload
from ledgerlink.quickbooks import wire

# Kept from the document body; the rest (DocNumber, TxnDate, ...) QBO gives the refund itself.
KEPT = ("Line", "CustomerRef", "BillEmail", "CurrencyRef", "ExchangeRate", "BillAddr", "ShipAddr", "TxnTaxDetail",
        "GlobalTaxCalculation")


@dataclass
class RefundResult:
    refund: OrderRefund
    created: bool


def _refunded_lines(order: Order) -> tuple[dict[str, Decimal], Decimal]:
    """Quantity refunded so far per SKU, and shipping refunded so far."""
    qty: dict[str, Decimal] = {}
    shipping = ZERO
    for refund in live(OrderRefund.objects.filter(order=order)):
        shipping += refund.shipping
        for line in refund.lines:
            qty[line["sku"]] = qty.get(line["sku"], ZERO) + Decimal(line["quantity"])
    return qty, shipping


def _line_key(line: OrderLine) -> str:
    return line.sku or line.description


def clean_refund_input(order: Order, data) -> dict:
    data = require_object(data)
    clean = {
        "external_id": text(data, "external_id", max_len=200, required=True),
        "reason": text(data, "reason", max_len=4000),
        "shipping": parse_decimal(data.get("shipping"), "shipping", positive=False, required=False) or ZERO,
        "amount": parse_decimal(data.get("amount"), "amount", required=False),
    }
    lines = data.get("lines")
    if lines in (None, []):
        lines = []
    if not isinstance(lines, list):
        raise ServiceError("must be a list of {sku, quantity}", field="lines")
    by_key = {_line_key(line): line for line in order.lines.order_by("position", "id")}
    refunded, shipping_refunded = _refunded_lines(order)
    picked = []
    for index, line in enumerate(lines):
        prefix = f"lines[{index}]"
        if not isinstance(line, dict):
            raise ServiceError("must be an object with sku and quantity", field=prefix)
        sku = text(line, "sku", max_len=200, required=True) if "sku" in line else ""
        if sku not in by_key:
            raise ServiceError(f"is not a line of order {order.pk}", field=f"{prefix}.sku")
        quantity = parse_decimal(line.get("quantity"), f"{prefix}.quantity", places=4)
        ordered = by_key[sku].quantity
        left = ordered - refunded.get(sku, ZERO) - sum((q for s, q in picked if s == sku), ZERO)
        if quantity > left:
            raise ServiceError(f"is more than is left to refund of {sku} ({left.normalize()} of "
                               f"{ordered.normalize()})", field=f"{prefix}.quantity")
        picked.append((sku, quantity))
    if clean["shipping"] > order.shipping - shipping_refunded:
        raise ServiceError(f"is more than the order's shipping left to refund "
                           f"({order.shipping - shipping_refunded})", field="shipping")
    if not picked and not clean["shipping"] and clean["amount"] is None:
        raise ServiceError("give the refunded lines (and shipping) or an amount", field="lines")
    clean["lines"] = [(by_key[sku], quantity) for sku, quantity in picked]
    return clean


def refund_body(order: Order, clean: dict) -> tuple[dict, Decimal]:
    """The CreditMemo / RefundReceipt body (without PrivateNote) and its total."""
    refund_order = copy.copy(order)
    refund_order.pk = order.pk
    if clean["lines"] or clean["shipping"]:
        # Each refunded line as the document's: its price, and its tax as the store said it (rate,
        # taxable, the tax amount in proportion to the quantity), so the tax model treats it alike.
        lines = [
            OrderLine(sku=line.sku, description=line.description, quantity=quantity, unit_price=line.unit_price,
                      position=k, tax_rate=line.tax_rate, taxable=line.taxable,
                      tax=None if line.tax is None else money(line.tax * quantity / line.quantity))
            for k, (line, quantity) in enumerate(clean["lines"])
        ]
        subtotal = sum((line_amount(ln.quantity, ln.unit_price) for ln in lines), ZERO)
        shipping_tax = (money(order.shipping_tax * clean["shipping"] / order.shipping)
                        if order.shipping_tax and order.shipping else ZERO)
        if order.itemized_tax:  # the store said each line's tax: the refunded lines' and shipping's
            tax = money(sum((ln.tax or ZERO for ln in lines), ZERO) + shipping_tax)
        else:  # one tax for the order: in proportion to the refunded lines
            tax = money(order.tax * subtotal / order.subtotal) if order.tax and order.subtotal else ZERO
        refund_order.shipping, refund_order.discount, refund_order.tax = clean["shipping"], ZERO, tax
        refund_order.shipping_tax = shipping_tax
        total = money(subtotal + clean["shipping"] + tax)
        if clean["amount"] is not None and clean["amount"] != total:
            raise ServiceError(f"must be the refunded lines' total {total} (or left out)", field="amount")
    else:
        lines = [OrderLine(sku="", description=clean["reason"] or "Refund", quantity=Decimal(1),
                           unit_price=clean["amount"], position=0)]
        refund_order.shipping = refund_order.discount = refund_order.tax = refund_order.shipping_tax = ZERO
        total = clean["amount"]
    _, body = build_payload(refund_order, order_lines=lines)
    return {k: v for k, v in body.items() if k in KEPT}, total


def record_refund(order_id: int, data, *, actor=None, actor_label: str | None = None) -> RefundResult:
    label = label_of(actor, actor_label)
    with transaction.atomic():
        order = lock_order(order_id, actor)
        if isinstance(data, dict):
            existing = OrderRefund.objects.filter(order=order, external_id=str(data.get("external_id", "")).strip()
                                                  ).first()
            if existing is not None:
                return RefundResult(existing, False)
        refuse_cancelled(order, "it takes no refunds")
        clean = clean_refund_input(order, data)
        body, total = refund_body(order, clean)
        refundable = order.total - refunded_amount(order)
        if total > refundable:
            raise ServiceError(f"is more than what is left to refund ({refundable}: the order's total "
                               f"{order.total} less earlier refunds)", field="amount")
        doc = document_request(order)
        if doc is None:
            raise ServiceError(f"order {order.pk} has no document request", field="id", status=409)
        site_area = order.order_source.site_area
        company = site_area.company
        body["PrivateNote"] = wire.intent_marker(order.pk, "refund", clean["external_id"])
        fills = []
        if is_posted(doc):
            customer = current_payload(doc).get("CustomerRef")
            if customer:
                body["CustomerRef"] = customer
        elif push_kind(order) == PushRequest.Kind.INVOICE:
            fills.append(["CustomerRef", doc.pk, "CustomerRef"])
        if fills:
            body["_fill"] = fills
        apply_request, applied = None, ZERO
        if push_kind(order) == PushRequest.Kind.INVOICE:
            kind = PushRequest.Kind.CREDIT_MEMO
            pr = create_follow_up(order=order, company=company, kind=kind, payload=body, actor=actor,
                                  actor_label=label, note=f"refund {clean['external_id']}")
            balance = open_balance(order)
            applied = min(total, balance) if balance > 0 else ZERO
            if applied > 0:
                apply_request = _apply_credit(order, doc, pr, clean["external_id"], applied, actor, label)
        else:
            kind = PushRequest.Kind.REFUND_RECEIPT
            if site_area.refund_account:
                body["DepositToAccountRef"] = {"value": site_area.refund_account}
            error = preflight_payload(company, kind, body)
            pr = create_follow_up(order=order, company=company, kind=kind, payload=body, actor=actor,
                                  actor_label=label, note=f"refund {clean['external_id']}", preflight_error=error)
        refund = OrderRefund.objects.create(
            order=order, external_id=clean["external_id"], kind=kind,
            lines=[{"sku": _line_key(line), "quantity": str(q)} for line, q in clean["lines"]],
            shipping=clean["shipping"], amount=total, reason=clean["reason"], push_request=pr,
            apply_request=apply_request, applied_amount=applied, created_by=label,
        )
        record_audit("order.refund", actor=actor, actor_label=label, obj=order, refund=refund.pk, kind=kind,
                     external_id=refund.external_id, amount=str(total), request=pr.pk,
                     apply_request=apply_request.pk if apply_request is not None else None)
    return RefundResult(refund, True)


def _apply_credit(order: Order, doc: PushRequest, memo: PushRequest, external_id: str, amount: Decimal, actor,
                  label: str) -> PushRequest:
    """A Payment of 0 that knocks the credit memo off the invoice's open balance."""
    value = json_number(amount)
    payload: dict = {
        "TotalAmt": 0,
        "Line": [
            {"Amount": value, "LinkedTxn": [{"TxnId": doc.qbo_id, "TxnType": "Invoice"}]},
            {"Amount": value, "LinkedTxn": [{"TxnId": "", "TxnType": "CreditMemo"}]},
        ],
        "PrivateNote": wire.intent_marker(order.pk, "credit", external_id),
    }
    fills = [["Line.1.LinkedTxn.0.TxnId", memo.pk, "Id"], ["CustomerRef", memo.pk, "CustomerRef"]]
    if not is_posted(doc):
        fills.append(["Line.0.LinkedTxn.0.TxnId", doc.pk, "Id"])
    payload["_fill"] = fills
    return create_follow_up(order=order, company=doc.company, kind=PushRequest.Kind.PAYMENT, payload=payload,
                            actor=actor, actor_label=label, note=f"applies refund {external_id} to the invoice")
