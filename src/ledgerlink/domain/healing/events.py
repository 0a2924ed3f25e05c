"""What healing reacts to, one entry point per event; ``sync`` and the worker call these after they
changed the mirror or recorded a customer / item request.

    heal_after_full_sync            every request waiting on a customer, item or tax code the mirror now has
    heal_after_customers_changed    requests waiting on these customers' emails get CustomerRef
    heal_after_items_changed        documents waiting on these items are rebuilt; failed
                                    invalid_reference requests whose items all exist are re-queued
    after_created_request           a customer / item request finished: mirror it, then the above
"""

from __future__ import annotations

from ledgerlink.core.models import Company, Customer, Item, PushRequest
from ledgerlink.domain.healing.customers import (
    after_customer_request,
    fill_customer_refs_for,
    fill_customer_refs_for_waiting,
)
from ledgerlink.domain.healing.items import (
    after_item_request,
    rebuild_waiting_on_items,
    requeue_failed_for_items,
)
from ledgerlink.domain.healing.tax import requeue_waiting_on_rates


def heal_after_full_sync(company: Company, synced: dict[str, int]) -> None:
    """After a full sync of ``synced`` entities: requests waiting on a customer or an item the mirror
    now has are completed in a new system revision and queued."""
    if "Customer" in synced:
        fill_customer_refs_for_waiting(company)
    if "Item" in synced:
        rebuild_waiting_on_items(company, list(Item.objects.filter(company=company, active=True)))
        requeue_failed_for_items(company)
    requeue_waiting_on_rates(company)  # the sync read the tax codes: a rate may have a code now


def heal_after_customers_changed(company: Company, customers: list[Customer]) -> list[int]:
    return fill_customer_refs_for(company, customers)


def heal_after_items_changed(company: Company, items: list[Item]) -> list[int]:
    return rebuild_waiting_on_items(company, items) + requeue_failed_for_items(company)


def after_created_request(pr: PushRequest, response_entity: dict | None, client=None) -> list[int]:
    """A customer or item request was recorded (succeeded, or a customer's 6240 duplicate name)."""
    if pr.kind == PushRequest.Kind.CUSTOMER:
        return after_customer_request(pr, response_entity, client)
    if pr.kind == PushRequest.Kind.ITEM:
        return after_item_request(pr, response_entity)
    return []
