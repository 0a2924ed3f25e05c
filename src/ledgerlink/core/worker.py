"""The push worker: claim with a lease, per-Company limiter, send, record the attempt, retry or park.

One process runs one claiming loop (the main thread) and ``concurrency`` sender threads; any number
of processes may run on PostgreSQL (claims use ``FOR UPDATE SKIP LOCKED``), one on SQLite (claims are
one conditional ``UPDATE ... RETURNING`` inside an IMMEDIATE transaction). See docs/worker.md.

Units of work
    A *unit* is one HTTP exchange: a single request, or a batch of up to ``Company.batch_size``
    requests of one Company sent to ``/batch``. Batch units hold their rows with the lease owner
    ``{worker_id}#b{n}`` so every process can count in-flight HTTP requests per Company.

Per-Company limiter (checked and taken while the Company row is locked)
    * at most ``max_in_flight`` HTTP requests in flight (rows in ``sending``; a batch counts once);
    * at most ``max_per_minute`` requests started in the last 60 s (attempts + in flight);
    * at most ``max_batches_per_minute`` batches started in the last 60 s;
    * nothing while ``throttled_until`` is in the future (set to now + 60 s on a 429);
    * nothing unless the Company is ``active`` (paused / needs_reconnect: skipped, nothing failed).

Outcomes
    success -> succeeded (QBO Id, DocNumber, SyncToken on the request; Order pushed);
    transient (003202, 429, 5xx, network) -> retrying with exponential backoff, full jitter and a
    cap, failed when LEDGERLINK_MAX_ATTEMPTS is reached (error kind kept);
    business fault -> failed with QBO's message/detail/code/element (Order failed);
    outcome unknown (timeout or connection lost after sending, 5xx, a dead worker's lease) ->
    ``outcome_unknown``: the next attempt first looks the document up by DocNumber / the PrivateNote
    marker ``ledgerlink-order:{id}``, then re-sends with the same requestid (QBO replays). Never a
    blind new create.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    close_old_connections,
    connection,
    connections,
    transaction,
)
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from ledgerlink.core.logging import log_attempt
from ledgerlink.core.models import Attempt, Company, Order, PushRequest, PushRevision, WorkerHeartbeat
from ledgerlink.core.services.companies import client_for
from ledgerlink.core.services.digests import maybe_send_digests
from ledgerlink.quickbooks import wire
from ledgerlink.quickbooks.client import QBOClient, QBOError, QBOResponse, batch_results
from ledgerlink.quickbooks.errors import Classification, make

log = logging.getLogger("ledgerlink.worker")

S = PushRequest.State
ENTITY_FOR_KIND = wire.ENTITY_FOR_KIND
DOCUMENT_KINDS = wire.DOCUMENT_KINDS
COUNTED_OUTCOMES = (
    Attempt.Outcome.SUCCEEDED, Attempt.Outcome.TRANSIENT, Attempt.Outcome.FAILED, Attempt.Outcome.UNKNOWN,
)
THROTTLE_PAUSE = timedelta(seconds=60)
HEARTBEAT_EVERY = 10.0
RECOVER_EVERY = 5.0
WEBHOOKS_EVERY = 1.0
CDC_CHECK_EVERY = 30.0
MAX_BODY = 65536
DB_RETRY_PAUSE = 1.0  # seconds between tries while the database is unavailable
DB_ERRORS = (DatabaseError, InterfaceError)


def backoff_delay(attempt: int, *, base: float | None = None, cap: float | None = None) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**(attempt-1)))."""
    base = settings.LEDGERLINK_BACKOFF_BASE if base is None else base
    cap = settings.LEDGERLINK_BACKOFF_CAP if cap is None else cap
    return random.uniform(0, min(cap, base * (2 ** max(attempt - 1, 0))))


def _is_pg() -> bool:
    return connection.vendor == "postgresql"


