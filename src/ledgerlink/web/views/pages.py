"""Dashboard, Orders and Customers."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render

from ledgerlink.core.models import (
    Company,
    Customer,
    CustomerEmail,
    Order,
    OrderSource,
    PushRequest,
    SyncRequest,
    SyncState,
)
from ledgerlink.core.roles import limit_to_companies, visible_company_ids
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.lifecycle.cancel import cancel_order
from ledgerlink.domain.lifecycle.documents import open_balance
from ledgerlink.domain.lifecycle.timeline import order_timeline
from ledgerlink.domain.paging import keyset_page, parse_int
from ledgerlink.domain.payloads.build import push_kind
from ledgerlink.domain.sync.full import request_sync
from ledgerlink.web import presentation as ui
from ledgerlink.web.access import role_required


@role_required("viewer")
def dashboard(request):
    return render(request, "web/dashboard.html", ui.dashboard_data(company_ids=visible_company_ids(request.user)))


@role_required("viewer")
def orders(request):
    q = (request.GET.get("q") or "").strip()
    status = (request.GET.get("status") or "").strip()
    source = parse_int(request.GET.get("order_source"))
    qs = limit_to_companies(Order.objects.select_related("order_source", "order_source__site_area"), request.user,
                            "order_source__site_area__company_id")
    if q:
        qs = qs.filter(Q(number=q) | Q(external_id=q) | Q(email__iexact=q) | Q(customer_name__icontains=q))
    if status in Order.Status.values:
        qs = qs.filter(status=status)
    if source:
        qs = qs.filter(order_source_id=source)
    page = keyset_page(qs, parse_int(request.GET.get("after")))
    query = {k: v for k, v in {"q": q, "status": status, "order_source": source or ""}.items() if v}
    return render(
        request,
        "web/orders.html",
        {
            "page": page,
            "q": q,
            "status": status,
            "source": source,
            "query": query,
            "statuses": Order.Status.choices,
            "order_sources": list(limit_to_companies(OrderSource.objects.only("id", "name").order_by("name"),
                                                     request.user, "site_area__company_id")),
        },
    )


@role_required("viewer")
def order_detail(request, pk: int):
    order = get_object_or_404(limit_to_companies(Order.objects.select_related("order_source", "order_source__site_area"),
                                                 request.user, "order_source__site_area__company_id"), pk=pk)
    return render(
        request,
        "web/order_detail.html",
        {
            "order": order,
            "lines": list(order.lines.all()),
            "rule_log": list(order.rule_log.all()),
            "requests": list(PushRequest.objects.filter(order=order).order_by("-id")[:20]),
            "timeline": order_timeline(order),
            "balance": open_balance(order) if order.qbo_id and push_kind(order) == "invoice" else None,
        },
    )


@role_required(read=None, write="operator")
def order_cancel(request, pk: int):
    """Cancel the order (``lifecycle.cancel_order``): unsent, nothing reaches QBO; posted, a void request."""
    try:
        order, void = cancel_order(pk, reason=(request.POST.get("reason") or "")[:500], actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Order {order.number} cancelled" + (
            f"; void request #{void.pk} queued." if void is not None else "; nothing had reached QuickBooks."))
    return redirect("web:order_detail", pk=pk)


@role_required("viewer", write="operator")
def customers(request):
    companies = list(limit_to_companies(Company.objects.order_by("id"), request.user, "id"))
    company_id = parse_int(request.POST.get("company") or request.GET.get("company"))
    company = next((c for c in companies if c.pk == company_id), companies[0] if companies else None)
    if request.method == "POST":
        if company is None:
            messages.error(request, "No company is connected.")
            return redirect("web:customers")
        # Queued for a worker: a full sync can take minutes, never inside this request.
        sync = request_sync(company, actor=request.user)
        messages.success(request, f"Sync of {company.name} from QuickBooks queued (#{sync.pk}): a worker runs it; "
                                  "its progress shows below.")
        return redirect(f"{request.path}?company={company.pk}")
    q = (request.GET.get("q") or "").strip()
    page = None
    sync_state = None
    sync_request = None
    if company is not None:
        qs = Customer.objects.filter(company=company)
        if q:
            emails = CustomerEmail.objects.filter(company=company, email__startswith=q.lower()).values("customer_id")
            qs = qs.filter(Q(display_name__icontains=q) | Q(qbo_id=q) | Q(id__in=emails))
        page = keyset_page(qs, parse_int(request.GET.get("after")))
        sync_state = SyncState.objects.filter(company=company, entity="Customer").first()
        sync_request = latest_sync_request(company)
    query = {k: v for k, v in {"q": q, "company": company.pk if company else ""}.items() if v}
    return render(
        request,
        "web/customers.html",
        {
            "companies": companies,
            "company": company,
            "page": page,
            "q": q,
            "query": query,
            "sync_state": sync_state,
            "sync_request": sync_request,
        },
    )


def latest_sync_request(company: Company) -> SyncRequest | None:
    return SyncRequest.objects.filter(company=company).order_by("-id").first()


@role_required("viewer")
def sync_status(request):
    """The polled progress of the Company's newest "Sync now" (the Customers page's partial)."""
    company_id = parse_int(request.GET.get("company"))
    qs = limit_to_companies(Company.objects.order_by("id"), request.user, "id")
    company = (qs.filter(pk=company_id) if company_id else qs).first()
    return render(request, "web/partials/sync_status.html",
                  {"company": company, "sync_request": latest_sync_request(company) if company else None})
