"""Requests Pending / Requests Completed, a request's page, Edit for Re-Queue and the one-click fixes."""

from __future__ import annotations

import json

from django.contrib import messages
from django.db.models import Q
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from ledgerlink.core.models import Attempt, Customer, CustomerEmail, OrderSource, PushRequest, SiteArea
from ledgerlink.core.roles import can_see_company, has_role, limit_to_companies
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.healing.customers import create_customer_for_request
from ledgerlink.domain.ingest.automation import propose_rule_for_request
from ledgerlink.domain.inputs import check_json
from ledgerlink.domain.outbox.actions import bulk_requeue, cancel_request, requeue_request
from ledgerlink.domain.outbox.selectors import last_failure_kind, list_querysets, similar_failed
from ledgerlink.domain.outbox.transitions import REQUEUEABLE
from ledgerlink.domain.paging import keyset_page, parse_int
from ledgerlink.domain.payloads.edit import apply_quick_fix, validate_edited_payload
from ledgerlink.quickbooks.errors import ERROR_KINDS
from ledgerlink.web import presentation as ui
from ledgerlink.web.access import role_required
from ledgerlink.web.views.automation import render_proposal

LIST_FILTERS = ("outcome", "error_kind", "site_area", "order_source", "date", "email")
BULK_LIMIT = 500


def _is_partial(request) -> bool:
    return request.headers.get("HX-Request") == "true" or request.GET.get("partial") == "1"


def _filters(request) -> dict:
    return {k: (request.GET.get(k) or "").strip() for k in LIST_FILTERS}


def _decorate(rows):
    for row in rows:
        row.ui_error = ui.error_info(row.error_kind, row.error_title, row) if row.error_kind else None
    return rows


def _request_list(request, tab: str):
    filters = _filters(request)
    querysets = [limit_to_companies(qs, request.user) for qs in list_querysets(tab, filters)]
    page = keyset_page(querysets, parse_int(request.GET.get("after")))
    _decorate(page.rows)
    query = {k: v for k, v in filters.items() if v}
    context = {
        "tab": tab,
        "page": page,
        "filters": filters,
        "query": query,
        "poll": page.after is None,
        "rows_url": reverse(f"web:requests_{tab}_rows"),
    }
    if _is_partial(request):
        return render(request, "web/partials/request_rows.html", context)
    states = PushRequest.PENDING_STATES if tab == "pending" else PushRequest.COMPLETED_STATES
    context.update(
        {
            "outcomes": [(s.value, s.label) for s in states],
            "error_kinds": sorted(
                ((k, v.get("title", k)) for k, v in ERROR_KINDS.items()), key=lambda kv: kv[1]
            ),
            "site_areas": list(limit_to_companies(SiteArea.objects.only("id", "name").order_by("name"), request.user)),
            "order_sources": list(limit_to_companies(OrderSource.objects.only("id", "name").order_by("name"),
                                                     request.user, "site_area__company_id")),
        }
    )
    return render(request, "web/requests_list.html", context)


@role_required("viewer")
def requests_pending(request):
    return _request_list(request, "pending")


@role_required("viewer")
def requests_completed(request):
    return _request_list(request, "completed")


@role_required("viewer")
def requests_pending_rows(request):
    request.GET = request.GET.copy()
    request.GET["partial"] = "1"
    return _request_list(request, "pending")


@role_required("viewer")
def requests_completed_rows(request):
    request.GET = request.GET.copy()
    request.GET["partial"] = "1"
    return _request_list(request, "completed")


# ---------------------------------------------------------------- a request's page


def _load(request, pk: int) -> PushRequest:
    """The request, or 404 (also when it is of a company the person may not see)."""
    return get_object_or_404(
        limit_to_companies(PushRequest.objects.select_related("company", "order", "site_area", "order_source"),
                           request.user), pk=pk
    )


def _current_payload(push_request: PushRequest):
    rev = push_request.revisions.filter(number=push_request.revision).first()
    if rev is None:
        rev = push_request.revisions.order_by("-number").first()
    return rev


