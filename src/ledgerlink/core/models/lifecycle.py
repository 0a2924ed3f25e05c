"""An order after its document: its versions (who changed what, when), its payments and refunds, and
the mirror of QBO's payment methods. Each payment and refund is one push request in the outbox."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from ledgerlink.core.models.companies import Company
from ledgerlink.core.models.orders import Order


class OrderVersion(models.Model):
    """One change of an order (``PATCH /orders/{id}``): who, when, and each field's old and new value."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    author_label = models.CharField(max_length=150, default="system")
    # {"field": {"old": ..., "new": ...}} (money and quantities as strings)
    changes = models.JSONField(default=dict)
    push_request = models.ForeignKey(
        "core.PushRequest", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["order_id", "number"]
        constraints = [models.UniqueConstraint(fields=["order", "number"], name="order_version_unique_number")]


class OrderPayment(models.Model):
    """A payment of an invoice order, idempotent on (order, external_id); sent as a ``payment`` request."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    external_id = models.CharField(max_length=200)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    date = models.DateField(null=True, blank=True)
    method = models.CharField(max_length=31, blank=True, default="")
    reference = models.CharField(max_length=21, blank=True, default="")
    push_request = models.ForeignKey("core.PushRequest", on_delete=models.PROTECT, related_name="+")
    created_by = models.CharField(max_length=150, default="system")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["order_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "external_id"], name="order_payment_unique_external_id"),
        ]


class OrderRefund(models.Model):
    """A refund of an order, idempotent on (order, external_id): a ``credit_memo`` request (invoice
    orders) or a ``refund_receipt`` request (sales-receipt orders). ``lines``: [{"sku", "quantity"}]."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    external_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=20)  # PushRequest.Kind: credit_memo | refund_receipt
    lines = models.JSONField(default=list, blank=True)
    shipping = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    amount = models.DecimalField(max_digits=14, decimal_places=2)  # the refund's total
    reason = models.CharField(max_length=4000, blank=True, default="")
    push_request = models.ForeignKey("core.PushRequest", on_delete=models.PROTECT, related_name="+")
    # The payment request that applies a credit memo to the invoice's open balance (if any).
    apply_request = models.ForeignKey(
        "core.PushRequest", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    applied_amount = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    created_by = models.CharField(max_length=150, default="system")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["order_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "external_id"], name="order_refund_unique_external_id"),
        ]


class PaymentMethod(models.Model):
    """Mirror of a QBO PaymentMethod (payments name theirs)."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="payment_methods")
    qbo_id = models.CharField(max_length=32)
    name = models.CharField(max_length=31)
    active = models.BooleanField(default=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["company_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["company", "qbo_id"], name="payment_method_unique_qbo_id"),
        ]
