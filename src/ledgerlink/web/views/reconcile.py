"""The "Reconciliation" page: per order in range, what QBO holds against what it should
(``domain.reconcile``), each row with its fix one click away. QBO is read only when the person asks
(Run), never on a plain visit."""

from __future__ import annotations

import httpx
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from ledgerlink.core.models import Company
from ledgerlink.core.roles import has_role, limit_to_companies
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.lifecycle.inputs import parse_date
from ledgerlink.domain.paging import parse_int
from ledgerlink.domain.reconcile.orders import fix_row, reconcile
from ledgerlink.quickbooks.client import QBOError
from ledgerlink.web.access import role_required


@role_required("viewer")
def reconciliation(request):
    companies = list(limit_to_companies(Company.objects.order_by("id"), request.user, "id"))
    company = parse_int(request.GET.get("company"))
    since_text = (request.GET.get("since") or "").strip()
    report, error = None, ""
    if request.GET.get("run") and not has_role(request.user, "operator"):
        error = "Running the reconciliation reads QuickBooks Online: it needs the operator role."
    elif request.GET.get("run"):
        try:
            report = reconcile(company=company, since=parse_date(since_text, "since"), actor=request.user)
        except ServiceError as exc:
            error = f"{exc.field}: {exc.message}" if exc.field else exc.message
        except (QBOError, httpx.HTTPError) as exc:
            error = f"QuickBooks could not be read: {exc}"
        if report is not None and report.errors:
            error = "; ".join(f"company {e['company']}: {e['detail']}" for e in report.errors)
    return render(request, "web/reconciliation.html", {
        "companies": companies, "company": company, "since": since_text, "report": report, "error": error,
        "rows": [r for r in report.rows if r.status != "ok"] if report is not None else [],
    })


@role_required(read=None, write="operator")
def reconciliation_fix(request):
    order = parse_int(request.POST.get("order"))
    fix = request.POST.get("fix", "")
    since_text = (request.POST.get("since") or "").strip()
    try:
        result = fix_row(order or 0, fix, since=parse_date(since_text, "since"), actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    except (QBOError, httpx.HTTPError) as exc:
        messages.error(request, f"QuickBooks could not be read: {exc}")
    else:
        done = f"request #{result['request']} queued" if result["request"] else "accepted"
        messages.success(request, f"Order #{result['order']} ({result['status']}): {fix} - {done}.")
    query = {"run": 1, "since": since_text, "company": request.POST.get("company", "")}
    return redirect(reverse("web:reconciliation") + "?" + urlencode({k: v for k, v in query.items() if v}))
