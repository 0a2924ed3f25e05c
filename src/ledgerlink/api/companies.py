"""GET /companies (``domain.companies``)."""

from __future__ import annotations

from datetime import datetime

from ninja import Router, Schema

from ledgerlink.core.models import Company
from ledgerlink.core.roles import limit_to_companies

router = Router()


class CompanyOut(Schema):
    id: int
    name: str
    realm_id: str
    status: str
    last_success_at: datetime | None = None


@router.get("/companies", response=list[CompanyOut], tags=["companies"])
def list_companies(request):
    return [
        {"id": c.pk, "name": c.name, "realm_id": c.realm_id, "status": c.status, "last_success_at": c.last_success_at}
        for c in limit_to_companies(Company.objects.order_by("id"), request.auth, "id")
    ]
