"""The Company's tax mapping (admin): its QuickBooks tax codes, the rates orders charge and the code
that books each (suggestions pre-selected), the exempt code, and the orders waiting on an unmapped
rate. Saving re-queues every request that waited on a rate now mapped ("Map and re-queue all")."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render

from ledgerlink.core.models import Company, PushRequest
from ledgerlink.core.roles import has_role, limit_to_companies
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.healing.tax import save_tax_mapping
from ledgerlink.domain.tax.mapping import company_world, tax_mapping_view
from ledgerlink.domain.tax.rates import parse_rate, rate_key
from ledgerlink.web.access import role_required

NEW_ROWS = 2  # empty rows for rates no order charged yet


def _rows(view: dict, world, wanted: str) -> list[dict]:
    """One row per rate: saved, suggested, waiting (and the one the link asked for), by rate."""
    rows: dict[str, dict] = {}
    for entry in view["rates"]:
        rows[entry["rate"]] = {"rate": entry["rate"], "tax_code": entry["tax_code"], "suggested": False, "waiting": 0}
    for entry in view["suggestions"]:
        rows.setdefault(entry["rate"], {"rate": entry["rate"], "tax_code": entry["tax_code"], "suggested": True,
                                        "waiting": 0})
    for entry in view["waiting"]:
        if entry["rate"] == "0":
            continue  # untaxed lines: the exempt code
        row = rows.setdefault(entry["rate"], {"rate": entry["rate"], "tax_code": "", "suggested": False, "waiting": 0})
        row["waiting"] = entry["requests"]
    if wanted and wanted != "0" and wanted not in rows:
        rows[wanted] = {"rate": wanted, "tax_code": world.code_for_rate(parse_rate(wanted)) or "", "suggested": False,
                        "waiting": 0}
    return sorted(rows.values(), key=lambda r: parse_rate(r["rate"]) or 0)


@role_required(read="viewer", write="admin")
def tax_mapping(request, pk: int):
    company = get_object_or_404(limit_to_companies(Company.objects.all(), request.user, "id"), pk=pk)
    if request.method == "POST":
        rates = []
        for index in range(int(request.POST.get("rows", "0") or 0) + NEW_ROWS):
            rate = (request.POST.get(f"rate_{index}") or "").strip()
            code = (request.POST.get(f"code_{index}") or "").strip()
            if rate and code:
                rates.append({"rate": rate, "tax_code": code})
        try:
            _, requeued = save_tax_mapping(
                company.pk, {"rates": rates, "exempt_tax_code": request.POST.get("exempt_tax_code", "")},
                actor=request.user,
            )
        except ServiceError as exc:
            messages.error(request, f"{exc.field}: {exc.message}" if exc.field else exc.message)
        else:
            messages.success(request, f"Tax mapping saved; {len(requeued)} request(s) re-queued.")
        return redirect("web:tax_mapping", pk=company.pk)
    world = company_world(company)
    view = tax_mapping_view(company)
    wanted = request.GET.get("rate", "")
    wanted = rate_key(parse_rate(wanted)) if parse_rate(wanted) is not None else ""
    rows = _rows(view, world, wanted)
    waiting_ids = [pk for entry in view["waiting"] for pk in entry["request_ids"]]
    waiting = list(PushRequest.objects.filter(pk__in=waiting_ids).select_related("order").order_by("id"))
    codes = sorted(world.codes.values(), key=lambda c: (len(c.qbo_id), c.qbo_id))
    return render(request, "web/tax_mapping.html", {
        "company": company, "view": view, "rows": rows, "new_rows": range(len(rows), len(rows) + NEW_ROWS),
        "row_count": len(rows), "codes": codes, "active_codes": [c for c in codes if c.active], "waiting": waiting,
        "wanted": wanted, "can_admin": has_role(request.user, "admin"),
    })
