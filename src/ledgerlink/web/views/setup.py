"""Site Areas and Order Sources (admin edits; everybody reads)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render

from ledgerlink.core.models import OrderSource, SiteArea
from ledgerlink.core.roles import limit_to_companies
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.routing.order_sources import create_order_source, update_order_source
from ledgerlink.domain.routing.site_areas import create_site_area, update_site_area
from ledgerlink.web.access import role_required


class SiteAreaForm(forms.ModelForm):
    class Meta:
        model = SiteArea
        fields = [
            "name", "company", "push_method", "customer_policy", "item_policy", "default_item",
            "shipping_item", "discount_item", "default_customer", "income_account",
        ]
        labels = {
            "default_item": "Default item (QBO Id)",
            "shipping_item": "Shipping item (QBO Id)",
            "discount_item": "Discount item (QBO Id)",
            "default_customer": "Default customer (QBO Id)",
            "income_account": "Income account (QBO Id)",
        }


class OrderSourceForm(forms.ModelForm):
    class Meta:
        model = OrderSource
        fields = ["name", "site_area"]


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
    if instance is None:
        return create_order_source(name=data["name"], site_area=data["site_area"].pk, actor=actor)
    return update_order_source(instance.pk, name=data["name"], site_area=data["site_area"].pk, actor=actor)


def _edit(request, form_class, instance, kind: str, save, list_url="web:setup"):
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
        request, "web/setup_edit.html", {"form": form, "instance": instance, "kind": kind}, status=status
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


@role_required("admin", write="admin")
def order_source_edit(request, pk: int):
    source = get_object_or_404(limit_to_companies(OrderSource.objects.all(), request.user, "site_area__company_id"), pk=pk)
    return _edit(request, OrderSourceForm, source, "order_source", _save_order_source)
