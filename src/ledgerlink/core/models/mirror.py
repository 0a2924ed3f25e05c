"""The local mirror of QBO's Customers and Items, its sync progress and the webhook events that feed it."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from ledgerlink.core.models.companies import Company


class Item(models.Model):
    """Mirror of a QBO Item."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="items")
    qbo_id = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    sku = models.CharField(max_length=200, blank=True, default="")
    type = models.CharField(max_length=32, blank=True, default="")
    active = models.BooleanField(default=True)
    sync_token = models.CharField(max_length=16, blank=True, default="")
    qbo_updated_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "qbo_id"], name="item_unique_qbo_id")]
        indexes = [
            models.Index(fields=["company", "sku"], name="item_company_sku"),
            models.Index(fields=["company", "name"], name="item_company_name"),
        ]
        ordering = ["company_id", "name"]

    def __str__(self) -> str:
        return f"{self.name} [{self.qbo_id}]"


class Customer(models.Model):
    """Mirror of a QBO Customer. ``email`` is QBO's PrimaryEmailAddr as written there."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="customers")
    qbo_id = models.CharField(max_length=32)
    display_name = models.CharField(max_length=500)
    company_name = models.CharField(max_length=500, blank=True, default="")
    email = models.CharField(max_length=500, blank=True, default="")
    currency = models.CharField(max_length=3, blank=True, default="", db_default="")  # CurrencyRef (one per customer)
    active = models.BooleanField(default=True)
    sync_token = models.CharField(max_length=16, blank=True, default="")
    qbo_updated_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "qbo_id"], name="customer_unique_qbo_id")]
        indexes = [models.Index(fields=["company", "display_name"], name="customer_company_name")]
        ordering = ["company_id", "display_name"]

    def __str__(self) -> str:
        return f"{self.display_name} [{self.qbo_id}]"


class CustomerEmail(models.Model):
    """One normalised (trimmed, case-folded) address of a Customer; a field with several addresses
    yields several rows. The index behind email matching."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="emails")
    email = models.CharField(max_length=320)

    class Meta:
        indexes = [models.Index(fields=["company", "email"], name="customer_email_lookup")]
        constraints = [
            models.UniqueConstraint(fields=["customer", "email"], name="customer_email_unique"),
        ]


class SyncState(models.Model):
    """Progress of the mirror for one (Company, entity)."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="sync_states")
    entity = models.CharField(max_length=32)
    last_full_sync_at = models.DateTimeField(null=True, blank=True)
    last_cdc_at = models.DateTimeField(null=True, blank=True)
    # High-water mark of QBO's LastUpdatedTime seen; CDC asks from here minus an overlap.
    high_water = models.DateTimeField(null=True, blank=True)
    record_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "entity"], name="sync_state_unique")]


class SyncRequest(models.Model):
    """"Sync now": a full sync a person asked for, run by a worker (never inside the web request), with
    its progress as the worker writes it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"

    OPEN_STATES = (Status.QUEUED, Status.RUNNING)

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="sync_requests")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.CharField(max_length=150, blank=True, default="")  # the actor's label
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # the worker's last progress write
    worker = models.CharField(max_length=100, blank=True, default="")
    entity = models.CharField(max_length=32, blank=True, default="")  # being synced now
    done = models.PositiveIntegerField(default=0)  # records of ``entity`` synced so far
    total = models.PositiveIntegerField(default=0)  # records of ``entity`` QBO has
    result = models.JSONField(default=dict, blank=True)  # {entity: records synced}
    error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["status", "id"], name="sync_request_status_id")]


class WebhookEvent(models.Model):
    """A received QBO webhook notification (deduplicated by a key from its content)."""

    dedupe_key = models.CharField(max_length=200, unique=True)
    realm_id = models.CharField(max_length=64)
    entity = models.CharField(max_length=32)
    entity_id = models.CharField(max_length=32)
    operation = models.CharField(max_length=20)
    deleted_id = models.CharField(max_length=32, blank=True, default="")  # Merge: the merged-away Id
    last_updated = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
