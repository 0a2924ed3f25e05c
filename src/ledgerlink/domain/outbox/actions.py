"""What a person (or the API, or the system on their behalf) does to push requests: Save & Re-Queue,
bulk re-queue, cancel. Each locks the row, checks the state, writes a revision when the payload
changes, and audits."""

from __future__ import annotations

import copy

from django.db import transaction
from django.utils import timezone

from ledgerlink.core.models import Order, PushRequest, PushRevision
from ledgerlink.core.roles import limit_to_companies
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.inputs import check_json, check_text
from ledgerlink.domain.outbox.selectors import current_payload, filter_requests
from ledgerlink.domain.outbox.transitions import (
    CANCELLABLE,
    REQUEUEABLE,
    S,
    author_of,
    clear_error,
    fail_preflight,
    label_of,
    lock_request,
    set_document_order_status,
)
from ledgerlink.domain.payloads.edit import apply_patch, validate_edited_payload
from ledgerlink.domain.payloads.preflight import preflight_payload

MAX_NOTE = 2000


def _clean_note(note) -> str:
    if note is None:
        return ""
    if not isinstance(note, str):
        raise ServiceError("must be text", field="note")
    note = check_text(note.strip(), "note")
    if "\x00" in note:
        raise ServiceError("must not contain the NUL character (\\u0000)", field="note")
    if len(note) > MAX_NOTE:
        raise ServiceError(f"must be at most {MAX_NOTE:,} characters (got {len(note):,})", field="note")
    return note


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
    label = label_of(actor, actor_label)
    note = _clean_note(note)
    with transaction.atomic():
        pr = lock_request(request_id, REQUEUEABLE, "failed, cancelled or retrying requests can be re-queued", actor)
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
                author=author_of(actor),
                author_label=label,
                note=note or ("edited" if edited else "re-queued unchanged"),
            )
        now = timezone.now()
        clear_error(pr)
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
            fail_preflight(pr, error)
        else:
            set_document_order_status(pr, Order.Status.QUEUED)
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
    if payload_patch is not None:
        check_json(payload_patch, "payload_patch")
    for key, value in (("error_kind", error_kind), ("email", email)):
        check_text(value, key)
    note = _clean_note(note)
    qs = PushRequest.objects.filter(pk__in=ids) if ids else PushRequest.objects.all()
    qs = limit_to_companies(qs, actor)  # only the requests of the companies the person may see
    qs = filter_requests(
        qs, states=REQUEUEABLE if ids else (S.FAILED,), error_kind=error_kind, email=email, site_area=site_area,
        order_source=order_source, company=company,
    )
    requeued = []
    with transaction.atomic():
        for pr in qs.order_by("id")[:limit]:
            payload = None
            if payload_patch:
                try:
                    payload = apply_patch(current_payload(pr), payload_patch)
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
    label = label_of(actor, actor_label)
    note = _clean_note(note)
    with transaction.atomic():
        pr = lock_request(request_id, CANCELLABLE, "queued, retrying or failed requests can be cancelled", actor)
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
        set_document_order_status(pr, Order.Status.CANCELLED)
        record_audit("push_request.cancel", actor=actor, actor_label=label, obj=pr, from_state=previous, note=note)
    return pr
