"""Sending one unit: the HTTP exchange(s) with QBO and what each request's came to (``Result``).

A request whose last outcome is unknown is first looked up (DocNumber, else the PrivateNote marker
``ledgerlink-order:{id}``), then re-sent with the same requestid (QBO replays its first answer).
"""

from __future__ import annotations

import json
import time
from datetime import datetime

from django.utils import timezone

from ledgerlink.core.models import Attempt
from ledgerlink.domain.outbox.delivery import Result
from ledgerlink.domain.outbox.leases import Claimed
from ledgerlink.quickbooks import wire
from ledgerlink.quickbooks.client import QBOClient, QBOError, QBOResponse, batch_results
from ledgerlink.quickbooks.errors import Classification, make
from ledgerlink.worker.claim import Unit


def _op_for(payload: dict) -> str:
    return "update" if payload.get("Id") and payload.get("SyncToken") is not None else "create"


def _lookup(client: QBOClient, entity: str, req: Claimed) -> tuple[dict | None, QBOResponse | None]:
    """Find the document a previous attempt may have created. Returns (document, failed response)."""
    if req.kind not in wire.DOCUMENT_KINDS:
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
    return json.dumps(obj, separators=(",", ":"), default=str)


def send_unit(client: QBOClient, unit: Unit) -> tuple[list[Result], QBOResponse | None, datetime, int]:
    """Do the HTTP exchange(s) of a unit. Returns (results, response, started_at, duration_ms)."""
    started = timezone.now()
    t0 = time.perf_counter()
    if not unit.batched:
        req = unit.requests[0]
        entity = wire.ENTITY_FOR_KIND.get(req.kind, "Invoice")
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
        entity = wire.ENTITY_FOR_KIND.get(req.kind, "Invoice")
        items.append({"bId": str(req.id), "operation": _op_for(req.payload), entity: req.payload})
    rid = unit.batch_requestid or wire.batch_requestid(r.requestid for r in unit.requests)
    resp = client.batch(items, requestid=rid)
    results = []
    if resp.ok:
        by_bid = batch_results(resp)
        for req in unit.requests:
            entity = wire.ENTITY_FOR_KIND.get(req.kind, "Invoice")
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
            results.append(_result_from_response(req, resp, wire.ENTITY_FOR_KIND.get(req.kind, "Invoice")))
    return results, resp, started, _ms(t0)


def _ms(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)
