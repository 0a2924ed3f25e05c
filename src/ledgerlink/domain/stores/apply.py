"""What a store intent (``ledgerlink.stores.Intent``) does in Ledgerlink.

    order              -> ingest_orders (idempotent on (order source, external id))
    ignore             -> nothing (the reason is kept)
    payment            -> on a sales-receipt site area nothing (a sales receipt is paid already);
                          on an invoice site area ``lifecycle.payments.record_payment``
    change             -> ``lifecycle.changes.change_order`` (nothing when nothing kept changed)
    cancel             -> ``lifecycle.cancel.cancel_order`` (the void of a posted document)
    refund             -> ``lifecycle.refunds.record_refund`` (credit memo / refund receipt)

Each is idempotent (payments and refunds on their external id, a cancel of a cancelled order is a
duplicate). A lifecycle intent about an order Ledgerlink does not have yet, or one the service
refuses, is ``failed`` with the reason: the delivery is kept and can be re-processed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledgerlink.core.models import Order, OrderSource, SiteArea
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.ingest.orders import IngestResult, ingest_orders
from ledgerlink.domain.lifecycle.cancel import cancel_order
from ledgerlink.domain.lifecycle.changes import FIELDS as CHANGE_FIELDS
from ledgerlink.domain.lifecycle.changes import LINE_KEYS as CHANGE_LINE_KEYS
from ledgerlink.domain.lifecycle.changes import change_order
from ledgerlink.domain.lifecycle.payments import record_payment
from ledgerlink.domain.lifecycle.refunds import record_refund
from ledgerlink.stores import Intent

APPLIED, DUPLICATE, FAILED = "applied", "duplicate", "failed"


@dataclass
class IntentOutcome:
    kind: str
    outcome: str
    reason: str = ""
    field: str = ""
    order_id: int | None = None

    def as_dict(self) -> dict:
        return {"kind": self.kind, "outcome": self.outcome, "reason": self.reason, "field": self.field,
                "order": self.order_id}


def order_input(source: OrderSource, order: dict) -> dict:
    """The mapped store order as ``ingest_orders`` takes it."""
    return {**order, "order_source": source.pk}


def ingest_outcome(result: IngestResult) -> IntentOutcome:
    """An order intent's outcome from its ``IngestResult``."""
    if result.status == 201:
        return IntentOutcome("order", APPLIED, f"order {result.id} created", order_id=result.id)
    if result.status == 200:
        return IntentOutcome("order", DUPLICATE, f"order {result.id} exists already", order_id=result.id)
    return IntentOutcome("order", FAILED, f"the order was refused: {result.detail}", result.field or "")


def _find_order(source: OrderSource, external_id: str | None) -> Order | None:
    if not external_id:
        return None
    return Order.objects.filter(order_source=source, external_id=external_id).first()


def apply_intent(source: OrderSource, intent: Intent, *, actor=None, actor_label: str) -> IntentOutcome:
    """Apply one intent (inside the caller's transaction)."""
    kind = intent.kind
    if kind == "ignore":
        return IntentOutcome(kind, APPLIED, f"nothing to do: {intent.reason}")
    if kind == "order":
        (result,) = ingest_orders([order_input(source, intent.data)], actor=actor, actor_label=actor_label)
        return ingest_outcome(result)
    existing = _find_order(source, intent.order_external_id)
    order_id = existing.pk if existing else None
    if kind == "payment" and source.site_area.push_method == SiteArea.PushMethod.SALES_RECEIPT:
        return IntentOutcome(kind, APPLIED, "nothing to do: a sales receipt is paid already", order_id=order_id)
    if existing is None:
        return IntentOutcome(kind, FAILED, f"order {intent.order_external_id} is not in Ledgerlink yet (its"
                             " creation has not arrived): re-process this delivery once it has", "order")
    try:
        return _apply_lifecycle(existing, intent, actor=actor, actor_label=actor_label)
    except ServiceError as exc:
        if kind == "cancel" and existing.status == Order.Status.CANCELLED:
            return IntentOutcome(kind, DUPLICATE, f"order {order_id} is cancelled already", order_id=order_id)
        where = f"{exc.field}: " if exc.field else ""
        return IntentOutcome(kind, FAILED, f"the {kind} was refused: {where}{exc.message}", exc.field or "",
                             order_id=order_id)


def _change_data(order: dict) -> dict:
    """The fields of a mapped store order that ``change_order`` takes (addresses None -> none), its
    lines with their tax as the store gave it (``lifecycle.changes.LINE_KEYS``)."""
    data = {key: order[key] for key in CHANGE_FIELDS if key in order}
    if "lines" in data:
        data["lines"] = [{key: line[key] for key in CHANGE_LINE_KEYS if key in line} for line in data["lines"]]
    for key in ("bill_address", "ship_address"):
        if key in data and data[key] is None:
            data[key] = {}
    return data


def _apply_lifecycle(existing: Order, intent: Intent, *, actor, actor_label: str) -> IntentOutcome:
    """change / payment / cancel / refund through the lifecycle services (issue 15), idempotent."""
    kind, order_id = intent.kind, existing.pk
    if kind == "change":
        _, version, pr = change_order(order_id, _change_data(intent.data), actor=actor, actor_label=actor_label)
        if version is None:
            return IntentOutcome(kind, APPLIED, "nothing to do: nothing Ledgerlink keeps of the order changed",
                                 order_id=order_id)
        return IntentOutcome(kind, APPLIED, f"order {order_id} changed (version {version.number}"
                             f"{f', request {pr.pk}' if pr is not None else ''})", order_id=order_id)
    if kind == "payment":
        result = record_payment(order_id, intent.data, actor=actor, actor_label=actor_label)
        if not result.created:
            return IntentOutcome(kind, DUPLICATE, f"payment {result.payment.external_id} is recorded already",
                                 order_id=order_id)
        return IntentOutcome(kind, APPLIED, f"payment {result.payment.external_id} of {result.payment.amount}"
                             " recorded", order_id=order_id)
    if kind == "refund":
        result = record_refund(order_id, intent.data, actor=actor, actor_label=actor_label)
        if not result.created:
            return IntentOutcome(kind, DUPLICATE, f"refund {result.refund.external_id} is recorded already",
                                 order_id=order_id)
        return IntentOutcome(kind, APPLIED, f"refund {result.refund.external_id} recorded", order_id=order_id)
    if existing.status == Order.Status.CANCELLED:
        return IntentOutcome(kind, DUPLICATE, f"order {order_id} is cancelled already", order_id=order_id)
    _, void = cancel_order(order_id, reason=(intent.data or {}).get("reason") or "", actor=actor,
                           actor_label=actor_label)
    return IntentOutcome(kind, APPLIED, f"order {order_id} cancelled"
                         f"{f' (void request {void.pk})' if void is not None else ' before it reached QBO'}",
                         order_id=order_id)


def overall(outcomes: list[IntentOutcome]) -> tuple[str, str, str]:
    """(outcome, reason, field) of a delivery from its intents' outcomes."""
    failed = [o for o in outcomes if o.outcome == FAILED]
    if failed:
        return FAILED, "; ".join(o.reason for o in failed), failed[0].field
    if outcomes and all(o.outcome == DUPLICATE for o in outcomes):
        return DUPLICATE, "; ".join(o.reason for o in outcomes), ""
    return APPLIED, "; ".join(o.reason for o in outcomes if o.reason), ""
