"""Reconciliation (``domain.reconcile``): per order in range, what QBO holds against what it should."""

from __future__ import annotations

from typing import Any

from ninja import Router, Schema

from ledgerlink.api.auth import label, need
from ledgerlink.api.errors import ERRORS
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.lifecycle.inputs import parse_date
from ledgerlink.domain.reconcile.orders import fix_row, reconcile

router = Router()


class RowOut(Schema):
    order: int
    number: str
    company: int
    status: str
    expected: str
    found: list[dict]
    detail: str
    fix: str
    request: int | None
    extra_id: str


class CompanyErrorOut(Schema):
    company: int
    detail: str


class ReconciliationOut(Schema):
    rows: list[RowOut]
    errors: list[CompanyErrorOut]
    counts: dict[str, int]
    ok: bool
    queries: int


def _company(value) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(str(value))
    except ValueError as exc:
        raise ServiceError("must be a Company id", field="company") from exc
    if not 0 < number < 2**63:
        raise ServiceError(f"company {number} does not exist", field="company", status=404)
    return number


@router.get("/reconciliation", response={200: ReconciliationOut, **ERRORS}, tags=["reconciliation"])
def get_reconciliation(request, company: str | None = None, since: str | None = None):
    """Each order created on or after ``since`` (YYYY-MM-DD) of ``company`` (default: every active
    Company): ok, missing, duplicate, amount_mismatch, voided_in_qbo, unposted, payments_mismatch,
    refunds_mismatch, with the fix (requeue, void_extra, accept). Reads QBO (a few queries per
    Company: ``queries``), so it needs the operator role."""
    user = need(request, "operator")
    report = reconcile(company=_company(company), since=parse_date(since, "since"), actor=user)
    return {"rows": [r.as_dict() for r in report.rows], "errors": report.errors, "counts": report.counts,
            "ok": report.ok,
            "queries": report.queries}


class FixIn(Schema):
    order: Any = None
    fix: Any = None
    since: Any = None


@router.post("/reconciliation/fix", response={200: dict, **ERRORS}, tags=["reconciliation"])
def fix_reconciliation_row(request, payload: FixIn):
    """Apply a row's fix: ``requeue``, ``void_extra`` or ``accept``."""
    user = need(request, "operator")
    order = payload.order if isinstance(payload.order, int) and not isinstance(payload.order, bool) else None
    if order is None:
        raise ServiceError("must be an order id", field="order")
    return fix_row(order, str(payload.fix or ""), since=parse_date(payload.since, "since"), actor=user,
                   actor_label=label(user))
