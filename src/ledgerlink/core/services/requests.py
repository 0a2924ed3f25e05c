"""Push requests (the outbox): create, re-queue (with revisions), bulk re-queue, cancel.

Invariants kept here (DESIGN.md): a payload edit is a new PushRevision, nothing is overwritten; the
requestid (``ll-{id}-r{revision}``) changes only with a new revision, and a request whose last outcome
is unknown keeps its revision so the worker resolves it by requestid replay / look-up.
"""

from __future__ import annotations

import copy
import json

from django.db import transaction
from django.utils import timezone

from ledgerlink.core.models import Attempt, Company, Order, PushRequest, PushRevision
from ledgerlink.core.services.audit import actor_label_for, record_audit
from ledgerlink.core.services.errors import ServiceError
from ledgerlink.core.services.payloads import (
    PreflightError,
    error_kind_info,
    preflight_payload,
    validate_edited_payload,
)

S = PushRequest.State
REQUEUEABLE = (S.FAILED, S.CANCELLED, S.RETRYING)
CANCELLABLE = (S.QUEUED, S.RETRYING, S.FAILED)


def _label(actor, actor_label) -> str:
    return actor_label or actor_label_for(actor)


def _author(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _clear_error(pr: PushRequest) -> None:
    pr.error_kind = pr.error_title = pr.error_message = pr.error_detail = ""
    pr.error_code = pr.error_element = ""


def _set_order_status(order: Order | None, status: str) -> None:
    if order is not None and order.status != status:
        order.status = status
        order.save(update_fields=["status", "updated_at"])


def _apply_preflight_failure(pr: PushRequest, error: PreflightError) -> None:
    """Fail the request as QBO would have, recording an Attempt with outcome "preflight"."""
    now = timezone.now()
    Attempt.objects.create(
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
    # The key services.customers heals by when the mirror learns this email (waiting_key): the email
    # the current payload bills (an edit may have changed it), else the order's.
    email = (_payload_email(current_payload(pr)) or pr.email).strip().casefold()
    if error.kind == "customer_ref_required" and email:
        pr.waiting_on = f"customer:{email}"[:64]
    pr.save()
    _set_order_status(pr.order, Order.Status.FAILED)


def park_waiting(pr: PushRequest, key: str, order: Order | None = None) -> None:
    """Queue ``pr`` behind what it waits on (``waiting_on = key``, e.g. "customer:<email>"): its error
    is cleared, the worker skips it until it is healed, and its order reads as queued."""
    _clear_error(pr)
    now = timezone.now()
    pr.state = S.QUEUED
    pr.completed_at = None
    pr.waiting_on = key
    pr.next_attempt_at = now
    pr.updated_at = now
    pr.save()
    _set_order_status(order, Order.Status.QUEUED)


def lock_request(request_id: int, allowed_states, allowed: str) -> PushRequest:
    """The push request, locked for the caller's transaction: 404 when it does not exist, 409 unless
    its state is one of ``allowed_states`` (``allowed`` says which, for the message)."""
    pr = PushRequest.objects.select_for_update(of=("self",)).filter(pk=request_id).first()
    if pr is None:
        raise ServiceError(f"push request {request_id} does not exist", field="id", status=404)
    if pr.state not in allowed_states:
        raise ServiceError(f"request {pr.pk} is {pr.state}; only {allowed}", field="state", status=409)
    return pr


def create_push_request(
    *,
    company: Company,
    kind: str,
    payload: dict,
    order: Order | None = None,
    actor=None,
    actor_label: str | None = "system",
    note: str = "",
) -> PushRequest:
    """Write a push request with revision 1 (state queued), or failed at once when pre-flight finds
    what QBO would reject. Call inside the order's transaction (transactional outbox)."""
    if kind not in PushRequest.Kind.values:
        raise ServiceError(f"unknown kind {kind!r}", field="kind")
    label = _label(actor, actor_label)
    with transaction.atomic():
        site_area = order.order_source.site_area if order is not None else None
        email = (order.email if order is not None else "") or _payload_email(payload)
        now = timezone.now()
        pr = PushRequest.objects.create(
            company=company,
            order=order,
            site_area=site_area,
            order_source=order.order_source if order is not None else None,
            email=email.strip().casefold()[:320],
            kind=kind,
            state=S.QUEUED,
            revision=1,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        flag = shared_email_flag(company, pr.email, payload)
        if flag:
            note = f"{note}; {flag}" if note else flag
        PushRevision.objects.create(
            push_request=pr, number=1, payload=payload, author=_author(actor), author_label=label, note=note
        )
        error = preflight_payload(company, kind, payload)
        if error is not None and not _deferred_for_customer(pr, order, error):
            _apply_preflight_failure(pr, error)
        elif error is None:
            _set_order_status(order, Order.Status.QUEUED)
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


def _deferred_for_customer(pr: PushRequest, order: Order | None, error: PreflightError) -> bool:
    """The site area's ``create`` policies: instead of failing for a missing customer or item, queue
    its creation and let this request wait for it (services.customers, services.items)."""
    if order is None:
        return False
    if error.kind == "customer_ref_required":
        from ledgerlink.core.services.customers import defer_until_customer_exists

        return defer_until_customer_exists(pr, order)
    if error.kind == "invalid_reference":
        from ledgerlink.core.services.items import defer_until_items_exist

        return defer_until_items_exist(pr, order)
    return False


def shared_email_flag(company: Company, email: str, payload: dict) -> str:
    """A note when several active QBO customers share the email the CustomerRef was matched by: the
    choice (active first, then the most recently updated) is deterministic, but a person should know."""
    ref = payload.get("CustomerRef") if isinstance(payload, dict) else None
    if not email or not isinstance(ref, dict) or not ref.get("value"):
        return ""
    from ledgerlink.core.models import CustomerEmail

    ids = list(
        CustomerEmail.objects.filter(company=company, email=email, customer__active=True)
        .order_by("customer__qbo_id")
        .values_list("customer__qbo_id", flat=True)[:10]
    )
    if len(ids) < 2 or str(ref["value"]) not in ids:
        return ""
    return (
        f"flag: {len(ids)} active QuickBooks customers have {email} (Ids {', '.join(ids)}); "
        f"used {ref['value']}, the most recently updated"
    )


def _payload_email(payload: dict) -> str:
    bill = payload.get("BillEmail") if isinstance(payload, dict) else None
    address = bill.get("Address") if isinstance(bill, dict) else ""
    return address if isinstance(address, str) else ""


def current_payload(pr: PushRequest) -> dict:
    return pr.revisions.get(number=pr.revision).payload


def requeue_request(
    request_id: int,
    *,
    payload: dict | None = None,
    note: str = "",
    actor=None,
    actor_label: str | None = None,
) -> PushRequest:
    """Save & Re-Queue. From failed, cancelled or retrying only (else 409).

    With ``payload``: validated, stored as a new revision (author, note), queued. Without: the current
    payload is copied into a new revision, so the re-send carries a new requestid (QBO replays the
    stored answer for a repeated requestid). Exception: when the last outcome is unknown the revision
    and requestid are kept, so the worker resolves by replay / look-up and never creates twice.
    Pre-flight runs again: a payload QBO would still reject fails at once, without an API call.
    """
    label = _label(actor, actor_label)
    note = (note or "").strip()
    with transaction.atomic():
        pr = lock_request(request_id, REQUEUEABLE, "failed, cancelled or retrying requests can be re-queued")
        if payload is not None:
            payload = validate_edited_payload(pr.kind, payload, current_payload(pr))
            if pr.outcome_unknown:
                raise ServiceError(
                    "the last attempt's outcome is unknown (the document may exist in QuickBooks); "
                    "re-queue it unchanged so it is resolved first",
                    field="payload",
                    status=409,
                )
        previous = pr.revision
        edited = payload is not None
        if pr.outcome_unknown:
            new_payload = None  # same revision, same requestid
        else:
            new_payload = payload if edited else copy.deepcopy(current_payload(pr))
        if new_payload is not None:
            pr.revision = previous + 1
            PushRevision.objects.create(
                push_request=pr,
                number=pr.revision,
                payload=new_payload,
                author=_author(actor),
                author_label=label,
                note=note or ("edited" if edited else "re-queued unchanged"),
            )
        now = timezone.now()
        _clear_error(pr)
        pr.state = S.QUEUED
        pr.attempt_count = 0
        pr.next_attempt_at = now
        pr.lease_owner = ""
        pr.lease_expires_at = None
        pr.completed_at = None
        pr.waiting_on = ""
        pr.updated_at = now
        pr.save()
        error = preflight_payload(pr.company, pr.kind, current_payload(pr))
        if error is not None:
            _apply_preflight_failure(pr, error)
        else:
            _set_order_status(pr.order, Order.Status.QUEUED)
        record_audit(
            "push_request.requeue",
            actor=actor,
            actor_label=label,
            obj=pr,
            from_revision=previous,
            revision=pr.revision,
            edited=edited,
            note=note,
            state=pr.state,
            error_kind=pr.error_kind,
        )
    return pr


def _apply_patch(payload: dict, patch: dict) -> dict:
    merged = copy.deepcopy(payload)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def bulk_requeue(
    *,
    ids: list[int] | None = None,
    error_kind: str | None = None,
    email: str | None = None,
    site_area: int | None = None,
    order_source: int | None = None,
    company: int | None = None,
    actor=None,
    actor_label: str | None = None,
    payload_patch: dict | None = None,
    note: str = "",
    limit: int = 1000,
) -> list[int]:
    """Re-queue many requests: the given ``ids`` or every failed request matching the filter.

    ``payload_patch`` (top-level keys; ``null`` removes one) is applied to each current payload and
    stored as a new revision. Requests not in a re-queueable state are skipped. Returns the ids
    re-queued (in id order)."""
    if not ids and not any(v not in (None, "") for v in (error_kind, email, site_area, order_source, company)):
        raise ServiceError("give ids or at least one filter (error_kind, email, site_area)", field="ids")
    if payload_patch is not None and not isinstance(payload_patch, dict):
        raise ServiceError("must be a JSON object", field="payload_patch")
    qs = PushRequest.objects.all()
    if ids:
        qs = qs.filter(pk__in=ids, state__in=REQUEUEABLE)
    else:
        qs = qs.filter(state=S.FAILED)
    if error_kind:
        qs = qs.filter(error_kind=error_kind)
    if email:
        qs = qs.filter(email=email.strip().casefold())
    if site_area:
        qs = qs.filter(site_area_id=site_area)
    if order_source:
        qs = qs.filter(order_source_id=order_source)
    if company:
        qs = qs.filter(company_id=company)
    requeued = []
    with transaction.atomic():
        for pr in qs.order_by("id")[:limit]:
            payload = None
            if payload_patch:
                try:
                    payload = _apply_patch(current_payload(pr), payload_patch)
                except PushRevision.DoesNotExist:  # pragma: no cover - every request has revision 1
                    continue
            try:
                requeue_request(pr.pk, payload=payload, note=note, actor=actor, actor_label=actor_label)
            except ServiceError as exc:
                if exc.status == 409:
                    continue
                raise
            requeued.append(pr.pk)
    return requeued


def cancel_request(request_id: int, *, note: str = "", actor=None, actor_label: str | None = None) -> PushRequest:
    """Cancel a request that is queued, retrying or failed (a sending one is the worker's: 409)."""
    label = _label(actor, actor_label)
    with transaction.atomic():
        pr = lock_request(request_id, CANCELLABLE, "queued, retrying or failed requests can be cancelled")
        if pr.outcome_unknown:
            raise ServiceError(
                "the last attempt's outcome is unknown (the document may exist in QuickBooks); "
                "let the worker resolve it before cancelling",
                field="state",
                status=409,
            )
        previous = pr.state
        now = timezone.now()
        pr.state = S.CANCELLED
        pr.completed_at = now
        pr.updated_at = now
        pr.lease_owner = ""
        pr.lease_expires_at = None
        pr.save()
        _set_order_status(pr.order, Order.Status.CANCELLED)
        record_audit("push_request.cancel", actor=actor, actor_label=label, obj=pr, from_state=previous, note=note)
    return pr


def error_dict(pr: PushRequest) -> dict | None:
    """The request's error as the API shows it (None when it has none)."""
    if not pr.error_kind and not pr.error_message:
        return None
    info = error_kind_info(pr.error_kind)
    return {
        "kind": pr.error_kind,
        "title": pr.error_title or info["title"],
        "message": pr.error_message,
        "detail": pr.error_detail,
        "code": pr.error_code,
        "element": pr.error_element,
        "fix": info["fix"],
    }
