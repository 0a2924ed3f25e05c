"""The full sync: every Customer and Item of a Company, inactive ones included, paged with
STARTPOSITION/MAXRESULTS; records QBO no longer returns (merged, deleted) are marked inactive. Then the
requests waiting on what the mirror now has are healed (``healing.heal_after_full_sync``).

"Sync now" (``request_sync``) queues a ``SyncRequest``; a worker runs it (``run_requested_syncs``)
and writes its progress, which the Customers page shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ledgerlink.core.models import Company, Customer, Item, SyncRequest, SyncState
from ledgerlink.domain.audit import actor_label_for, record_audit
from ledgerlink.domain.companies.tokens import client_for
from ledgerlink.domain.companies.world import read_company_world
from ledgerlink.domain.healing.events import heal_after_full_sync
from ledgerlink.domain.mirror.store import qbo_updated_at, upsert_customers, upsert_items
from ledgerlink.domain.tax.codes import sync_tax_codes
from ledgerlink.quickbooks.client import QBOClient

PAGE_SIZE = 1000
log = logging.getLogger("ledgerlink.sync")

Progress = Callable[[str, int, int], None]  # (entity, done, total)

_ENTITY = {
    "Customer": ("SELECT *", upsert_customers, Customer),
    "Item": ("SELECT *, Sku", upsert_items, Item),
}


def sync_company(
    company: Company,
    entities: Iterable[str] = ("Customer", "Item"),
    progress: Progress | None = None,
    *,
    client: QBOClient | None = None,
    page_size: int = PAGE_SIZE,
) -> dict[str, int]:
    """Full paged sync of the Company's Customers and Items, inactive included. Records that QBO no
    longer returns (merged or deleted) are marked inactive. First the Company's tax world (country,
    tax model, currencies) and its TaxCodes are read again (docs/tax.md). Returns {entity: records
    synced}."""
    own = client is None
    client = client or client_for(company)
    result: dict[str, int] = {}
    try:
        read_company_world(company, client=client)
        sync_tax_codes(company, client)
        for entity in entities:
            if entity not in _ENTITY:
                raise ValueError(f"cannot sync {entity}")
            select, upsert, model = _ENTITY[entity]
            where = "Active IN (true,false)"
            total = client.count(entity, where) if progress else 0
            started = timezone.now()
            high_water = None
            done = 0
            if progress:
                progress(entity, 0, total)
            start = 1
            while True:
                sql = f"{select} FROM {entity} WHERE {where} STARTPOSITION {start} MAXRESULTS {page_size}"
                rows = client.query_rows(sql, entity)
                with transaction.atomic():
                    upsert(company, rows)
                for r in rows:
                    ts = qbo_updated_at(r)
                    if ts and (high_water is None or ts > high_water):
                        high_water = ts
                done += len(rows)
                if progress:
                    progress(entity, done, max(total, done))
                if len(rows) < page_size:
                    break
                start += page_size
            with transaction.atomic():
                # Every record returned above got synced_at >= started; the rest are gone from QBO.
                model.objects.filter(company=company, active=True, synced_at__lt=started).update(active=False)
                state, _ = SyncState.objects.select_for_update().get_or_create(company=company, entity=entity)
                state.last_full_sync_at = timezone.now()
                if high_water and (state.high_water is None or high_water > state.high_water):
                    state.high_water = high_water
                state.record_count = done
                state.save()
                record_audit("mirror.synced", obj=company, entity=entity, records=done)
            result[entity] = done
        heal_after_full_sync(company, result)
    finally:
        if own:
            client.close()
    return result


# A running sync whose worker has written no progress for this long is taken to be dead and queued again.
SYNC_STALE_AFTER = timedelta(minutes=10)


def request_sync(company: Company, *, actor=None, actor_label: str | None = None) -> SyncRequest:
    """"Sync now" in the admin area: queue a full sync for the worker (audited), or answer the one
    already queued or running for this Company. Nothing is asked of QBO here."""
    label = actor_label or actor_label_for(actor)
    with transaction.atomic():
        Company.objects.select_for_update().filter(pk=company.pk).first()  # one open request per Company
        open_request = (
            SyncRequest.objects.filter(company=company, status__in=SyncRequest.OPEN_STATES).order_by("id").first()
        )
        if open_request is not None:
            return open_request
        request = SyncRequest.objects.create(company=company, requested_by=label[:150])
        record_audit("mirror.sync_requested", actor=actor, actor_label=label, obj=company, sync_request=request.pk)
    return request


def _claim_sync_request(worker_id: str) -> SyncRequest | None:
    """The oldest queued sync request of an active Company, set running for ``worker_id`` (one
    conditional UPDATE: two workers never run the same one)."""
    now = timezone.now()
    # A running request whose worker stopped writing progress goes back to the queue.
    SyncRequest.objects.filter(status=SyncRequest.Status.RUNNING, heartbeat_at__lt=now - SYNC_STALE_AFTER).update(
        status=SyncRequest.Status.QUEUED, worker=""
    )
    for request in SyncRequest.objects.filter(
        status=SyncRequest.Status.QUEUED, company__status=Company.Status.ACTIVE
    ).order_by("id")[:5]:
        taken = SyncRequest.objects.filter(pk=request.pk, status=SyncRequest.Status.QUEUED).update(
            status=SyncRequest.Status.RUNNING, worker=worker_id[:100], started_at=now, heartbeat_at=now,
            entity="", done=0, total=0, error="",
        )
        if taken:
            request.refresh_from_db()
            return request
    return None


def run_requested_syncs(*, worker_id: str = "", clients=None, limit: int = 1) -> int:
    """The worker's part of "Sync now": run up to ``limit`` queued sync requests, writing their
    progress (entity, done of total) as the pages arrive; a failure is kept on the request with its
    message. Returns how many ran."""
    ran = 0
    while ran < limit:
        request = _claim_sync_request(worker_id or "worker")
        if request is None:
            break
        ran += 1

        def progress(entity: str, done: int, total: int, pk=request.pk) -> None:
            SyncRequest.objects.filter(pk=pk).update(entity=entity, done=done, total=total,
                                                     heartbeat_at=timezone.now())

        try:
            result = sync_company(request.company, progress=progress,
                                  client=(clients or {}).get(request.company_id))
        except Exception as exc:  # noqa: BLE001 - QBO unreachable, refused...: the person reads why
            log.warning("sync request %s of company %s failed", request.pk, request.company_id, exc_info=True)
            SyncRequest.objects.filter(pk=request.pk).update(
                status=SyncRequest.Status.FAILED, finished_at=timezone.now(),
                error=f"{type(exc).__name__}: {exc}"[:2000],
            )
        else:
            SyncRequest.objects.filter(pk=request.pk).update(
                status=SyncRequest.Status.SUCCEEDED, finished_at=timezone.now(), result=result,
            )
    return ran
