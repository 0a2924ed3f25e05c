"""REST API under /api/v1 (django-ninja). Thin: every write calls a service.

Auth: ``Authorization: Bearer <token>`` (``ledgerlink create-api-token USERNAME``). Roles: viewers
read, operators ingest orders / run rules / re-queue / cancel, admins manage site areas, order
sources and automation rules. Errors: ``{"detail": reason, "field": path}`` with the status
(401 no/bad token, 403 role, 404, 409 state conflict, 413 too large, 422 invalid input).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db.models import Q
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer
from pydantic import BaseModel

from ledgerlink.core.models import (
    AutomationRule,
    Company,
    Customer,
    Item,
    Order,
    OrderSource,
    PushRequest,
    SiteArea,
)
from ledgerlink.core.roles import has_role
from ledgerlink.core.services.errors import ServiceError
from ledgerlink.core.services.tokens import authenticate_token


class TokenAuth(HttpBearer):
    openapi_description = "A per-user API token: `ledgerlink create-api-token USERNAME`."

    def authenticate(self, request, token):
        user = authenticate_token(token)
        if user is not None:
            request.user = user
        return user


api = NinjaAPI(
    title="Ledgerlink API",
    version="1",
    urls_namespace="api",
    auth=TokenAuth(),
    description="Orders to QuickBooks Online: ingest orders, inspect and re-queue push requests. "
    "See docs/api.md.",
)


# --- errors -------------------------------------------------------------------------------------------


@api.exception_handler(ServiceError)
def _service_error(request, exc: ServiceError):
    return api.create_response(request, exc.as_dict(), status=exc.status)


def _field_path(loc) -> str | None:
    parts = list(loc or [])
    if parts and parts[0] in ("body", "query", "path"):
        parts = parts[1:]
        # ninja puts the parameter name first for a body schema; drop it when more follows
        if len(parts) > 1 and parts[0] in ("payload", "body", "data", "filters"):
            parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or None


# pydantic error types -> the wording the services use
_MESSAGES = {
    "missing": "is required",
    "decimal_parsing": "must be a number",
    "decimal_type": "must be a number",
    "float_parsing": "must be a number",
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "bool_parsing": "must be true or false",
    "date_from_datetime_parsing": "must be a date as YYYY-MM-DD",
    "date_parsing": "must be a date as YYYY-MM-DD",
    "finite_number": "must be a finite number",
}


def _message(err: dict) -> str:
    kind = str(err.get("type", ""))
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind.startswith("date"):
        return "must be a date as YYYY-MM-DD"
    return str(err.get("msg", "is invalid"))


@api.exception_handler(NinjaValidationError)
def _validation_error(request, exc: NinjaValidationError):
    errors = []
    for err in exc.errors:
        loc = list(err.get("loc") or [])
        # a union (int | str) reports one error per member: name the field once
        loc = [part for part in loc if part not in ("int", "str", "function-after[...]")]
        item = {"field": _field_path(loc), "detail": _message(err)}
        if item not in errors:
            errors.append(item)
    first = errors[0] if errors else {"field": None, "detail": "invalid input"}
    return api.create_response(
        request, {"detail": first["detail"], "field": first["field"], "errors": errors}, status=422
    )


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return api.create_response(
        request,
        {"detail": "the request body is too large (an edited payload may be at most 1,000,000 bytes)",
         "field": "payload"},
        status=413,
    )


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return api.create_response(
        request, {"detail": "a valid API token is required (Authorization: Bearer <token>)", "field": None},
        status=401,
    )


def _need(request, role: str):
    user = request.auth
    if not has_role(user, role):
        raise ServiceError(f"this needs the {role} role", status=403)
    return user


def _label(user) -> str:
    return f"api:{user.get_username()}"


class ErrorOut(Schema):
    detail: str
    field: str | None = None


ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 413: ErrorOut, 422: ErrorOut}


def _page(qs, after: int | None, limit: int) -> tuple[list, int | None]:
    limit = max(1, min(int(limit or 50), 500))
    qs = qs.order_by("-id")
    if after:
        qs = qs.filter(pk__lt=after)
    rows = list(qs[: limit + 1])
    next_after = rows[limit - 1].pk if len(rows) > limit else None
    return rows[:limit], next_after


def _get(model, pk: int, label: str):
    obj = model.objects.filter(pk=pk).first()
    if obj is None:
        raise ServiceError(f"{label} {pk} does not exist", field="id", status=404)
    return obj


# --- companies ------------------------------------------------------------------------------------


class CompanyOut(Schema):
    id: int
    name: str
    realm_id: str
    status: str
    last_success_at: datetime | None = None


@api.get("/companies", response=list[CompanyOut], tags=["companies"])
def list_companies(request):
    return [
        {"id": c.pk, "name": c.name, "realm_id": c.realm_id, "status": c.status, "last_success_at": c.last_success_at}
        for c in Company.objects.order_by("id")
    ]


# --- site areas and order sources -----------------------------------------------------------------


class SiteAreaIn(Schema):
    name: str
    company: int
    push_method: str = "invoice"
    customer_policy: str = "match"
    item_policy: str = "default"
    default_item: str = ""
    shipping_item: str = ""
    discount_item: str = ""
    default_customer: str = ""
    income_account: str = ""


class SiteAreaPatch(Schema):
    name: str | None = None
    company: int | None = None
    push_method: str | None = None
    customer_policy: str | None = None
    item_policy: str | None = None
    default_item: str | None = None
    shipping_item: str | None = None
    discount_item: str | None = None
    default_customer: str | None = None
    income_account: str | None = None


class SiteAreaOut(Schema):
    id: int
    name: str
    company: int
    push_method: str
    customer_policy: str
    item_policy: str
    default_item: str
    shipping_item: str
    discount_item: str
    default_customer: str
    income_account: str
    order_sources: list[int]


def _site_area_out(sa: SiteArea) -> dict:
    return {
        "id": sa.pk,
        "name": sa.name,
        "company": sa.company_id,
        "push_method": sa.push_method,
        "customer_policy": sa.customer_policy,
        "item_policy": sa.item_policy,
        "default_item": sa.default_item,
        "shipping_item": sa.shipping_item,
        "discount_item": sa.discount_item,
        "default_customer": sa.default_customer,
        "income_account": sa.income_account,
        "order_sources": [s.pk for s in sa.order_sources.all()],
    }


@api.get("/site-areas", response=list[SiteAreaOut], tags=["site areas"])
def list_site_areas(request, company: int | None = None):
    qs = SiteArea.objects.prefetch_related("order_sources").order_by("id")
    if company:
        qs = qs.filter(company_id=company)
    return [_site_area_out(sa) for sa in qs]


@api.post("/site-areas", response={201: SiteAreaOut, **ERRORS}, tags=["site areas"])
def create_site_area(request, payload: SiteAreaIn):
    from ledgerlink.core.services.orders import create_site_area as create

    user = _need(request, "admin")
    sa = create(**payload.dict(), actor=user, actor_label=_label(user))
    return Status(201, _site_area_out(sa))


@api.get("/site-areas/{site_area_id}", response={200: SiteAreaOut, **ERRORS}, tags=["site areas"])
def get_site_area(request, site_area_id: int):
    return _site_area_out(_get(SiteArea, site_area_id, "site area"))


@api.patch("/site-areas/{site_area_id}", response={200: SiteAreaOut, **ERRORS}, tags=["site areas"])
def patch_site_area(request, site_area_id: int, payload: SiteAreaPatch):
    from ledgerlink.core.services.orders import update_site_area

    user = _need(request, "admin")
    changes = {k: v for k, v in payload.dict(exclude_unset=True).items()}
    return _site_area_out(update_site_area(site_area_id, actor=user, actor_label=_label(user), **changes))


class OrderSourceIn(Schema):
    name: str
    site_area: int


class OrderSourcePatch(Schema):
    name: str | None = None
    site_area: int | None = None


class OrderSourceOut(Schema):
    id: int
    name: str
    site_area: int


def _source_out(s: OrderSource) -> dict:
    return {"id": s.pk, "name": s.name, "site_area": s.site_area_id}


@api.get("/order-sources", response=list[OrderSourceOut], tags=["order sources"])
def list_order_sources(request, site_area: int | None = None):
    qs = OrderSource.objects.order_by("id")
    if site_area:
        qs = qs.filter(site_area_id=site_area)
    return [_source_out(s) for s in qs]


@api.post("/order-sources", response={201: OrderSourceOut, **ERRORS}, tags=["order sources"])
def create_order_source(request, payload: OrderSourceIn):
    from ledgerlink.core.services.orders import create_order_source as create

    user = _need(request, "admin")
    source = create(name=payload.name, site_area=payload.site_area, actor=user, actor_label=_label(user))
    return Status(201, _source_out(source))


@api.get("/order-sources/{source_id}", response={200: OrderSourceOut, **ERRORS}, tags=["order sources"])
def get_order_source(request, source_id: int):
    return _source_out(_get(OrderSource, source_id, "order source"))


@api.patch("/order-sources/{source_id}", response={200: OrderSourceOut, **ERRORS}, tags=["order sources"])
def patch_order_source(request, source_id: int, payload: OrderSourcePatch):
    from ledgerlink.core.services.orders import update_order_source

    user = _need(request, "admin")
    changes = payload.dict(exclude_unset=True)
    return _source_out(update_order_source(source_id, actor=user, actor_label=_label(user), **changes))


# --- orders -----------------------------------------------------------------------------------------


class AddressIn(BaseModel):  # not Schema: a string must not validate via from_attributes
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class LineIn(BaseModel):
    sku: str | None = None
    description: str | None = None
    quantity: Decimal
    unit_price: Decimal


class OrderIn(Schema):
    order_source: int | str
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


class LineOut(Schema):
    sku: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


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
    subtotal: Decimal
    total: Decimal
    push_method: str
    qbo_customer_id: str
    default_item: str
    held: bool
    status: str
    qbo_id: str
    qbo_doc_number: str
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


def _order_out(order: Order) -> dict:
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
             "amount": ln.amount}
            for ln in order.lines.all().order_by("position", "id")
        ],
        "shipping": order.shipping,
        "discount": order.discount,
        "tax": order.tax,
        "subtotal": order.subtotal,
        "total": order.total,
        "push_method": order.push_method or order.order_source.site_area.push_method,
        "qbo_customer_id": order.qbo_customer_id,
        "default_item": order.default_item,
        "held": order.held,
        "status": order.status,
        "qbo_id": order.qbo_id,
        "qbo_doc_number": order.qbo_doc_number,
        "created_at": order.created_at,
        "requests": [
            {"id": pr.pk, "kind": pr.kind, "state": pr.state, "revision": pr.revision, "error_kind": pr.error_kind}
            for pr in order.push_requests.order_by("id")
        ],
        "rule_log": [
            {"rule": log.rule_id, "rule_name": log.rule_name, "field": log.field, "old_value": log.old_value,
             "new_value": log.new_value, "created_at": log.created_at}
            for log in order.rule_log.order_by("id")
        ],
    }


def _load_order(order_id: int) -> Order:
    order = Order.objects.select_related("order_source__site_area").filter(pk=order_id).first()
    if order is None:
        raise ServiceError(f"order {order_id} does not exist", field="id", status=404)
    return order


@api.post("/orders", response={200: OrderOut, 201: OrderOut, **ERRORS}, tags=["orders"])
def create_order(request, payload: OrderIn):
    """Ingest an order. 201 when new; 200 with the existing order when (order_source, external_id)
    was delivered before (nothing is created twice)."""
    from ledgerlink.core.services.orders import ingest_order

    user = _need(request, "operator")
    data = payload.dict(exclude_unset=True)
    order, created = ingest_order(data, actor=user, actor_label=_label(user))
    return Status(201 if created else 200, _order_out(_load_order(order.pk)))


@api.get("/orders", response=OrderPageOut, tags=["orders"])
def list_orders(
    request,
    order_source: int | None = None,
    status: str | None = None,
    external_id: str | None = None,
    email: str | None = None,
    after: int | None = None,
    limit: int = 50,
):
    qs = Order.objects.all()
    if order_source:
        qs = qs.filter(order_source_id=order_source)
    if status:
        qs = qs.filter(status=status)
    if external_id:
        qs = qs.filter(external_id=external_id)
    if email:
        qs = qs.filter(email__iexact=email.strip())
    rows, next_after = _page(qs, after, limit)
    return {
        "items": [
            {"id": o.pk, "order_source": o.order_source_id, "external_id": o.external_id, "number": o.number,
             "email": o.email, "total": o.total, "status": o.status, "held": o.held, "qbo_id": o.qbo_id,
             "created_at": o.created_at}
            for o in rows
        ],
        "next_after": next_after,
    }


@api.get("/orders/{order_id}", response={200: OrderOut, **ERRORS}, tags=["orders"])
def get_order(request, order_id: int):
    return _order_out(_load_order(order_id))


@api.post("/orders/{order_id}/run-rules", response={200: OrderOut, **ERRORS}, tags=["orders"])
def run_rules(request, order_id: int):
    """Re-apply the automation rules to a held or failed order; if no longer held, its request is
    created or re-queued with a fresh payload (a new revision)."""
    from ledgerlink.core.services.automation import run_rules_on_order

    user = _need(request, "operator")
    order = run_rules_on_order(order_id, actor=user, actor_label=_label(user))
    return _order_out(_load_order(order.pk))


# --- automation rules -------------------------------------------------------------------------------


class RuleIn(Schema):
    name: str
    conditions: dict[str, Any] = {}
    actions: dict[str, Any]
    position: int | None = None
    enabled: bool = True
    stop_processing: bool = False


class RulePatch(Schema):
    name: str | None = None
    conditions: dict[str, Any] | None = None
    actions: dict[str, Any] | None = None
    position: int | None = None
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
    last_n: int = 1000


class RulePreviewOut(Schema):
    would_change: int
    last_n: int


def _rule_out(rule: AutomationRule) -> dict:
    return {"id": rule.pk, "name": rule.name, "position": rule.position, "enabled": rule.enabled,
            "stop_processing": rule.stop_processing, "conditions": rule.conditions, "actions": rule.actions}


@api.get("/automation-rules", response=list[RuleOut], tags=["automation rules"])
def list_rules(request):
    return [_rule_out(r) for r in AutomationRule.objects.order_by("position", "id")]


@api.post("/automation-rules", response={201: RuleOut, **ERRORS}, tags=["automation rules"])
def create_rule(request, payload: RuleIn):
    from ledgerlink.core.services.automation import create_rule as create

    user = _need(request, "admin")
    rule = create(**payload.dict(), actor=user, actor_label=_label(user))
    return Status(201, _rule_out(rule))


@api.post("/automation-rules/preview", response={200: RulePreviewOut, **ERRORS}, tags=["automation rules"])
def preview_rule(request, payload: RulePreviewIn):
    """How many of the last ``last_n`` orders this rule would change (nothing is written). Operators
    and admins only: it runs the rule's pattern over many orders."""
    from ledgerlink.core.services.automation import preview_rule as preview

    _need(request, "operator")

    return {"would_change": preview(payload.conditions, payload.actions, payload.last_n), "last_n": payload.last_n}


