"""The site area's create policies, as the hook ``outbox.create_push_request`` takes
(``on_preflight_error``): instead of failing a new document for a missing customer or item, queue
its creation and let the document wait for it. ``ingest`` passes this hook explicitly."""

from __future__ import annotations

from ledgerlink.core.models import Order, PushRequest
from ledgerlink.domain.healing.customers import customer_policy_applies, defer_until_customer_exists
from ledgerlink.domain.healing.items import defer_until_items_exist, item_policy_applies
from ledgerlink.domain.payloads.preflight import PreflightError


def defer_for_missing(pr: PushRequest, order: Order, error: PreflightError) -> bool:
    """True when a create policy took care of ``error`` (the request now waits); False when the
    pre-flight failure stands."""
    if error.kind == "customer_ref_required":
        return defer_until_customer_exists(pr, order)
    if error.kind == "invalid_reference":
        return defer_until_items_exist(pr, order)
    return False


def may_defer_for_missing(order: Order, error: PreflightError) -> bool:
    """Whether ``defer_for_missing`` may take care of ``error`` for this order; False means it
    surely will not (batch ingest writes such requests failed at once, in bulk). No database look-up."""
    if error.kind == "customer_ref_required":
        return customer_policy_applies(order)
    if error.kind == "invalid_reference":
        return item_policy_applies(order)
    return False
