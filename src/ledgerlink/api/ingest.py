"""Orders (ingest, read, re-run the rules) and automation rules (``domain.ingest``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ninja import Body, Router, Schema, Status
from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from ledgerlink.api.auth import ADMIN, OPERATOR, label, need
from ledgerlink.api.errors import ERRORS, Count, Id, IdOrName, Position, get_or_404, validation_errors
from ledgerlink.core.models import AutomationRule, Order, PushRequest
from ledgerlink.core.roles import limit_to_companies
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.ingest import automation
from ledgerlink.domain.ingest.orders import MAX_BATCH, ingest_orders
from ledgerlink.domain.lifecycle.changes import change_order
from ledgerlink.domain.paging import keyset_page, page_size

router = Router()


class AddressIn(BaseModel):  # not Schema: a string must not validate via from_attributes
    # Kept, so the service refuses a misspelt key naming it (never dropped silently)
    model_config = ConfigDict(extra="allow")

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str | None = None
    description: str | None = None
    quantity: Decimal
    unit_price: Decimal
    tax: Decimal | None = None
    tax_rate: Decimal | None = None
    taxable: bool | None = None


class OrderIn(Schema):
    model_config = ConfigDict(extra="forbid")

    order_source: IdOrName
    external_id: str
    number: str
    email: str | None = None
    lines: list[LineIn]
    shipping: Decimal | None = None
    discount: Decimal | None = None
    tax: Decimal | None = None
    customer_name: str | None = None
    customer_company: str | None = None
    bill_address: AddressIn | None = None
    ship_address: AddressIn | None = None
    currency: str | None = None
    txn_date: date | None = None
    prices_include_tax: bool | None = None
    shipping_tax: Decimal | None = None
    shipping_tax_rate: Decimal | None = None
    exchange_rate: Decimal | None = None


class LineOut(Schema):
    sku: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    tax: Decimal | None = None
    tax_rate: Decimal | None = None
    taxable: bool = False


class RuleLogOut(Schema):
    rule: int | None
    rule_name: str
    field: str
    old_value: str
    new_value: str
    created_at: datetime


class OrderRequestOut(Schema):
    id: int
    kind: str
    state: str
    revision: int
    error_kind: str


class OrderOut(Schema):
    id: int
    order_source: int
    order_source_name: str
    site_area: int
    external_id: str
    number: str
    email: str
    customer_name: str
    customer_company: str
    bill_address: dict
    ship_address: dict
    currency: str
    txn_date: date | None
    lines: list[LineOut]
    shipping: Decimal
    discount: Decimal
    tax: Decimal
    prices_include_tax: bool = False
    shipping_tax: Decimal = Decimal("0")
    shipping_tax_rate: Decimal | None = None
    exchange_rate: Decimal | None = None
    subtotal: Decimal
    total: Decimal
    push_method: str
    qbo_customer_id: str
    default_item: str
    held: bool
    status: str
    qbo_id: str
    qbo_doc_number: str
    qbo_status: str
    created_at: datetime
    requests: list[OrderRequestOut]
    rule_log: list[RuleLogOut]


class OrderSummaryOut(Schema):
    id: int
    order_source: int
    external_id: str
    number: str
    email: str
    total: Decimal
    status: str
    held: bool
    qbo_id: str
    created_at: datetime


class OrderPageOut(Schema):
    items: list[OrderSummaryOut]
    next_after: int | None


def _order_out(order: Order, *, lines=None, requests=None, rule_log=None) -> dict:
    """An order as the API shows it; ``lines``, ``requests`` and ``rule_log`` when the caller holds
    them already (the order it just ingested), else they are read."""
    if lines is None:
        lines = order.lines.all().order_by("position", "id")
    if requests is None:
        requests = order.push_requests.order_by("id")
    if rule_log is None:
        rule_log = order.rule_log.order_by("id")
    return {
        "id": order.pk,
        "order_source": order.order_source_id,
        "order_source_name": order.order_source.name,
        "site_area": order.order_source.site_area_id,
        "external_id": order.external_id,
        "number": order.number,
        "email": order.email,
        "customer_name": order.customer_name,
        "customer_company": order.customer_company,
        "bill_address": order.bill_address or {},
        "ship_address": order.ship_address or {},
        "currency": order.currency,
        "txn_date": order.txn_date,
        "lines": [
            {"sku": ln.sku, "description": ln.description, "quantity": ln.quantity, "unit_price": ln.unit_price,
             "amount": ln.amount, "tax": ln.tax, "tax_rate": ln.tax_rate, "taxable": ln.taxable}
            for ln in lines
        ],
        "shipping": order.shipping,
        "discount": order.discount,
        "tax": order.tax,
        "prices_include_tax": order.prices_include_tax,
        "shipping_tax": order.shipping_tax,
        "shipping_tax_rate": order.shipping_tax_rate,
        "exchange_rate": order.exchange_rate,
        "subtotal": order.subtotal,
        "total": order.total,
        "push_method": order.push_method or order.order_source.site_area.push_method,
        "qbo_customer_id": order.qbo_customer_id,
        "default_item": order.default_item,
        "held": order.held,
        "status": order.status,
        "qbo_id": order.qbo_id,
        "qbo_doc_number": order.qbo_doc_number,
        "qbo_status": order.qbo_status,
        "created_at": order.created_at,
        "requests": [
            {"id": pr.pk, "kind": pr.kind, "state": pr.state, "revision": pr.revision, "error_kind": pr.error_kind}
            for pr in requests
        ],
        "rule_log": [
            {"rule": log.rule_id, "rule_name": log.rule_name, "field": log.field, "old_value": log.old_value,
             "new_value": log.new_value, "created_at": log.created_at}
            for log in rule_log
        ],
    }


def _load_order(order_id: int, user=None) -> Order:
    qs = limit_to_companies(Order.objects.select_related("order_source__site_area"), user,
                            "order_source__site_area__company_id")
    order = qs.filter(pk=order_id).first() if 0 < order_id < 2**63 else None
    if order is None:
        raise ServiceError(f"order {order_id} does not exist", field="id", status=404)
    return order


@router.post("/orders", response={200: OrderOut, 201: OrderOut, **ERRORS}, tags=["orders"], auth=OPERATOR)
def create_order(request, payload: OrderIn):
    """Ingest an order. 201 when new; 200 with the existing order when (order_source, external_id)
    was delivered before (nothing is created twice)."""
    user = need(request, "operator")
    data = payload.dict(exclude_unset=True)
    (result,) = ingest_orders([data], actor=user, actor_label=label(user))
    if result.error is not None:
        raise result.error
    if not result.created:
        return Status(200, _order_out(_load_order(result.id, user)))
    # The order just written, answered from memory (reading it back cost more than writing it).
    requests = [result.request] if result.request is not None else []
    return Status(201, _order_out(result.order, lines=result.lines, requests=requests, rule_log=result.rule_log))


class OrderBatchIn(Schema):
    orders: list[Any] | None = None  # required, but the role is checked first


class OrderBatchResultOut(Schema):
    index: int
    status: int
    id: int | None
    detail: str | None
    field: str | None


class OrderBatchOut(Schema):
    results: list[OrderBatchResultOut]
    created: int
    existing: int
    refused: int


@router.post("/orders/batch", response={200: OrderBatchOut, **ERRORS}, tags=["orders"], auth=OPERATOR)
def create_orders_batch(request, payload: OrderBatchIn):
    """Ingest up to 500 orders in one call (one transaction), each with the same fields and rules as
    ``POST /orders``. The answer lists each order in the request's order: ``status`` 201 (created),
    200 (delivered before: ``id`` is the existing order) or 422 (refused with ``detail`` and
    ``field``; nothing of that order is stored, the others are)."""
    user = need(request, "operator")
    if payload.orders is None:
        raise ServiceError("is required", field="orders")
    if not payload.orders:
        raise ServiceError("must hold at least one order", field="orders")
    if len(payload.orders) > MAX_BATCH:
        raise ServiceError(
            f"must hold at most {MAX_BATCH} orders (got {len(payload.orders):,}): send the rest in another batch",
            field="orders",
        )
    results: list[dict | None] = []
    valid, positions = [], []
    for index, item in enumerate(payload.orders):
        if not isinstance(item, dict):
            results.append({"index": index, "status": 422, "id": None, "detail": "the order must be a JSON object",
                            "field": None})
            continue
        try:
            valid.append(OrderIn.model_validate(item).dict(exclude_unset=True))
        except PydanticValidationError as exc:
            first = validation_errors(exc.errors())[0]
            results.append({"index": index, "status": 422, "id": None, **first})
            continue
        positions.append(len(results))
        results.append(None)
    for position, result in zip(positions, ingest_orders(valid, actor=user, actor_label=label(user)), strict=True):
        results[position] = {**result.as_dict(), "index": position}
    statuses = [r["status"] for r in results]
    return {"results": results, "created": statuses.count(201), "existing": statuses.count(200),
            "refused": statuses.count(422)}


@router.get("/orders", response=OrderPageOut, tags=["orders"])
def list_orders(
    request,
    order_source: Id | None = None,
    status: str | None = None,
    external_id: str | None = None,
    email: str | None = None,
    after: Id | None = None,
    limit: int = 50,
):
    qs = limit_to_companies(Order.objects.all(), request.auth, "order_source__site_area__company_id")
    if order_source:
        qs = qs.filter(order_source_id=order_source) if 0 < order_source < 2**63 else qs.none()
    if status:
        qs = qs.filter(status=status)
    if external_id:
        qs = qs.filter(external_id=external_id)
    if email:
        qs = qs.filter(email__iexact=email.strip())
    page = keyset_page(qs, after, page_size(limit))
    rows, next_after = page.rows, page.next_after
    return {
        "items": [
            {"id": o.pk, "order_source": o.order_source_id, "external_id": o.external_id, "number": o.number,
             "email": o.email, "total": o.total, "status": o.status, "held": o.held, "qbo_id": o.qbo_id,
             "created_at": o.created_at}
            for o in rows
        ],
        "next_after": next_after,
    }


@router.get("/orders/{order_id}", response={200: OrderOut, **ERRORS}, tags=["orders"])
def get_order(request, order_id: int):
    return _order_out(_load_order(order_id, request.auth))


@router.post("/orders/{order_id}/run-rules", response={200: OrderOut, **ERRORS}, tags=["orders"], auth=OPERATOR)
def run_rules(request, order_id: int):
    """Re-apply the automation rules to a held or failed order; if no longer held, its request is
    created or re-queued with a fresh payload (a new revision)."""
    user = need(request, "operator")
    order = automation.run_rules_on_order(order_id, actor=user, actor_label=label(user))
    return _order_out(_load_order(order.pk, user))


# --- changes (domain.lifecycle; on this router because GET /orders/{id} is here)


class RequestRefOut(Schema):
    id: int
    kind: str
    state: str
    waiting_on: str
    qbo_id: str


def _request_ref(pr: PushRequest | None) -> dict | None:
    if pr is None:
        return None
    return {"id": pr.pk, "kind": pr.kind, "state": pr.state, "waiting_on": pr.waiting_on, "qbo_id": pr.qbo_id}


class VersionOut(Schema):
    number: int
    author: str
    changes: dict
    created_at: datetime


class ChangeOut(Schema):
    order: OrderOut
    version: VersionOut | None
    request: RequestRefOut | None


@router.patch("/orders/{order_id}", response={200: ChangeOut, **ERRORS}, tags=["orders"])
def change_order_view(request, order_id: int, payload: dict[str, Any] = Body(...)):  # noqa: B008
    """Change any of the order's fields (not its order source or external id). Unsent, its request
    gets a new revision; posted, an ``update`` request changes the document in QBO. ``version`` is
    null when nothing changed."""
    user = need(request, "operator")
    order, version, pr = change_order(order_id, payload, actor=user, actor_label=label(user))
    return Status(200, {
        "order": _order_out(_load_order(order.pk)),
        "version": None if version is None else {
            "number": version.number, "author": version.author_label, "changes": version.changes,
            "created_at": version.created_at},
        "request": _request_ref(pr),
    })


# --- automation rules ---------------------------------------------------------------------------


class RuleIn(Schema):
    name: str
    conditions: dict[str, Any] = {}
    actions: dict[str, Any]
    position: Position | None = None
    enabled: bool = True
    stop_processing: bool = False


class RulePatch(Schema):
    name: str | None = None
    conditions: dict[str, Any] | None = None
    actions: dict[str, Any] | None = None
    position: Position | None = None
    enabled: bool | None = None
    stop_processing: bool | None = None


class RuleOut(Schema):
    id: int
    name: str
    position: int
    enabled: bool
    stop_processing: bool
    conditions: dict[str, Any]
    actions: dict[str, Any]


class RulePreviewIn(Schema):
    conditions: dict[str, Any] = {}
    actions: dict[str, Any]
    last_n: Count = 1000


class RulePreviewOut(Schema):
    would_change: int
    last_n: int


def _rule_out(rule: AutomationRule) -> dict:
    return {"id": rule.pk, "name": rule.name, "position": rule.position, "enabled": rule.enabled,
            "stop_processing": rule.stop_processing, "conditions": rule.conditions, "actions": rule.actions}


@router.get("/automation-rules", response=list[RuleOut], tags=["automation rules"])
def list_rules(request):
    return [_rule_out(r) for r in AutomationRule.objects.order_by("position", "id")]


@router.post("/automation-rules", response={201: RuleOut, **ERRORS}, tags=["automation rules"], auth=ADMIN)
def create_rule(request, payload: RuleIn):
    user = need(request, "admin")
    rule = automation.create_rule(**payload.dict(), actor=user, actor_label=label(user))
    return Status(201, _rule_out(rule))


@router.post("/automation-rules/preview", response={200: RulePreviewOut, **ERRORS}, tags=["automation rules"], auth=OPERATOR)
def preview_rule(request, payload: RulePreviewIn):
    """How many of the last ``last_n`` orders this rule would change (nothing is written). Operators
    and admins only: it runs the rule's pattern over many orders."""
    user = need(request, "operator")
    would_change = automation.preview_rule(payload.conditions, payload.actions, payload.last_n, actor=user)
    return {"would_change": would_change, "last_n": payload.last_n}


@router.get("/automation-rules/{rule_id}", response={200: RuleOut, **ERRORS}, tags=["automation rules"])
def get_rule(request, rule_id: int):
    return _rule_out(get_or_404(AutomationRule, rule_id, "automation rule"))


@router.patch("/automation-rules/{rule_id}", response={200: RuleOut, **ERRORS}, tags=["automation rules"], auth=ADMIN)
def patch_rule(request, rule_id: int, payload: RulePatch):
    user = need(request, "admin")
    changes = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    return _rule_out(automation.update_rule(rule_id, actor=user, actor_label=label(user), **changes))


@router.delete("/automation-rules/{rule_id}", response={204: None, **ERRORS}, tags=["automation rules"], auth=ADMIN)
def delete_rule(request, rule_id: int):
    user = need(request, "admin")
    automation.delete_rule(rule_id, actor=user, actor_label=label(user))
    return Status(204, None)