@api.get("/automation-rules/{rule_id}", response={200: RuleOut, **ERRORS}, tags=["automation rules"])
def get_rule(request, rule_id: int):
    return _rule_out(_get(AutomationRule, rule_id, "automation rule"))


@api.patch("/automation-rules/{rule_id}", response={200: RuleOut, **ERRORS}, tags=["automation rules"])
def patch_rule(request, rule_id: int, payload: RulePatch):
    from ledgerlink.core.services.automation import update_rule

    user = _need(request, "admin")
    changes = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    return _rule_out(update_rule(rule_id, actor=user, actor_label=_label(user), **changes))


@api.delete("/automation-rules/{rule_id}", response={204: None, **ERRORS}, tags=["automation rules"])
def delete_rule(request, rule_id: int):
    from ledgerlink.core.services.automation import delete_rule as delete

    user = _need(request, "admin")
    delete(rule_id, actor=user, actor_label=_label(user))
    return Status(204, None)


# --- mirror: customers and items -----------------------------------------------------------------------


class CustomerOut(Schema):
    id: int
    company: int
    qbo_id: str
    display_name: str
    company_name: str
    email: str
    emails: list[str]
    active: bool


class CustomerPageOut(Schema):
    items: list[CustomerOut]
    next_after: int | None


class ItemOut(Schema):
    id: int
    company: int
    qbo_id: str
    name: str
    sku: str
    type: str
    active: bool


