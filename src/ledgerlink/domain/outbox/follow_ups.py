"""Follow-up requests: the writes after an order's document (update, void, payment, credit memo,
refund receipt, payment method; ``domain.lifecycle`` decides them). Each is a push request like any
other; one that needs another request's result (the document's Id, its SyncToken, the customer it
was posted for, a payment method's Id) waits for it as a document waits for its customer:

    waiting_on = "request:<id>"   and   payload["_fill"] = [[path, request id, source], ...]

When that request succeeds (``record_delivery``, in the same transaction; and the worker's periodic
``release_follow_ups()``), each ``_fill`` entry is written into the payload from the succeeded
request and the result becomes a new revision; a follow-up still missing something waits on the
next request. ``_fill`` and ``_entity`` are never sent (``wire.wire_body``).

Sources: ``Id`` (its qbo_id), ``SyncToken`` (its qbo_sync_token), ``CustomerRef`` (the CustomerRef of
its current payload), ``Ref`` (``{"value": qbo_id, "name": payload Name}``).
"""

from __future__ import annotations

import copy

from django.db import transaction
from django.utils import timezone

from ledgerlink.core.models import Order, PushRequest, PushRevision
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.mirror.match import normalize_email
from ledgerlink.domain.outbox.selectors import current_payload, payload_email
from ledgerlink.domain.outbox.transitions import (
    S,
    author_of,
    clear_error,
    label_of,
    mark_preflight_failed,
    preflight_attempt,
    release_with_revision,
)
from ledgerlink.domain.payloads.preflight import PreflightError
from ledgerlink.quickbooks import wire

REQUEST_WAIT = "request:"
# The kinds other requests may wait on.
TARGET_KINDS = (*wire.DOCUMENT_KINDS, "payment_method", "credit_memo")


def request_waiting_key(request_id: int) -> str:
    """``waiting_on`` of a request that needs request ``request_id`` to have succeeded."""
    return f"{REQUEST_WAIT}{request_id}"


def create_follow_up(
    *,
    order: Order | None,
    company,
    kind: str,
    payload: dict,
    actor=None,
    actor_label: str | None = "system",
    note: str = "",
    preflight_error: PreflightError | None = None,
) -> PushRequest:
    """Write a follow-up request (revision 1) in the caller's transaction. Queued, and waiting on the
    first request its ``_fill`` names, unless pre-flight found a fault (failed at once, as QBO would
    have answered). The order's status is left alone: it says what became of its document."""
    if kind not in wire.FOLLOW_UP_KINDS:
        raise ServiceError(f"unknown kind {kind!r}", field="kind")
    label = label_of(actor, actor_label)
    fills = payload.get("_fill") or []
    now = timezone.now()
    with transaction.atomic():
        pr = PushRequest.objects.create(
            company=company,
            order=order,
            site_area=order.order_source.site_area if order is not None else None,
            order_source=order.order_source if order is not None else None,
            email=normalize_email((order.email if order is not None else "") or payload_email(payload))[:320],
            kind=kind,
            state=S.QUEUED,
            revision=1,
            next_attempt_at=now,
            waiting_on=request_waiting_key(fills[0][1]) if fills else "",
            created_at=now,
            updated_at=now,
        )
        PushRevision.objects.create(
            push_request=pr, number=1, payload=payload, author=author_of(actor), author_label=label, note=note
        )
        if preflight_error is not None:
            preflight_attempt(pr, preflight_error, now).save()
            mark_preflight_failed(pr, preflight_error, now, payload)
            pr.save()
        record_audit(
            "push_request.create", actor=actor, actor_label=label, obj=pr, kind=kind,
            order=order.pk if order is not None else None, state=pr.state, error_kind=pr.error_kind,
            waiting_on=pr.waiting_on,
        )
    return pr


def revise_unsent(pr: PushRequest, payload: dict, *, note: str, actor=None, actor_label: str | None = None) -> None:
    """A queued request nobody has sent yet gets ``payload`` as a new revision (the order it was
    built from changed). Call on a row the caller has locked; it keeps waiting if it was."""
    if pr.state != S.QUEUED or pr.outcome_unknown:
        raise ServiceError(f"request {pr.pk} is {pr.state}; only an unsent queued request is revised",
                           field="state", status=409)
    pr.revision += 1
    PushRevision.objects.create(
        push_request=pr, number=pr.revision, payload=payload, author=author_of(actor),
        author_label=label_of(actor, actor_label), note=note,
    )
    clear_error(pr)
    pr.attempt_count = 0
    pr.updated_at = timezone.now()
    pr.save()


