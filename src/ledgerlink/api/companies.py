"""GET /companies (``domain.companies``) and their tax mapping (``domain.tax``, saved through ``domain.healing.tax``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Router, Schema

from ledgerlink.api.auth import label, need
from ledgerlink.api.errors import ERRORS, get_or_404
from ledgerlink.core.models import Company
from ledgerlink.core.roles import limit_to_companies
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.healing.tax import save_tax_mapping
from ledgerlink.domain.tax.mapping import tax_mapping_view

router = Router()


class CompanyOut(Schema):
    id: int
    name: str
    realm_id: str
    status: str
    last_success_at: datetime | None = None
    country: str
    tax_model: str
    home_currency: str
    multicurrency: bool


@router.get("/companies", response=list[CompanyOut], tags=["companies"])
def list_companies(request):
    return [
        {"id": c.pk, "name": c.name, "realm_id": c.realm_id, "status": c.status, "last_success_at": c.last_success_at,
         "country": c.country, "tax_model": c.tax_model, "home_currency": c.home_currency,
         "multicurrency": c.multicurrency}
        for c in limit_to_companies(Company.objects.order_by("id"), request.auth, "id")
    ]


class TaxMappingRateOut(Schema):
    rate: str
    tax_code: str
    tax_code_name: str
    suggested: bool


class TaxMappingWaitingOut(Schema):
    rate: str
    requests: int
    request_ids: list[int]
    mapped: bool


class TaxMappingOut(Schema):
    company: int
    tax_model: str
    rates: list[TaxMappingRateOut]
    suggestions: list[TaxMappingRateOut]
    exempt_tax_code: str
    waiting: list[TaxMappingWaitingOut]
    requeued: list[int] = []


class TaxMappingIn(Schema):
    rates: list[Any] = []
    exempt_tax_code: str | None = None


def _company(company_id: int, user=None) -> Company:
    if not 0 < company_id < 2**63:
        raise ServiceError(f"company {company_id} does not exist", field="id", status=404)
    return get_or_404(Company, company_id, "company", user=user, company_field="id")


@router.get("/companies/{company_id}/tax-mapping", response={200: TaxMappingOut, **ERRORS}, tags=["companies"])
def get_tax_mapping(request, company_id: int):
    """The Company's tax mapping: saved rates, suggestions (a rate equal to exactly one active code's
    total), the exempt code, and the requests waiting on an unmapped rate."""
    return tax_mapping_view(_company(company_id, request.auth))


@router.put("/companies/{company_id}/tax-mapping", response={200: TaxMappingOut, **ERRORS}, tags=["companies"])
def put_tax_mapping(request, company_id: int, payload: TaxMappingIn):
    """Replace the mapping; every request that waited on a rate now mapped is rebuilt and re-queued
    (``requeued``)."""
    user = need(request, "admin")
    _company(company_id, user)
    data = payload.dict(exclude_unset=True)
    company, requeued = save_tax_mapping(company_id, data, actor=user, actor_label=label(user))
    return {**tax_mapping_view(company), "requeued": requeued}
