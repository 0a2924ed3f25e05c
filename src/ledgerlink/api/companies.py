"""GET /companies, PATCH /companies/{id}/limits (``domain.companies``) and their tax mapping (``domain.tax``,
saved through ``domain.healing.tax``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Router, Schema

from ledgerlink.api.auth import label, need
from ledgerlink.api.errors import ERRORS, get_or_404
from ledgerlink.core.models import Company
from ledgerlink.core.roles import limit_to_companies
from ledgerlink.domain.companies.limits import set_company_limits
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.healing.tax import save_tax_mapping
from ledgerlink.domain.tax.mapping import tax_mapping_view
from ledgerlink.quickbooks.wire import QBO_LIMITS

router = Router()


class LimitsOut(Schema):
    max_in_flight: int
    max_per_minute: int
    max_batches_per_minute: int
    batch_size: int
    use_batch: bool
    qbo: dict[str, int]  # QuickBooks' own limits: a Company's may be lower, never higher


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
    limits: LimitsOut


class LimitsPatch(Schema):
    # Checked by the service (whole numbers from 1 to QuickBooks' limit, 422 naming the field).
    max_in_flight: Any = None
    max_per_minute: Any = None
    max_batches_per_minute: Any = None
    batch_size: Any = None
    use_batch: Any = None


def _limits(c: Company) -> dict:
    return {
        "max_in_flight": c.max_in_flight, "max_per_minute": c.max_per_minute,
        "max_batches_per_minute": c.max_batches_per_minute, "batch_size": c.batch_size, "use_batch": c.use_batch,
        "qbo": dict(QBO_LIMITS),
    }


def _company_out(c: Company) -> dict:
    return {"id": c.pk, "name": c.name, "realm_id": c.realm_id, "status": c.status,
            "last_success_at": c.last_success_at, "country": c.country, "tax_model": c.tax_model,
            "home_currency": c.home_currency, "multicurrency": c.multicurrency, "limits": _limits(c)}


@router.get("/companies", response=list[CompanyOut], tags=["companies"])
def list_companies(request):
    return [_company_out(c) for c in limit_to_companies(Company.objects.order_by("id"), request.auth, "id")]


@router.patch("/companies/{company_id}/limits", response={200: CompanyOut, **ERRORS}, tags=["companies"])
def patch_company_limits(request, company_id: int, payload: LimitsPatch):
    """An admin sets the Company's limits, each from 1 up to QuickBooks' (10 in flight, 500 a minute,
    40 batches a minute, 30 per batch); above QuickBooks' answers 422 naming the field."""
    user = need(request, "admin")
    changes = payload.dict(exclude_unset=True)
    return _company_out(set_company_limits(company_id, actor=user, actor_label=label(user), **changes))


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