class ItemPageOut(Schema):
    items: list[ItemOut]
    next_after: int | None


@api.get("/customers", response=CustomerPageOut, tags=["mirror"])
def list_customers(
    request,
    company: int | None = None,
    email: str | None = None,
    q: str | None = None,
    active: bool | None = None,
    after: int | None = None,
    limit: int = 50,
):
    """The Customer mirror. ``email``: exact match on any of the customer's addresses (trimmed,
    case-folded); ``q``: part of the name, company name or email."""
    qs = Customer.objects.prefetch_related("emails")
    if company:
        qs = qs.filter(company_id=company)
    if email:
        qs = qs.filter(emails__email=email.strip().casefold()).distinct()
    if q:
        qs = qs.filter(
            Q(display_name__icontains=q) | Q(company_name__icontains=q) | Q(email__icontains=q)
        )
    if active is not None:
        qs = qs.filter(active=active)
    rows, next_after = _page(qs, after, limit)
    return {
        "items": [
            {"id": c.pk, "company": c.company_id, "qbo_id": c.qbo_id, "display_name": c.display_name,
             "company_name": c.company_name, "email": c.email, "emails": sorted(e.email for e in c.emails.all()),
             "active": c.active}
            for c in rows
        ],
        "next_after": next_after,
    }


@api.get("/items", response=ItemPageOut, tags=["mirror"])
def list_items(
    request,
    company: int | None = None,
    sku: str | None = None,
    q: str | None = None,
    active: bool | None = None,
    after: int | None = None,
    limit: int = 50,
):
    qs = Item.objects.all()
    if company:
        qs = qs.filter(company_id=company)
    if sku:
        qs = qs.filter(sku=sku)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(sku__icontains=q))
    if active is not None:
        qs = qs.filter(active=active)
    rows, next_after = _page(qs, after, limit)
    return {
        "items": [
            {"id": i.pk, "company": i.company_id, "qbo_id": i.qbo_id, "name": i.name, "sku": i.sku, "type": i.type,
             "active": i.active}
            for i in rows
        ],
        "next_after": next_after,
    }


