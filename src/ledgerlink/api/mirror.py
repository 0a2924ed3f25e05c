"""The Customer and Item mirror, read-only (``domain.mirror``)."""

from __future__ import annotations

from django.db.models import Q
from ninja import Router, Schema

from ledgerlink.api.errors import Id
from ledgerlink.core.models import Customer, Item, TaxCode
from ledgerlink.core.roles import limit_to_companies
from ledgerlink.domain.mirror.match import normalize_email
from ledgerlink.domain.paging import keyset_page, page_size
from ledgerlink.domain.tax.rates import rate_key

router = Router()


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


@router.get("/customers", response=CustomerPageOut, tags=["mirror"])
def list_customers(
    request,
    company: Id | None = None,
    email: str | None = None,
    q: str | None = None,
    active: bool | None = None,
    after: Id | None = None,
    limit: int = 50,
):
    """The Customer mirror. ``email``: exact match on any of the customer's addresses (trimmed,
    case-folded); ``q``: part of the name, company name or email."""
    qs = limit_to_companies(Customer.objects.prefetch_related("emails"), request.auth)
    if company:
        qs = qs.filter(company_id=company)
    if email:
        qs = qs.filter(emails__email=normalize_email(email)).distinct()
    if q:
        qs = qs.filter(
            Q(display_name__icontains=q) | Q(company_name__icontains=q) | Q(email__icontains=q)
        )
    if active is not None:
        qs = qs.filter(active=active)
    page = keyset_page(qs, after, page_size(limit))
    rows, next_after = page.rows, page.next_after
    return {
        "items": [
            {"id": c.pk, "company": c.company_id, "qbo_id": c.qbo_id, "display_name": c.display_name,
             "company_name": c.company_name, "email": c.email, "emails": sorted(e.email for e in c.emails.all()),
             "active": c.active}
            for c in rows
        ],
        "next_after": next_after,
    }


@router.get("/items", response=ItemPageOut, tags=["mirror"])
def list_items(
    request,
    company: Id | None = None,
    sku: str | None = None,
    q: str | None = None,
    active: bool | None = None,
    after: Id | None = None,
    limit: int = 50,
):
    qs = limit_to_companies(Item.objects.all(), request.auth)
    if company:
        qs = qs.filter(company_id=company)
    if sku:
        qs = qs.filter(sku=sku)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(sku__icontains=q))
    if active is not None:
        qs = qs.filter(active=active)
    page = keyset_page(qs, after, page_size(limit))
    rows, next_after = page.rows, page.next_after
    return {
        "items": [
            {"id": i.pk, "company": i.company_id, "qbo_id": i.qbo_id, "name": i.name, "sku": i.sku, "type": i.type,
             "active": i.active}
            for i in rows
        ],
        "next_after": next_after,
    }


class TaxRateOut(Schema):
    id: str
    name: str
    percent: str


class TaxCodeOut(Schema):
    company: int
    id: str
    name: str
    active: bool
    rates: list[TaxRateOut]
    total: str


@router.get("/tax-codes", response=list[TaxCodeOut], tags=["mirror"])
def list_tax_codes(request, company: int | None = None):
    """The mirrored QBO TaxCodes of a Company (``company``; all Companies without it), read at every
    sync: Id, name, active, the sales rates with their percent, and the total percent an order's rate
    is compared with."""
    qs = limit_to_companies(TaxCode.objects.all(), request.auth)
    if company is not None:
        qs = qs.filter(company_id=company) if 0 < company < 2**63 else qs.none()
    return [
        {"company": c.company_id, "id": c.qbo_id, "name": c.name, "active": c.active, "rates": c.rates,
         "total": rate_key(c.total)}
        for c in sorted(qs, key=lambda c: (c.company_id, len(c.qbo_id), c.qbo_id))
    ]
