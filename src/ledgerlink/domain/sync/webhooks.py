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
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ledgerlink.core.models import Company, PushRequest, WebhookEvent
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.companies.tokens import client_for
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.inputs import check_json, has_surrogate
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
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


# A notification's entity names, operations and ids fit the WebhookEvent columns (32 / 20 / 32).
_ENTITY_NAME = re.compile(r"[A-Za-z]{1,32}")
_OPERATION = re.compile(r"[A-Za-z]{1,20}")
MAX_ID_CHARS = 32
MAX_REALM_CHARS = 64
MAX_EVENT_ID_CHARS = 190  # the dedupe key is "ce:" + the id, at most 200
# A QBO notification is six levels deep (object > eventNotifications[] > notification >
# dataChangeEvent > entities[] > entity); a CloudEvents delivery three.
MAX_NOTIFICATION_DEPTH = 8


def _refuse(message: str, field: str) -> ServiceError:
    return ServiceError(message, field=field, status=400)


def _text(value, field: str, *, max_len: int, required: bool = True) -> str:
    """A notification's text field (QBO sends ids as strings; a number is read as its digits)."""
    if value is None or value == "":
        if required:
            raise _refuse("is required", field)
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _refuse("must be text", field)
    if isinstance(value, int) and abs(value) >= 10**max_len:
        raise _refuse(f"must be at most {max_len} characters", field)
    text = str(value).strip()
    if "\x00" in text or has_surrogate(text):
        raise _refuse("must be valid Unicode text without NUL", field)
    if required and not text:
        raise _refuse("is required", field)
    if len(text) > max_len:
        raise _refuse(f"must be at most {max_len} characters (got {len(text)})", field)
    return text


def _name(value, field: str, pattern: re.Pattern, what: str) -> str:
    text = _text(value, field, max_len=32)
    if not pattern.fullmatch(text):
        raise _refuse(f"must be {what}", field)
    return text