def _detail_context(request, push_request: PushRequest, **extra) -> dict:
    current = _current_payload(push_request)
    payload = current.payload if current else {}
    kind = last_failure_kind(push_request)
    patch = ui.fix_patch(push_request)
    similar = {}
    if push_request.state == PushRequest.State.FAILED or patch:
        if kind:
            similar["email"] = (
                ui.capped_count(limit_to_companies(similar_failed(push_request, "email", kind), request.user)) if push_request.email else 0
            )
            similar["order_source"] = ui.capped_count(
                limit_to_companies(similar_failed(push_request, "order_source", kind), request.user))
            for key in ("email", "order_source"):
                n = similar[key]
                similar[f"{key}_label"] = f"{n:,}" if n <= ui.SIMILAR_COUNT_CAP else f"{ui.SIMILAR_COUNT_CAP:,}+"
    bill_email = ""
    if isinstance(payload, dict):
        bill_email = ((payload.get("BillEmail") or {}) if isinstance(payload.get("BillEmail"), dict) else {}).get(
            "Address", ""
        )
    user = request.user
    rule_proposal = None
    rule_email = (patch.get("BillEmail") or {}).get("Address", "") if isinstance(patch.get("BillEmail"), dict) else ""
    if has_role(user, "admin") and rule_email and kind in ("customer_ref_required", "invalid_email"):
        try:
            rule_proposal = propose_rule_for_request(push_request, str(rule_email))
        except ServiceError:
            rule_proposal = None  # no valid email, no order source: nothing to propose
    context = {
        "req": push_request,
        "current": current,
        "payload_text": ui.pretty(payload),
        "revisions": ui.revisions_with_diffs(push_request),
        "attempts": list(Attempt.objects.filter(push_request=push_request).order_by("-id")[:50]),
        "error": ui.error_info(push_request.error_kind, push_request.error_title, push_request)
        if push_request.error_kind
        else None,
        "failure_kind": kind,
        "failure_info": ui.error_info(kind) if kind else None,
        "fix_patch": patch,
        "fix_patch_text": ui.pretty(patch) if patch else "",
        "similar": similar,
        "bill_email": bill_email,
        # "Make this a rule": after a fix that set a valid BillEmail, on the failures a rule's email prevents.
        "rule_proposal": rule_proposal,
        "can_operate": has_role(user, "operator"),
        "can_admin": has_role(user, "admin"),
        "can_edit": push_request.state in REQUEUEABLE,
        "can_create_customer": kind == "customer_ref_required"
        and push_request.state == PushRequest.State.FAILED,
        "form": {"payload": ui.pretty(payload), "note": "", "bill_email": "", "customer_value": "", "customer_name": ""},
        "customer_search_url": reverse("web:customer_search") + f"?company={push_request.company_id}",
    }
    context.update(extra)
    return context


@role_required("viewer")
def request_detail(request, pk: int):
    push_request = _load(request, pk)
    return render(request, "web/request_detail.html", _detail_context(request, push_request))


@role_required(read=None, write="operator")
def request_edit(request, pk: int):
    """Edit for Re-Queue: "preview" shows the diff, "save" is Save & Re-Queue (a new revision)."""
    push_request = _load(request, pk)
    form = {
        "payload": request.POST.get("payload", ""),
        "note": request.POST.get("note", "").strip(),
        "bill_email": request.POST.get("bill_email", "").strip(),
        "customer_value": request.POST.get("customer_value", "").strip(),
        "customer_name": request.POST.get("customer_name", "").strip(),
    }
    try:
        payload = json.loads(form["payload"])
    except json.JSONDecodeError as exc:
        error = {"message": f"Line {exc.lineno}, column {exc.colno}: {exc.msg}", "line": exc.lineno, "col": exc.colno}
        ctx = _detail_context(request, push_request, form=form, json_error=error, editing=True)
        return render(request, "web/request_detail.html", ctx, status=422)
    except RecursionError:
        error = {"message": "The payload is nested too deeply to read: a QuickBooks document is a few levels deep.",
                 "line": 1, "col": 1}
        ctx = _detail_context(request, push_request, form=form, json_error=error, editing=True)
        return render(request, "web/request_detail.html", ctx, status=422)
    if not isinstance(payload, dict):
        error = {"message": "The payload must be a JSON object ({ ... }).", "line": 1, "col": 1}
        ctx = _detail_context(request, push_request, form=form, json_error=error, editing=True)
        return render(request, "web/request_detail.html", ctx, status=422)
    try:
        check_json(payload, "payload")  # before the preview shows it: no lone surrogate, not too deep
    except ServiceError as exc:
        ctx = _detail_context(request, push_request, form=form, service_error=exc, editing=True)
        return render(request, "web/request_detail.html", ctx, status=422)
    payload = apply_quick_fix(
        payload, bill_email=form["bill_email"], customer_value=form["customer_value"],
        customer_name=form["customer_name"],
    )
    current = _current_payload(push_request)
    unchanged = current is not None and current.payload == payload
    if request.POST.get("action") == "preview":
        diff = [] if unchanged else ui.diff_lines(
            current.payload if current else {}, payload, f"revision {push_request.revision}", "your edit"
        )
        form["payload"] = ui.pretty(payload)
        problems = None
        try:
            validate_edited_payload(push_request.kind, payload)
        except ServiceError as exc:
            problems = exc
        ctx = _detail_context(
            request, push_request, form=form, preview_diff=diff, preview_unchanged=unchanged,
            service_error=problems, editing=True,
        )
        return render(request, "web/request_detail.html", ctx)
    try:
        if unchanged:
            requeue_request(push_request.pk, note=form["note"], actor=request.user)
        else:
            requeue_request(push_request.pk, payload=payload, note=form["note"], actor=request.user)
    except ServiceError as exc:
        ctx = _detail_context(request, push_request, form=form, service_error=exc, editing=True)
        return render(request, "web/request_detail.html", ctx, status=exc.status if exc.status != 404 else 422)
    if unchanged:
        messages.success(request, f"Request #{pk} re-queued unchanged.")
    else:
        messages.success(request, f"Saved as a new revision and re-queued request #{pk}.")
    return redirect("web:request_detail", pk=pk)


