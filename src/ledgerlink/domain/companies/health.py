"""A Company's status and health: paused / needs reconnect / disconnected, the 429 pause, the last
success. Only the worker's recording of an exchange (``outbox.delivery``), token refresh and the
admins change these."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

from ledgerlink.core.models import Company
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.errors import ServiceError

THROTTLE_PAUSE = timedelta(seconds=60)  # after a 429 the Company alone waits this long


def set_company_status(company_id: int, status: str, *, actor=None, reason: str = "") -> Company:
    if status not in Company.Status.values:
        raise ServiceError(f"Unknown status {status!r}", field="status")
    with transaction.atomic():
        company = Company.objects.select_for_update().get(pk=company_id)
        old = company.status
        company.status = status
        company.save(update_fields=["status", "updated_at"])
        record_audit("company.status_changed", actor=actor, obj=company, old=old, new=status, reason=reason)
    return company


def mark_refresh_refused(company: Company, error) -> None:
    """The token endpoint refused the refresh token for good: the Company needs reconnecting.
    Call inside the transaction holding the Company's row lock."""
    company.status = Company.Status.NEEDS_RECONNECT
    company.last_error = f"Token refresh refused: {error}"
    company.save(update_fields=["status", "last_error", "updated_at"])
    record_audit("company.needs_reconnect", obj=company, error=error.error, description=error.description)


def mark_throttled(company_id: int, now: datetime) -> None:
    """QBO answered 429: nothing more is claimed for this Company for ``THROTTLE_PAUSE``."""
    Company.objects.filter(pk=company_id).update(throttled_until=now + THROTTLE_PAUSE, updated_at=now)


def mark_auth_refused(company_id: int, message: str, now: datetime) -> None:
    """QBO refused the Company's tokens during a call: paused until reconnected (nothing is failed)."""
    Company.objects.filter(pk=company_id, status=Company.Status.ACTIVE).update(
        status=Company.Status.NEEDS_RECONNECT, last_error=message, updated_at=now,
    )


def mark_success(company_id: int, now: datetime) -> None:
    """A write succeeded (stored at most every 5 s, so a busy Company's row is not rewritten per batch)."""
    Company.objects.filter(pk=company_id).filter(
        Q(last_success_at__isnull=True) | Q(last_success_at__lt=now - timedelta(seconds=5))
    ).update(last_success_at=now)
