"""Edits of a payload: ``validate_edited_payload`` guards "Edit for Re-Queue" and the API's re-queue
body; the quick fix (BillEmail / CustomerRef fields of the request page) and a bulk re-queue's
``payload_patch`` are applied here."""

from __future__ import annotations

import copy
import json
import math

from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.inputs import check_json
from ledgerlink.domain.payloads.preflight import KIND_ENTITY

MAX_EDIT_BYTES = 1_000_000
QUICK_FIX_KEYS = ("BillEmail", "CustomerRef")  # what the request page's quick fix sets

_WRAPPERS = {
    "Invoice", "SalesReceipt", "Customer", "Item", "Payment", "Estimate", "CreditMemo", "RefundReceipt",
    "Bill", "JournalEntry", "BatchItemRequest", "IntuitResponse", "QueryResponse",
}
_UPDATE_KEYS = ("Id", "SyncToken")


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _require_number(value, field: str) -> None:
    if not _is_number(value):
        raise ServiceError("must be a number", field=field)


def _check_finite(value, path: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ServiceError("must be a finite number (NaN and Infinity are not JSON)", field=path)
    if isinstance(value, dict):
        for key, inner in value.items():
            _check_finite(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _check_finite(inner, f"{path}[{index}]")


def _check_no_nul(value, path: str) -> None:
    """QuickBooks refuses the NUL character and PostgreSQL's jsonb cannot store it."""
    if isinstance(value, str) and "\x00" in value:
        raise ServiceError("must not contain the NUL character (\\u0000)", field=path)
    if isinstance(value, dict):
        for key, inner in value.items():
            if "\x00" in key:
                raise ServiceError("has a key with the NUL character (\\u0000)", field=path)
            _check_no_nul(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _check_no_nul(inner, f"{path}[{index}]")


def validate_edited_payload(kind: str, payload, current: dict | None = None) -> dict:
    """Check an edited payload before it becomes a new revision. Returns it (a dict) or raises
    ServiceError naming the field (``payload.Line[0].Amount``). The edit may change the JSON body
    only: never the kind of document, the target document or the company. A create stays a create
    (no ``Id``/``SyncToken``/``sparse``); an update (``current`` has an ``Id``) keeps its ``Id`` and
    may change ``SyncToken`` (the fix for a stale object)."""
    if not isinstance(payload, dict):
        raise ServiceError("must be a JSON object (the bare document body)", field="payload")
    check_json(payload, "payload")  # nesting (MAX_JSON_DEPTH) and lone surrogates, before anything recurses
    try:
        text = json.dumps(payload, allow_nan=False)
        size = len(text.encode())
        if "\\u0000" in text:
            _check_no_nul(payload, "payload")
    except ValueError as exc:
        _check_finite(payload, "payload")
        raise ServiceError(f"is not valid JSON: {exc}", field="payload") from exc
    except RecursionError as exc:
        raise ServiceError("is nested too deeply: a QuickBooks document is a few levels deep", field="payload") from exc
    if size > MAX_EDIT_BYTES:
        raise ServiceError(
            f"is {size:,} bytes; an edited payload may be at most {MAX_EDIT_BYTES:,} bytes",
            field="payload",
            status=413,
        )
    if not payload:
        raise ServiceError("must not be empty", field="payload")
    entity = KIND_ENTITY.get(kind, kind)
    for key in payload:
        if key in _WRAPPERS:
            raise ServiceError(
                f"must be the bare {entity} body, not wrapped in {key!r}; the kind of document cannot change",
                field=f"payload.{key}",
            )
    if "domain" in payload and payload["domain"] != "QBO":
        raise ServiceError('must be "QBO" if given', field="payload.domain")
    target = (current or {}).get("Id") if isinstance(current, dict) else None
    if target is None:
        for key in _UPDATE_KEYS:
            if key in payload:
                raise ServiceError(
                    "cannot be set: a re-queue creates the document, it never targets another one",
                    field=f"payload.{key}",
                )
        if payload.get("sparse") not in (None, False):
            raise ServiceError("cannot be true: a re-queue creates the document", field="payload.sparse")
    else:
        if str(payload.get("Id", "")) != str(target):
            raise ServiceError(f'must stay "{target}": an edit never targets another document', field="payload.Id")
        if not isinstance(payload.get("SyncToken"), str | int) or isinstance(payload.get("SyncToken"), bool):
            raise ServiceError("is required to update a document", field="payload.SyncToken")

    if "Line" in payload:
        lines = payload["Line"]
        if not isinstance(lines, list):
            raise ServiceError("must be a list of lines", field="payload.Line")
        for index, line in enumerate(lines):
            path = f"payload.Line[{index}]"
            if not isinstance(line, dict):
                raise ServiceError("must be an object", field=path)
            if "Amount" in line:
                _require_number(line["Amount"], f"{path}.Amount")
            if "DetailType" in line and not isinstance(line["DetailType"], str):
                raise ServiceError("must be a string", field=f"{path}.DetailType")
            for detail_key in ("SalesItemLineDetail", "DiscountLineDetail"):
                if detail_key not in line:
                    continue
                detail = line[detail_key]
                if not isinstance(detail, dict):
                    raise ServiceError("must be an object", field=f"{path}.{detail_key}")
                for number_key in ("Qty", "UnitPrice", "DiscountPercent"):
                    if number_key in detail:
                        _require_number(detail[number_key], f"{path}.{detail_key}.{number_key}")
                if "ItemRef" in detail and not (
                    isinstance(detail["ItemRef"], dict) and "value" in detail["ItemRef"]
                ):
                    raise ServiceError('must be an object with a "value"', field=f"{path}.{detail_key}.ItemRef")
    for ref_key in ("CustomerRef", "CurrencyRef"):
        if ref_key in payload:
            ref = payload[ref_key]
            if not isinstance(ref, dict) or not isinstance(ref.get("value"), str | int) or ref.get("value") in ("",):
                raise ServiceError('must be an object with a non-empty "value"', field=f"payload.{ref_key}")
    if "BillEmail" in payload:
        bill = payload["BillEmail"]
        if not isinstance(bill, dict) or not isinstance(bill.get("Address"), str):
            raise ServiceError('must be an object with an "Address" string', field="payload.BillEmail")
    if "TxnTaxDetail" in payload:
        tax = payload["TxnTaxDetail"]
        if not isinstance(tax, dict):
            raise ServiceError("must be an object", field="payload.TxnTaxDetail")
        if "TotalTax" in tax:
            _require_number(tax["TotalTax"], "payload.TxnTaxDetail.TotalTax")
    for text_key in ("DocNumber", "PrivateNote", "TxnDate"):
        if text_key in payload and not isinstance(payload[text_key], str):
            raise ServiceError("must be a string", field=f"payload.{text_key}")
    return payload


def apply_quick_fix(payload: dict, *, bill_email: str = "", customer_value: str = "", customer_name: str = "") -> dict:
    """The request page's quick fix: BillEmail.Address and/or CustomerRef set on a copy of ``payload``."""
    payload = dict(payload)
    if bill_email:
        payload["BillEmail"] = {"Address": bill_email}
    if customer_value:
        ref = {"value": customer_value}
        if customer_name:
            ref["name"] = customer_name
        payload["CustomerRef"] = ref
    return payload


def quick_fix_of(old: dict, new: dict) -> dict:
    """The quick-fix keys an edit changed (``new`` against ``old``), with their new values."""
    old, new = old or {}, new or {}
    return {k: new[k] for k in QUICK_FIX_KEYS if k in new and new.get(k) != old.get(k)}


def apply_patch(payload: dict, patch: dict) -> dict:
    """A bulk re-queue's ``payload_patch``: top-level keys set (``None`` removes one) on a copy."""
    merged = copy.deepcopy(payload)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
