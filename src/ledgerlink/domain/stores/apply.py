"""What a store intent (``ledgerlink.stores.Intent``) does in Ledgerlink.

    order              -> ingest_orders (idempotent on (order source, external id))
    ignore             -> nothing (the reason is kept)
    payment            -> on a sales-receipt site area nothing (a sales receipt is paid already);
                          on an invoice site area: the lifecycle issue (15)
    change, cancel, refund -> the lifecycle issue (15)

Until the lifecycle services are in, a lifecycle intent is ``failed`` with the reason
``not applied yet: <intent>``: the delivery is kept and can be re-processed once they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledgerlink.core.models import Order, OrderSource, SiteArea
from ledgerlink.domain.ingest.orders import IngestResult, ingest_orders
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
    return IntentOutcome(kind, FAILED, f"not applied yet: {kind}", order_id=order_id)


def overall(outcomes: list[IntentOutcome]) -> tuple[str, str, str]:
    """(outcome, reason, field) of a delivery from its intents' outcomes."""
    failed = [o for o in outcomes if o.outcome == FAILED]
    if failed:
        return FAILED, "; ".join(o.reason for o in failed), failed[0].field
    if outcomes and all(o.outcome == DUPLICATE for o in outcomes):
        return DUPLICATE, "; ".join(o.reason for o in outcomes), ""
    return APPLIED, "; ".join(o.reason for o in outcomes if o.reason), ""
