"""The TaxCode mirror: every TaxCode of the Company with its sales rates and their percent (from
TaxRate), read at every full sync (TaxCode and TaxRate are not in CDC or webhooks)."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from ledgerlink.core.models import Company, TaxCode
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.tax.rates import parse_rate, rate_key
from ledgerlink.quickbooks.client import QBOClient


def _ref(value) -> str:
    return str((value or {}).get("value") or "") if isinstance(value, dict) else ""


def tax_code_rows(codes: list[dict], rates: list[dict]) -> list[dict]:
    """Mirror fields per TaxCode: name, active, taxable, rates [{"id", "name", "percent"}], total."""
    percent = {str(r.get("Id")): parse_rate(r.get("RateValue")) or Decimal("0") for r in rates}
    names = {str(r.get("Id")): str(r.get("Name") or "") for r in rates}
    out = []
    for code in codes:
        details = ((code.get("SalesTaxRateList") or {}).get("TaxRateDetail")) or []
        code_rates = []
        for detail in details if isinstance(details, list) else []:
            rid = _ref(detail.get("TaxRateRef"))
            if rid:
                code_rates.append({"id": rid, "name": names.get(rid) or str((detail.get("TaxRateRef") or {}).get(
                    "name") or ""), "percent": rate_key(percent.get(rid, Decimal("0")))})
        out.append({
            "qbo_id": str(code.get("Id")),
            "name": str(code.get("Name") or "")[:200],
            "description": str(code.get("Description") or "")[:500],
            "active": code.get("Active") not in (False, "false"),
            "taxable": code.get("Taxable") not in (False, "false"),
            "rates": code_rates,
            "total": sum((Decimal(r["percent"]) for r in code_rates), Decimal("0")),
        })
    return out


def sync_tax_codes(company: Company, client: QBOClient) -> int:
    """Read the Company's TaxCodes and TaxRates (paged) and mirror them; codes QBO no longer returns
    are marked inactive. Returns the number of codes."""
    rates = [row for page in client.query_pages("TaxRate") for row in page]
    codes = [row for page in client.query_pages("TaxCode") for row in page]
    rows = tax_code_rows([c for c in codes if c.get("Id") is not None], rates)
    now = timezone.now()
    with transaction.atomic():
        existing = {c.qbo_id: c for c in TaxCode.objects.select_for_update().filter(company=company)}
        new, changed = [], []
        for row in rows:
            code = existing.pop(row["qbo_id"], None)
            if code is None:
                new.append(TaxCode(company=company, synced_at=now, **row))
                continue
            for key, value in row.items():
                setattr(code, key, value)
            code.synced_at = now
            changed.append(code)
        for gone in existing.values():
            gone.active = False
            gone.synced_at = now
            changed.append(gone)
        if new:
            TaxCode.objects.bulk_create(new)
        if changed:
            TaxCode.objects.bulk_update(
                changed, ["name", "description", "active", "taxable", "rates", "total", "synced_at"]
            )
        record_audit("mirror.synced", obj=company, entity="TaxCode", records=len(rows))
    return len(rows)
