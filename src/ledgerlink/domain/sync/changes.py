"""Applying QBO's changes to the mirror, then healing what waits on them: the explicit upward call
the layering asks for (the mirror knows nothing of push requests; ``sync`` calls ``healing``)."""

from __future__ import annotations

from ledgerlink.core.models import Company, Customer, Item
from ledgerlink.domain.healing.events import heal_after_customers_changed, heal_after_items_changed
from ledgerlink.domain.mirror.store import apply_records


def apply_changes(company: Company, entity: str, records: list[dict]) -> list[Customer | Item]:
    """Apply CDC / webhook records (``mirror.store.apply_records``), then heal the requests waiting
    on the customers or items that changed. Returns what changed."""
    applied = apply_records(company, entity, records)
    if entity == "Customer":
        heal_after_customers_changed(company, applied)
    elif applied:
        heal_after_items_changed(company, applied)
    return applied