@role_required(read=None, write="operator")
def request_requeue(request, pk: int):
    push_request = _load(request, pk)
    try:
        requeue_request(push_request.pk, note=request.POST.get("note", "").strip(), actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Request #{pk} re-queued unchanged.")
    return redirect("web:request_detail", pk=pk)


@role_required(read=None, write="operator")
def request_cancel(request, pk: int):
    push_request = _load(request, pk)
    try:
        cancel_request(push_request.pk, actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Request #{pk} cancelled.")
    return redirect("web:request_detail", pk=pk)


@role_required(read=None, write="operator")
def request_create_customer(request, pk: int):
    push_request = _load(request, pk)
    try:
        customer_request = create_customer_for_request(push_request.pk, actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        if customer_request.state == PushRequest.State.SUCCEEDED:
            messages.success(request, f"The customer exists in QuickBooks; request #{pk} re-queued with its CustomerRef.")
        else:
            messages.success(
                request,
                f"Customer queued for creation in QuickBooks (request #{customer_request.pk}); "
                f"request #{pk} waits for it and is then sent with its CustomerRef.",
            )
    return redirect("web:request_detail", pk=pk)


@role_required(read="operator", write="operator")
def request_similar(request, pk: int):
    """"Apply this fix to all N similar failed requests": list them first, then bulk re-queue."""
    push_request = _load(request, pk)
    by = request.POST.get("by") or request.GET.get("by") or "email"
    if by not in ("email", "order_source"):
        by = "email"
    kind = last_failure_kind(push_request)
    if not kind:
        messages.error(request, "This request has no failure to match others by.")
        return redirect("web:request_detail", pk=pk)
    qs = limit_to_companies(similar_failed(push_request, by, kind), request.user)
    patch = ui.fix_patch(push_request)
    # The note the person wrote with the fix (their newest revision's) goes with every copy of it.
    fix_note = ui.person_note(push_request) if patch else ""
    if request.method == "POST":
        note = request.POST.get("note", "").strip() or fix_note or f"same as request #{pk}"
        ids = [i for i in (parse_int(v) for v in request.POST.getlist("ids")) if i]
        # Only ids still matching the signature are sent; the service re-checks their state.
        ids = list(qs.filter(id__in=ids).values_list("id", flat=True)[:BULK_LIMIT])
        if not ids:
            messages.error(request, "None of the listed requests is still failed with this error.")
            return redirect("web:request_detail", pk=pk)
        try:
            done = bulk_requeue(ids=ids, actor=request.user, payload_patch=patch or None, note=note)
        except ServiceError as exc:
            messages.error(request, exc.message)
            return redirect("web:request_similar", pk=pk)
        messages.success(request, f"Re-queued {len(done)} similar request(s)" + (" with the same fix." if patch else "."))
        return redirect("web:request_detail", pk=pk)
    rows = list(qs.select_related("order", "order_source").order_by("-id")[:BULK_LIMIT + 1])
    for row in rows:
        row.said = ui.said_label(row)
    context = {
        "req": push_request,
        "by": by,
        "kind": kind,
        "info": ui.error_info(kind),
        "rows": rows[:BULK_LIMIT],
        "more": len(rows) > BULK_LIMIT,
        "patch": patch,
        "patch_text": ui.pretty(patch) if patch else "",
        "note": fix_note,
    }
    return render(request, "web/request_similar.html", context)


@role_required(read=None, write="admin")
def request_make_rule(request, pk: int):
    """"Make this a rule": the request's BillEmail fix proposed as an Order Automation rule for the
    orders of its source that fail the same way, shown in the rule editor with its preview count;
    saved only by the editor's Save rule."""
    push_request = _load(request, pk)
    email = request.POST.get("email", "").strip()
    if not email:
        fix = ui.fix_patch(push_request).get("BillEmail")
        email = str(fix.get("Address", "")).strip() if isinstance(fix, dict) else ""
    try:
        proposal = propose_rule_for_request(push_request, email)
    except ServiceError as exc:
        messages.error(request, f"No rule proposed: {exc.message}.")
        return redirect("web:request_detail", pk=pk)
    return render_proposal(request, proposal, source_request_id=pk)


# ---------------------------------------------------------------- customer picker


@role_required("viewer")
def customer_search(request):
    """JSON for the CustomerRef picker: the Customers mirror of one company, by email or name."""
    company = parse_int(request.GET.get("company"))
    q = (request.GET.get("q") or "").strip()
    if not company or len(q) < 2 or not can_see_company(request.user, company):
        return JsonResponse({"results": []})
    emails = CustomerEmail.objects.filter(company_id=company, email__startswith=q.lower()).values("customer_id")
    qs = (
        Customer.objects.filter(company_id=company)
        .filter(Q(display_name__icontains=q) | Q(id__in=emails) | Q(company_name__icontains=q))
        .order_by("-active", "display_name")[:20]
    )
    return JsonResponse(
        {
            "results": [
                {"value": c.qbo_id, "name": c.display_name, "email": c.email, "active": c.active} for c in qs
            ]
        }
    )
