"""The worker's side of the state machine: claiming due requests under a lease, giving back what was
not sent, extending the leases of what is being sent, and recovering the requests of a worker that
died (invariant 4). Recording what a sent request came to is ``delivery``.

Claims are one conditional ``UPDATE ... RETURNING`` (PostgreSQL: ``FOR UPDATE SKIP LOCKED`` in the
sub-select, so any number of workers claim without blocking each other; SQLite: one worker process,
IMMEDIATE transactions). Batch units hold their rows with the lease owner ``{worker_id}#b{n}`` so
every process can count in-flight HTTP requests per Company.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from ledgerlink.core.models import Attempt, Order, PushRequest, PushRevision
from ledgerlink.quickbooks import wire
from ledgerlink.quickbooks.errors import make

S = PushRequest.State


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def db_datetime(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


@dataclass
class Claimed:
    """One claimed request, with what the worker needs to send it."""

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


def claim_due(company_id: int, owner: str, limit: int, lease_until: datetime, now: datetime,
              *, unknown: bool | None, batch_requestid: str | None = None) -> list[Claimed]:
    """queued / retrying -> sending: up to ``limit`` due, not waiting rows of one Company, under the
    lease of ``owner`` until ``lease_until``. ``unknown`` picks rows by ``outcome_unknown`` (None:
    either). ``batch_requestid``: only the rows stamped with it (a batch re-sent whole; they keep the
    stamp), else only unstamped rows when ``unknown`` (a request of a lost batch waits for its batch),
    and the claim clears any old stamp. One conditional UPDATE ... RETURNING; the payloads are loaded after."""
    if limit <= 0:
        return []
    table = PushRequest._meta.db_table
    extra = ""
    stamp = ", batch_requestid = ''"
    params: list = [owner, db_datetime(lease_until), db_datetime(now), company_id, db_datetime(now)]
    if unknown is not None:
        extra = " AND outcome_unknown = %s"
        params.append(unknown)
    if batch_requestid is not None:
        extra += " AND batch_requestid = %s"
        params.append(batch_requestid)
        stamp = ""
    elif unknown:
        extra += " AND batch_requestid = ''"
    params.append(limit)
    lock = " FOR UPDATE SKIP LOCKED" if is_postgres() else ""
    sql = (
        f"UPDATE {table} SET state = 'sending', lease_owner = %s, lease_expires_at = %s, updated_at = %s{stamp} "
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


def stamp_batch(requests: list[Claimed], owner: str, batch_requestid: str) -> int:
    """Write the batch's requestid on each of its rows, under ``owner``'s lease, before it is sent:
    should the sender freeze between its lease check and the send, whoever takes the rows over
    re-sends the same batch with the same requestid and QBO answers the second copy with the first
    one's result (DESIGN.md invariant 3). Returns how many rows were stamped."""
    return PushRequest.objects.filter(pk__in=[r.id for r in requests], state=S.SENDING, lease_owner=owner).update(
        batch_requestid=batch_requestid)


def lost_batches(company_id: int, now: datetime, limit: int) -> list[str]:
    """The requestids of stamped batches with a due request whose outcome is unknown (a lease lost
    while the batch was, or may have been, on the wire)."""
    return list(
        PushRequest.objects.filter(
            company_id=company_id, state__in=(S.QUEUED, S.RETRYING), outcome_unknown=True, next_attempt_at__lte=now,
            waiting_on="",
        ).exclude(batch_requestid="").order_by("batch_requestid").values_list("batch_requestid", flat=True)
        .distinct()[:limit]
    )


