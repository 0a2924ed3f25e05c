"""A connected QBO company (realm): its API base, encrypted OAuth tokens, limits and health."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Company(models.Model):
    """One connected QBO company (realm)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
        DISCONNECTED = "disconnected", "Disconnected"

    class TaxModel(models.TextChoices):
        AST = "ast", "US automated sales tax"
        LEGACY = "legacy", "US sales tax (manual rates)"
        GLOBAL = "global", "GST / HST / VAT (tax code per line)"
        NONE = "none", "No sales tax"

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
    # The company's tax world, read from QBO at connect and at every sync (docs/tax.md): "" = not read yet.
    country = models.CharField(max_length=2, blank=True, default="", db_default="")
    tax_model = models.CharField(max_length=10, choices=TaxModel.choices, blank=True, default="", db_default="")
    home_currency = models.CharField(max_length=3, blank=True, default="", db_default="")
    multicurrency = models.BooleanField(default=False, db_default=False)
    default_tax_code = models.CharField(max_length=32, blank=True, default="", db_default="")  # TaxPrefs.TaxGroupCodeRef
    # The tax mapping (``domain.tax.mapping``): {"13": "<QBO TaxCode Id>", ...} and the code of untaxed lines.
    tax_mapping = models.JSONField(default=dict, blank=True, db_default=models.Value("{}"))
    exempt_tax_code = models.CharField(max_length=32, blank=True, default="", db_default="")
    tax_world_read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_base_url", "realm_id"], name="company_unique_realm"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.realm_id})"
