"""Orders, their lines, the automation rules applied to them and the log of what each rule changed."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone

from ledgerlink.core.models.routing import OrderSource, SiteArea


class Order(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        HELD = "held", "Held"
        QUEUED = "queued", "Queued"
        PUSHED = "pushed", "In QuickBooks"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    order_source = models.ForeignKey(OrderSource, on_delete=models.PROTECT, related_name="orders")
    external_id = models.CharField(max_length=200)
    number = models.CharField(max_length=100)
    email = models.CharField(max_length=320, blank=True, default="")
    customer_name = models.CharField(max_length=300, blank=True, default="")
    customer_company = models.CharField(max_length=300, blank=True, default="")
    bill_address = models.JSONField(default=dict, blank=True)
    ship_address = models.JSONField(default=dict, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    shipping = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    discount = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    tax = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    # Tax as the store gave it (docs/tax.md): line prices gross (tax included) or net; the shipping's
    # tax and rate; the rate to the home currency; ``itemized_tax``: lines or shipping said their tax.
    prices_include_tax = models.BooleanField(default=False, db_default=False)
    shipping_tax = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"), db_default=Decimal("0"))
    shipping_tax_rate = models.DecimalField(max_digits=9, decimal_places=4, null=True, blank=True)
    exchange_rate = models.DecimalField(max_digits=18, decimal_places=8, null=True, blank=True)
    itemized_tax = models.BooleanField(default=False, db_default=False)
    subtotal = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    txn_date = models.DateField(null=True, blank=True)
    # Overrides set by automation rules (empty = use the site area's setting / the email match).
    push_method = models.CharField(max_length=20, blank=True, default="")
    qbo_customer_id = models.CharField(max_length=32, blank=True, default="")
    default_item = models.CharField(max_length=32, blank=True, default="")
    held = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    qbo_id = models.CharField(max_length=32, blank=True, default="")
    qbo_doc_number = models.CharField(max_length=32, blank=True, default="")
    # What QBO says of the order's document when someone voided or deleted it there (webhook / CDC).
    qbo_status = models.CharField(max_length=20, blank=True, default="")  # "" | voided_in_qbo | deleted_in_qbo
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order_source", "external_id"], name="order_unique_external_id"),
        ]
        indexes = [models.Index(fields=["status", "id"], name="order_status_id")]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Order {self.number}"

    @property
    def site_area(self) -> SiteArea:
        return self.order_source.site_area

    @property
    def ship_country(self) -> str:
        return str((self.ship_address or {}).get("country", "")).strip()


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    sku = models.CharField(max_length=200, blank=True, default="")
    description = models.CharField(max_length=4000, blank=True, default="")
    quantity = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("1"))
    unit_price = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    tax = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)  # the line's tax amount
    tax_rate = models.DecimalField(max_digits=9, decimal_places=4, null=True, blank=True)  # percent, e.g. 13
    taxable = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["order_id", "position"]


class AutomationRule(models.Model):
    """Ordered conditions -> actions applied to incoming orders.

    ``conditions`` keys (all optional, all must hold): ``order_source`` (id), ``site_area`` (id),
    ``email`` ("missing" | "invalid" | "present"), ``email_pattern`` (a regex, case-insensitive),
    ``total_min``, ``total_max`` (decimals as strings), ``ship_country`` (ISO code or name).
    ``actions`` keys: ``set_email``, ``set_push_method`` ("invoice" | "sales_receipt"),
    ``set_customer`` (QBO Customer Id), ``set_default_item`` (QBO Item Id), ``hold`` (true).
    """

    name = models.CharField(max_length=200)
    position = models.IntegerField(default=0)
    enabled = models.BooleanField(default=True)
    stop_processing = models.BooleanField(default=False)
    conditions = models.JSONField(default=dict, blank=True)
    actions = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class OrderRuleLog(models.Model):
    """Which rule changed what on an order."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="rule_log")
    rule = models.ForeignKey(AutomationRule, on_delete=models.SET_NULL, null=True, related_name="+")
    rule_name = models.CharField(max_length=200)
    field = models.CharField(max_length=64)
    old_value = models.TextField(blank=True, default="")
    new_value = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
