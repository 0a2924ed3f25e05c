"""Changing an order (``PATCH /orders/{id}``): any of the fields ``POST /orders`` takes but its order
source and external id. The order keeps its versions (who, when, each field's old and new value).
Its document not sent yet: the waiting request gets a new revision built from the changed order. In
QBO (or possibly, being sent): an ``update`` request sends the changed document with the SyncToken
Ledgerlink knows and, on 5010, re-reads it and sends again by itself (``worker.send``)."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from ledgerlink.core.models import Order, OrderLine, OrderVersion, PushRequest
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.ingest.orders import validate_order_input
from ledgerlink.domain.lifecycle.documents import (
    S,
    document_entity,
    document_request,
    is_posted,
    latest_sync_token,
    lock_order,
    not_sent,
    refuse_cancelled,
)
from ledgerlink.domain.outbox.actions import requeue_request
from ledgerlink.domain.outbox.follow_ups import create_follow_up, revise_unsent
from ledgerlink.domain.outbox.transitions import label_of
from ledgerlink.domain.payloads.build import build_payload

FIELDS = (
    "number", "email", "customer_name", "customer_company", "bill_address", "ship_address", "currency", "txn_date",
    "shipping", "discount", "tax", "lines",
    # Tax as the store gave it (docs/tax.md): kept through a change, changed when a change says so.
    "prices_include_tax", "shipping_tax", "shipping_tax_rate", "exchange_rate",
)
FIXED = ("order_source", "external_id")
LINE_KEYS = ("sku", "description", "quantity", "unit_price", "tax", "tax_rate", "taxable")


def order_input(order: Order) -> dict:
    """The order as ``POST /orders`` input (what a change is merged into)."""
    return {
        "order_source": order.order_source_id,
        "external_id": order.external_id,
        "number": order.number,
        "email": order.email,
        "customer_name": order.customer_name,
        "customer_company": order.customer_company,
        "bill_address": order.bill_address or {},
        "ship_address": order.ship_address or {},
        "currency": order.currency,
        "txn_date": order.txn_date,
        "shipping": order.shipping,
        "discount": order.discount,
        "tax": order.tax,
        "lines": [{k: getattr(line, k) for k in LINE_KEYS} for line in order.lines.order_by("position", "id")],
        "prices_include_tax": order.prices_include_tax,
        # Not itemized: no shipping tax was given (an absent one, not 0, so the order stays not itemized).
        "shipping_tax": order.shipping_tax if order.itemized_tax else None,
        "shipping_tax_rate": order.shipping_tax_rate,
        "exchange_rate": order.exchange_rate,
    }


def _amount(value) -> str | None:
    """A number as the version shows it: no trailing zeros, never an exponent (50, not 5E+1)."""
    return None if value is None else format(Decimal(value).normalize(), "f")


def _comparable(key: str, value):
    if key == "lines":
        return [
            {"sku": ln["sku"], "description": ln["description"], "quantity": _amount(ln["quantity"]),
             "unit_price": _amount(ln["unit_price"]), "tax": _amount(ln.get("tax")),
             "tax_rate": _amount(ln.get("tax_rate")), "taxable": bool(ln.get("taxable"))}
            for ln in value
        ]
    if key in ("shipping_tax_rate", "exchange_rate"):
        return _amount(value)
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal("0.01")))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def change_order(order_id: int, data, *, actor=None, actor_label: str | None = None
                 ) -> tuple[Order, OrderVersion | None, PushRequest | None]:
    """Apply a change. Returns (order, the new version or None when nothing changed, the request that
    takes the change to QBO: the revised document request or the ``update`` request, or None)."""
    label = label_of(actor, actor_label)
    if not isinstance(data, dict):
        raise ServiceError("must be a JSON object with the order fields to change", field=None)
    for key in data:
        if key in FIXED:
            raise ServiceError("cannot change: an order keeps its order source and external id", field=key)
        if key not in FIELDS:
            raise ServiceError(f"is not an order field (known: {', '.join(FIELDS)})", field=key)
    with transaction.atomic():
        order = lock_order(order_id, actor)
        refuse_cancelled(order, "it cannot be changed")
        before = order_input(order)
        clean = validate_order_input({**before, **data})
        stored = {**before, "shipping_tax": order.shipping_tax}  # what is compared: the order as stored
        changes = {}
        for key in FIELDS:
            old, new = _comparable(key, stored[key]), _comparable(key, clean[key])
            if old != new:
                changes[key] = {"old": old, "new": new}
        if not changes:
            return order, None, None
        for key in FIELDS:
            if key != "lines":
                setattr(order, key, clean[key])
        order.subtotal, order.total = clean["subtotal"], clean["total"]
        order.itemized_tax = clean["itemized_tax"]
        order.updated_at = timezone.now()
        order.save()
        if "lines" in changes:
            order.lines.all().delete()
            OrderLine.objects.bulk_create(
                [OrderLine(order=order, position=k, **line) for k, line in enumerate(clean["lines"])]
            )
        number = (order.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        version = OrderVersion.objects.create(order=order, number=number, author=_author(actor), author_label=label,
                                              changes=changes)
        pr = _send_change(order, actor=actor, label=label, version=number)
        if pr is not None:
            version.push_request = pr
            version.save(update_fields=["push_request"])
        record_audit("order.change", actor=actor, actor_label=label, obj=order, version=number,
                     fields=sorted(changes), request=pr.pk if pr is not None else None)
    return order, version, pr


def _author(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _send_change(order: Order, *, actor, label: str, version: int) -> PushRequest | None:
    doc = document_request(order)
    if doc is None:
        return None  # held: the document is built when it is released
    kind, body = build_payload(order)
    note = f"order changed (version {version})"
    if not_sent(doc):
        if doc.state == S.QUEUED:
            revise_unsent(doc, body, note=note, actor=actor, actor_label=label)
            return doc
        return requeue_request(doc.pk, payload=body, note=note, actor=actor, actor_label=label)
    payload: dict = {"_entity": document_entity(doc), **body}
    if is_posted(doc):
        payload.update(Id=doc.qbo_id, SyncToken=latest_sync_token(order, doc))
    else:  # being sent, or its outcome unknown: change what it turns out to have created
        payload.update(Id="", SyncToken="", _fill=[["Id", doc.pk, "Id"], ["SyncToken", doc.pk, "SyncToken"]])
    # An update nobody has sent yet is revised instead of sending two.
    pending = (
        PushRequest.objects.select_for_update()
        .filter(order=order, kind=PushRequest.Kind.UPDATE, state=S.QUEUED, outcome_unknown=False, attempt_count=0)
        .order_by("-id")
        .first()
    )
    if pending is not None:
        revise_unsent(pending, payload, note=note, actor=actor, actor_label=label)
        return pending
    return create_follow_up(order=order, company=doc.company, kind=PushRequest.Kind.UPDATE, payload=payload,
                            actor=actor, actor_label=label, note=note)
