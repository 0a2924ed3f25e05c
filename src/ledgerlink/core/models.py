"""Ledgerlink's data model. Vocabulary as in DESIGN.md.

Write paths go through the verb-named services in ``ledgerlink.core.services``; nothing here holds
business logic beyond small derived properties.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone


class Company(models.Model):
    """One connected QBO company (realm)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
        DISCONNECTED = "disconnected", "Disconnected"

    name = models.CharField(max_length=200)
    realm_id = models.CharField(max_length=64)
    # Base URL of the Accounting API host (https://quickbooks.api.intuit.com, the Intuit sandbox, or
    # a qbo_sandbox such as http://127.0.0.1:8700). Requests go to {api_base_url}/v3/company/{realm_id}/.
    api_base_url = models.CharField(max_length=300)
    discovery_url = models.CharField(max_length=300, blank=True, default="")
    token_endpoint = models.CharField(max_length=300, blank=True, default="")
    revocation_endpoint = models.CharField(max_length=300, blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    # MultiFernet ciphertexts (ledgerlink.core.crypto); never plaintext.
    access_token_enc = models.TextField(blank=True, default="")
    refresh_token_enc = models.TextField(blank=True, default="")
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True)
    token_refreshed_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    throttled_until = models.DateTimeField(null=True, blank=True)
    # Per-Company limits (QBO's defaults).
    max_in_flight = models.PositiveIntegerField(default=10)
    max_per_minute = models.PositiveIntegerField(default=500)
    max_batches_per_minute = models.PositiveIntegerField(default=40)
    batch_size = models.PositiveIntegerField(default=30)
    use_batch = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_base_url", "realm_id"], name="company_unique_realm"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.realm_id})"


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
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="site_area_unique_name")]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class OrderSource(models.Model):
    name = models.CharField(max_length=200, unique=True)
    site_area = models.ForeignKey(SiteArea, on_delete=models.PROTECT, related_name="order_sources")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


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


class PushRequest(models.Model):
    """The outbox record of one QBO write ("Requests Pending" / "Requests Completed")."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Retrying"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Kind(models.TextChoices):
        INVOICE = "invoice", "Invoice"
        SALES_RECEIPT = "sales_receipt", "Sales Order (Sales Receipt)"
        CUSTOMER = "customer", "Customer"
        ITEM = "item", "Item"

    PENDING_STATES = (State.QUEUED, State.SENDING, State.RETRYING)
    COMPLETED_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="push_requests")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, null=True, blank=True, related_name="push_requests")
    # Denormalised for the lists' filters (set once at creation; an edit never changes them).
    site_area = models.ForeignKey(SiteArea, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    order_source = models.ForeignKey(
        OrderSource, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    email = models.CharField(max_length=320, blank=True, default="")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    revision = models.PositiveIntegerField(default=1)  # number of the current revision
    attempt_count = models.PositiveIntegerField(default=0)  # attempts of the current revision
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_owner = models.CharField(max_length=100, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Set when an attempt's outcome is unknown (timeout, dropped connection, dead worker): the next
    # attempt must resolve by requestid replay or look-up, never by a blind new create.
    outcome_unknown = models.BooleanField(default=False)
    waiting_on = models.CharField(max_length=64, blank=True, default="")  # e.g. "customer:a@b.c"
    error_kind = models.CharField(max_length=40, blank=True, default="")
    error_title = models.CharField(max_length=200, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    error_detail = models.TextField(blank=True, default="")
    error_code = models.CharField(max_length=32, blank=True, default="")
    error_element = models.CharField(max_length=200, blank=True, default="")
    qbo_id = models.CharField(max_length=32, blank=True, default="")
    qbo_doc_number = models.CharField(max_length=32, blank=True, default="")
    qbo_sync_token = models.CharField(max_length=16, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="push_claim"),
            models.Index(fields=["company", "state"], name="push_company_state"),
            models.Index(fields=["state", "id"], name="push_state_id"),
            models.Index(fields=["error_kind", "id"], name="push_error_kind_id"),
            models.Index(fields=["company", "email"], name="push_company_email"),
            models.Index(fields=["order"], name="push_order"),
            models.Index(fields=["completed_at"], name="push_completed_at"),
            models.Index(fields=["email", "id"], name="push_email_id"),
        ]

    def __str__(self) -> str:
        return f"Request #{self.pk} ({self.kind}, {self.state})"

    @property
    def requestid(self) -> str:
        """QBO requestid, stable per (push request, revision); <= 36 chars so batches may use it."""
        return f"ll-{self.pk}-r{self.revision}"

    @property
    def is_pending(self) -> bool:
        return self.state in self.PENDING_STATES


class PushRevision(models.Model):
    """One version of a push request's JSON payload; an edit makes a new one."""

    push_request = models.ForeignKey(PushRequest, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    payload = models.JSONField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    author_label = models.CharField(max_length=150, default="system")  # "system", "api:alice", "alice"
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["push_request_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["push_request", "number"], name="revision_unique_number"),
        ]


class Attempt(models.Model):
    """One HTTP exchange with QBO."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        TRANSIENT = "transient", "Transient failure"
        FAILED = "failed", "Business failure"
        UNKNOWN = "unknown", "Outcome unknown"
        PREFLIGHT = "preflight", "Caught before sending"
        ABANDONED = "abandoned", "Lease expired"

    push_request = models.ForeignKey(PushRequest, on_delete=models.CASCADE, related_name="attempts")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    revision = models.PositiveIntegerField()
    requestid = models.CharField(max_length=64)
    worker = models.CharField(max_length=100, blank=True, default="")
    batched = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    http_status = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    error_kind = models.CharField(max_length=40, blank=True, default="")
    fault_code = models.CharField(max_length=32, blank=True, default="")
    intuit_tid = models.CharField(max_length=100, blank=True, default="")
    response_body = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["push_request_id", "id"]
        indexes = [models.Index(fields=["company", "started_at"], name="attempt_company_started")]


class WorkerHeartbeat(models.Model):
    worker_id = models.CharField(max_length=100, unique=True)
    hostname = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)


class ApiToken(models.Model):
    """A per-user bearer token for /api/v1, stored as a SHA-256 hash."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, default="")
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)


class AuditLogQuerySet(models.QuerySet):
    def update(self, **kwargs):  # noqa: D401 - append-only
        raise PermissionError("The audit log is append-only")

    def delete(self):
        raise PermissionError("The audit log is append-only")


class AuditLog(models.Model):
    """Append-only record of every state change made by a person, the API or the system."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=150, default="system")
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("The audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit log is append-only")


class UserProfile(models.Model):
    """The role of a user in the admin area and API."""

    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"
        OPERATOR = "operator", "Operator"
        ADMIN = "admin", "Admin"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)


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
