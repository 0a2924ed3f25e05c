"""A Company's own limits (the worker's limiter reads them): requests in flight, requests and
batches a minute, items per batch, batches on or off. An admin may lower them, never above QBO's
(``quickbooks.wire.QBO_LIMITS``: 10 in flight, 500 a minute, 40 batches a minute, 30 per batch)."""

from __future__ import annotations

from django.db import transaction

from ledgerlink.core.models import Company
from ledgerlink.core.roles import can_see_company
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.errors import ServiceError
from ledgerlink.quickbooks.wire import QBO_LIMITS

LIMIT_FIELDS = tuple(QBO_LIMITS)
LIMIT_LABELS = {
    "max_in_flight": "requests in flight",
    "max_per_minute": "requests a minute",
    "max_batches_per_minute": "batches a minute",
    "batch_size": "requests per batch",
}


def _limit(value, field: str) -> int:
    if isinstance(value, bool):
        raise ServiceError("must be a whole number", field=field)
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            raise ServiceError("must be a whole number", field=field)
        value = int(value)
    if not isinstance(value, int):
        raise ServiceError("must be a whole number", field=field)
    ceiling = QBO_LIMITS[field]
    if value < 1:
        raise ServiceError(f"must be at least 1 (at most {ceiling}, QuickBooks' limit)", field=field)
    if value > ceiling:
        raise ServiceError(f"must be at most {ceiling}: QuickBooks allows no more {LIMIT_LABELS[field]}",
                           field=field)
    return value


def set_company_limits(company_id: int, *, actor=None, actor_label: str | None = None, **changes) -> Company:
    """Change some of the Company's limits (``max_in_flight``, ``max_per_minute``,
    ``max_batches_per_minute``, ``batch_size``: 1 up to QBO's; ``use_batch``: true/false). All are
    checked before anything is written; the change is audited with the old and new values."""
    unknown = sorted(set(changes) - set(LIMIT_FIELDS) - {"use_batch"})
    if unknown:
        raise ServiceError("is not a limit", field=unknown[0])
    clean: dict = {}
    for field in LIMIT_FIELDS:
        if field in changes and changes[field] is not None:
            clean[field] = _limit(changes[field], field)
    if changes.get("use_batch") is not None:
        if not isinstance(changes["use_batch"], bool):
            raise ServiceError("must be true or false", field="use_batch")
        clean["use_batch"] = changes["use_batch"]
    with transaction.atomic():
        company = Company.objects.select_for_update().filter(pk=company_id).first()
        if company is None or not can_see_company(actor, company.pk):
            raise ServiceError(f"company {company_id} does not exist", field="id", status=404)
        before = {field: getattr(company, field) for field in clean}
        for field, value in clean.items():
            setattr(company, field, value)
        if clean:
            company.save(update_fields=[*clean, "updated_at"])
            record_audit("company.limits_changed", actor=actor, actor_label=actor_label, obj=company,
                         before=before, after=clean)
    return company
