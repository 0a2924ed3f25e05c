"""A Company's tax mapping: which QBO TaxCode books an order's tax rate, and the code of untaxed
lines (``exempt_tax_code``). A rate equal to exactly one active code's total maps itself (a
suggestion, shown as such until a person saves it). Saving goes through
``healing.tax.save_tax_mapping``, which re-queues the requests that waited on a mapped rate."""

from __future__ import annotations

from django.db import transaction

from ledgerlink.core.models import Company, PushRequest, TaxCode
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.tax.rates import parse_rate, rate_key
from ledgerlink.domain.tax.world import TaxWorld, world_of

UNMAPPED_KIND = "tax_code_unmapped"
RATE_ELEMENT = "tax_rate:"


def company_world(company: Company) -> TaxWorld:
    return world_of(company, TaxCode.objects.filter(company=company).order_by("qbo_id"))


def waiting_rates(company: Company) -> dict[str, list[int]]:
    """Rate -> the ids of the failed requests that wait on a code for it (oldest first)."""
    out: dict[str, list[int]] = {}
    rows = PushRequest.objects.filter(
        company=company, state=PushRequest.State.FAILED, error_kind=UNMAPPED_KIND
    ).order_by("id").values_list("id", "error_element")
    for pk, element in rows:
        if element.startswith(RATE_ELEMENT):
            out.setdefault(element[len(RATE_ELEMENT):], []).append(pk)
    return out


def rate_is_mapped(world: TaxWorld, key: str) -> bool:
    rate = parse_rate(key)
    if rate is None:
        return False
    if rate == 0 and world.exempt_code:
        return True
    return bool(world.code_for_rate(rate))


def tax_mapping_view(company: Company) -> dict:
    """The mapping as ``GET /companies/{id}/tax-mapping`` answers it."""
    world = company_world(company)
    waiting = waiting_rates(company)
    names = {c.qbo_id: c.name for c in world.codes.values()}
    rates = [
        {"rate": key, "tax_code": code, "tax_code_name": names.get(code, ""), "suggested": False}
        for key, code in sorted(world.mapping.items(), key=lambda kv: parse_rate(kv[0]) or 0)
    ]
    mapped = set(world.mapping)
    suggestions = []
    for code in sorted(world.codes.values(), key=lambda c: (c.total, c.qbo_id)):
        key = rate_key(code.total)
        if code.active and code.rates and key not in mapped and world.suggestion(code.total) == code.qbo_id:
            suggestions.append({"rate": key, "tax_code": code.qbo_id, "tax_code_name": code.name, "suggested": True})
    return {
        "company": company.pk,
        "tax_model": company.tax_model,
        "rates": rates,
        "suggestions": suggestions,
        "exempt_tax_code": company.exempt_tax_code,
        "waiting": [
            {"rate": key, "requests": len(ids), "request_ids": ids[:50], "mapped": rate_is_mapped(world, key)}
            for key, ids in sorted(waiting.items(), key=lambda kv: parse_rate(kv[0]) or 0)
        ],
    }


def _code(codes: dict[str, TaxCode], value, field: str) -> str:
    qbo_id = str(value or "").strip()
    if not qbo_id:
        raise ServiceError("is required: the Id of a QuickBooks tax code", field=field)
    code = codes.get(qbo_id)
    if code is None:
        raise ServiceError(f"is not a QuickBooks tax code of this company: {qbo_id[:40]} (sync the company?)",
                           field=field)
    if not code.active:
        raise ServiceError(f"tax code {code.name} ({qbo_id}) is inactive in QuickBooks", field=field)
    return qbo_id


def set_tax_mapping(company_id: int, data, *, actor=None, actor_label: str | None = None) -> Company:
    """Replace the Company's mapping with ``data`` = ``{"rates": [{"rate", "tax_code"}], "exempt_tax_code"}``
    (``exempt_tax_code`` kept when absent). Every code must be an active mirrored TaxCode (422 naming
    the field); nothing is written otherwise."""
    if not isinstance(data, dict):
        raise ServiceError("must be an object with rates and exempt_tax_code", field=None)
    with transaction.atomic():
        company = Company.objects.select_for_update().filter(pk=company_id).first()
        if company is None:
            raise ServiceError(f"company {company_id} does not exist", field="id", status=404)
        codes = {c.qbo_id: c for c in TaxCode.objects.filter(company=company)}
        rows = data.get("rates", [])
        if not isinstance(rows, list):
            raise ServiceError("must be a list of {rate, tax_code}", field="rates")
        mapping: dict[str, str] = {}
        for index, row in enumerate(rows):
            prefix = f"rates[{index}]"
            if not isinstance(row, dict):
                raise ServiceError("must be an object with rate and tax_code", field=prefix)
            rate = parse_rate(row.get("rate"))
            if rate is None:
                raise ServiceError("must be a percent from 0 to 100 such as \"13\" or \"9.975\"", field=f"{prefix}.rate")
            key = rate_key(rate)
            if key in mapping:
                raise ServiceError(f"the rate {key} % is listed twice", field=f"{prefix}.rate")
            mapping[key] = _code(codes, row.get("tax_code"), f"{prefix}.tax_code")
        exempt = company.exempt_tax_code
        if "exempt_tax_code" in data:
            value = data.get("exempt_tax_code")
            exempt = "" if value in (None, "") else _code(codes, value, "exempt_tax_code")
        old = (dict(company.tax_mapping or {}), company.exempt_tax_code)
        company.tax_mapping = mapping
        company.exempt_tax_code = exempt
        company.save(update_fields=["tax_mapping", "exempt_tax_code", "updated_at"])
        record_audit(
            "company.tax_mapping", actor=actor, actor_label=actor_label, obj=company,
            rates=mapping, exempt_tax_code=exempt, before={"rates": old[0], "exempt_tax_code": old[1]},
        )
    return company
