"""Routing: site areas (one Company, one push method, the customer and item policies) and their order sources."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from ledgerlink.core.models.companies import Company


class SiteArea(models.Model):
    class PushMethod(models.TextChoices):
        INVOICE = "invoice", "Invoice"
        SALES_RECEIPT = "sales_receipt", "Sales Order (Sales Receipt)"

    class CustomerPolicy(models.TextChoices):
        MATCH = "match", "Match by email"
        CREATE = "create", "Create when missing"
        DEFAULT = "default", "One customer for the site area"

    class ItemPolicy(models.TextChoices):
        DEFAULT = "default", "Use the default item"
        CREATE = "create", "Create the item (NonInventory)"
        CREATE_SERVICE = "create_service", "Create the item (Service)"

    name = models.CharField(max_length=200)
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="site_areas")
    push_method = models.CharField(max_length=20, choices=PushMethod.choices, default=PushMethod.INVOICE)
    customer_policy = models.CharField(
        max_length=20, choices=CustomerPolicy.choices, default=CustomerPolicy.MATCH
    )
    item_policy = models.CharField(max_length=20, choices=ItemPolicy.choices, default=ItemPolicy.DEFAULT)
    # QBO Ids (strings) so a site area can be set up before the mirror has synced.
    default_item = models.CharField(max_length=32, blank=True, default="")
    shipping_item = models.CharField(max_length=32, blank=True, default="")
    discount_item = models.CharField(max_length=32, blank=True, default="")
    default_customer = models.CharField(max_length=32, blank=True, default="")
    income_account = models.CharField(max_length=32, blank=True, default="")
    # Payments: the account they are deposited to (QBO Id; empty: QBO's Undeposited Funds). Refund
    # receipts: the bank or other current asset account the money is paid back from (required for them).
    deposit_account = models.CharField(max_length=32, blank=True, default="")
    refund_account = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="site_area_unique_name")]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class OrderSource(models.Model):
    class Kind(models.TextChoices):
        API = "api", "API / CSV"
        SHOPIFY = "shopify", "Shopify (webhooks)"
        WOOCOMMERCE = "woocommerce", "WooCommerce (webhooks)"

    class StoreMoney(models.TextChoices):
        SHOP = "shop", "The shop's currency"
        PRESENTMENT = "presentment", "The buyer's currency (Shopify presentment money)"

    STORE_KINDS = (Kind.SHOPIFY, Kind.WOOCOMMERCE)

    name = models.CharField(max_length=200, unique=True)
    site_area = models.ForeignKey(SiteArea, on_delete=models.PROTECT, related_name="order_sources")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.API)
    # The store's webhook signing secret, encrypted like the OAuth tokens (core/crypto.py); write-only.
    webhook_secret_enc = models.TextField(blank=True, default="")
    # During a rotation the previous secret is still accepted until previous_secret_until.
    previous_webhook_secret_enc = models.TextField(blank=True, default="")
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    # Shopify: which of the body's two currencies the orders are booked in (stores.MappingOptions.money).
    store_money = models.CharField(max_length=20, choices=StoreMoney.choices, default=StoreMoney.SHOP)
    created_at = models.DateTimeField(default=timezone.now)

    @property
    def is_store(self) -> bool:
        return self.kind in self.STORE_KINDS

    @property
    def webhook_path(self) -> str | None:
        """``/webhooks/shopify/{id}`` or ``/webhooks/woocommerce/{id}``; None for an API source."""
        return f"/webhooks/{self.kind}/{self.pk}" if self.is_store and self.pk else None

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name
