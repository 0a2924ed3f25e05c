"""Mirror freshness after the full sync: incremental CDC every N minutes and webhook events within
seconds, each followed by the self-healing of requests waiting on a customer.

Both paths read QBO's current record (CDC returns full records; a webhook event makes us GET the
entity), so duplicates and events that arrive out of order change nothing: an older record never
overwrites a newer one (compared by MetaData.LastUpdatedTime).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ledgerlink.core.models import Company, Customer, Item, PushRequest, SyncState, WebhookEvent
from ledgerlink.core.services.audit import record_audit

log = logging.getLogger("ledgerlink.freshness")

CDC_OVERLAP = timedelta(minutes=2)
CDC_LOOKBACK_LIMIT = timedelta(days=29)
CDC_ENTITIES = ("Customer", "Item")
CDC_PAGE = 1000  # QBO's most objects per entity in one CDC answer
CDC_MAX_PASSES = 50


def _compare(row: tuple | None, record: dict) -> str:
    """"new", "newer", "same" (the overlap of CDC re-reads it) or "older" (out of order), given the
    mirror's (qbo_updated_at, sync_token) for the record's Id."""
    from ledgerlink.core.services.mirror import _updated_at

    if row is None:
        return "new"
    stamp = _updated_at(record)
    current, token = row
    if stamp is None or current is None or stamp > current:
        return "newer"
    if stamp == current:
        return "same" if str(record.get("SyncToken", "")) == token else "newer"
    return "older"


def _compare_with_mirror(model, company: Company, record: dict) -> str:
    """_compare against the mirror's row for this record (one query)."""
    row = model.objects.filter(company=company, qbo_id=str(record.get("Id"))).values_list(
        "qbo_updated_at", "sync_token"
    ).first()
    return _compare(row, record)


