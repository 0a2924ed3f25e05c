"""Push requests (``domain.outbox``): list, read, re-queue (one or many), cancel, and "Create customer
in QuickBooks and re-queue" (``domain.healing``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Router, Schema

from ledgerlink.api.auth import OPERATOR, label, need
from ledgerlink.api.errors import ERRORS, BodyId, Id, get_or_404
from ledgerlink.core.models import PushRequest
from ledgerlink.core.roles import limit_to_companies
from ledgerlink.domain.healing.customers import create_customer_for_request
from ledgerlink.domain.outbox import actions
from ledgerlink.domain.outbox.selectors import error_dict, filter_requests, parse_states
from ledgerlink.domain.paging import keyset_page, page_size

router = Router()


class RequestErrorOut(Schema):
    kind: str
    title: str
    message: str
    detail: str
    code: str
    element: str
    fix: str


class RequestSummaryOut(Schema):
    id: int
    company: int
    order: int | None
    site_area: int | None
    order_source: int | None
    email: str
    kind: str
    state: str
    revision: int
    requestid: str
    attempt_count: int
    error_kind: str
    error_title: str
    qbo_id: str
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    warnings: list[dict] = []


class RequestPageOut(Schema):
    items: list[RequestSummaryOut]
    next_after: int | None


class RevisionOut(Schema):
    number: int
    author: str
    note: str
    created_at: datetime
    payload: dict[str, Any]


class AttemptOut(Schema):
    revision: int
    requestid: str
    started_at: datetime
    duration_ms: int | None
    http_status: int | None
    outcome: str
    error_kind: str
    fault_code: str
    intuit_tid: str
    response_body: str


class RequestDetailOut(RequestSummaryOut):
    error: RequestErrorOut | None
    qbo_doc_number: str
    outcome_unknown: bool
    waiting_on: str
    payload: dict[str, Any]
    revisions: list[RevisionOut]
    attempts: list[AttemptOut]


class RequeueIn(Schema):
    payload: dict[str, Any] | None = None
    note: str = ""


class BulkRequeueIn(Schema):
    ids: list[BodyId] | None = None
    error_kind: str | None = None
    email: str | None = None
    site_area: BodyId | None = None
    order_source: BodyId | None = None
    company: BodyId | None = None
    payload_patch: dict[str, Any] | None = None
    note: str = ""


class BulkRequeueOut(Schema):
    requeued: list[int]


class CancelIn(Schema):
    note: str = ""


def _request_summary(pr: PushRequest) -> dict:
    return {
        "id": pr.pk,
        "company": pr.company_id,
        "order": pr.order_id,
        "site_area": pr.site_area_id,
        "order_source": pr.order_source_id,
        "email": pr.email,
        "kind": pr.kind,
        "state": pr.state,
        "revision": pr.revision,
        "requestid": pr.requestid,
        "attempt_count": pr.attempt_count,
        "error_kind": pr.error_kind,
        "error_title": pr.error_title,
        "qbo_id": pr.qbo_id,
        "next_attempt_at": pr.next_attempt_at,
        "created_at": pr.created_at,
        "updated_at": pr.updated_at,
        "completed_at": pr.completed_at,
        "warnings": pr.warnings or [],
    }


def _request_detail(pr: PushRequest) -> dict:
    revisions = list(pr.revisions.order_by("number"))
    current = next((r for r in revisions if r.number == pr.revision), None)
    return {
        **_request_summary(pr),
        "error": error_dict(pr),
        "qbo_doc_number": pr.qbo_doc_number,
        "outcome_unknown": pr.outcome_unknown,
        "waiting_on": pr.waiting_on,
        "payload": current.payload if current is not None else {},
        "revisions": [
            {"number": r.number, "author": r.author_label, "note": r.note, "created_at": r.created_at,
             "payload": r.payload}
            for r in revisions
        ],
        "attempts": [
            {"revision": a.revision, "requestid": a.requestid, "started_at": a.started_at,
             "duration_ms": a.duration_ms, "http_status": a.http_status, "outcome": a.outcome,
             "error_kind": a.error_kind, "fault_code": a.fault_code, "intuit_tid": a.intuit_tid,
             "response_body": a.response_body}
            for a in pr.attempts.order_by("id")
        ],
    }


@router.get("/requests", response=RequestPageOut, tags=["requests"])
def list_requests(
    request,
    state: str | None = None,
    error_kind: str | None = None,
    site_area: Id | None = None,
    order_source: Id | None = None,
    order: Id | None = None,
    company: Id | None = None,
    email: str | None = None,
    after: Id | None = None,
    limit: int = 50,
):
    """Push requests, newest first. ``state`` may list several (``failed,cancelled``); keyset
    pagination: pass the answer's ``next_after`` as ``after``."""
    qs = filter_requests(
        limit_to_companies(PushRequest.objects.all(), request.auth),
        states=parse_states(state), error_kind=error_kind, site_area=site_area, order_source=order_source,
        order=order, company=company, email=email,
    )
    page = keyset_page(qs, after, page_size(limit))
    rows, next_after = page.rows, page.next_after
    return {"items": [_request_summary(pr) for pr in rows], "next_after": next_after}


@router.post("/requests/requeue", response={200: BulkRequeueOut, **ERRORS}, tags=["requests"], auth=OPERATOR)
def bulk_requeue(request, payload: BulkRequeueIn):
    """Re-queue the given ``ids``, or every failed request matching ``error_kind`` / ``email`` /
    ``site_area`` (/ ``order_source`` / ``company``). ``payload_patch`` sets top-level payload keys on
    each (a new revision); without it each is re-queued unchanged."""
    user = need(request, "operator")
    ids = actions.bulk_requeue(**payload.dict(), actor=user, actor_label=label(user))
    return {"requeued": ids}


@router.get("/requests/{request_id}", response={200: RequestDetailOut, **ERRORS}, tags=["requests"])
def get_request(request, request_id: int):
    return _request_detail(get_or_404(PushRequest, request_id, "push request", user=request.auth,
                                      company_field="company_id"))


@router.post("/requests/{request_id}/requeue", response={200: RequestDetailOut, **ERRORS}, tags=["requests"], auth=OPERATOR)
def requeue(request, request_id: int, payload: RequeueIn | None = None):
    """Save & Re-Queue. Body optional: ``{"payload": {...}, "note": "..."}``. With a payload it is
    validated and stored as a new revision; without one the current payload is sent again."""
    user = need(request, "operator")
    body = payload or RequeueIn()
    pr = actions.requeue_request(request_id, payload=body.payload, note=body.note, actor=user, actor_label=label(user))
    return _request_detail(pr)


@router.post("/requests/{request_id}/cancel", response={200: RequestDetailOut, **ERRORS}, tags=["requests"], auth=OPERATOR)
def cancel(request, request_id: int, payload: CancelIn | None = None):
    user = need(request, "operator")
    pr = actions.cancel_request(request_id, note=(payload.note if payload else ""), actor=user, actor_label=label(user))
    return _request_detail(pr)


@router.post("/requests/{request_id}/create-customer", response={200: RequestDetailOut, **ERRORS}, tags=["requests"], auth=OPERATOR)
def create_customer(request, request_id: int):
    """For a failed ``customer_ref_required`` request: create the QBO customer from the order (name,
    company, email / BillEmail) and re-queue the request with CustomerRef once it exists. Answers
    the request, now queued and waiting on the customer."""
    user = need(request, "operator")
    create_customer_for_request(request_id, actor=user, actor_label=label(user))
    return _request_detail(get_or_404(PushRequest, request_id, "push request", user=request.auth,
                                      company_field="company_id"))
