"""The push-request state machine: every change of a request's state is written by this package
(``transitions`` here, the person's actions in ``actions``, the worker's leases in ``leases`` and its
recorded exchanges in ``delivery``). Nothing else writes ``PushRequest.state``.

    queued -> sending (claimed, with a lease) -> succeeded | retrying | failed
    retrying -> sending ...;  failed | cancelled | retrying -> queued (re-queue, a new revision)
    queued | retrying | failed -> cancelled
    queued + waiting_on: not claimed until what it waits on exists (then released with a revision)

The functions here run inside the caller's transaction, on a row it has locked.

Invariants kept (DESIGN.md): a payload edit is a new PushRevision, nothing is overwritten; the
requestid (``ll-{id}-r{revision}``) changes only with a new revision, and a request whose last outcome
is unknown keeps its revision so the worker resolves it by requestid replay / look-up.
"""

from __future__ import annotations

import json

from django.utils import timezone

from ledgerlink.core.models import Attempt, Order, PushRequest, PushRevision
from ledgerlink.core.roles import can_see_company
from ledgerlink.domain.audit import actor_label_for
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.mirror.match import normalize_email
from ledgerlink.domain.outbox.selectors import current_payload, payload_email
from ledgerlink.domain.payloads.preflight import PreflightError
from ledgerlink.quickbooks import wire

S = PushRequest.State
REQUEUEABLE = (S.FAILED, S.CANCELLED, S.RETRYING)
CANCELLABLE = (S.QUEUED, S.RETRYING, S.FAILED)
CUSTOMER_WAIT = "customer:"
ITEM_WAIT = "item:"


def customer_waiting_key(email: str, currency: str = "") -> str:
    """``waiting_on`` of a request that needs a QBO customer with this email (in ``currency`` when it
    is not the Company's home currency: "customer:<email>|EUR", docs/tax.md)."""
    suffix = f"|{currency.upper()}" if currency else ""
    return f"{CUSTOMER_WAIT}{normalize_email(email)[:64 - len(CUSTOMER_WAIT) - len(suffix)]}{suffix}"


def item_waiting_key(sku: str) -> str:
    """``waiting_on`` of a request that needs a QBO item with this SKU (or name)."""
    return f"{ITEM_WAIT}{sku.strip()}"[:64]


def label_of(actor, actor_label) -> str:
    return actor_label or actor_label_for(actor)


def author_of(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def clear_error(pr: PushRequest) -> None:
    pr.error_kind = pr.error_title = pr.error_message = pr.error_detail = ""
    pr.error_code = pr.error_element = ""


def set_order_status(order: Order | None, status: str) -> None:
    if order is not None and order.status != status:
        order.status = status
        order.save(update_fields=["status", "updated_at"])


def set_document_order_status(pr: PushRequest, status: str) -> None:
    """The order reads what became of its document: only a document request's state moves it (a
    payment, refund, update or void request leaves the order's status alone)."""
    if pr.kind in wire.DOCUMENT_KINDS:
        set_order_status(pr.order, status)


def lock_request(request_id: int, allowed_states, allowed: str, actor=None) -> PushRequest:
    """The push request, locked for the caller's transaction: 404 when it does not exist (or is of a
    company ``actor`` may not see), 409 unless its state is one of ``allowed_states`` (``allowed``
    says which, for the message)."""
    pr = PushRequest.objects.select_for_update(of=("self",)).filter(pk=request_id).first()
    if pr is None or not can_see_company(actor, pr.company_id):
        raise ServiceError(f"push request {request_id} does not exist", field="id", status=404)
    if pr.state not in allowed_states:
        raise ServiceError(f"request {pr.pk} is {pr.state}; only {allowed}", field="state", status=409)
    return pr


def fail_preflight(pr: PushRequest, error: PreflightError) -> None:
    """Fail the request as QBO would have, recording an Attempt with outcome "preflight"."""
    now = timezone.now()
    preflight_attempt(pr, error, now).save()
    mark_preflight_failed(pr, error, now, current_payload(pr))
    pr.save()
    set_document_order_status(pr, Order.Status.FAILED)


def preflight_attempt(pr: PushRequest, error: PreflightError, now) -> Attempt:
    """The (unsaved) Attempt with outcome "preflight" that records what QBO would have answered."""
    return Attempt(
        push_request=pr,
        company_id=pr.company_id,
        revision=pr.revision,
        requestid=pr.requestid,
        worker="preflight",
        started_at=now,
        duration_ms=0,
        http_status=None,
        outcome=Attempt.Outcome.PREFLIGHT,
        error_kind=error.kind,
        fault_code=error.code,
        response_body=json.dumps(error.fault_body()),
    )


def mark_preflight_failed(pr: PushRequest, error: PreflightError, now, payload: dict) -> None:
    """Set ``pr`` (not saved) failed as QBO would have failed ``payload``, its current payload."""
    pr.state = S.FAILED
    pr.error_kind = error.kind
    pr.error_title = error.title[:200]
    pr.error_message = error.message
    pr.error_detail = error.detail
    pr.error_code = error.code
    pr.error_element = error.element
    pr.completed_at = now
    pr.updated_at = now
    pr.lease_owner = ""
    pr.lease_expires_at = None
    # The key healing finds it by when the mirror learns this email: the email the current payload
    # bills (an edit may have changed it), else the order's.
    email = normalize_email(payload_email(payload) or pr.email)
    if error.kind == "customer_ref_required" and email:
        pr.waiting_on = customer_waiting_key(email)


def park_waiting(pr: PushRequest, key: str, order: Order | None = None) -> None:
    """Queue ``pr`` behind what it waits on (``waiting_on = key``, e.g. "customer:<email>"): its error
    is cleared, the worker skips it until it is healed, and its order reads as queued."""
    clear_error(pr)
    now = timezone.now()
    pr.state = S.QUEUED
    pr.completed_at = None
    pr.waiting_on = key
    pr.next_attempt_at = now
    pr.updated_at = now
    pr.save()
    set_order_status(order, Order.Status.QUEUED)


def wait_behind(pr: PushRequest, key: str) -> None:
    """A failed request queued behind what it waits on (``waiting_on = key``), its error kept so its
    page still says why ("Create customer in QuickBooks and re-queue")."""
    now = timezone.now()
    pr.state = S.QUEUED
    pr.waiting_on = key
    pr.next_attempt_at = now
    pr.updated_at = now
    pr.save(update_fields=["state", "waiting_on", "next_attempt_at", "updated_at"])


def release_with_revision(pr: PushRequest, payload: dict, note: str) -> None:
    """A queued request whose wait is over: ``payload`` (now complete) becomes a new revision authored
    by the system, and the worker may claim it."""
    now = timezone.now()
    pr.revision += 1
    PushRevision.objects.create(push_request=pr, number=pr.revision, payload=payload, author_label="system", note=note)
    pr.waiting_on = ""
    pr.next_attempt_at = now
    pr.updated_at = now
    pr.save(update_fields=["revision", "waiting_on", "next_attempt_at", "updated_at"])