def claim_lost_batch(company_id: int, owner: str, batch_requestid: str, lease_until: datetime,
                     now: datetime) -> list[Claimed] | None:
    """Every request of a lost batch, claimed together to be re-sent as that same batch (same items,
    same requestid), or None while one of them is still another worker's (it waits). When the batch
    cannot be re-sent whole (a request of it was recorded since: succeeded, failed, cancelled), the
    stamp is cleared and its requests go alone, each looked up before any re-send."""
    members = list(PushRequest.objects.filter(company_id=company_id, batch_requestid=batch_requestid)
                   .values_list("id", "state", "outcome_unknown", "next_attempt_at", "waiting_on"))
    if any(state == S.SENDING for _id, state, *_rest in members):
        return None
    whole = all(state in (S.QUEUED, S.RETRYING) and unknown and due <= now and not waiting
                for _id, state, unknown, due, waiting in members)
    if not whole:
        PushRequest.objects.filter(company_id=company_id, batch_requestid=batch_requestid).update(batch_requestid="")
        return []
    rows = claim_due(company_id, owner, len(members), lease_until, now, unknown=True,
                     batch_requestid=batch_requestid)
    if len(rows) != len(members):  # another worker took some meanwhile: give these back
        release(rows, owner)
        return None
    return rows


def load_payloads(requests: list[Claimed]) -> None:
    """Each claimed request's current payload (one query for all)."""
    by_id = {r.id: r for r in requests}
    rows = PushRevision.objects.filter(push_request_id__in=list(by_id)).values_list(
        "push_request_id", "number", "payload"
    )
    for pr_id, number, payload in rows:
        if by_id[pr_id].revision == number:
            by_id[pr_id].payload = payload or {}


def lease_still_held(requests: list[Claimed], owner: str, margin: float) -> bool:
    """True when every one of ``requests`` is still ``sending`` under ``owner``'s lease with at least
    ``margin`` seconds left. A process that stalled past its lease (GC pause, swap, SIGSTOP) must not
    send what recovery has handed to another worker: QBO would not recognise a late batch as a repeat
    of the single requests sent since (other requestids) and would create every document twice."""
    cutoff = timezone.now() + timedelta(seconds=margin)
    held = PushRequest.objects.filter(
        pk__in=[r.id for r in requests], state=S.SENDING, lease_owner=owner, lease_expires_at__gt=cutoff,
    ).count()
    return held == len(requests)


def release(requests: list[Claimed], owner: str) -> None:
    """sending -> queued / retrying: give back claimed requests that were never sent (a no-op for rows
    another worker has taken over)."""
    now = timezone.now()
    with transaction.atomic():
        for r in requests:
            PushRequest.objects.filter(pk=r.id, state=S.SENDING, lease_owner=owner).update(
                state=S.RETRYING if r.attempt_count else S.QUEUED, lease_owner="", lease_expires_at=None,
                updated_at=now,
            )


def extend_leases(worker_id: str, until: datetime) -> int:
    """The leases of everything ``worker_id`` (and its batch units) is sending, extended to ``until``."""
    return PushRequest.objects.filter(state=S.SENDING).filter(
        Q(lease_owner=worker_id) | Q(lease_owner__startswith=worker_id + "#")
    ).update(lease_expires_at=until)


def recover_expired_leases(now: datetime | None = None, *, limit: int = 500) -> int:
    """Requests left in ``sending`` by a dead worker: outcome unknown, back to retrying (or failed
    when the attempts are exhausted), with an ``abandoned`` Attempt. Returns how many."""
    now = now or timezone.now()
    max_attempts = settings.LEDGERLINK_MAX_ATTEMPTS
    recovered = 0
    with transaction.atomic():
        qs = PushRequest.objects.filter(state=S.SENDING, lease_expires_at__lt=now).order_by("id")
        if is_postgres():
            qs = qs.select_for_update(skip_locked=True)
        rows = list(qs.only("id", "company_id", "revision", "attempt_count", "lease_owner", "order_id", "kind")[:limit])
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
                if fields["state"] == S.FAILED and r.order_id and r.kind in wire.DOCUMENT_KINDS:
                    Order.objects.filter(pk=r.order_id).update(status=Order.Status.FAILED, updated_at=now)
                attempts.append(Attempt(
                    push_request_id=r.pk, company_id=r.company_id, revision=r.revision,
                    requestid=wire.requestid(r.pk, r.revision), worker=owner, started_at=now,
                    outcome=Attempt.Outcome.ABANDONED, error_kind="network",
                    response_body="lease expired before the outcome was recorded",
                ))
        if attempts:
            Attempt.objects.bulk_create(attempts)
    return recovered
