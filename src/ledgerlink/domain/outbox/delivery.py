"""Recording what a sent request came to: the worker hands each exchange's results here and this
decides and writes each request's next state (the state machine of ``transitions``), in one
transaction with its Attempt, its Order and the Company's health.

Outcome unknown (timeout or connection lost after sending, a 5xx, a dead worker's lease) sets
``outcome_unknown``: the next attempt first looks the document up by DocNumber / the PrivateNote
marker, then re-sends with the same requestid (QBO replays). Never a blind new create.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ledgerlink.core.models import Attempt, Order, PushRequest
from ledgerlink.domain.companies.health import THROTTLE_PAUSE, mark_auth_refused, mark_success, mark_throttled
from ledgerlink.domain.outbox.follow_ups import TARGET_KINDS, release_follow_ups
from ledgerlink.domain.outbox.leases import Claimed, db_datetime
from ledgerlink.quickbooks import wire
from ledgerlink.quickbooks.errors import Classification

S = PushRequest.State
MAX_BODY = 65536  # characters of a response body kept on the Attempt
CENT = Decimal("0.01")


def backoff_delay(attempt: int, *, base: float | None = None, cap: float | None = None) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**(attempt-1)))."""
    base = settings.LEDGERLINK_BACKOFF_BASE if base is None else base
    cap = settings.LEDGERLINK_BACKOFF_CAP if cap is None else cap
    return random.uniform(0, min(cap, base * (2 ** max(attempt - 1, 0))))


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
    batched: bool | None = None  # sent inside a /batch (None: as the unit says)


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
            f"UPDATE {order} SET status = CASE WHEN status = 'cancelled' THEN status ELSE %s END, qbo_id = COALESCE(%s, qbo_id), "
            f"qbo_doc_number = COALESCE(%s, qbo_doc_number), updated_at = %s WHERE id = %s"
        )
    return _PR_UPDATE, _ORDER_UPDATE


def record_delivery(company_id: int, owner: str, results: list[Result], *, batched: bool, intuit_tid: str,
                    started: datetime, duration_ms: int, worker_id: str) -> list[Attempt]:
    """What one HTTP exchange (a single request or a batch held by ``owner``) came to, in one
    transaction: each request's next state (fenced by its lease: a row another worker took over is
    left alone), its Attempt, its Order, and the Company's throttle / health. A handful of round trips
    whatever the batch size. Returns the Attempts (for the caller's log lines, after commit).

        succeeded                   -> succeeded (QBO Id, DocNumber, SyncToken kept; Order pushed)
        auth refused                -> back in line, attempt not counted; the Company needs reconnecting
        transient / outcome unknown -> retrying after backoff (429: at least 60 s), failed when the
                                       attempts run out
        business fault              -> failed with QBO's message (Order failed)
    """
    now = timezone.now()
    db_now = db_datetime(now)
    max_attempts = settings.LEDGERLINK_MAX_ATTEMPTS
    tid = intuit_tid or ""
    attempts = []
    pr_rows: list[tuple] = []
    order_rows: dict[int, tuple] = {}  # request id -> order update parameters
    throttled = False
    reconnect: Classification | None = None
    any_success = False
    targets: list[int] = []  # succeeded requests other requests may wait on
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
            if req.order_id and req.kind in wire.DOCUMENT_KINDS:
                order_status = Order.Status.PUSHED
            if req.kind in TARGET_KINDS:
                targets.append(req.id)
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
                    if req.order_id and req.kind in wire.DOCUMENT_KINDS:
                        order_status = Order.Status.FAILED
                else:
                    delay = timedelta(seconds=backoff_delay(count))
                    if fault.kind == "throttled":
                        delay = max(delay, THROTTLE_PAUSE)
                    state, next_at = S.RETRYING, db_datetime(now + delay)
            else:
                count = req.attempt_count + 1
                state, completed = S.FAILED, db_now
                if req.order_id and req.kind in wire.DOCUMENT_KINDS:
                    order_status = Order.Status.FAILED
        pr_rows.append((state, db_now, completed, unknown_flag, count, next_at, qbo_id, doc, sync, waiting,
                        *errors, req.id, owner))
        if order_status is not None:
            order_rows[req.id] = (order_status, qbo_id, doc, db_now, req.order_id)
        attempts.append(Attempt(
            push_request_id=req.id, company_id=company_id, revision=req.revision,
            requestid=req.requestid, worker=worker_id, batched=batched if res.batched is None else res.batched,
            started_at=started,
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
        if targets:
            # The follow-ups waiting on what just succeeded (payment, void, update of a document...),
            # released in the same transaction: none is left waiting if the worker dies after commit.
            release_follow_ups(targets)
        if throttled:
            mark_throttled(company_id, now)
        if reconnect is not None:
            mark_auth_refused(company_id, f"{reconnect.message} {reconnect.detail}".strip(), now)
        if any_success:
            mark_success(company_id, now)
            record_amount_warnings(results)
    return attempts


def amount_warnings(qbo_total, order_total) -> list[dict]:
    """``[{"kind": "amount_mismatch", "qbo_total", "order_total"}]`` when the document QBO stored does not
    add up to what the customer paid (e.g. QBO computed its own tax), else ``[]``."""
    try:
        qbo = Decimal(str(qbo_total)).quantize(CENT)
    except (InvalidOperation, ValueError):
        return []
    order = Decimal(order_total).quantize(CENT)
    if qbo == order:
        return []
    return [{"kind": "amount_mismatch", "qbo_total": str(qbo), "order_total": str(order)}]


def record_amount_warnings(results: list[Result]) -> None:
    """Compare each succeeded document's ``TotalAmt`` with its order's total (one query for the batch);
    a difference is kept on the request as a warning (docs/tax.md), never silent."""
    docs = {
        res.request.order_id: res for res in results
        if res.outcome == Attempt.Outcome.SUCCEEDED and res.request.order_id and res.request.kind in wire.DOCUMENT_KINDS
        and isinstance(res.entity, dict) and res.entity.get("TotalAmt") is not None
    }
    if not docs:
        return
    for order_id, total in Order.objects.filter(pk__in=list(docs)).values_list("pk", "total"):
        res = docs[order_id]
        warnings = amount_warnings(res.entity["TotalAmt"], total)
        if warnings:
            PushRequest.objects.filter(pk=res.request.id, state=S.SUCCEEDED).update(warnings=warnings)