def _time(value, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise _refuse("must be a time (ISO 8601)", field)
    try:
        return _parse_time(value)
    except ValueError as exc:  # well-formed but impossible, e.g. month 13
        raise _refuse("must be a time (ISO 8601)", field) from exc


def _object(value, field: str, *, required: bool = True) -> dict:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise _refuse("must be a JSON object", field)
    return value


def _list(value, field: str) -> list:
    if not isinstance(value, list):
        raise _refuse("must be a JSON array", field)
    return value


def _legacy_events(data: dict) -> list[ParsedEvent]:
    events = []
    for n, notification in enumerate(data["eventNotifications"]):
        at = f"eventNotifications[{n}]"
        notification = _object(notification, at)
        realm = _text(notification.get("realmId"), f"{at}.realmId", max_len=MAX_REALM_CHARS)
        change = _object(notification.get("dataChangeEvent"), f"{at}.dataChangeEvent")
        entities = _list(change.get("entities"), f"{at}.dataChangeEvent.entities")
        for k, ent in enumerate(entities):
            where = f"{at}.dataChangeEvent.entities[{k}]"
            ent = _object(ent, where)
            events.append(
                ParsedEvent(
                    realm_id=realm,
                    entity=_name(ent.get("name"), f"{where}.name", _ENTITY_NAME, "an entity name (letters only)"),
                    entity_id=_text(ent.get("id"), f"{where}.id", max_len=MAX_ID_CHARS),
                    operation=_name(ent.get("operation"), f"{where}.operation", _OPERATION,
                                    "an operation such as Create, Update, Delete or Merge"),
                    last_updated=_time(ent.get("lastUpdated"), f"{where}.lastUpdated"),
                    deleted_id=_text(ent.get("deletedId"), f"{where}.deletedId", max_len=MAX_ID_CHARS,
                                     required=False),
                )
            )
    return events


def _cloud_events(data: list) -> list[ParsedEvent]:
    events = []
    for n, ev in enumerate(data):
        at = f"[{n}]"
        if not isinstance(ev, dict):
            raise _refuse("Each CloudEvent must be a JSON object", at)
        kind = ev.get("type")
        parts = kind.split(".") if isinstance(kind, str) else []
        if len(parts) < 3 or parts[0] != "qbo":
            raise ServiceError(
                f"Unknown CloudEvent type {str(kind)[:80]!r}: expected qbo.<entity>.<verb>.v1",
                field="type",
                status=400,
            )
        entity = _name(parts[1], f"{at}.type", _ENTITY_NAME, "qbo.<entity>.<verb>.v1 with a known entity name")
        verb = _name(parts[2], f"{at}.type", _OPERATION, "qbo.<entity>.<verb>.v1 with a verb such as updated")
        entity = entity.capitalize() if entity.islower() else entity
        entity = {"Salesreceipt": "SalesReceipt"}.get(entity, entity)
        data_part = _object(ev.get("data"), f"{at}.data", required=False)
        deleted = data_part.get("deletedid", "") or data_part.get("deletedId", "")
        events.append(
            ParsedEvent(
                realm_id=_text(ev.get("intuitaccountid"), f"{at}.intuitaccountid", max_len=MAX_REALM_CHARS),
                entity=entity,
                entity_id=_text(ev.get("intuitentityid"), f"{at}.intuitentityid", max_len=MAX_ID_CHARS),
                operation=CLOUD_EVENT_VERBS.get(verb, verb.capitalize()),
                last_updated=_time(ev.get("time"), f"{at}.time"),
                deleted_id=_text(deleted, f"{at}.data.deletedid", max_len=MAX_ID_CHARS, required=False),
                event_id=_text(ev.get("id"), f"{at}.id", max_len=MAX_EVENT_ID_CHARS, required=False),
            )
        )
    return events


def parse_payload(body: bytes) -> list[ParsedEvent]:
    """Parse the legacy ``eventNotifications`` object or a CloudEvents array. Anything else, or a
    field of the wrong type or too long for its column, is ServiceError(status=400) naming it: the
    whole delivery is refused (nothing of it is stored)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ServiceError(f"The body is not JSON: {exc}", field="body", status=400) from exc
    except RecursionError as exc:
        raise _refuse(f"is nested too deeply: a QBO notification is at most {MAX_NOTIFICATION_DEPTH} levels deep",
                      "body") from exc
    try:
        check_json(data, "body", max_depth=MAX_NOTIFICATION_DEPTH)
    except ServiceError as exc:
        raise _refuse(exc.message, exc.field or "body") from exc
    if isinstance(data, dict) and isinstance(data.get("eventNotifications"), list):
        return _legacy_events(data)
    if isinstance(data, list):
        return _cloud_events(data)
    raise ServiceError(
        "Unknown webhook format: expected {'eventNotifications': [...]} or a CloudEvents array",
        field="body",
        status=400,
    )


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
    """Process stored webhook events: read each changed Customer / Item from QBO and apply what QBO
    answers (a Delete or Merge deactivates only when QBO confirms it: the re-read is inactive or not
    found); document deletes and voids are noted on the request that created them."""
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


def _apply_from_qbo(company: Company, entity: str, entity_id: str, client) -> None:
    response = client.read(entity, entity_id)
    if response.ok:
        record = response.entity(entity)
        if record:
            apply_changes(company, entity, [record])
        return
    fault = response.fault
    if fault is not None and fault.code == "610":
        apply_changes(company, entity, [{"status": "Deleted", "Id": entity_id}])


def _process_event(company: Company, event: WebhookEvent, client) -> None:
    entity, op = event.entity, event.operation
    if entity in MIRRORED:
        # A notification says what to look at, never what is true: every operation, Delete and Merge
        # too, re-reads the entity from QBO and applies what QBO answers. A deleted Customer or Item
        # is inactive there (the read says Active false); one QBO no longer finds (fault 610) is
        # gone; any other answer changes nothing (CDC catches up).
        if op == "Merge" and event.deleted_id:
            _apply_from_qbo(company, entity, event.deleted_id, client)
        _apply_from_qbo(company, entity, event.entity_id, client)
        return
    if entity in ("Invoice", "SalesReceipt") and op in ("Delete", "Void"):
        kind = next(k for k, name in wire.ENTITY_FOR_KIND.items() if name == entity)
        for pr in PushRequest.objects.filter(company=company, kind=kind, qbo_id=event.entity_id):
            record_audit(f"qbo.{entity.lower()}.{op.lower()}", obj=pr, qbo_id=event.entity_id)
        record = {"Id": event.entity_id, "status": "Deleted" if op == "Delete" else "Voided"}
        mark_documents_changed(company, entity, [record])
