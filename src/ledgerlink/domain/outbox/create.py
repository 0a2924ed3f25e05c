"""Writing a push request (revision 1) in the caller's transaction: the transactional outbox.

``create_push_request`` writes one. Batch ingest plans its orders' requests first
(``plan_push_request``: pre-flight with the batch's look-ups, so the order is written with the status
its request gives it) and writes them with one INSERT per table (``create_planned_requests``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from ledgerlink.core.models import Attempt, AuditLog, Company, Order, PushRequest, PushRevision
from ledgerlink.domain.audit import audit_row, record_audit
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.mirror.lookups import MirrorLookups
from ledgerlink.domain.mirror.match import normalize_email
from ledgerlink.domain.outbox.selectors import payload_email
from ledgerlink.domain.outbox.transitions import (
    S,
    author_of,
    fail_preflight,
    label_of,
    mark_preflight_failed,
    preflight_attempt,
    set_order_status,
)
from ledgerlink.domain.payloads.preflight import PreflightError, preflight_payload

# (new request, its order, the pre-flight error) -> True when the policy took care of it
PreflightPolicy = Callable[[PushRequest, Order, PreflightError], bool]


def create_push_request(
    *,
    company: Company,
    kind: str,
    payload: dict,
    order: Order | None = None,
    actor=None,
    actor_label: str | None = "system",
    note: str = "",
    on_preflight_error: PreflightPolicy | None = None,
    lookups: MirrorLookups | None = None,
) -> PushRequest:
    """Write a push request with revision 1 (state queued), or failed at once when pre-flight finds
    what QBO would reject. Call inside the order's transaction (transactional outbox).

    ``on_preflight_error(pr, order, error) -> bool``: for an order's document, a policy that may take
    care of the pre-flight error instead (the site area's create policies, ``healing.policies``,
    queue the missing customer or item and park the request); True when it did. ``lookups``: a
    batch's mirror look-ups (else asked live)."""
    if kind not in PushRequest.Kind.values:
        raise ServiceError(f"unknown kind {kind!r}", field="kind")
    label = label_of(actor, actor_label)
    with transaction.atomic():
        site_area = order.order_source.site_area if order is not None else None
        email = (order.email if order is not None else "") or payload_email(payload)
        now = timezone.now()
        pr = PushRequest.objects.create(
            company=company,
            order=order,
            site_area=site_area,
            order_source=order.order_source if order is not None else None,
            email=normalize_email(email)[:320],
            kind=kind,
            state=S.QUEUED,
            revision=1,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        flag = shared_email_flag(company, pr.email, payload, lookups=lookups)
        if flag:
            note = f"{note}; {flag}" if note else flag
        PushRevision.objects.create(
            push_request=pr, number=1, payload=payload, author=author_of(actor), author_label=label, note=note
        )
        error = preflight_payload(company, kind, payload, lookups=lookups)
        handled = (
            error is not None and order is not None and on_preflight_error is not None
            and on_preflight_error(pr, order, error)
        )
        if error is not None and not handled:
            fail_preflight(pr, error)
        elif error is None:
            set_order_status(order, Order.Status.QUEUED)
        record_audit(
            "push_request.create",
            actor=actor,
            actor_label=label,
            obj=pr,
            kind=kind,
            order=order.pk if order is not None else None,
            state=pr.state,
            error_kind=pr.error_kind,
        )
    return pr


def shared_email_flag(company: Company, email: str, payload: dict, *, lookups: MirrorLookups | None = None) -> str:
    """A note when several active QBO customers share the email the CustomerRef was matched by: the
    choice (active first, then the most recently updated) is deterministic, but a person should know."""
    ref = payload.get("CustomerRef") if isinstance(payload, dict) else None
    if not email or not isinstance(ref, dict) or not ref.get("value"):
        return ""
    ids = sorted(customer.qbo_id for customer in (lookups or MirrorLookups()).customers_for_email(company, email))[:10]
    if len(ids) < 2 or str(ref["value"]) not in ids:
        return ""
    return (
        f"flag: {len(ids)} active QuickBooks customers have {email} (Ids {', '.join(ids)}); "
        f"used {ref['value']}, the most recently updated"
    )


# --- batch ingest -----------------------------------------------------------------------------------


@dataclass
class PlannedRequest:
    """An order's document request, decided before anything is written: its payload and what
    pre-flight found. The order is written with ``order_status``, then the request by
    ``create_planned_requests``."""

    company: Company
    kind: str
    payload: dict
    order: Order
    error: PreflightError | None
    note: str = ""
    request: PushRequest | None = None  # once written

    @property
    def order_status(self) -> str:
        """What the order reads as once its request exists (``create_push_request`` sets the same)."""
        return Order.Status.QUEUED if self.error is None else Order.Status.FAILED


def plan_push_request(
    *, company: Company, kind: str, payload: dict, order: Order, lookups: MirrorLookups, note: str = ""
) -> PlannedRequest:
    """Pre-flight an order's document with the batch's look-ups; nothing is written."""
    if kind not in PushRequest.Kind.values:
        raise ServiceError(f"unknown kind {kind!r}", field="kind")
    error = preflight_payload(company, kind, payload, lookups=lookups)
    return PlannedRequest(company=company, kind=kind, payload=payload, order=order, error=error, note=note)


def create_planned_requests(
    planned: list[PlannedRequest],
    *,
    actor=None,
    actor_label: str | None = "system",
    lookups: MirrorLookups | None = None,
    audit: list[AuditLog],
) -> list[PushRequest]:
    """Write planned requests as ``create_push_request`` would (revision 1; failed at once with a
    pre-flight Attempt when pre-flight found a fault), one INSERT per table. Their orders are written
    already, with ``order_status``. Call inside the batch's transaction; the audit rows
    ("push_request.create") are appended to ``audit``, which the caller writes in it. No policy runs
    here: a request whose pre-flight error a create policy may take care of goes through
    ``create_push_request`` with the policy."""
    label = label_of(actor, actor_label)
    author = author_of(actor)
    now = timezone.now()
    requests = []
    for plan in planned:
        order = plan.order
        pr = PushRequest(
            company=plan.company,
            order=order,
            site_area=order.order_source.site_area,
            order_source=order.order_source,
            email=normalize_email(order.email or payload_email(plan.payload))[:320],
            kind=plan.kind,
            state=S.QUEUED,
            revision=1,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        if plan.error is not None:
            mark_preflight_failed(pr, plan.error, now, plan.payload)
        requests.append(pr)
    PushRequest.objects.bulk_create(requests)
    revisions, attempts = [], []
    for plan, pr in zip(planned, requests, strict=True):
        plan.request = pr
        note = plan.note
        flag = shared_email_flag(plan.company, pr.email, plan.payload, lookups=lookups)
        if flag:
            note = f"{note}; {flag}" if note else flag
        revisions.append(
            PushRevision(push_request=pr, number=1, payload=plan.payload, author=author, author_label=label, note=note)
        )
        if plan.error is not None:
            attempts.append(preflight_attempt(pr, plan.error, now))
        audit.append(
            audit_row(
                "push_request.create",
                actor=actor,
                actor_label=label,
                obj=pr,
                kind=plan.kind,
                order=plan.order.pk,
                state=pr.state,
                error_kind=pr.error_kind,
            )
        )
    PushRevision.objects.bulk_create(revisions)
    if attempts:
        Attempt.objects.bulk_create(attempts)
    return requests
