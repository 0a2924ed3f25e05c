"""Retention: ``prune(days=90)`` deletes what a succeeded push request no longer needs once it is
older than N days: its attempts (HTTP exchanges, response bodies) and every payload revision but the
current one. What stays, for every order: the push request itself with its final state, QBO Id,
DocNumber and SyncToken, its current revision, the order (with its QBO Id and DocNumber), and the
audit log (append-only). Failed, cancelled and pending requests are never pruned.

Age is counted from ``completed_at`` (``updated_at`` for rows without one). Deletes run in batches
of ``batch_size`` requests, each batch in its own short transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from ledgerlink.core.models import Attempt, PushRequest, PushRevision
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.errors import ServiceError


@dataclass
class PruneResult:
    days: int
    cutoff: dt.datetime
    dry_run: bool
    requests: int = 0  # succeeded requests with something to delete
    attempts: int = 0
    revisions: int = 0
    by_company: dict[int, dict[str, int]] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "days": self.days,
            "cutoff": self.cutoff.isoformat(),
            "dry_run": self.dry_run,
            "requests": self.requests,
            "attempts": self.attempts,
            "revisions": self.revisions,
            "by_company": {str(k): v for k, v in sorted(self.by_company.items())},
        }


def _prunable_requests(cutoff: dt.datetime):
    return PushRequest.objects.order_by().filter(state=PushRequest.State.SUCCEEDED).filter(
        Q(completed_at__lt=cutoff) | Q(completed_at__isnull=True, updated_at__lt=cutoff)
    )


def _old_attempts(request_ids):
    return Attempt.objects.order_by().filter(push_request_id__in=request_ids)


def _old_revisions(request_ids):
    return (
        PushRevision.objects.order_by()
        .filter(push_request_id__in=request_ids)
        .exclude(number=F("push_request__revision"))
    )


def prune(days: int = 90, *, dry_run: bool = False, now: dt.datetime | None = None, batch_size: int = 500,
          actor=None) -> PruneResult:
    """Delete attempts and non-current revisions of succeeded requests older than ``days`` days."""
    if days < 1:
        raise ServiceError("Keep at least 1 day.", field="days")
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=days)
    result = PruneResult(days=days, cutoff=cutoff, dry_run=dry_run)
    candidates = _prunable_requests(cutoff)

    attempts_q = Attempt.objects.order_by().filter(push_request__in=candidates)
    revisions_q = (
        PushRevision.objects.order_by()
        .filter(push_request__in=candidates)
        .exclude(number=F("push_request__revision"))
    )
    for row in attempts_q.values("company_id").annotate(n=Count("id")):
        result.by_company.setdefault(row["company_id"], {"attempts": 0, "revisions": 0})["attempts"] = row["n"]
    for row in revisions_q.values("push_request__company_id").annotate(n=Count("id")):
        entry = result.by_company.setdefault(row["push_request__company_id"], {"attempts": 0, "revisions": 0})
        entry["revisions"] = row["n"]
    touched = set(attempts_q.values_list("push_request_id", flat=True).distinct())
    touched |= set(revisions_q.values_list("push_request_id", flat=True).distinct())
    result.requests = len(touched)
    if dry_run:
        result.attempts = sum(v["attempts"] for v in result.by_company.values())
        result.revisions = sum(v["revisions"] for v in result.by_company.values())
        return result

    ids = sorted(touched)
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        with transaction.atomic():
            # Re-check under the transaction: a request re-queued meanwhile is no longer succeeded.
            still = list(_prunable_requests(cutoff).filter(id__in=chunk).values_list("id", flat=True))
            deleted_attempts, _ = _old_attempts(still).delete()
            deleted_revisions, _ = _old_revisions(still).delete()
            result.attempts += deleted_attempts
            result.revisions += deleted_revisions
    if result.attempts or result.revisions:
        with transaction.atomic():
            record_audit(
                "retention.pruned",
                actor=actor,
                days=days,
                cutoff=cutoff.isoformat(),
                requests=result.requests,
                attempts=result.attempts,
                revisions=result.revisions,
            )
    return result
