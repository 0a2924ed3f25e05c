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
    if req.kind in wire.MARKED_KINDS:
        return _lookup_marked(client, entity, req)
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


def _lookup_marked(client: QBOClient, entity: str, req: Claimed) -> tuple[dict | None, QBOResponse | None]:
    """A payment / credit memo / refund receipt by its PrivateNote (``ledgerlink-order:{id}
    payment:{external id}``, one per intent); a voided one reads "Voided - <note>"."""
    note = str(req.payload.get("PrivateNote") or "")
    if not note:
        return None, None
    try:
        rows = client.find_by_private_note(entity, note)
    except QBOError as e:
        return None, e.response
    for row in rows:
        text = str(row.get("PrivateNote") or "")
        if text == note or text.endswith(" - " + note):
            return row, None
    return None, None


# Sent alone, never inside a batch: they read before they write.
SOLO_KINDS = (*wire.TARGETED_KINDS, "payment_method")
STALE_RETRIES = 3  # 5010: re-read the SyncToken and send again, at most this many times


def _send_targeted(client: QBOClient, req: Claimed) -> tuple[Result, QBOResponse | None]:
    """``update`` / ``void`` of the order's document: sent with the SyncToken Ledgerlink knows (read
    first when it knows none); on 5010 (someone changed it in QBO) the document is re-read and the
    write sent again with its SyncToken, by itself."""
    entity = wire.entity_for(req.kind, req.payload)
    body = wire.wire_body(req.payload)
    doc_id = str(body.get("Id") or "")
    notes = []
    if body.get("SyncToken") in (None, ""):
        token, failed = _read_sync_token(client, entity, doc_id)
        if failed is not None:
            return _result_from_response(req, failed, entity), failed
        body["SyncToken"] = token
    resp = None
    for _ in range(STALE_RETRIES + 1):
        resp = _write_targeted(client, entity, req, body)
        fault = resp.fault
        if fault is None or fault.kind != "stale_object":
            break
        token, failed = _read_sync_token(client, entity, doc_id)
        if failed is not None:
            return _result_from_response(req, failed, entity), failed
        notes.append(f"5010 with SyncToken {body['SyncToken']}; re-read: {token}")
        body["SyncToken"] = token
    result = _result_from_response(req, resp, entity)
    if notes:
        result.body = _dumps({"staleRetries": notes}) + "\n" + result.body
    return result, resp


def _write_targeted(client: QBOClient, entity: str, req: Claimed, body: dict) -> QBOResponse:
    if req.kind == "update":
        return client.update(entity, body, requestid=req.requestid, sparse=True)
    target = {"Id": body.get("Id"), "SyncToken": body.get("SyncToken")}
    if entity == "Invoice":
        return client.request("POST", wire.path_for(entity), params={"operation": "void"}, json_body=target,
                              requestid=req.requestid)
    return client.request("POST", wire.path_for(entity), params={"operation": "update", "include": "void"},
                          json_body={**target, "sparse": True}, requestid=req.requestid)


def _read_sync_token(client: QBOClient, entity: str, doc_id: str) -> tuple[str, QBOResponse | None]:
    resp = client.read(entity, doc_id)
    doc = resp.entity(entity) if resp.ok else None
    if not isinstance(doc, dict):
        return "", resp
    return str(doc.get("SyncToken", "")), None


def _send_payment_method(client: QBOClient, req: Claimed) -> tuple[Result, QBOResponse | None]:
    """A payment method by name: looked up first (QBO's list may have it), created only when missing."""
    name = str(req.payload.get("Name") or "")
    try:
        rows = client.query_rows(f"SELECT * FROM PaymentMethod WHERE Name = {wire.sql_quote(name)}", "PaymentMethod")
    except QBOError as e:
        return _result_from_response(req, e.response, "PaymentMethod"), e.response
    if rows:
        found = rows[0]
        return Result(req, Attempt.Outcome.SUCCEEDED, 200, _dumps({"PaymentMethod": found, "foundBy": "look-up"}),
                      entity=found), None
    resp = client.create("PaymentMethod", wire.wire_body(req.payload), requestid=req.requestid)
    return _result_from_response(req, resp, "PaymentMethod"), resp


def _send_single(client: QBOClient, req: Claimed) -> tuple[Result, QBOResponse | None]:
    entity = wire.entity_for(req.kind, req.payload)
    if req.kind in wire.TARGETED_KINDS:
        return _send_targeted(client, req)
    if req.kind == "payment_method":
        return _send_payment_method(client, req)
    if req.outcome_unknown:
        found, failed = _lookup(client, entity, req)
        if failed is not None:
            return _result_from_response(req, failed, entity), failed
        if found is not None:
            return Result(req, Attempt.Outcome.SUCCEEDED, 200, _dumps({entity: found, "foundBy": "look-up"}),
                          entity=found), None
    body = wire.wire_body(req.payload)
    if _op_for(body) == "update":
        resp = client.update(entity, body, requestid=req.requestid, sparse=bool(body.get("sparse")))
    else:
        resp = client.create(entity, body, requestid=req.requestid)
    return _result_from_response(req, resp, entity), resp


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
    requests = unit.requests
    solo = [r for r in requests if not unit.batched or r.kind in SOLO_KINDS]
    batch = [r for r in requests if unit.batched and r.kind not in SOLO_KINDS]
    if len(batch) == 1:
        solo, batch = solo + batch, []
    results: list[Result] = []
    last: QBOResponse | None = None
    for req in solo:
        res, resp = _send_single(client, req)
        res.batched = False  # a request a batch unit holds but sends alone (update, void, payment method)
        results.append(res)
        last = resp or last
    if not batch:
        return results, last, started, _ms(t0)
    batch_results_, resp = _send_batch(client, unit, batch)
    return results + batch_results_, resp, started, _ms(t0)


def _send_batch(client: QBOClient, unit: Unit, requests: list[Claimed]) -> tuple[list[Result], QBOResponse]:
    items = []
    for req in requests:
        entity = wire.entity_for(req.kind, req.payload)
        body = wire.wire_body(req.payload)
        items.append({"bId": str(req.id), "operation": _op_for(body), entity: body})
    # The stamped requestid when the batch is the whole unit; else (its update / void / payment method
    # requests sent alone) the requestid of what is sent, the same on every re-send of the unit.
    rid = (unit.batch_requestid if unit.batch_requestid and len(requests) == len(unit.requests)
           else wire.batch_requestid(r.requestid for r in requests))
    resp = client.batch(items, requestid=rid)
    results = []
    if resp.ok:
        by_bid = batch_results(resp)
        for req in requests:
            entity = wire.entity_for(req.kind, req.payload)
            item, fault = by_bid.get(str(req.id), (None, None))
            if item is None:
                # The batch answered without this item: treat as unknown, look it up next time.
                results.append(Result(req, Attempt.Outcome.UNKNOWN, resp.status, "batch answer without this bId",
                                      make("unknown", "batch answer without this bId"), unknown=True,
                                      applied_unknown_flag=True))
            else:
                results.append(_result_from_response(req, resp, entity, item, fault))
    else:
        for req in requests:
            results.append(_result_from_response(req, resp, wire.entity_for(req.kind, req.payload)))
    return results, resp


def _ms(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)
