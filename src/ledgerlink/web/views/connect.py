"""Connect to QuickBooks (OAuth from the browser), its callback, and Disconnect. Admin only."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render

from ledgerlink.core.models import Company
from ledgerlink.core.roles import limit_to_companies
from ledgerlink.domain.companies.connect import (
    INTUIT_TARGETS,
    TARGETS,
    disconnect_company,
    finish_connect,
    start_connect,
)
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.paging import parse_int
from ledgerlink.web.access import role_required

TARGET_LABELS = {
    "intuit_production": "QuickBooks Online (Intuit production)",
    "intuit_sandbox": "Intuit's developer sandbox",
    "qbo_sandbox": "qbo_sandbox (offline QuickBooks at a base URL)",
}


@role_required(read="admin", write="admin")
def connection_new(request):
    """GET: the form. POST: remember the attempt in the session and go to the authorize URL."""
    values = {"target": "qbo_sandbox", "base_url": "http://127.0.0.1:8700", "name": ""}
    error = None
    # Connections > Reconnect: the same form, filled in for the company (same realm: reconnected,
    # its settings kept).
    reconnect_id = parse_int(request.GET.get("reconnect"))
    reconnect = limit_to_companies(Company.objects.filter(pk=reconnect_id), request.user, "id").first() if (
        reconnect_id) else None
    if reconnect is not None and request.method != "POST":
        values = {"target": "qbo_sandbox", "base_url": reconnect.api_base_url, "name": reconnect.name}
        for target, (_discovery, api_base) in INTUIT_TARGETS.items():
            if reconnect.api_base_url == api_base:
                values = {"target": target, "base_url": "", "name": reconnect.name}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in values}
        try:
            url = start_connect(
                request.session, target=values["target"], name=values["name"], base_url=values["base_url"],
                actor=request.user,
            )
        except ServiceError as exc:
            error = exc
        else:
            return redirect(url)
    choices = [(t, TARGET_LABELS[t]) for t in TARGETS]
    return render(request, "web/connection_new.html",
                  {"values": values, "error": error, "choices": choices, "reconnect": reconnect},
                  status=422 if error else 200)


@role_required(read="admin")
def connection_callback(request):
    """Where QuickBooks sends the browser back: ?code=&state=&realmId= (or ?error=)."""
    try:
        company = finish_connect(
            request.session,
            state=request.GET.get("state", ""),
            code=request.GET.get("code", ""),
            realm_id=request.GET.get("realmId", ""),
            error=request.GET.get("error", ""),
            actor=request.user,
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("web:connections")
    messages.success(request, f"Connected {company.name} (realm {company.realm_id}).")
    return redirect("web:connections")


@role_required(read=None, write="admin")
def connection_disconnect(request, pk: int):
    company = get_object_or_404(limit_to_companies(Company.objects.all(), request.user, "id"), pk=pk)
    try:
        disconnect_company(company.pk, actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Disconnected {company.name}: its tokens are revoked and its requests wait.")
    return redirect("web:connections")
