"""The mirror of QBO's tax codes with their rates (docs/tax.md). A Company's tax mapping (an order's
rate -> the TaxCode that books it) is ``Company.tax_mapping``."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone

from ledgerlink.core.models.companies import Company


class TaxCode(models.Model):
    """Mirror of a QBO TaxCode; ``rates`` are its sales rates as [{"id", "name", "percent"}] (percent a
    decimal string) and ``total`` their sum (what an order's rate is compared with)."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="tax_codes")
    qbo_id = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    description = models.CharField(max_length=500, blank=True, default="")
    active = models.BooleanField(default=True)
    taxable = models.BooleanField(default=True)
    rates = models.JSONField(default=list, blank=True)
    total = models.DecimalField(max_digits=9, decimal_places=4, default=Decimal("0"))
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "qbo_id"], name="tax_code_unique_qbo_id")]
        ordering = ["company_id", "name"]

    def __str__(self) -> str:
        return f"{self.name} [{self.qbo_id}]"

