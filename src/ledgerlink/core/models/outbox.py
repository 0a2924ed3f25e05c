"""The outbox: push requests, their payload revisions and attempts, and the workers' heartbeats.

Only ``ledgerlink.domain.outbox`` writes a push request's state."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from ledgerlink.core.models.companies import Company
from ledgerlink.core.models.orders import Order
from ledgerlink.core.models.routing import OrderSource, SiteArea
from ledgerlink.quickbooks import wire


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
        # After the document (domain.lifecycle): each waits for the document as a document waits for
        # its customer (waiting_on "request:<id>").
        UPDATE = "update", "Update"
        VOID = "void", "Void"
        PAYMENT = "payment", "Payment"
        CREDIT_MEMO = "credit_memo", "Credit Memo"
        REFUND_RECEIPT = "refund_receipt", "Refund Receipt"
        PAYMENT_METHOD = "payment_method", "Payment Method"

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
    # The /batch requestid of the batch this request was last claimed in, stamped under the lease
    # before sending: after a lost lease the whole batch is re-sent with it, so QBO replays whichever
    # copy came first (worker.claim). Empty for a request sent alone.
    batch_requestid = models.CharField(max_length=40, blank=True, default="")
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
    # What a succeeded document's answer says that a person should see, e.g.
    # [{"kind": "amount_mismatch", "qbo_total": "113.00", "order_total": "112.99"}] (docs/tax.md).
    warnings = models.JSONField(default=list, blank=True, db_default=models.Value("[]"))
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
            models.Index(fields=["waiting_on"], name="push_waiting_on"),
        ]

    def __str__(self) -> str:
        return f"Request #{self.pk} ({self.kind}, {self.state})"

    @property
    def requestid(self) -> str:
        """QBO requestid, stable per (push request, revision); <= 36 chars so batches may use it."""
        return wire.requestid(self.pk, self.revision)

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
