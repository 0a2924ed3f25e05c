"""Site areas and order sources (``domain.routing``): everybody reads, admins write."""

from __future__ import annotations

from datetime import datetime

from ninja import Router, Schema, Status

from ledgerlink.api.auth import ADMIN, label, need
from ledgerlink.api.errors import ERRORS, BodyId, Id, get_or_404
from ledgerlink.core.models import OrderSource, SiteArea
from ledgerlink.core.roles import limit_to_companies
from ledgerlink.domain.routing import order_sources, site_areas

router = Router()


class SiteAreaIn(Schema):
    name: str
    company: BodyId
    push_method: str = "invoice"
    customer_policy: str = "match"
    item_policy: str = "default"
    default_item: str = ""
    shipping_item: str = ""
    discount_item: str = ""
    default_customer: str = ""
    income_account: str = ""
    deposit_account: str = ""
    refund_account: str = ""


class SiteAreaPatch(Schema):
    name: str | None = None
    company: BodyId | None = None
    push_method: str | None = None
    customer_policy: str | None = None
    item_policy: str | None = None
    default_item: str | None = None
    shipping_item: str | None = None
    discount_item: str | None = None
    default_customer: str | None = None
    income_account: str | None = None
    deposit_account: str | None = None
    refund_account: str | None = None


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
    deposit_account: str
    refund_account: str
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
        "deposit_account": sa.deposit_account,
        "refund_account": sa.refund_account,
        "order_sources": [s.pk for s in sa.order_sources.all()],
    }


@router.get("/site-areas", response=list[SiteAreaOut], tags=["site areas"])
def list_site_areas(request, company: Id | None = None):
    qs = limit_to_companies(SiteArea.objects.prefetch_related("order_sources").order_by("id"), request.auth)
    if company:
        if not 0 < company < 2**63:  # no such Company (and beyond what the database's ids hold)
            return []
        qs = qs.filter(company_id=company)
    return [_site_area_out(sa) for sa in qs]


@router.post("/site-areas", response={201: SiteAreaOut, **ERRORS}, tags=["site areas"], auth=ADMIN)
def create_site_area(request, payload: SiteAreaIn):
    user = need(request, "admin")
    sa = site_areas.create_site_area(**payload.dict(), actor=user, actor_label=label(user))
    return Status(201, _site_area_out(sa))


@router.get("/site-areas/{site_area_id}", response={200: SiteAreaOut, **ERRORS}, tags=["site areas"])
def get_site_area(request, site_area_id: int):
    return _site_area_out(get_or_404(SiteArea, site_area_id, "site area", user=request.auth, company_field="company_id"))


@router.patch("/site-areas/{site_area_id}", response={200: SiteAreaOut, **ERRORS}, tags=["site areas"], auth=ADMIN)
def patch_site_area(request, site_area_id: int, payload: SiteAreaPatch):
    user = need(request, "admin")
    changes = {k: v for k, v in payload.dict(exclude_unset=True).items()}
    return _site_area_out(site_areas.update_site_area(site_area_id, actor=user, actor_label=label(user), **changes))


class OrderSourceIn(Schema):
    name: str
    site_area: BodyId
    kind: str = "api"
    webhook_secret: str | None = None  # write-only: never in an answer
    store_money: str = "shop"


class OrderSourcePatch(Schema):
    name: str | None = None
    site_area: BodyId | None = None
    kind: str | None = None
    webhook_secret: str | None = None  # a new secret: the old one is still accepted for 24 hours
    store_money: str | None = None


class OrderSourceOut(Schema):
    id: int
    name: str
    site_area: int
    kind: str
    webhook_url: str | None
    has_webhook_secret: bool
    previous_secret_until: datetime | None
    store_money: str


def _source_out(s: OrderSource) -> dict:
    return {
        "id": s.pk,
        "name": s.name,
        "site_area": s.site_area_id,
        "kind": s.kind,
        "webhook_url": order_sources.webhook_url(s),
        "has_webhook_secret": bool(s.webhook_secret_enc),
        "previous_secret_until": s.previous_secret_until,
        "store_money": s.store_money,
    }


@router.get("/order-sources", response=list[OrderSourceOut], tags=["order sources"])
def list_order_sources(request, site_area: Id | None = None):
    qs = limit_to_companies(OrderSource.objects.order_by("id"), request.auth, "site_area__company_id")
    if site_area:
        qs = qs.filter(site_area_id=site_area)
    return [_source_out(s) for s in qs]


@router.post("/order-sources", response={201: OrderSourceOut, **ERRORS}, tags=["order sources"], auth=ADMIN)
def create_order_source(request, payload: OrderSourceIn):
    user = need(request, "admin")
    source = order_sources.create_order_source(**payload.dict(), actor=user, actor_label=label(user))
    return Status(201, _source_out(source))


@router.get("/order-sources/{source_id}", response={200: OrderSourceOut, **ERRORS}, tags=["order sources"])
def get_order_source(request, source_id: int):
    return _source_out(get_or_404(OrderSource, source_id, "order source", user=request.auth,
                                  company_field="site_area__company_id"))


@router.patch("/order-sources/{source_id}", response={200: OrderSourceOut, **ERRORS}, tags=["order sources"], auth=ADMIN)
def patch_order_source(request, source_id: int, payload: OrderSourcePatch):
    user = need(request, "admin")
    changes = payload.dict(exclude_unset=True)
    return _source_out(order_sources.update_order_source(source_id, actor=user, actor_label=label(user), **changes))