# --- push requests ---------------------------------------------------------------------------------------


class RequestErrorOut(Schema):
    kind: str
    title: str
    message: str
    detail: str
    code: str
    element: str
    fix: str


class RequestSummaryOut(Schema):
    id: int
    company: int
    order: int | None
    site_area: int | None
    order_source: int | None
    email: str
    kind: str
    state: str
    revision: int
    requestid: str
    attempt_count: int
    error_kind: str
    error_title: str
    qbo_id: str
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class RequestPageOut(Schema):
    items: list[RequestSummaryOut]
    next_after: int | None


class RevisionOut(Schema):
    number: int
    author: str
    note: str
    created_at: datetime
    payload: dict[str, Any]


class AttemptOut(Schema):
    revision: int
    requestid: str
    started_at: datetime
    duration_ms: int | None
    http_status: int | None
    outcome: str
    error_kind: str
    fault_code: str
    intuit_tid: str
    response_body: str


class RequestDetailOut(RequestSummaryOut):
    error: RequestErrorOut | None
    qbo_doc_number: str
    outcome_unknown: bool
    waiting_on: str
    payload: dict[str, Any]
    revisions: list[RevisionOut]
    attempts: list[AttemptOut]


class RequeueIn(Schema):
    payload: dict[str, Any] | None = None
    note: str = ""


