"""Ledgerlink's side of QBO's wire format, defined once: entity names and URL paths, the
``requestid`` of a push request, the PrivateNote marker of an order, and QBO query quoting.

Pure functions over plain values (no models): the outbox, the payload builder, the worker and the
client all use these.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

# QBO's limits per company (realm) (reference/qbo-api-facts.md; DESIGN.md invariant 5): a Company's own
# limits (``Company.max_in_flight`` ...) may be lower, never higher.
QBO_LIMITS = {
    "max_in_flight": 10,  # concurrent requests
    "max_per_minute": 500,  # requests a minute
    "max_batches_per_minute": 40,  # /batch requests a minute
    "batch_size": 30,  # items in one /batch request
}

# Entity name -> path segment of /v3/company/{realm}/{path}.
ENTITY_PATHS = {
    "Invoice": "invoice",
    "SalesReceipt": "salesreceipt",
    "Customer": "customer",
    "Item": "item",
    "Account": "account",
    "Payment": "payment",
    "CreditMemo": "creditmemo",
    "RefundReceipt": "refundreceipt",
    "PaymentMethod": "paymentmethod",
    "Preferences": "preferences",
    "CompanyInfo": "companyinfo",
}

# Push-request kind (PushRequest.Kind values) -> the QBO entity it writes.
ENTITY_FOR_KIND = {
    "invoice": "Invoice",
    "sales_receipt": "SalesReceipt",
    "customer": "Customer",
    "item": "Item",
    "payment": "Payment",
    "credit_memo": "CreditMemo",
    "refund_receipt": "RefundReceipt",
    "payment_method": "PaymentMethod",
}
# The kinds that are sales documents (one per order; looked up by DocNumber / PrivateNote marker).
DOCUMENT_KINDS = ("invoice", "sales_receipt")

# The kinds that write after the order's document (domain.lifecycle). ``update`` and ``void`` target
# the document, whose entity the payload names under ``_entity``; they are sent alone (read, then write).
FOLLOW_UP_KINDS = ("update", "void", "payment", "credit_memo", "refund_receipt", "payment_method")
TARGETED_KINDS = ("update", "void")
# The kinds found by their PrivateNote marker after an unknown outcome (one per order and intent).
MARKED_KINDS = ("payment", "credit_memo", "refund_receipt")
# Keys of a payload that are Ledgerlink's, never sent: ``_entity`` (the target of update / void) and
# ``_fill`` (values still to come from the requests it waits on: [[path, request id, source], ...]).
PRIVATE_KEYS = ("_entity", "_fill")

# The PrivateNote the payload builder writes on every document: ``ledgerlink-order:{order id}``.
PRIVATE_NOTE_PREFIX = "ledgerlink-order:"


def path_for(entity: str) -> str:
    return ENTITY_PATHS.get(entity, entity.lower())


def requestid(push_request_id: int, revision: int) -> str:
    """QBO's ``requestid`` for one revision of a push request: stable per (request, revision), at
    most 36 characters so a batch item may carry it (invariant 2)."""
    return f"ll-{push_request_id}-r{revision}"


def batch_requestid(requestids: Iterable[str]) -> str:
    """The requestid of a /batch call: the same items in the same revisions give the same id."""
    return "llb-" + hashlib.sha1(",".join(requestids).encode()).hexdigest()[:32]


def order_marker(order_id) -> str:
    """The PrivateNote marker the payload builder writes and the worker's look-up searches for."""
    return f"{PRIVATE_NOTE_PREFIX}{order_id}"


def has_marker(note: str | None, order_id) -> bool:
    """Whether a PrivateNote carries this order's marker (``ledgerlink-order:4`` is not in
    ``ledgerlink-order:42``)."""
    return bool(note) and re.search(re.escape(order_marker(order_id)) + r"(?!\d)", note) is not None


def intent_marker(order_id, intent: str, external_id: str) -> str:
    """The PrivateNote of a payment / refund: ``ledgerlink-order:{id} payment:{external id}``. It
    starts with the order's marker, so a look-up by order finds the order's payments and refunds."""
    return f"{order_marker(order_id)} {intent}:{external_id}"


def wire_body(payload: dict) -> dict:
    """The body QBO is sent: the payload without Ledgerlink's private keys."""
    return {k: v for k, v in payload.items() if k not in PRIVATE_KEYS}


def entity_for(kind: str, payload: dict | None = None) -> str:
    """The QBO entity a request of ``kind`` writes (``update`` / ``void``: the payload's ``_entity``)."""
    if kind in TARGETED_KINDS:
        return str((payload or {}).get("_entity") or "Invoice")
    return ENTITY_FOR_KIND.get(kind, "Invoice")


def sql_quote(value: str) -> str:
    """A string literal of QBO's query language (backslash and single quote escaped)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