def _newest_per_id(records: list[dict]) -> list[dict]:
    """One record per Id: the latest by LastUpdatedTime, then SyncToken (a CDC answer or a burst of
    webhook reads may hold the same record twice, in any order)."""
    from ledgerlink.core.services.mirror import _updated_at

    def key(record):
        stamp = _updated_at(record)
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
    mirror already holds or holds newer, then heal requests waiting on the customers that appeared.
    Returns what changed."""
    from ledgerlink.core.services.customers import heal_after_mirror_change
    from ledgerlink.core.services.mirror import apply_customer, apply_item

    model, apply = (Customer, apply_customer) if entity == "Customer" else (Item, apply_item)
    if entity not in CDC_ENTITIES:
        return []
    from ledgerlink.core.services.mirror import _upsert_customers, _upsert_items

    upsert = _upsert_customers if entity == "Customer" else _upsert_items
    applied: list = []
    if any(r.get("status") == "Deleted" for r in records):
        live = []  # tombstones (webhook deletes and merges, one event at a time): in order, one by one
        for record in records:
            if record.get("status") == "Deleted" or _compare_with_mirror(model, company, record) in ("new", "newer"):
                applied.append(apply(company, record))
    else:
        live = _newest_per_id([r for r in records if r.get("Id") is not None])
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
        fresh += [r for r in chunk if _compare(current.get(str(r["Id"])), r) in ("new", "newer")]
    if fresh:
        with transaction.atomic():
            applied += upsert(company, fresh)
    applied = [row for row in applied if row is not None]
    if entity == "Customer":
        heal_after_mirror_change(company, applied)
    elif applied:
        from ledgerlink.core.services.items import heal_requests_for_items

        heal_requests_for_items(company, applied)
        heal_item_requests(company)
    return applied


def heal_item_requests(company: Company) -> list[int]:
    """Failed ``invalid_reference`` requests whose payload's ItemRefs all exist (active) in the mirror
    now are re-queued unchanged (a new revision authored by the system)."""
    from ledgerlink.core.services.requests import requeue_request

    healed = []
    active = set(Item.objects.filter(company=company, active=True).values_list("qbo_id", flat=True))
    failed = PushRequest.objects.filter(
        company=company, state=PushRequest.State.FAILED, error_kind="invalid_reference"
    ).order_by("id")[:500]
    for pr in failed:
        payload = pr.revisions.get(number=pr.revision).payload
        refs = [
            str(((line.get("SalesItemLineDetail") or {}).get("ItemRef") or {}).get("value", ""))
            for line in payload.get("Line") or []
            if isinstance(line, dict) and line.get("DetailType") == "SalesItemLineDetail"
        ]
        refs = [r for r in refs if r and r != "SHIPPING_ITEM_ID"]
        if refs and all(r in active for r in refs):
            requeue_request(pr.pk, note="the missing item now exists in QuickBooks", actor_label="system")
            healed.append(pr.pk)
    return healed


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
    from ledgerlink.core.services.companies import client_for
    from ledgerlink.core.services.mirror import sync_company

    now = timezone.now()
    state = SyncState.objects.filter(company=company, entity="Customer").first()
    since = cdc_since(state, now)
    own = client is None
    client = client or client_for(company)
    try:
        if since is None:
            return sync_company(company, CDC_ENTITIES, client=client)
        from ledgerlink.core.services.mirror import _updated_at

        counts = {entity: 0 for entity in CDC_ENTITIES}
        start = since
        # QBO answers at most CDC_PAGE records per entity: when an answer is full, ask again from the
        # newest LastUpdatedTime it held.
        for _ in range(CDC_MAX_PASSES):
            response = client.cdc(CDC_ENTITIES, start).raise_for_fault()
            full = False
            newest = None
            for block in (response.data or {}).get("CDCResponse") or []:
                for query_response in block.get("QueryResponse") or []:
                    for entity in CDC_ENTITIES:
                        records = query_response.get(entity) or []
                        if not records:
                            continue
                        counts[entity] += len(apply_records(company, entity, records))
                        if len(records) >= CDC_PAGE:
                            full = True
                            stamps = [t for t in (_updated_at(r) for r in records) if t is not None]
                            if stamps:
                                newest = max(stamps) if newest is None else min(newest, max(stamps))
            # QBO's times have one-second resolution: step back a second so nothing at that instant
            # is skipped (what is re-read is "same" and not applied again).
            if not full:
                break
            if newest is None or newest - timedelta(seconds=1) <= start:
                # Over a thousand changes within one second: CDC cannot page past them. A full sync can.
                for entity, total in sync_company(company, CDC_ENTITIES, client=client).items():
                    counts[entity] = max(counts[entity], total)
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


def process_webhook_events(*, limit: int = 200, clients=None) -> int:
    """Process stored webhook events: read each changed Customer / Item from QBO and apply it; merges
    and deletes deactivate; document deletes and voids are noted on the request that created them."""
    from ledgerlink.core.services.companies import client_for
    from ledgerlink.quickbooks.client import QBOClient

    events = list(WebhookEvent.objects.filter(processed_at__isnull=True).order_by("id")[:limit])
    if not events:
        return 0
    companies = {c.realm_id: c for c in Company.objects.filter(realm_id__in={e.realm_id for e in events})}
    own: dict[int, QBOClient] = {}
    try:
        for event in events:
            company = companies.get(event.realm_id)
            if company is not None and company.status == Company.Status.ACTIVE:
                client = (clients or {}).get(company.pk) or own.get(company.pk)
                if client is None:
                    client = own[company.pk] = client_for(company)
                _process_event(company, event, client)
            elif company is not None:
                continue  # paused / needs reconnect: keep the event for later
            WebhookEvent.objects.filter(pk=event.pk).update(processed_at=timezone.now())
    finally:
        for client in own.values():
            client.close()
    return len(events)


def _process_event(company: Company, event: WebhookEvent, client) -> None:
    entity, op = event.entity, event.operation
    if entity in CDC_ENTITIES:
        if op in ("Delete",):
            apply_records(company, entity, [{"status": "Deleted", "Id": event.entity_id}])
            return
        if op == "Merge" and event.deleted_id:
            apply_records(company, entity, [{"status": "Deleted", "Id": event.deleted_id}])
        response = client.read(entity, event.entity_id)
        record = response.entity(entity) if response.ok else None
        if record:
            apply_records(company, entity, [record])
        return
    if entity in ("Invoice", "SalesReceipt") and op in ("Delete", "Void"):
        kind = "invoice" if entity == "Invoice" else "sales_receipt"
        for pr in PushRequest.objects.filter(company=company, kind=kind, qbo_id=event.entity_id):
            record_audit(f"qbo.{entity.lower()}.{op.lower()}", obj=pr, qbo_id=event.entity_id)
