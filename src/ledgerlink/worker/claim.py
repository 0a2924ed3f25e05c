"""Claiming: which Companies have work due, and one Company's units within its limits. A *unit* is
one HTTP exchange: a single request, or a batch of up to ``Company.batch_size`` requests of one
Company sent to ``/batch``. The state change itself is ``outbox.leases.claim_due``."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from ledgerlink.core.models import Company, PushRequest
from ledgerlink.domain.outbox.leases import (
    Claimed,
    claim_due,
    claim_lost_batch,
    is_postgres,
    load_payloads,
    lost_batches,
    stamp_batch,
)
from ledgerlink.quickbooks import wire
from ledgerlink.worker.limiter import company_load, free_batches, free_slots

S = PushRequest.State


@dataclass
class Unit:
    company_id: int
    owner: str
    requests: list[Claimed]
    batch_requestid: str = ""  # a batch's requestid, stamped on its rows before it is sent

    @property
    def batched(self) -> bool:
        return len(self.requests) > 1


_seq_lock = threading.Lock()
_seq = [0]


def _next_batch_owner(worker_id: str) -> str:
    with _seq_lock:
        _seq[0] += 1
        return f"{worker_id}#b{_seq[0]}"


def claim_for_company(company_id: int, worker_id: str, max_units: int, *, lease_seconds: int | None = None) -> list[Unit]:
    """Claim up to ``max_units`` units of one Company within its limits. The Company row is locked
    for the check-and-take (SKIP LOCKED on PostgreSQL: a Company another worker is claiming for is
    skipped this round)."""
    if max_units <= 0:
        return []
    lease_seconds = lease_seconds or settings.LEDGERLINK_LEASE_SECONDS
    units: list[Unit] = []
    with transaction.atomic():
        qs = Company.objects.filter(pk=company_id)
        # NO KEY UPDATE: serialises claimers without colliding with the KEY SHARE locks that
        # inserting Attempts (FK to the Company) takes in the senders' transactions.
        qs = qs.select_for_update(skip_locked=True, no_key=True) if is_postgres() else qs
        company = qs.only(
            "id", "status", "throttled_until", "max_in_flight", "max_per_minute", "max_batches_per_minute",
            "batch_size", "use_batch",
        ).first()
        now = timezone.now()
        if company is None or company.status != Company.Status.ACTIVE:
            return []
        if company.throttled_until and company.throttled_until > now:
            return []
        load = company_load(company_id, now)
        slots = free_slots(company, load, max_units)
        if slots <= 0:
            return []
        lease_until = now + timedelta(seconds=lease_seconds)
        batches_left = free_batches(company, load)
        # 1. A batch whose lease was lost (its sender died or froze, maybe after its /batch left) is
        # re-sent whole with its stamped requestid: QBO replays whichever copy it saw first, so a
        # sender that wakes up and sends it late creates nothing twice.
        for rid in lost_batches(company_id, now, max(0, min(slots, batches_left))):
            owner = _next_batch_owner(worker_id)
            rows = claim_lost_batch(company_id, owner, rid, lease_until, now)
            if rows:
                units.append(Unit(company_id, owner, rows, batch_requestid=rid))
                slots -= 1
                batches_left -= 1
        # 2. Other requests whose last outcome is unknown go alone (look-up, then same requestid).
        singles = claim_due(company_id, worker_id, slots, lease_until, now, unknown=True)
        for c in singles:
            units.append(Unit(company_id, worker_id, [c]))
        slots -= len(singles)
        # 3. Batches within the batch budget, else singles.
        batch_size = min(company.batch_size or 1, wire.QBO_LIMITS["batch_size"])
        use_batches = company.use_batch and batch_size > 1
        while slots > 0:
            if use_batches and batches_left > 0:
                owner = _next_batch_owner(worker_id)
                rows = claim_due(company_id, owner, batch_size, lease_until, now, unknown=False)
                if not rows:
                    break
                if len(rows) > 1:
                    # Under the lease, before anything is sent (the window a freeze would open).
                    rid = wire.batch_requestid(r.requestid for r in rows)
                    stamp_batch(rows, owner, rid)
                    units.append(Unit(company_id, owner, rows, batch_requestid=rid))
                else:
                    units.append(Unit(company_id, owner, rows))
                slots -= 1
                batches_left -= 1
                if len(rows) < batch_size:
                    break
            else:
                for c in claim_due(company_id, worker_id, slots, lease_until, now, unknown=False):
                    units.append(Unit(company_id, worker_id, [c]))
                break
    if units:
        load_payloads([r for u in units for r in u.requests])
    return units


def due_company_ids(now: datetime | None = None) -> list[int]:
    """Active, un-throttled Companies with a request due now: one query (an EXISTS per Company inside
    the database, not one round trip per Company)."""
    now = now or timezone.now()
    due = PushRequest.objects.filter(
        company_id=OuterRef("pk"), state__in=(S.QUEUED, S.RETRYING), next_attempt_at__lte=now
    )
    return list(
        Company.objects.filter(status=Company.Status.ACTIVE)
        .filter(Q(throttled_until__isnull=True) | Q(throttled_until__lte=now))
        .filter(Exists(due))
        .values_list("id", flat=True)
    )
