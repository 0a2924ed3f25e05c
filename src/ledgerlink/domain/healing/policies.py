"""The site area's create policies, as the hook ``outbox.create_push_request`` takes
(``on_preflight_error``): instead of failing a new document for a missing customer or item, queue
its creation and let the document wait for it. ``ingest`` passes this hook explicitly."""

from __future__ import annotations

from ledgerlink.core.models import Order, PushRequest
from ledgerlink.domain.healing.customers import defer_until_customer_exists
from ledgerlink.domain.healing.items import defer_until_items_exist
from ledgerlink.domain.payloads.preflight import PreflightError


def defer_for_missing(pr: PushRequest, order: Order, error: PreflightError) -> bool:
    """True when a create policy took care of ``error`` (the request now waits); False when the
    pre-flight failure stands."""
    if error.kind == "customer_ref_required":
        return defer_until_customer_exists(pr, order)
    if error.kind == "invalid_reference":
        return defer_until_items_exist(pr, order)
    return False