def _db_dt(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


@dataclass
class Claimed:
    id: int
    company_id: int
    revision: int
    kind: str
    order_id: int | None
    attempt_count: int
    outcome_unknown: bool
    owner: str
    payload: dict = field(default_factory=dict)

    @property
    def requestid(self) -> str:
        return wire.requestid(self.id, self.revision)


@dataclass
class Unit:
    company_id: int
    owner: str
    requests: list[Claimed]

    @property
    def batched(self) -> bool:
        return len(self.requests) > 1


# ------------------------------------------------------------------------------------------------
# Claiming


def _claim_rows(company_id: int, owner: str, limit: int, lease_until: datetime, now: datetime,
                *, unknown: bool | None) -> list[Claimed]:
    """One conditional UPDATE ... RETURNING taking up to ``limit`` due rows of one Company."""
    if limit <= 0:
        return []
    table = PushRequest._meta.db_table
    extra = ""
    params: list = [owner, _db_dt(lease_until), _db_dt(now), company_id, _db_dt(now)]
    if unknown is not None:
        extra = " AND outcome_unknown = %s"
        params.append(unknown)
    params.append(limit)
    lock = " FOR UPDATE SKIP LOCKED" if _is_pg() else ""
    sql = (
        f"UPDATE {table} SET state = 'sending', lease_owner = %s, lease_expires_at = %s, updated_at = %s "
        f"WHERE id IN (SELECT id FROM {table} WHERE company_id = %s AND state IN ('queued', 'retrying') "
        f"AND next_attempt_at <= %s AND waiting_on = ''{extra} ORDER BY next_attempt_at, id LIMIT %s{lock}) "
        f"AND state IN ('queued', 'retrying') "
        f"RETURNING id, revision, kind, order_id, attempt_count, outcome_unknown"
    )
    with connection.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    rows.sort(key=lambda r: r[0])
    return [Claimed(r[0], company_id, r[1], r[2], r[3], r[4], bool(r[5]), owner) for r in rows]


def company_load(company_id: int, now: datetime) -> dict:
    """In-flight HTTP requests and requests/batches started in the last minute, from the DB (so it
    is shared by every worker process). One round trip."""
    pr = PushRequest._meta.db_table
    at = Attempt._meta.db_table
    outcomes = ", ".join(["%s"] * len(COUNTED_OUTCOMES))
    since = _db_dt(now - timedelta(seconds=60))
    sql = (
        f"SELECT "
        f"(SELECT COUNT(*) FROM {pr} WHERE company_id = %s AND state = 'sending' AND lease_owner NOT LIKE %s), "
        f"(SELECT COUNT(DISTINCT lease_owner) FROM {pr} WHERE company_id = %s AND state = 'sending' "
        f"AND lease_owner LIKE %s), "
        f"(SELECT COUNT(*) FROM {at} WHERE company_id = %s AND started_at >= %s AND batched = %s "
        f"AND outcome IN ({outcomes})), "
        # every item of one batch shares its started_at: distinct values count the batches
        f"(SELECT COUNT(DISTINCT started_at) FROM {at} WHERE company_id = %s AND started_at >= %s "
        f"AND batched = %s AND outcome IN ({outcomes}))"
    )
    params = [company_id, "%#b%", company_id, "%#b%", company_id, since, False, *COUNTED_OUTCOMES,
              company_id, since, True, *COUNTED_OUTCOMES]
    with connection.cursor() as cur:
        cur.execute(sql, params)
        singles, batches, recent_singles, recent_batches = cur.fetchone()
    return {
        "in_flight": singles + batches,
        "in_flight_batches": batches,
        "last_minute": recent_singles + recent_batches,
        "batches_last_minute": recent_batches,
    }


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
        qs = qs.select_for_update(skip_locked=True, no_key=True) if _is_pg() else qs
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
        slots = min(
            max_units,
            company.max_in_flight - load["in_flight"],
            company.max_per_minute - load["last_minute"] - load["in_flight"],
        )
        if slots <= 0:
            return []
        lease_until = now + timedelta(seconds=lease_seconds)
        # 1. Requests whose last outcome is unknown go alone (look-up, then same requestid).
        for c in _claim_rows(company_id, worker_id, slots, lease_until, now, unknown=True):
            units.append(Unit(company_id, worker_id, [c]))
        slots -= len(units)
        # 2. Batches within the batch budget, else singles.
        batch_size = min(company.batch_size or 1, 30)
        use_batches = company.use_batch and batch_size > 1
        batches_left = company.max_batches_per_minute - load["batches_last_minute"] - load["in_flight_batches"]
        while slots > 0:
            if use_batches and batches_left > 0:
                owner = _next_batch_owner(worker_id)
                rows = _claim_rows(company_id, owner, batch_size, lease_until, now, unknown=False)
                if not rows:
                    break
                units.append(Unit(company_id, owner, rows))
                slots -= 1
                batches_left -= 1
                if len(rows) < batch_size:
                    break
            else:
                for c in _claim_rows(company_id, worker_id, slots, lease_until, now, unknown=False):
                    units.append(Unit(company_id, worker_id, [c]))
                break
    if units:
        _load_payloads([r for u in units for r in u.requests])
    return units


def _load_payloads(requests: list[Claimed]) -> None:
    by_id = {r.id: r for r in requests}
    rows = PushRevision.objects.filter(push_request_id__in=list(by_id)).values_list(
        "push_request_id", "number", "payload"
    )
    for pr_id, number, payload in rows:
        if by_id[pr_id].revision == number:
            by_id[pr_id].payload = payload or {}


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


# ------------------------------------------------------------------------------------------------
# Recovery and release


def recover_expired_leases(now: datetime | None = None, *, limit: int = 500) -> int:
    """Requests left in ``sending`` by a dead worker: outcome unknown, back to retrying (or failed
    when the attempts are exhausted), with an ``abandoned`` Attempt."""
    now = now or timezone.now()
    max_attempts = settings.LEDGERLINK_MAX_ATTEMPTS
    recovered = 0
    with transaction.atomic():
        qs = PushRequest.objects.filter(state=S.SENDING, lease_expires_at__lt=now).order_by("id")
        if _is_pg():
            qs = qs.select_for_update(skip_locked=True)
        rows = list(qs.only("id", "company_id", "revision", "attempt_count", "lease_owner", "order_id")[:limit])
        attempts = []
        for r in rows:
            count = r.attempt_count + 1
            owner = r.lease_owner.split("#", 1)[0]
            fields = dict(
                lease_owner="", lease_expires_at=None, outcome_unknown=True, attempt_count=count, updated_at=now,
                error_kind="network", error_title=make("network").title,
                error_message=f"Outcome unknown: worker {owner} stopped before QuickBooks answered",
                error_detail="lease expired", error_code="", error_element="",
            )
            if count >= max_attempts:
                fields.update(state=S.FAILED, completed_at=now)
            else:
                fields.update(state=S.RETRYING, next_attempt_at=now)
            n = PushRequest.objects.filter(pk=r.pk, state=S.SENDING, lease_owner=r.lease_owner).update(**fields)
            if n:
                recovered += 1
                if fields["state"] == S.FAILED and r.order_id:
                    Order.objects.filter(pk=r.order_id).update(status=Order.Status.FAILED, updated_at=now)
                attempts.append(Attempt(
                    push_request_id=r.pk, company_id=r.company_id, revision=r.revision,
                    requestid=wire.requestid(r.pk, r.revision), worker=owner, started_at=now,
                    outcome=Attempt.Outcome.ABANDONED, error_kind="network",
                    response_body="lease expired before the outcome was recorded",
                ))
        if attempts:
            Attempt.objects.bulk_create(attempts)
    if recovered:
        log.warning("recovered %d expired leases", recovered)
    return recovered


def lease_still_held(unit: Unit, margin: float) -> bool:
    """True when every request of the unit is still ``sending`` under this unit's lease with at least
    ``margin`` seconds left. A process that stalled past its lease (GC pause, swap, SIGSTOP) must not send
    what recovery has handed to another worker: QBO would not recognise a late batch as a repeat of the
    single requests sent since (other requestids) and would create every document twice."""
    cutoff = timezone.now() + timedelta(seconds=margin)
    held = PushRequest.objects.filter(
        pk__in=[r.id for r in unit.requests], state=S.SENDING, lease_owner=unit.owner, lease_expires_at__gt=cutoff,
    ).count()
    return held == len(unit.requests)


def release_unit(unit: Unit) -> None:
    """Give back a claimed unit that was never sent."""
    now = timezone.now()
    with transaction.atomic():
        for r in unit.requests:
            PushRequest.objects.filter(pk=r.id, state=S.SENDING, lease_owner=unit.owner).update(
                state=S.RETRYING if r.attempt_count else S.QUEUED, lease_owner="", lease_expires_at=None,
                updated_at=now,
            )


# ------------------------------------------------------------------------------------------------
# Sending


@dataclass
class Result:
    """What one request's exchange came to."""

    request: Claimed
    outcome: str  # Attempt.Outcome
    http_status: int | None
    body: str
    fault: Classification | None = None
    entity: dict | None = None
    unknown: bool = False  # QBO may have applied it
    applied_unknown_flag: bool | None = None  # new value of outcome_unknown (None: keep)


def _op_for(payload: dict) -> str:
    return "update" if payload.get("Id") and payload.get("SyncToken") is not None else "create"


def _lookup(client: QBOClient, entity: str, req: Claimed) -> tuple[dict | None, QBOResponse | None]:
    """Find the document a previous attempt may have created. Returns (document, failed response)."""
    if req.kind not in DOCUMENT_KINDS:
        return None, None
    marker = wire.order_marker(req.order_id) if req.order_id else None
    doc_number = req.payload.get("DocNumber")
    try:
        if doc_number:
            rows = client.find_by_doc_number(entity, str(doc_number))
        elif marker:
            rows = client.find_by_private_note(entity, marker)
        else:
            return None, None
    except QBOError as e:
        return None, e.response
    if marker:
        for row in rows:
            if wire.has_marker(row.get("PrivateNote"), req.order_id):
                return row, None
    if doc_number and rows and not (marker and wire.has_marker(req.payload.get("PrivateNote"), req.order_id)):
        return rows[0], None  # a payload without our marker: the DocNumber is all we can match on
    return None, None


def _result_from_response(req: Claimed, resp: QBOResponse, entity: str, item: dict | None = None,
                          item_fault: Classification | None = None) -> Result:
    body = (item is not None and _dumps(item)) or resp.body_text or (str(resp.exc) if resp.exc else "")
    if item is not None:
        if item_fault is None and isinstance(item.get(entity), dict):
            return Result(req, Attempt.Outcome.SUCCEEDED, resp.status, body, entity=item[entity])
        fault = item_fault or make("unknown", "batch item without a result", _dumps(item)[:2000])
        return _fault_result(req, resp, fault, body)
    fault = resp.fault
    if fault is None:
        doc = resp.entity(entity)
        if isinstance(doc, dict):
            return Result(req, Attempt.Outcome.SUCCEEDED, resp.status, body, entity=doc)
        fault = make("unknown", f"HTTP {resp.status} without {entity}", (resp.body_text or "")[:2000])
    return _fault_result(req, resp, fault, body)


def _fault_result(req: Claimed, resp: QBOResponse, fault: Classification, body: str) -> Result:
    if resp.outcome_unknown:
        return Result(req, Attempt.Outcome.UNKNOWN, resp.status, body, fault, unknown=True,
                      applied_unknown_flag=True)
    if fault.transient:
        # 5xx (gateway timeout included) may have been applied; 003202/429/refused connections were not.
        maybe_applied = fault.kind == "server_error" and resp.sent and resp.status is not None
        return Result(req, Attempt.Outcome.TRANSIENT, resp.status, body, fault,
                      applied_unknown_flag=True if maybe_applied else None)
    if fault.kind == "auth_reconnect":
        return Result(req, Attempt.Outcome.TRANSIENT, resp.status, body, fault)
    return Result(req, Attempt.Outcome.FAILED, resp.status, body, fault, applied_unknown_flag=False)


def _dumps(obj) -> str:
    import json

    return json.dumps(obj, separators=(",", ":"), default=str)


def send_unit(client: QBOClient, unit: Unit) -> tuple[list[Result], QBOResponse | None, datetime, int]:
    """Do the HTTP exchange(s) of a unit. Returns (results, response, started_at, duration_ms)."""
    started = timezone.now()
    t0 = time.perf_counter()
    if not unit.batched:
        req = unit.requests[0]
        entity = ENTITY_FOR_KIND.get(req.kind, "Invoice")
        if req.outcome_unknown:
            found, failed = _lookup(client, entity, req)
            if failed is not None:
                return [_result_from_response(req, failed, entity)], failed, started, _ms(t0)
            if found is not None:
                res = Result(req, Attempt.Outcome.SUCCEEDED, 200, _dumps({entity: found, "foundBy": "look-up"}),
                             entity=found)
                return [res], None, started, _ms(t0)
        if _op_for(req.payload) == "update":
            resp = client.update(entity, req.payload, requestid=req.requestid, sparse=bool(req.payload.get("sparse")))
        else:
            resp = client.create(entity, req.payload, requestid=req.requestid)
        return [_result_from_response(req, resp, entity)], resp, started, _ms(t0)
    items = []
    for req in unit.requests:
        entity = ENTITY_FOR_KIND.get(req.kind, "Invoice")
        items.append({"bId": str(req.id), "operation": _op_for(req.payload), entity: req.payload})
    rid = wire.batch_requestid(r.requestid for r in unit.requests)
    resp = client.batch(items, requestid=rid)
    results = []
    if resp.ok:
        by_bid = batch_results(resp)
        for req in unit.requests:
            entity = ENTITY_FOR_KIND.get(req.kind, "Invoice")
            item, fault = by_bid.get(str(req.id), (None, None))
            if item is None:
                # The batch answered without this item: treat as unknown, look it up next time.
                results.append(Result(req, Attempt.Outcome.UNKNOWN, resp.status, "batch answer without this bId",
                                      make("unknown", "batch answer without this bId"), unknown=True,
                                      applied_unknown_flag=True))
            else:
                results.append(_result_from_response(req, resp, entity, item, fault))
    else:
        for req in unit.requests:
            results.append(_result_from_response(req, resp, ENTITY_FOR_KIND.get(req.kind, "Invoice")))
    return results, resp, started, _ms(t0)


def _ms(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)


_PR_UPDATE = None
_ORDER_UPDATE = None


def _update_sql() -> tuple[str, str]:
    """Two parameterised UPDATEs run with executemany: the request row (fenced by its lease owner;
    NULL parameters keep the column) and its Order. Compiled once, one round trip per group."""
    global _PR_UPDATE, _ORDER_UPDATE
    if _PR_UPDATE is None:
        pr, order = PushRequest._meta.db_table, Order._meta.db_table
        _PR_UPDATE = (
            f"UPDATE {pr} SET state = %s, lease_owner = '', lease_expires_at = NULL, updated_at = %s, "
            f"completed_at = COALESCE(%s, completed_at), outcome_unknown = COALESCE(%s, outcome_unknown), "
            f"attempt_count = %s, next_attempt_at = COALESCE(%s, next_attempt_at), "
            f"qbo_id = COALESCE(%s, qbo_id), qbo_doc_number = COALESCE(%s, qbo_doc_number), "
            f"qbo_sync_token = COALESCE(%s, qbo_sync_token), waiting_on = COALESCE(%s, waiting_on), "
            f"error_kind = %s, error_title = %s, error_message = %s, error_detail = %s, error_code = %s, "
            f"error_element = %s "
            f"WHERE id = %s AND state = 'sending' AND lease_owner = %s"
        )
        _ORDER_UPDATE = (
            f"UPDATE {order} SET status = %s, qbo_id = COALESCE(%s, qbo_id), "
            f"qbo_doc_number = COALESCE(%s, qbo_doc_number), updated_at = %s WHERE id = %s"
        )
    return _PR_UPDATE, _ORDER_UPDATE


def record_results(unit: Unit, results: list[Result], resp: QBOResponse | None, started: datetime,
                   duration_ms: int, worker_id: str) -> None:
    """One transaction: the request rows (fenced by lease owner), their Attempts, the Orders and
    the Company's throttle/health. A handful of round trips whatever the batch size."""
    now = timezone.now()
    db_now = _db_dt(now)
    max_attempts = settings.LEDGERLINK_MAX_ATTEMPTS
    tid = resp.intuit_tid if resp is not None else ""
    attempts = []
    pr_rows: list[tuple] = []
    order_rows: dict[int, tuple] = {}  # request id -> order update parameters
    throttled = False
    reconnect: Classification | None = None
    any_success = False
    for res in results:
        req = res.request
        fault = res.fault
        completed = next_at = qbo_id = doc = sync = waiting = None
        unknown_flag = None
        count = req.attempt_count
        order_status = None
        if res.outcome == Attempt.Outcome.SUCCEEDED:
            entity = res.entity or {}
            any_success = True
            state, completed, unknown_flag, waiting = S.SUCCEEDED, db_now, False, ""
            qbo_id = str(entity.get("Id", ""))[:32]
            doc = str(entity.get("DocNumber", "") or "")[:32]
            sync = str(entity.get("SyncToken", "") or "")[:16]
            errors = ("", "", "", "", "", "")
            if req.order_id and req.kind in DOCUMENT_KINDS:
                order_status = Order.Status.PUSHED
        else:
            assert fault is not None
            errors = (fault.kind, fault.title[:200], fault.message, fault.detail, fault.code[:32], fault.element[:200])
            unknown_flag = res.applied_unknown_flag
            if fault.kind == "auth_reconnect":
                # The Company is paused, nothing failed: back in line, attempt not counted.
                reconnect = fault
                state, next_at = (S.RETRYING if req.attempt_count else S.QUEUED), db_now
            elif res.outcome in (Attempt.Outcome.TRANSIENT, Attempt.Outcome.UNKNOWN):
                count = req.attempt_count + 1
                throttled = throttled or fault.kind == "throttled"
                if count >= max_attempts:
                    state, completed = S.FAILED, db_now
                    if req.order_id and req.kind in DOCUMENT_KINDS:
                        order_status = Order.Status.FAILED
                else:
                    delay = timedelta(seconds=backoff_delay(count))
                    if fault.kind == "throttled":
                        delay = max(delay, THROTTLE_PAUSE)
                    state, next_at = S.RETRYING, _db_dt(now + delay)
            else:
                count = req.attempt_count + 1
                state, completed = S.FAILED, db_now
                if req.order_id and req.kind in DOCUMENT_KINDS:
                    order_status = Order.Status.FAILED
        pr_rows.append((state, db_now, completed, unknown_flag, count, next_at, qbo_id, doc, sync, waiting,
                        *errors, req.id, unit.owner))
        if order_status is not None:
            order_rows[req.id] = (order_status, qbo_id, doc, db_now, req.order_id)
        attempts.append(Attempt(
            push_request_id=req.id, company_id=unit.company_id, revision=req.revision,
            requestid=req.requestid, worker=worker_id, batched=unit.batched, started_at=started,
            duration_ms=duration_ms, http_status=res.http_status, outcome=res.outcome,
            error_kind=fault.kind if fault else "", fault_code=(fault.code if fault else "")[:32],
            intuit_tid=tid[:100], response_body=(res.body or "")[:MAX_BODY],
        ))
    pr_sql, order_sql = _update_sql()
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.executemany(pr_sql, pr_rows)
            if order_rows:
                # Only the Orders of rows this worker still held (updated_at = our now, lease cleared).
                mine = set(PushRequest.objects.filter(
                    pk__in=list(order_rows), updated_at=now, lease_owner=""
                ).values_list("pk", flat=True))
                rows = [v for k, v in order_rows.items() if k in mine]
                if rows:
                    cur.executemany(order_sql, rows)
        Attempt.objects.bulk_create(attempts)
        if throttled:
            Company.objects.filter(pk=unit.company_id).update(throttled_until=now + THROTTLE_PAUSE, updated_at=now)
        if reconnect is not None:
            Company.objects.filter(pk=unit.company_id, status=Company.Status.ACTIVE).update(
                status=Company.Status.NEEDS_RECONNECT, last_error=f"{reconnect.message} {reconnect.detail}".strip(),
                updated_at=now,
            )
        if any_success:
            Company.objects.filter(pk=unit.company_id).filter(
                Q(last_success_at__isnull=True) | Q(last_success_at__lt=now - timedelta(seconds=5))
            ).update(last_success_at=now)
    # One structured line per attempt, after commit (never the response body).
    if log_attempts_enabled():
        for res, attempt in zip(results, attempts, strict=True):
            log_attempt(attempt, order=res.request.order_id)


def log_attempts_enabled() -> bool:
    return logging.getLogger("ledgerlink").isEnabledFor(logging.INFO)


def after_customer_results(client: QBOClient, results: list[Result]) -> None:
    """After commit: a created customer or item enters the mirror and heals the requests waiting on
    it; a customer's 6240 duplicate name is resolved (services.customers, services.items)."""
    from ledgerlink.core.services.customers import after_customer_request
    from ledgerlink.core.services.items import after_item_request

    for res in results:
        if res.request.kind not in (PushRequest.Kind.CUSTOMER, PushRequest.Kind.ITEM):
            continue
        pr = PushRequest.objects.select_related("company").get(pk=res.request.id)
        try:
            if pr.kind == PushRequest.Kind.CUSTOMER:
                after_customer_request(pr, res.entity, client)
            else:
                after_item_request(pr, res.entity)
        except Exception:  # noqa: BLE001 - the request itself is recorded; healing retries on sync
            log.exception("after %s request %s", pr.kind, pr.pk)


# ------------------------------------------------------------------------------------------------
# The loop


class Worker:
    """Claims and sends until stopped. ``concurrency=0`` sends inline in the calling thread (tests
    inside a DB transaction); otherwise ``concurrency`` sender threads."""

    def __init__(self, worker_id: str | None = None, *, concurrency: int = 4, poll_interval: float = 0.2,
                 lease_seconds: int | None = None, company_ids: list[int] | None = None):
        self.worker_id = (worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")[:80]
        self.concurrency = max(0, int(concurrency))
        self.poll_interval = poll_interval
        self.lease_seconds = lease_seconds or settings.LEDGERLINK_LEASE_SECONDS
        self.company_ids = company_ids
        self.stop_event = threading.Event()
        self._clients: dict[int, QBOClient] = {}
        self._clients_lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._slot_freed = threading.Event()
        self._last_heartbeat = 0.0
        self._last_recover = 0.0
        self._last_webhooks = 0.0
        self._last_cdc = 0.0
        self.units_done = 0
        self._due: list[int] = []
        self._due_at = 0.0
        self.requests_done = 0

    # -- clients -------------------------------------------------------------------------------

    def client_for(self, company_id: int) -> QBOClient:
        with self._clients_lock:
            client = self._clients.get(company_id)
            if client is None:
                client = client_for(Company.objects.get(pk=company_id))
                self._clients[company_id] = client
            return client

    # -- lifecycle -----------------------------------------------------------------------------

    def request_stop(self, *_args) -> None:
        self.stop_event.set()
        self._slot_freed.set()

    def heartbeat(self, *, force: bool = False) -> None:
        t = time.monotonic()
        if not force and t - self._last_heartbeat < HEARTBEAT_EVERY:
            return
        self._last_heartbeat = t
        now = timezone.now()
        WorkerHeartbeat.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={"hostname": socket.gethostname()[:200], "pid": os.getpid(), "last_seen": now, "stopped_at": None},
            create_defaults={"hostname": socket.gethostname()[:200], "pid": os.getpid(), "started_at": now,
                             "last_seen": now},
        )
        # Extend the leases of what this process is sending.
        PushRequest.objects.filter(state=S.SENDING).filter(
            Q(lease_owner=self.worker_id) | Q(lease_owner__startswith=self.worker_id + "#")
        ).update(lease_expires_at=now + timedelta(seconds=self.lease_seconds))

    def maybe_refresh_mirror(self) -> None:
        """Webhook events every second, due CDC passes every 30 s (services.freshness)."""
        from ledgerlink.core.services import freshness

        now = time.monotonic()
        if now - self._last_webhooks >= WEBHOOKS_EVERY:
            self._last_webhooks = now
            try:
                freshness.process_webhook_events(clients=self._clients)
            except Exception:  # noqa: BLE001 - events stay unprocessed and are tried again
                log.exception("worker %s: webhook processing failed", self.worker_id)
        if now - self._last_cdc >= CDC_CHECK_EVERY:
            self._last_cdc = now
            freshness.run_due_cdc(clients=self._clients)

    def maybe_recover(self, *, force: bool = False) -> int:
        t = time.monotonic()
        if not force and t - self._last_recover < RECOVER_EVERY:
            return 0
        self._last_recover = t
        return recover_expired_leases()

    def _start_threads(self) -> None:
        for i in range(self.concurrency):
            th = threading.Thread(target=self._thread_main, name=f"ledgerlink-sender-{i}", daemon=True)
            th.start()
            self._threads.append(th)

    def _thread_main(self) -> None:
        try:
            while True:
                unit = self._queue.get()
                if unit is None:
                    return
                try:
                    self.process(unit)
                finally:
                    with self._busy_lock:
                        self._busy -= 1
                    self._slot_freed.set()
        finally:
            connections.close_all()

    def process(self, unit: Unit) -> None:
        try:
            if self.concurrency:
                close_old_connections()
            if not lease_still_held(unit, margin=min(30.0, self.lease_seconds / 4)):
                log.warning("worker %s: the lease of a unit of company %s ran out before it was sent; not sent",
                            self.worker_id, unit.company_id)
                release_unit(unit)  # a no-op for rows another worker has taken over
                return
            client = self.client_for(unit.company_id)
            results, resp, started, duration = send_unit(client, unit)
            record_results(unit, results, resp, started, duration, self.worker_id)
            after_customer_results(client, results)
            self.units_done += 1
            self.requests_done += len(unit.requests)
        except Exception:  # the lease expires and recovery takes over
            log.exception("worker %s: unit of company %s failed", self.worker_id, unit.company_id)

    def free_slots(self) -> int:
        if self.concurrency == 0:
            return 1
        with self._busy_lock:
            return self.concurrency - self._busy

    def claim_round(self) -> int:
        """Claim what the free slots and the Companies' limits allow; hand units to the senders (or
        send inline). Returns the number of units claimed."""
        free = self.free_slots()
        if free <= 0:
            return 0
        t = time.monotonic()
        if t - self._due_at > 0.1 or not self._due:
            self._due, self._due_at = due_company_ids(), t
        company_ids = list(self._due)
        if self.company_ids is not None:
            company_ids = [c for c in company_ids if c in self.company_ids]
        random.shuffle(company_ids)
        claimed = 0
        for index, cid in enumerate(company_ids):
            if free <= 0 or self.stop_event.is_set():
                break
            share = max(1, free // max(1, len(company_ids) - index))
            units = claim_for_company(cid, self.worker_id, share, lease_seconds=self.lease_seconds)
            for unit in units:
                claimed += 1
                free -= 1
                if self.concurrency == 0:
                    self.process(unit)
                else:
                    with self._busy_lock:
                        self._busy += 1
                    self._queue.put(unit)
        return claimed

    def pending_exists(self) -> bool:
        qs = PushRequest.objects.filter(
            state__in=PushRequest.PENDING_STATES, company__status=Company.Status.ACTIVE, waiting_on=""
        )
        if self.company_ids is not None:
            qs = qs.filter(company_id__in=self.company_ids)
        return qs.exists()

    def run(self, *, once: bool = False, until_idle: bool = False, timeout: float | None = None) -> None:
        """The loop. ``once``: send what is due now, then return. ``until_idle``: return when no
        request is pending (for tests and demos). ``timeout`` bounds either."""
        deadline = time.monotonic() + timeout if timeout else None
        self._start_threads()
        try:
            self.heartbeat(force=True)
            self.maybe_recover(force=True)
        except DB_ERRORS:
            self._database_unavailable()
        try:
            while not self.stop_event.is_set():
                if deadline and time.monotonic() > deadline:
                    break
                try:
                    self.heartbeat()
                    self.maybe_recover()
                    self.maybe_refresh_mirror()
                    maybe_send_digests()
                    claimed = self.claim_round()
                    busy = self.concurrency and self._busy
                    if claimed == 0 and not busy:
                        if once:
                            break
                        if until_idle and not self.pending_exists():
                            break
                except DB_ERRORS:
                    # PostgreSQL restarting, a dropped connection: keep the process, reconnect.
                    self._database_unavailable()
                    continue
                if claimed == 0:
                    self._slot_freed.clear()
                    self._slot_freed.wait(self.poll_interval)
        finally:
            self.shutdown()

    def _database_unavailable(self) -> None:
        log.warning("worker %s: database unavailable, retrying in %.0f s", self.worker_id, DB_RETRY_PAUSE,
                    exc_info=True)
        if not connection.in_atomic_block:
            close_old_connections()  # drops this thread's broken connection; the next query reconnects
        self.stop_event.wait(DB_RETRY_PAUSE)

    def shutdown(self) -> None:
        """Finish in-flight units, release claimed-but-unsent ones, stop the threads."""
        pending = []
        while True:
            try:
                unit = self._queue.get_nowait()
            except queue.Empty:
                break
            if unit is not None:
                pending.append(unit)
                with self._busy_lock:
                    self._busy -= 1
        for unit in pending:
            try:
                release_unit(unit)
            except DB_ERRORS:  # its lease expires and recovery takes it back
                log.warning("worker %s: could not release a unit", self.worker_id, exc_info=True)
                close_old_connections()
        for _ in self._threads:
            self._queue.put(None)
        for th in self._threads:
            th.join()
        self._threads = []
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        try:
            WorkerHeartbeat.objects.filter(worker_id=self.worker_id).update(
                stopped_at=timezone.now(), last_seen=timezone.now()
            )
        except DB_ERRORS:
            log.warning("worker %s: could not mark the heartbeat stopped", self.worker_id, exc_info=True)


def run_worker(*, worker_id: str | None = None, concurrency: int = 4, once: bool = False,
               until_idle: bool = False, timeout: float | None = None, install_signals: bool = False) -> Worker:
    worker = Worker(worker_id, concurrency=concurrency)
    if install_signals:
        import signal

        signal.signal(signal.SIGTERM, worker.request_stop)
        signal.signal(signal.SIGINT, worker.request_stop)
    worker.run(once=once, until_idle=until_idle, timeout=timeout)
    return worker


def run_until_idle(timeout: float = 60, *, concurrency: int = 0, worker_id: str | None = None,
                   company_ids: list[int] | None = None) -> Worker:
    """Run the real worker loop in-process until no request is pending for an active Company (or
    ``timeout`` seconds). ``concurrency=0`` sends inline in the calling thread."""
    worker = Worker(worker_id or f"inline-{uuid.uuid4().hex[:8]}", concurrency=concurrency,
                    poll_interval=0.05, company_ids=company_ids)
    worker.run(until_idle=True, timeout=timeout)
    return worker
