"""The Customer / Item mirror: full paged sync, single-record apply (CDC, webhooks), email matching.

Emails are trimmed and case-folded; a field holding several addresses separated by ``,`` or ``;``
yields one ``CustomerEmail`` row per address. Inactive records are mirrored (``active=False``) but
never matched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ledgerlink.core.models import Company, Customer, CustomerEmail, Item, SyncState
from ledgerlink.core.services.audit import record_audit
from ledgerlink.core.services.companies import client_for
from ledgerlink.quickbooks.client import QBOClient

PAGE_SIZE = 1000
_SPLIT = re.compile(r"[,;]")

Progress = Callable[[str, int, int], None]  # (entity, done, total)


def normalize_email(value: str | None) -> str:
    return (value or "").strip().casefold()


def split_emails(value: str | None) -> list[str]:
    """Normalised, de-duplicated addresses of one email field (order kept)."""
    out: list[str] = []
    for part in _SPLIT.split(value or ""):
        email = normalize_email(part)
        if email and email not in out:
            out.append(email)
    return out


def _updated_at(record: dict) -> datetime | None:
    value = (record.get("MetaData") or {}).get("LastUpdatedTime")
    return parse_datetime(value) if value else None


def _customer_fields(record: dict) -> dict:
    return {
        "display_name": (record.get("DisplayName") or record.get("FullyQualifiedName") or "")[:500],
        "company_name": (record.get("CompanyName") or "")[:500],
        "email": ((record.get("PrimaryEmailAddr") or {}).get("Address") or "")[:500],
        "active": bool(record.get("Active", True)),
        "sync_token": str(record.get("SyncToken", ""))[:16],
        "qbo_updated_at": _updated_at(record),
    }


def _item_fields(record: dict) -> dict:
    return {
        "name": (record.get("Name") or record.get("FullyQualifiedName") or "")[:200],
        "sku": (record.get("Sku") or "")[:200],
        "type": (record.get("Type") or "")[:32],
        "active": bool(record.get("Active", True)),
        "sync_token": str(record.get("SyncToken", ""))[:16],
        "qbo_updated_at": _updated_at(record),
    }


def _upsert_customers(company: Company, records: Iterable[dict]) -> list[Customer]:
    """Upsert one page of QBO Customers and rebuild their email rows (few statements per page)."""
    now = timezone.now()
    by_id = {str(r["Id"]): r for r in records if r.get("Id") is not None}
    existing = {c.qbo_id: c for c in Customer.objects.filter(company=company, qbo_id__in=list(by_id))}
    new, changed = [], []
    for qbo_id, record in by_id.items():
        fields = _customer_fields(record)
        customer = existing.get(qbo_id)
        if customer is None:
            new.append(Customer(company=company, qbo_id=qbo_id, synced_at=now, **fields))
        else:
            for k, v in fields.items():
                setattr(customer, k, v)
            customer.synced_at = now
            changed.append(customer)
    if new:
        Customer.objects.bulk_create(new, batch_size=500)
        if not all(c.pk for c in new):  # backends without RETURNING on bulk insert
            ids = {c.qbo_id: c.pk for c in Customer.objects.filter(company=company, qbo_id__in=[c.qbo_id for c in new])}
            for c in new:
                c.pk = ids[c.qbo_id]
    if changed:
        Customer.objects.bulk_update(
            changed, ["display_name", "company_name", "email", "active", "sync_token", "qbo_updated_at", "synced_at"],
            batch_size=500,
        )
        CustomerEmail.objects.filter(customer__in=changed).delete()
    emails = [
        CustomerEmail(company=company, customer=c, email=e[:320])
        for c in [*new, *changed]
        for e in split_emails(c.email)
    ]
    if emails:
        CustomerEmail.objects.bulk_create(emails, batch_size=1000)
    return [*new, *changed]


def _upsert_items(company: Company, records: Iterable[dict]) -> list[Item]:
    now = timezone.now()
    by_id = {str(r["Id"]): r for r in records if r.get("Id") is not None}
    existing = {i.qbo_id: i for i in Item.objects.filter(company=company, qbo_id__in=list(by_id))}
    new, changed = [], []
    for qbo_id, record in by_id.items():
        fields = _item_fields(record)
        item = existing.get(qbo_id)
        if item is None:
            new.append(Item(company=company, qbo_id=qbo_id, synced_at=now, **fields))
        else:
            for k, v in fields.items():
                setattr(item, k, v)
            item.synced_at = now
            changed.append(item)
    if new:
        Item.objects.bulk_create(new, batch_size=500)
    if changed:
        Item.objects.bulk_update(
            changed, ["name", "sku", "type", "active", "sync_token", "qbo_updated_at", "synced_at"], batch_size=500
        )
    return [*new, *changed]


def apply_customer(company: Company, qbo_json: dict) -> Customer | None:
    """Upsert one QBO Customer (a query row, a CDC record or a read). A CDC tombstone
    (``{"status": "Deleted", "Id": ...}``) marks the local Customer inactive."""
    if qbo_json.get("status") == "Deleted":
        with transaction.atomic():
            Customer.objects.filter(company=company, qbo_id=str(qbo_json.get("Id"))).update(
                active=False, synced_at=timezone.now()
            )
        return Customer.objects.filter(company=company, qbo_id=str(qbo_json.get("Id"))).first()
    with transaction.atomic():
        rows = _upsert_customers(company, [qbo_json])
    return rows[0] if rows else None


def apply_item(company: Company, qbo_json: dict) -> Item | None:
    if qbo_json.get("status") == "Deleted":
        Item.objects.filter(company=company, qbo_id=str(qbo_json.get("Id"))).update(active=False)
        return Item.objects.filter(company=company, qbo_id=str(qbo_json.get("Id"))).first()
    with transaction.atomic():
        rows = _upsert_items(company, [qbo_json])
    return rows[0] if rows else None


def match_customer_by_email(company: Company | int, email: str | None) -> Customer | None:
    """The active Customer with this email (normalised), most recently updated in QBO first."""
    norm = normalize_email(email)
    if not norm:
        return None
    company_id = company.pk if isinstance(company, Company) else company
    row = (
        CustomerEmail.objects.filter(company_id=company_id, email=norm, customer__active=True)
        .select_related("customer")
        .order_by("-customer__qbo_updated_at", "-customer__id")
        .first()
    )
    return row.customer if row else None


_ENTITY = {
    "Customer": ("SELECT *", _upsert_customers, Customer),
    "Item": ("SELECT *, Sku", _upsert_items, Item),
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
    longer returns (merged or deleted) are marked inactive. Returns {entity: records synced}."""
    own = client is None
    client = client or client_for(company)
    result: dict[str, int] = {}
    try:
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
                    ts = _updated_at(r)
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
        heal_after_sync(company, result)
    finally:
        if own:
            client.close()
    return result


def heal_after_sync(company: Company, synced: dict[str, int]) -> None:
    """Self-healing after a full sync: requests waiting on a customer or an item the mirror now has
    are completed in a new system revision and queued (services.customers / services.items)."""
    from ledgerlink.core.services.customers import heal_all_waiting_on_customers
    from ledgerlink.core.services.freshness import heal_item_requests
    from ledgerlink.core.services.items import heal_requests_for_items

    if "Customer" in synced:
        heal_all_waiting_on_customers(company)
    if "Item" in synced:
        heal_requests_for_items(company, list(Item.objects.filter(company=company, active=True)))
        heal_item_requests(company)