class BulkRequeueIn(Schema):
    ids: list[int] | None = None
    error_kind: str | None = None
    email: str | None = None
    site_area: int | None = None
    order_source: int | None = None
    company: int | None = None
    payload_patch: dict[str, Any] | None = None
    note: str = ""


class BulkRequeueOut(Schema):
    requeued: list[int]


class CancelIn(Schema):
    note: str = ""


def _request_summary(pr: PushRequest) -> dict:
    return {
        "id": pr.pk,
        "company": pr.company_id,
        "order": pr.order_id,
        "site_area": pr.site_area_id,
        "order_source": pr.order_source_id,
        "email": pr.email,
        "kind": pr.kind,
        "state": pr.state,
        "revision": pr.revision,
        "requestid": pr.requestid,
        "attempt_count": pr.attempt_count,
        "error_kind": pr.error_kind,
        "error_title": pr.error_title,
        "qbo_id": pr.qbo_id,
        "next_attempt_at": pr.next_attempt_at,
        "created_at": pr.created_at,
        "updated_at": pr.updated_at,
        "completed_at": pr.completed_at,
    }


def _request_detail(pr: PushRequest) -> dict:
    from ledgerlink.core.services.requests import error_dict

    revisions = list(pr.revisions.order_by("number"))
    current = next((r for r in revisions if r.number == pr.revision), None)
    return {
        **_request_summary(pr),
        "error": error_dict(pr),
        "qbo_doc_number": pr.qbo_doc_number,
        "outcome_unknown": pr.outcome_unknown,
        "waiting_on": pr.waiting_on,
        "payload": current.payload if current is not None else {},
        "revisions": [
            {"number": r.number, "author": r.author_label, "note": r.note, "created_at": r.created_at,
             "payload": r.payload}
            for r in revisions
        ],
        "attempts": [
            {"revision": a.revision, "requestid": a.requestid, "started_at": a.started_at,
             "duration_ms": a.duration_ms, "http_status": a.http_status, "outcome": a.outcome,
             "error_kind": a.error_kind, "fault_code": a.fault_code, "intuit_tid": a.intuit_tid,
             "response_body": a.response_body}
            for a in pr.attempts.order_by("id")
        ],
    }