def fill_payload(payload: dict, targets: dict[int, PushRequest]) -> tuple[dict, int | None]:
    """``payload`` with every ``_fill`` entry whose request has succeeded written in; returns it and
    the id of the next request it still waits on (None: complete)."""
    payload = copy.deepcopy(payload)
    remaining = []
    for entry in payload.get("_fill") or []:
        path, target_id, source = entry
        target = targets.get(int(target_id))
        if target is None or target.state != S.SUCCEEDED:
            remaining.append(entry)
            continue
        _set_path(payload, path, _value_of(target, source))
    if remaining:
        payload["_fill"] = remaining
        return payload, int(remaining[0][1])
    payload.pop("_fill", None)
    return payload, None


def _value_of(target: PushRequest, source: str):
    if source == "Id":
        return target.qbo_id
    if source == "SyncToken":
        return target.qbo_sync_token
    if source == "CustomerRef":
        return current_payload(target).get("CustomerRef")
    if source == "Ref":
        return {"value": target.qbo_id, "name": str(current_payload(target).get("Name", ""))}
    raise ValueError(f"unknown fill source {source!r}")


def _set_path(payload: dict, path: str, value) -> None:
    """``Line.0.LinkedTxn.0.TxnId``: dict keys and list indexes separated by dots."""
    parts = path.split(".")
    node = payload
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def release_follow_ups(target_ids: list[int] | None = None) -> int:
    """Release the requests waiting on ``target_ids`` (None: on any request that has succeeded)
    with their filled payload as a new revision. Call inside a transaction (the delivery's) or on
    its own (the worker's sweep). Returns how many were released or moved to their next wait."""
    if target_ids is None:
        # The sweep: only what waits on a request that has succeeded is locked and read.
        keys = set(
            PushRequest.objects.filter(state=S.QUEUED, waiting_on__startswith=REQUEST_WAIT)
            .values_list("waiting_on", flat=True).distinct()[:5000]
        )
        waited = [int(k[len(REQUEST_WAIT):]) for k in keys if k[len(REQUEST_WAIT):].isdigit()]
        target_ids = list(PushRequest.objects.filter(pk__in=waited, state=S.SUCCEEDED).values_list("pk", flat=True))
    if not target_ids:
        return 0
    with transaction.atomic():
        waiting = PushRequest.objects.filter(state=S.QUEUED,
                                             waiting_on__in=[request_waiting_key(i) for i in target_ids])
        rows = list(waiting.select_for_update().order_by("id"))
        if not rows:
            return 0
        payloads = {pr.pk: current_payload(pr) for pr in rows}
        ids = {int(e[1]) for p in payloads.values() for e in (p.get("_fill") or [])}
        ids |= {int(pr.waiting_on[len(REQUEST_WAIT):]) for pr in rows}
        targets = {t.pk: t for t in PushRequest.objects.filter(pk__in=ids)}
        moved = 0
        for pr in rows:
            waited = targets.get(int(pr.waiting_on[len(REQUEST_WAIT):]))
            if waited is None or waited.state != S.SUCCEEDED:
                continue
            payload, next_id = fill_payload(payloads[pr.pk], targets)
            if next_id is not None:
                revise_waiting(pr, payload, request_waiting_key(next_id))
            else:
                release_with_revision(pr, payload, note=f"filled in from request #{waited.pk}")
            moved += 1
    return moved


def revise_waiting(pr: PushRequest, payload: dict, key: str) -> None:
    """Part of what ``pr`` waited for is filled in: a new revision, waiting on the next request."""
    pr.revision += 1
    PushRevision.objects.create(push_request=pr, number=pr.revision, payload=payload, author_label="system",
                                note="filled in; waiting on the next request")
    pr.waiting_on = key
    pr.updated_at = timezone.now()
    pr.save(update_fields=["revision", "waiting_on", "updated_at"])
