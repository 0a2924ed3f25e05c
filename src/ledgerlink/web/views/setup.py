"""Site Areas and Order Sources (admin edits; everybody reads)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db import transaction
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render

from ledgerlink.core.models import OrderSource, SiteArea
from ledgerlink.core.services.audit import record_audit
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
    areas = list(SiteArea.objects.select_related("company").annotate(n_sources=Count("order_sources")).order_by("name"))
    sources = list(OrderSource.objects.select_related("site_area").order_by("name"))
    return render(request, "web/setup.html", {"areas": areas, "sources": sources})


def _edit(request, form_class, instance, kind: str, list_url="web:setup"):
    form = form_class(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        created = instance is None
        with transaction.atomic():
            before = {f: str(getattr(instance, f)) for f in form.changed_data} if instance else {}
            obj = form.save()
            record_audit(
                f"{kind}.{'create' if created else 'update'}",
                actor=request.user,
                obj=obj,
                before=before,
                after={f: str(getattr(obj, f)) for f in form.changed_data},
            )
        messages.success(request, f"{obj} saved.")
        return redirect(list_url)
    status = 422 if request.method == "POST" else 200
    return render(
        request, "web/setup_edit.html", {"form": form, "instance": instance, "kind": kind}, status=status
    )


@role_required("admin", write="admin")
def site_area_new(request):
    return _edit(request, SiteAreaForm, None, "site_area")


@role_required("admin", write="admin")
def site_area_edit(request, pk: int):
    return _edit(request, SiteAreaForm, get_object_or_404(SiteArea, pk=pk), "site_area")


@role_required("admin", write="admin")
def order_source_new(request):
    return _edit(request, OrderSourceForm, None, "order_source")


@role_required("admin", write="admin")
def order_source_edit(request, pk: int):
    return _edit(request, OrderSourceForm, get_object_or_404(OrderSource, pk=pk), "order_source")
