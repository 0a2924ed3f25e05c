"""An order's document as the lifecycle services see it: its request, whether it is in QBO, the
freshest SyncToken Ledgerlink knows, what is paid, credited and refunded, and the order row locked
for a change."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum

from ledgerlink.core.models import Order, OrderPayment, OrderRefund, PushRequest
from ledgerlink.core.roles import visible_company_ids
from ledgerlink.domain.errors import ServiceError
from ledgerlink.quickbooks import wire

S = PushRequest.State
ZERO = Decimal("0.00")


def lock_order(order_id: int, actor=None) -> Order:
    """The order, locked for the caller's transaction; 404 when it does not exist or belongs to a
    Company ``actor`` may not see (``core.roles.visible_company_ids``)."""
    order = None
    if isinstance(order_id, int) and 0 < order_id < 2**63:
        order = (
            Order.objects.select_for_update(of=("self",))
            .select_related("order_source__site_area__company")
            .filter(pk=order_id)
            .first()
        )
    visible = visible_company_ids(actor)
    if order is None or (visible is not None and order.order_source.site_area.company_id not in visible):
        raise ServiceError(f"order {order_id} does not exist", field="id", status=404)
    return order


def refuse_cancelled(order: Order, what: str) -> None:
    if order.status == Order.Status.CANCELLED:
        raise ServiceError(f"order {order.pk} is cancelled; {what}", field="id", status=409)


def document_request(order: Order) -> PushRequest | None:
    """The request of the order's document (invoice or sales receipt), the newest if several."""
    return (
        PushRequest.objects.select_for_update(of=("self",))
        .filter(order=order, kind__in=wire.DOCUMENT_KINDS)
        .order_by("-id")
        .first()
    )


def is_posted(doc: PushRequest | None) -> bool:
    return doc is not None and doc.state == S.SUCCEEDED and bool(doc.qbo_id)


def not_sent(doc: PushRequest) -> bool:
    """Nothing of it can have reached QBO: never claimed into an unknown outcome, not being sent."""
    return not doc.qbo_id and not doc.outcome_unknown and doc.state in (S.QUEUED, S.RETRYING, S.FAILED, S.CANCELLED)


def document_entity(doc: PushRequest) -> str:
    return wire.ENTITY_FOR_KIND[doc.kind]


def latest_sync_token(order: Order, doc: PushRequest) -> str:
    """The newest SyncToken Ledgerlink saw for the document (its request's, or a later update's)."""
    update = (
        PushRequest.objects.filter(order=order, kind=PushRequest.Kind.UPDATE, state=S.SUCCEEDED)
        .exclude(qbo_sync_token="")
        .order_by("-completed_at", "-id")
        .values_list("qbo_sync_token", flat=True)
        .first()
    )
    return update or doc.qbo_sync_token or "0"


def live(qs):
    """Payments / refunds whose request was not cancelled."""
    return qs.exclude(push_request__state=S.CANCELLED)


def paid_amount(order: Order) -> Decimal:
    return live(OrderPayment.objects.filter(order=order)).aggregate(t=Sum("amount"))["t"] or ZERO


def refunded_amount(order: Order) -> Decimal:
    return live(OrderRefund.objects.filter(order=order)).aggregate(t=Sum("amount"))["t"] or ZERO


def credited_to_balance(order: Order) -> Decimal:
    """Credit memos applied to the invoice's open balance."""
    return (
        OrderRefund.objects.filter(order=order, apply_request__isnull=False)
        .exclude(apply_request__state=S.CANCELLED)
        .aggregate(t=Sum("applied_amount"))["t"]
        or ZERO
    )


def open_balance(order: Order) -> Decimal:
    """What is still owed on an invoice order: its total less payments and applied credit."""
    return (order.total - paid_amount(order) - credited_to_balance(order)).quantize(Decimal("0.01"))
