"""Site Areas and Order Sources (admin edits; everybody reads)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render

from ledgerlink.core.models import OrderSource, SiteArea, StoreDelivery
from ledgerlink.core.roles import limit_to_companies
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.routing.order_sources import (
    SECRET_OVERLAP,
    create_order_source,
    update_order_source,
    webhook_url,
)
from ledgerlink.domain.routing.site_areas import create_site_area, update_site_area
from ledgerlink.domain.stores.deliveries import reprocess_delivery
from ledgerlink.web.access import role_required


class SiteAreaForm(forms.ModelForm):
    class Meta:
        model = SiteArea
        fields = [
            "name", "company", "push_method", "customer_policy", "item_policy", "default_item",
            "shipping_item", "discount_item", "default_customer", "income_account", "deposit_account",
            "refund_account",
        ]
        labels = {
            "default_item": "Default item (QBO Id)",
            "shipping_item": "Shipping item (QBO Id)",
            "discount_item": "Discount item (QBO Id)",
            "default_customer": "Default customer (QBO Id)",
            "income_account": "Income account (QBO Id)",
            "deposit_account": "Deposit account for payments (QBO Id; empty: Undeposited Funds)",
            "refund_account": "Refund account for refund receipts (QBO Id of a Bank / Other Current Asset account)",
        }


class OrderSourceForm(forms.ModelForm):
    # Write-only: never rendered back (render_value=False); empty keeps the current secret.
    webhook_secret = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput(render_value=False),
        label="Webhook secret",
        help_text="Shopify: the key shown under Settings > Notifications > Webhooks (or your app's client "
        "secret); WooCommerce: the webhook's Secret. Leave empty to keep the current one. A new secret: "
        "the old one is still accepted for 24 hours.",
    )

    class Meta:
        model = OrderSource
        fields = ["name", "site_area", "kind", "store_money"]
        labels = {"kind": "Kind", "store_money": "Book Shopify orders in"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("kind", "store_money"):  # a form without them keeps the defaults (api, shop)
            self.fields[name].required = False


@role_required("viewer")
def setup(request):
    areas = list(limit_to_companies(
        SiteArea.objects.select_related("company").annotate(n_sources=Count("order_sources")).order_by("name"),
        request.user))
    sources = list(limit_to_companies(OrderSource.objects.select_related("site_area").order_by("name"), request.user,
                                      "site_area__company_id"))
    return render(request, "web/setup.html", {"areas": areas, "sources": sources})


def _save_site_area(data: dict, instance: SiteArea | None, actor) -> SiteArea:
    fields = {**data, "company": data["company"].pk}
    if instance is None:
        return create_site_area(**fields, actor=actor)
    return update_site_area(instance.pk, **fields, actor=actor)


def _save_order_source(data: dict, instance: OrderSource | None, actor) -> OrderSource:
    fields = {"name": data["name"], "site_area": data["site_area"].pk, "kind": data.get("kind") or "api",
              "store_money": data.get("store_money") or "shop", "webhook_secret": data.get("webhook_secret") or None}
    if instance is None:
        return create_order_source(**fields, actor=actor)
    return update_order_source(instance.pk, **fields, actor=actor)


def _edit(request, form_class, instance, kind: str, save, list_url="web:setup", extra=None):
    """The form parses and renders the fields; the routing service validates, saves and audits
    (the same one the API calls)."""
    form = form_class(request.POST or None, instance=instance)
    # Only the companies (and their site areas) the person may see are offered.
    if "company" in form.fields:
        form.fields["company"].queryset = limit_to_companies(form.fields["company"].queryset, request.user, "id")
    if "site_area" in form.fields:
        form.fields["site_area"].queryset = limit_to_companies(form.fields["site_area"].queryset, request.user)
    if request.method == "POST" and form.is_valid():
        try:
            obj = save(form.cleaned_data, instance, request.user)
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"{obj} saved.")
            return redirect(list_url)
    status = 422 if request.method == "POST" else 200
    return render(
        request, "web/setup_edit.html", {"form": form, "instance": instance, "kind": kind, **(extra or {})},
        status=status,
    )


@role_required("admin", write="admin")
def site_area_new(request):
    return _edit(request, SiteAreaForm, None, "site_area", _save_site_area)


@role_required("admin", write="admin")
def site_area_edit(request, pk: int):
    area = get_object_or_404(limit_to_companies(SiteArea.objects.all(), request.user), pk=pk)
    return _edit(request, SiteAreaForm, area, "site_area", _save_site_area)


@role_required("admin", write="admin")
def order_source_new(request):
    return _edit(request, OrderSourceForm, None, "order_source", _save_order_source)


DELIVERIES_SHOWN = 50


def _store_context(source: OrderSource) -> dict:
    """The source's webhook URL and its deliveries (failed ones first), for its page."""
    if not source.is_store and not source.deliveries.exists():
        return {}
    recent = source.deliveries.defer("body").order_by("-id")
    return {
        "show_deliveries": True,
        "webhook_url": webhook_url(source),
        "failed_deliveries": list(recent.filter(outcome=StoreDelivery.Outcome.FAILED)[:DELIVERIES_SHOWN]),
        "recent_deliveries": list(recent[:DELIVERIES_SHOWN]),
        "secret_overlap_hours": int(SECRET_OVERLAP.total_seconds() // 3600),
    }


@role_required("admin", write="admin")
def order_source_edit(request, pk: int):
    source = get_object_or_404(limit_to_companies(OrderSource.objects.all(), request.user, "site_area__company_id"), pk=pk)
    return _edit(request, OrderSourceForm, source, "order_source", _save_order_source,
                 extra=_store_context(source))


@role_required(None, write="admin")
def delivery_reprocess(request, pk: int):
    """Re-process a failed store delivery (the same service as the API's); back to its source's page."""
    delivery = get_object_or_404(
        limit_to_companies(StoreDelivery.objects.defer("body"), request.user, "order_source__site_area__company_id"), pk=pk
    )
    source_id = delivery.order_source_id
    try:
        delivery = reprocess_delivery(delivery.pk, actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        if delivery.outcome == StoreDelivery.Outcome.FAILED:
            messages.error(request, f"Delivery {delivery.pk} failed again: {delivery.reason}")
        else:
            messages.success(request, f"Delivery {delivery.pk} re-processed: {delivery.outcome}.")
    return redirect("web:order_source_edit", pk=source_id)
