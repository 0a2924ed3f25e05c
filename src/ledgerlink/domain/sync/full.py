"""The full sync: every Customer and Item of a Company, inactive ones included, paged with
STARTPOSITION/MAXRESULTS; records QBO no longer returns (merged, deleted) are marked inactive. Then the
requests waiting on what the mirror now has are healed (``healing.heal_after_full_sync``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import transaction
from django.utils import timezone

from ledgerlink.core.models import Company, Customer, Item, SyncState
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.companies.tokens import client_for
from ledgerlink.domain.companies.world import read_company_world
from ledgerlink.domain.healing.events import heal_after_full_sync
from ledgerlink.domain.mirror.store import qbo_updated_at, upsert_customers, upsert_items
from ledgerlink.domain.tax.codes import sync_tax_codes
from ledgerlink.quickbooks.client import QBOClient

PAGE_SIZE = 1000

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


def run_requested_sync(company: Company, *, actor=None) -> dict[str, int]:
    """"Sync now" in the admin area: audited as requested by ``actor``, then a full sync."""
    with transaction.atomic():
        record_audit("mirror.sync_requested", actor=actor, obj=company)
    return sync_company(company)
