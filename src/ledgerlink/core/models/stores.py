"""Store webhooks: each delivery received from Shopify or WooCommerce, and WooCommerce's per-order snapshot."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ledgerlink.core.models.orders import Order
from ledgerlink.core.models.routing import OrderSource


class StoreDelivery(models.Model):
    """One accepted (signature-verified) delivery, written in the same transaction as its effect."""

    class Outcome(models.TextChoices):
        RECEIVED = "received", "Received (to be applied)"  # queued mode: stored, the worker applies it
        APPLIED = "applied", "Applied"
        DUPLICATE = "duplicate", "Duplicate"
        FAILED = "failed", "Failed"

    order_source = models.ForeignKey(OrderSource, on_delete=models.CASCADE, related_name="deliveries")
    topic = models.CharField(max_length=100, blank=True, default="")
    # Shopify: X-Shopify-Webhook-Id (stable across retries); WooCommerce: X-WC-Webhook-Delivery-ID.
    delivery_id = models.CharField(max_length=200, blank=True, default="")
    received_at = models.DateTimeField(default=timezone.now)
    body = models.BinaryField()
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    reason = models.TextField(blank=True, default="")
    field = models.CharField(max_length=200, blank=True, default="")
    external_id = models.CharField(max_length=200, blank=True, default="")  # the store's order id
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    intents = models.JSONField(default=list)  # [{"kind", "outcome", "reason"}] per intent
    # WooCommerce: the snapshot this delivery was compared with (a re-process compares with it again).
    previous_snapshot = models.JSONField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    reprocessed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order_source", "delivery_id"],
                condition=~Q(delivery_id="") & ~Q(outcome="duplicate"),
                name="store_delivery_unique_id",
            )
        ]
        indexes = [
            models.Index(fields=["order_source", "outcome", "id"], name="store_delivery_outcome"),
            models.Index(fields=["outcome", "id"], name="store_delivery_to_apply"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.topic}, {self.outcome})"


class StoreOrderSnapshot(models.Model):
    """WooCommerce: the snapshot of an order as last applied (``stores.woocommerce.route(previous=)``)."""

    order_source = models.ForeignKey(OrderSource, on_delete=models.CASCADE, related_name="snapshots")
    external_id = models.CharField(max_length=200)
    snapshot = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order_source", "external_id"], name="store_snapshot_unique")
        ]
