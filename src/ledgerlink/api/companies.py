"""GET /companies, PATCH /companies/{id}/limits (``domain.companies``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Router, Schema

from ledgerlink.api.auth import label, need
from ledgerlink.api.errors import ERRORS
from ledgerlink.core.models import Company
from ledgerlink.domain.companies.limits import set_company_limits
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
            "last_success_at": c.last_success_at, "limits": _limits(c)}


@router.get("/companies", response=list[CompanyOut], tags=["companies"])
def list_companies(request):
    return [_company_out(c) for c in Company.objects.order_by("id")]


@router.patch("/companies/{company_id}/limits", response={200: CompanyOut, **ERRORS}, tags=["companies"])
def patch_company_limits(request, company_id: int, payload: LimitsPatch):
    """An admin sets the Company's limits, each from 1 up to QuickBooks' (10 in flight, 500 a minute,
    40 batches a minute, 30 per batch); above QuickBooks' answers 422 naming the field."""
    user = need(request, "admin")
    changes = payload.dict(exclude_unset=True)
    return _company_out(set_company_limits(company_id, actor=user, actor_label=label(user), **changes))