@api.get("/requests", response=RequestPageOut, tags=["requests"])
def list_requests(
    request,
    state: str | None = None,
    error_kind: str | None = None,
    site_area: int | None = None,
    order_source: int | None = None,
    order: int | None = None,
    company: int | None = None,
    email: str | None = None,
    after: int | None = None,
    limit: int = 50,
):
    """Push requests, newest first. ``state`` may list several (``failed,cancelled``); keyset
    pagination: pass the answer's ``next_after`` as ``after``."""
    qs = PushRequest.objects.all()
    if state:
        states = [s.strip() for s in state.split(",") if s.strip()]
        unknown = [s for s in states if s not in PushRequest.State.values]
        if unknown:
            raise ServiceError(f"must be one of {', '.join(PushRequest.State.values)}", field="state")
        qs = qs.filter(state__in=states)
    if error_kind:
        qs = qs.filter(error_kind=error_kind)
    if site_area:
        qs = qs.filter(site_area_id=site_area)
    if order_source:
        qs = qs.filter(order_source_id=order_source)
    if order:
        qs = qs.filter(order_id=order)
    if company:
        qs = qs.filter(company_id=company)
    if email:
        qs = qs.filter(email=email.strip().casefold())
    rows, next_after = _page(qs, after, limit)
    return {"items": [_request_summary(pr) for pr in rows], "next_after": next_after}


@api.post("/requests/requeue", response={200: BulkRequeueOut, **ERRORS}, tags=["requests"])
def bulk_requeue(request, payload: BulkRequeueIn):
    """Re-queue the given ``ids``, or every failed request matching ``error_kind`` / ``email`` /
    ``site_area`` (/ ``order_source`` / ``company``). ``payload_patch`` sets top-level payload keys on
    each (a new revision); without it each is re-queued unchanged."""
    from ledgerlink.core.services.requests import bulk_requeue as bulk

    user = _need(request, "operator")
    ids = bulk(**payload.dict(), actor=user, actor_label=_label(user))
    return {"requeued": ids}


@api.get("/requests/{request_id}", response={200: RequestDetailOut, **ERRORS}, tags=["requests"])
def get_request(request, request_id: int):
    return _request_detail(_get(PushRequest, request_id, "push request"))


@api.post("/requests/{request_id}/requeue", response={200: RequestDetailOut, **ERRORS}, tags=["requests"])
def requeue(request, request_id: int, payload: RequeueIn | None = None):
    """Save & Re-Queue. Body optional: ``{"payload": {...}, "note": "..."}``. With a payload it is
    validated and stored as a new revision; without one the current payload is sent again."""
    from ledgerlink.core.services.requests import requeue_request

    user = _need(request, "operator")
    body = payload or RequeueIn()
    pr = requeue_request(request_id, payload=body.payload, note=body.note, actor=user, actor_label=_label(user))
    return _request_detail(pr)


@api.post("/requests/{request_id}/cancel", response={200: RequestDetailOut, **ERRORS}, tags=["requests"])
def cancel(request, request_id: int, payload: CancelIn | None = None):
    from ledgerlink.core.services.requests import cancel_request

    user = _need(request, "operator")
    pr = cancel_request(request_id, note=(payload.note if payload else ""), actor=user, actor_label=_label(user))
    return _request_detail(pr)


@api.post("/requests/{request_id}/create-customer", response={200: RequestDetailOut, **ERRORS}, tags=["requests"])
def create_customer(request, request_id: int):
    """For a failed ``customer_ref_required`` request: create the QBO customer from the order (name,
    company, email / BillEmail) and re-queue the request with CustomerRef once it exists. Answers
    the request, now queued and waiting on the customer."""
    from ledgerlink.core.services.customers import create_customer_for_request

    user = _need(request, "operator")
    create_customer_for_request(request_id, actor=user, actor_label=_label(user))
    return _request_detail(_get(PushRequest, request_id, "push request"))


def openapi_json() -> str:
    """The OpenAPI document as JSON text (for docs and tests)."""
    return json.dumps(api.get_openapi_schema(path_prefix="/api/v1"))
