"""Incremental sync after the full one: CDC (Change Data Capture) every LEDGERLINK_CDC_MINUTES,
each pass followed by the healing of what waits on the changed records (``changes.apply_changes``).

CDC returns full records, so a re-read (the overlap) or an out-of-order answer changes nothing: an
older record never overwrites a newer one (``mirror.store.compare``). A gap longer than QBO's 30-day
CDC window falls back to a full sync; more than QBO's 1,000 changes within one second are read with a
query on ``MetaData.LastUpdatedTime`` (``query_changed_since``), never a full sync.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ledgerlink.core.models import Company, SyncState
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.companies.tokens import client_for
from ledgerlink.domain.mirror.store import MIRRORED, qbo_updated_at
from ledgerlink.domain.sync.changes import apply_changes
from ledgerlink.domain.sync.documents import DOCUMENT_ENTITIES, mark_documents_changed
from ledgerlink.domain.sync.full import sync_company

log = logging.getLogger("ledgerlink.freshness")

CDC_OVERLAP = timedelta(minutes=2)
CDC_LOOKBACK_LIMIT = timedelta(days=29)
CDC_ENTITIES = MIRRORED
CDC_PAGE = 1000  # QBO's most objects per entity in one CDC answer
CDC_MAX_PASSES = 50
CDC_SELECT = {"Customer": "*", "Item": "*, Sku"}  # the query's projection (Sku only when asked for)


def cdc_since(state: SyncState | None, now: datetime) -> datetime | None:
    """Where CDC starts: the last CDC (or full sync) minus an overlap. None: a full sync is needed
    (never synced, or further back than QBO's 30-day CDC window)."""
    if state is None:
        return None
    last = state.last_cdc_at or state.last_full_sync_at
    if last is None or now - last > CDC_LOOKBACK_LIMIT:
        return None
    return last - CDC_OVERLAP


def cdc_sync_company(company: Company, *, client=None) -> dict[str, int]:
    """One incremental pass: GET /cdc?entities=Customer,Item&changedSince=… and apply what changed.
    Falls back to a full sync when CDC cannot cover the gap."""
    now = timezone.now()
    state = SyncState.objects.filter(company=company, entity="Customer").first()
    since = cdc_since(state, now)
    own = client is None
    client = client or client_for(company)
    try:
        if since is None:
            return sync_company(company, CDC_ENTITIES, client=client)
        counts = {entity: 0 for entity in CDC_ENTITIES}
        start = since
        # QBO answers at most CDC_PAGE records per entity: when an answer is full, ask again from the
        # newest LastUpdatedTime it held (QBO's times have one-second resolution: a second earlier, so
        # nothing at that instant is skipped; what is re-read is "same" and not applied again). When a
        # full answer cannot move on (over a thousand changes within one second, a bulk edit in QBO),
        # the rest comes from a query on MetaData.LastUpdatedTime, paged with STARTPOSITION, inactive
        # records included; the deletes (only CDC reports them) are applied from the CDC answer.
        for _ in range(CDC_MAX_PASSES):
            response = client.cdc((*CDC_ENTITIES, *DOCUMENT_ENTITIES), start).raise_for_fault()
            for entity in DOCUMENT_ENTITIES:  # an order's document voided / deleted inside QBO
                mark_documents_changed(company, entity, _records_by_entity(response, (entity,)).get(entity, []))
            answered = _records_by_entity(response)
            full = {entity for entity, records in answered.items() if len(records) >= CDC_PAGE}
            newest = None
            for entity in full:
                stamps = [t for t in (qbo_updated_at(r) for r in answered[entity]) if t is not None]
                if stamps:
                    newest = max(stamps) if newest is None else min(newest, max(stamps))
            stuck = bool(full) and (newest is None or newest - timedelta(seconds=1) <= start)
            for entity, records in answered.items():
                if stuck and entity in full:
                    deleted = [r for r in records if str(r.get("status", "")).lower() == "deleted"]
                    if deleted:
                        counts[entity] += len(apply_changes(company, entity, deleted))
                    counts[entity] += query_changed_since(company, entity, start, client=client)
                elif records:
                    counts[entity] += len(apply_changes(company, entity, records))
            if not full or stuck:
                break
            start = newest - timedelta(seconds=1)
        with transaction.atomic():
            for entity in CDC_ENTITIES:
                SyncState.objects.update_or_create(
                    company=company, entity=entity, defaults={"last_cdc_at": now}
                )
            record_audit("mirror.cdc", obj=company, since=since.isoformat(), **counts)
        return counts
    finally:
        if own:
            client.close()


def _records_by_entity(response, entities=CDC_ENTITIES) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for block in (response.data or {}).get("CDCResponse") or []:
        for query_response in block.get("QueryResponse") or []:
            for entity in entities:
                records = query_response.get(entity) or []
                if records:
                    out.setdefault(entity, []).extend(records)
    return out


def query_changed_since(company: Company, entity: str, since: datetime, *, client, page_size: int = CDC_PAGE) -> int:
    """Apply every record of ``entity`` QBO changed at or after ``since``, inactive ones included:
    ``SELECT ... WHERE MetaData.LastUpdatedTime >= '...' AND Active IN (true,false)`` paged by
    STARTPOSITION (in Id order, so a page boundary inside one second loses nothing). Returns how many
    changed the mirror."""
    select = CDC_SELECT[entity]
    where = f"MetaData.LastUpdatedTime >= '{since.isoformat(timespec='seconds')}' AND Active IN (true,false)"
    applied = 0
    for rows in client.query_pages(entity, where, select=select, page_size=page_size):
        applied += len(apply_changes(company, entity, rows))
    return applied


def cdc_due(company: Company, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    state = SyncState.objects.filter(company=company, entity="Customer").first()
    if state is None:
        return False  # a full sync comes first (ledgerlink sync / "Sync now")
    last = state.last_cdc_at or state.last_full_sync_at
    return last is None or now - last >= timedelta(minutes=settings.LEDGERLINK_CDC_MINUTES)


def run_due_cdc(*, clients=None) -> int:
    """CDC for every active Company whose interval has passed. Returns how many ran."""
    ran = 0
    for company in Company.objects.filter(status=Company.Status.ACTIVE):
        if cdc_due(company):
            try:
                cdc_sync_company(company, client=(clients or {}).get(company.pk))
                ran += 1
            except Exception:  # noqa: BLE001 - one Company's outage must not stop the others
                log.exception("CDC failed for company %s", company.pk)
    return ran
