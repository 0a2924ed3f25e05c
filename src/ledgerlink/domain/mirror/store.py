"""The Customer / Item mirror's store: QBO records in (a page of a full sync, a CDC answer, a
webhook's read, a request's response), local rows out.

Each customer's email field becomes one ``CustomerEmail`` row per address (``match.split_emails``).
Inactive records are mirrored (``active=False``) but never matched. An older record never overwrites
a newer one (compared by MetaData.LastUpdatedTime, then SyncToken), so duplicates and events that
arrive out of order change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ledgerlink.core.models import Company, Customer, CustomerEmail, Item
from ledgerlink.domain.mirror.match import split_emails

MIRRORED = ("Customer", "Item")  # the QBO entities the mirror holds


def qbo_updated_at(record: dict) -> datetime | None:
    value = (record.get("MetaData") or {}).get("LastUpdatedTime")
    return parse_datetime(value) if value else None


def _customer_fields(record: dict) -> dict:
    return {
        "display_name": (record.get("DisplayName") or record.get("FullyQualifiedName") or "")[:500],
        "company_name": (record.get("CompanyName") or "")[:500],
        "email": ((record.get("PrimaryEmailAddr") or {}).get("Address") or "")[:500],
        "currency": str((record.get("CurrencyRef") or {}).get("value") or "")[:3].upper(),
        "active": bool(record.get("Active", True)),
        "sync_token": str(record.get("SyncToken", ""))[:16],
        "qbo_updated_at": qbo_updated_at(record),
    }


def _item_fields(record: dict) -> dict:
    return {
        "name": (record.get("Name") or record.get("FullyQualifiedName") or "")[:200],
        "sku": (record.get("Sku") or "")[:200],
        "type": (record.get("Type") or "")[:32],
        "active": bool(record.get("Active", True)),
        "sync_token": str(record.get("SyncToken", ""))[:16],
        "qbo_updated_at": qbo_updated_at(record),
    }


def upsert_customers(company: Company, records: Iterable[dict]) -> list[Customer]:
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
            changed, ["display_name", "company_name", "email", "currency", "active", "sync_token", "qbo_updated_at",
             "synced_at"],
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


def upsert_items(company: Company, records: Iterable[dict]) -> list[Item]:
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
        rows = upsert_customers(company, [qbo_json])
    return rows[0] if rows else None


def apply_item(company: Company, qbo_json: dict) -> Item | None:
    if qbo_json.get("status") == "Deleted":
        Item.objects.filter(company=company, qbo_id=str(qbo_json.get("Id"))).update(active=False)
        return Item.objects.filter(company=company, qbo_id=str(qbo_json.get("Id"))).first()
    with transaction.atomic():
        rows = upsert_items(company, [qbo_json])
    return rows[0] if rows else None


def compare(row: tuple | None, record: dict) -> str:
    """"new", "newer", "same" (the overlap of CDC re-reads it) or "older" (out of order), given the
    mirror's (qbo_updated_at, sync_token) for the record's Id."""
    if row is None:
        return "new"
    stamp = qbo_updated_at(record)
    current, token = row
    if stamp is None or current is None or stamp > current:
        return "newer"
    if stamp == current:
        return "same" if str(record.get("SyncToken", "")) == token else "newer"
    return "older"


def compare_with_mirror(model, company: Company, record: dict) -> str:
    """compare against the mirror's row for this record (one query)."""
    row = model.objects.filter(company=company, qbo_id=str(record.get("Id"))).values_list(
        "qbo_updated_at", "sync_token"
    ).first()
    return compare(row, record)


def newest_per_id(records: list[dict]) -> list[dict]:
    """One record per Id: the latest by LastUpdatedTime, then SyncToken (a CDC answer or a burst of
    webhook reads may hold the same record twice, in any order)."""
    def key(record):
        stamp = qbo_updated_at(record)
        token = str(record.get("SyncToken", ""))
        return (stamp.timestamp() if stamp else float("-inf"), int(token) if token.isdigit() else -1)

    best: dict[str, dict] = {}
    for record in records:
        rid = str(record.get("Id"))
        if rid not in best or key(record) >= key(best[rid]):
            best[rid] = record
    return list(best.values())


def apply_records(company: Company, entity: str, records: list[dict]) -> list[Customer | Item]:
    """Apply QBO records (full or ``status: Deleted`` tombstones) to the mirror, skipping those the
    mirror already holds or holds newer (CDC overlaps, duplicated or late webhooks). Returns the rows
    that changed; healing what waits on them is the caller's (``sync.apply_changes``)."""
    if entity not in MIRRORED:
        return []
    model, apply = (Customer, apply_customer) if entity == "Customer" else (Item, apply_item)
    upsert = upsert_customers if entity == "Customer" else upsert_items
    applied: list = []
    if any(r.get("status") == "Deleted" for r in records):
        live = []  # tombstones (webhook deletes and merges, one event at a time): in order, one by one
        for record in records:
            if record.get("status") == "Deleted" or compare_with_mirror(model, company, record) in ("new", "newer"):
                applied.append(apply(company, record))
    else:
        live = newest_per_id([r for r in records if r.get("Id") is not None])
    fresh = []
    for start in range(0, len(live), 500):
        chunk = live[start:start + 500]
        # One query for the mirror's stamps of the whole chunk, one upsert for what is new or newer.
        current = {
            qbo_id: (stamp, token)
            for qbo_id, stamp, token in model.objects.filter(
                company=company, qbo_id__in=[str(r["Id"]) for r in chunk]
            ).values_list("qbo_id", "qbo_updated_at", "sync_token")
        }
        fresh += [r for r in chunk if compare(current.get(str(r["Id"])), r) in ("new", "newer")]
    if fresh:
        with transaction.atomic():
            applied += upsert(company, fresh)
    return [row for row in applied if row is not None]
