"""QBO webhooks: verify, parse both payload formats, store deduplicated events; then process them.

The endpoint answers at once (well within QBO's 3 s) and only stores events; the worker's periodic
loop processes them (``process_webhook_events``), reading each entity's current state from QBO, so
events that arrive out of order or twice change nothing; each change is followed by the healing of
what waits on it (``changes.apply_changes``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ledgerlink.core.models import Company, PushRequest, WebhookEvent
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.companies.tokens import client_for
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.mirror.store import MIRRORED
from ledgerlink.domain.sync.changes import apply_changes
from ledgerlink.domain.sync.documents import mark_documents_changed
from ledgerlink.quickbooks import wire
from ledgerlink.quickbooks.client import QBOClient

# Events older than this (by their own lastUpdated / time) are refused as replays.
REPLAY_WINDOW = timedelta(hours=24)
CLOUD_EVENT_VERBS = {
    "created": "Create",
    "updated": "Update",
    "deleted": "Delete",
    "merged": "Merge",
    "voided": "Void",
    "emailed": "Emailed",
}


@dataclass(frozen=True)
class ParsedEvent:
    realm_id: str
    entity: str
    entity_id: str
    operation: str
    last_updated: datetime | None
    deleted_id: str = ""
    event_id: str = ""

    @property
    def dedupe_key(self) -> str:
        if self.event_id:
            return f"ce:{self.event_id}"[:200]
        stamp = self.last_updated.isoformat() if self.last_updated else ""
        return f"{self.realm_id}:{self.entity}:{self.entity_id}:{self.operation}:{stamp}"[:200]


def sign(body: bytes, verifier: str) -> str:
    return base64.b64encode(hmac.new(verifier.encode(), body, hashlib.sha256).digest()).decode()


def verify_signature(body: bytes, signature: str | None, verifier: str) -> bool:
    """Constant-time comparison of ``intuit-signature`` with HMAC-SHA256(body, verifier)."""
    if not verifier or not signature:
        return False
    return hmac.compare_digest(sign(body, verifier).encode(), signature.strip().encode())


def _parse_time(value) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    # QBO's legacy format has "-0700" without a colon; CloudEvents carry nanoseconds.
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    if "." in text:
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    parsed = parse_datetime(text.replace("Z", "+00:00"))
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.utc)
    return parsed


def parse_payload(body: bytes) -> list[ParsedEvent]:
    """Parse the legacy ``eventNotifications`` object or a CloudEvents array."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ServiceError(f"The body is not JSON: {exc}", field="body", status=400) from exc
    events: list[ParsedEvent] = []
    if isinstance(data, dict) and isinstance(data.get("eventNotifications"), list):
        for notification in data["eventNotifications"]:
            realm = str(notification.get("realmId", ""))
            entities = (notification.get("dataChangeEvent") or {}).get("entities") or []
            for ent in entities:
                events.append(
                    ParsedEvent(
                        realm_id=realm,
                        entity=str(ent.get("name", "")),
                        entity_id=str(ent.get("id", "")),
                        operation=str(ent.get("operation", "")),
                        last_updated=_parse_time(ent.get("lastUpdated")),
                        deleted_id=str(ent.get("deletedId", "") or ""),
                    )
                )
    elif isinstance(data, list):
        for ev in data:
            if not isinstance(ev, dict):
                raise ServiceError("Each CloudEvent must be a JSON object", field="body", status=400)
            parts = str(ev.get("type", "")).split(".")
            if len(parts) < 3 or parts[0] != "qbo":
                raise ServiceError(
                    f"Unknown CloudEvent type {ev.get('type')!r}: expected qbo.<entity>.<verb>.v1",
                    field="type",
                    status=400,
                )
            entity = parts[1].capitalize() if parts[1].islower() else parts[1]
            entity = {"Salesreceipt": "SalesReceipt"}.get(entity, entity)
            data_part = ev.get("data") or {}
            events.append(
                ParsedEvent(
                    realm_id=str(ev.get("intuitaccountid", "")),
                    entity=entity,
                    entity_id=str(ev.get("intuitentityid", "")),
                    operation=CLOUD_EVENT_VERBS.get(parts[2], parts[2].capitalize()),
                    last_updated=_parse_time(ev.get("time")),
                    deleted_id=str(data_part.get("deletedid", "") or data_part.get("deletedId", "") or ""),
                    event_id=str(ev.get("id", "")),
                )
            )
    else:
        raise ServiceError(
            "Unknown webhook format: expected {'eventNotifications': [...]} or a CloudEvents array",
            field="body",
            status=400,
        )
    return events


def receive_webhook(body: bytes, signature: str | None, *, verifier: str | None = None) -> dict:
    """Verify and store. Returns counts; raises ServiceError(status=401) for a bad signature and
    ServiceError(status=400) for a body that is not a QBO notification. Stores nothing on error."""
    verifier = settings.QBO_WEBHOOK_VERIFIER if verifier is None else verifier
    if not verify_signature(body, signature, verifier):
        raise ServiceError("Missing or invalid intuit-signature", field="intuit-signature", status=401)
    events = parse_payload(body)
    now = timezone.now()
    stored = duplicates = stale = 0
    for ev in events:
        if ev.last_updated is not None and ev.last_updated < now - REPLAY_WINDOW:
            stale += 1
            continue
        try:
            with transaction.atomic():
                WebhookEvent.objects.create(
                    dedupe_key=ev.dedupe_key,
                    realm_id=ev.realm_id,
                    entity=ev.entity,
                    entity_id=ev.entity_id,
                    deleted_id=ev.deleted_id,
                    operation=ev.operation,
                    last_updated=ev.last_updated,
                )
            stored += 1
        except IntegrityError:
            duplicates += 1
    return {"stored": stored, "duplicates": duplicates, "stale": stale}


def process_webhook_events(*, limit: int = 200, clients=None) -> int:
    """Process stored webhook events: read each changed Customer / Item from QBO and apply it; merges
    and deletes deactivate; document deletes and voids are noted on the request that created them."""
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
    if entity in MIRRORED:
        if op in ("Delete",):
            apply_changes(company, entity, [{"status": "Deleted", "Id": event.entity_id}])
            return
        if op == "Merge" and event.deleted_id:
            apply_changes(company, entity, [{"status": "Deleted", "Id": event.deleted_id}])
        response = client.read(entity, event.entity_id)
        record = response.entity(entity) if response.ok else None
        if record:
            apply_changes(company, entity, [record])
        return
    if entity in ("Invoice", "SalesReceipt") and op in ("Delete", "Void"):
        kind = next(k for k, name in wire.ENTITY_FOR_KIND.items() if name == entity)
        for pr in PushRequest.objects.filter(company=company, kind=kind, qbo_id=event.entity_id):
            record_audit(f"qbo.{entity.lower()}.{op.lower()}", obj=pr, qbo_id=event.entity_id)
        record = {"Id": event.entity_id, "status": "Deleted" if op == "Delete" else "Voided"}
        mark_documents_changed(company, entity, [record])
