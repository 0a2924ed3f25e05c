"""Items that appear on their own: the site area's ``create`` item policies.

An order line whose SKU matches no Item (by Sku, then Name) and that has no default item would be
refused by QBO (2500, invalid reference). With ``item_policy`` ``create`` (NonInventory) or
``create_service`` (Service) and the site area's income account set, the missing Item is queued as
a push request of kind ``item`` (one per Company and SKU) and the document waits
(``waiting_on = "item:<sku>"``). When the item exists (its request succeeded, or a sync / webhook
brought it), the waiting document's payload is rebuilt from its order as a new revision authored by
the system, and queued; a second missing SKU makes it wait again.
"""

from __future__ import annotations

from django.db import transaction

from ledgerlink.core.models import Item, Order, PushRequest, SiteArea
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.healing.customers import sanitize_display_name
from ledgerlink.domain.mirror.match import find_item_for_sku
from ledgerlink.domain.mirror.store import apply_item
from ledgerlink.domain.outbox.actions import requeue_request
from ledgerlink.domain.outbox.create import create_push_request
from ledgerlink.domain.outbox.selectors import latest_request_keyed
from ledgerlink.domain.outbox.transitions import (
    ITEM_WAIT,
    S,
    item_waiting_key,
    park_waiting,
    release_with_revision,
)
from ledgerlink.domain.payloads.build import SHIPPING_ITEM_ID, build_payload
from ledgerlink.domain.payloads.preflight import preflight_payload

ITEM_TYPE = {SiteArea.ItemPolicy.CREATE: "NonInventory", SiteArea.ItemPolicy.CREATE_SERVICE: "Service"}


def item_name(sku: str) -> str:
    """QBO Item names: at most 100 characters, no ':' tab or newline."""
    return sanitize_display_name(sku)[:100]


def missing_skus(order: Order) -> list[str]:
    company = order.order_source.site_area.company
    missing = []
    for line in order.lines.all().order_by("position", "id"):
        sku = (line.sku or "").strip()
        if sku and find_item_for_sku(company, sku) is None and sku not in missing:
            missing.append(sku)
    return missing


def ensure_item_request(company, sku: str, site_area: SiteArea) -> PushRequest:
    """The Company's item request for ``sku``: an existing one (not cancelled) or a new queued one."""
    key = sku.strip()
    existing = latest_request_keyed(company.pk, PushRequest.Kind.ITEM, key[:320])
    if existing is not None:
        return existing
    payload = {
        "Name": item_name(sku),
        "Sku": key[:100],
        "Type": ITEM_TYPE[site_area.item_policy],
        "IncomeAccountRef": {"value": site_area.income_account},
    }
    pr = create_push_request(
        company=company, kind=PushRequest.Kind.ITEM, payload=payload, actor_label="policy:create-item",
        note=f"item for SKU {key}",
    )
    # Item requests are keyed by SKU in the ``email`` column (the lists' per-request key).
    pr.email = key[:320]
    pr.save(update_fields=["email"])
    return pr


def item_policy_applies(order: Order) -> bool:
    """Whether a ``create`` item policy may take care of the order's missing items (no database
    look-up: batch ingest asks before it writes)."""
    site_area = order.order_source.site_area
    if site_area.item_policy not in ITEM_TYPE or not site_area.income_account:
        return False
    # unmapped SKUs use the default item: the failure is about something else
    return not (order.default_item or site_area.default_item)


def defer_until_items_exist(pr: PushRequest, order: Order) -> bool:
    """For the ``create`` item policies: queue the first missing SKU's Item and let ``pr`` wait.
    False when the policy does not apply (the invalid_reference failure then stands)."""
    if not item_policy_applies(order):
        return False
    site_area = order.order_source.site_area
    missing = missing_skus(order)
    if not missing:
        return False
    ensure_item_request(site_area.company, missing[0], site_area)
    park_waiting(pr, item_waiting_key(missing[0]), order)
    return True


def rebuild_waiting_on_items(company, items: list[Item]) -> list[int]:
    """Documents waiting on one of these items' SKUs (or names): the payload is rebuilt from the order
    as a system revision and queued (or waits on the next missing SKU)."""
    keys = set()
    for item in items:
        if item is not None and item.active:
            for value in (item.sku, item.name):
                if value:
                    keys.add(item_waiting_key(value))
    if not keys:
        return []
    healed = []
    waiting = PushRequest.objects.filter(company=company, waiting_on__in=keys, state=S.QUEUED).exclude(
        order__isnull=True
    ).order_by("id")
    for pr in waiting:
        with transaction.atomic():
            locked = PushRequest.objects.select_for_update(of=("self",)).select_related("order").get(pk=pr.pk)
            if locked.waiting_on not in keys or locked.state != S.QUEUED:
                continue
            _, payload = build_payload(locked.order)
            release_with_revision(
                locked, payload, f"rebuilt: the item for {locked.waiting_on[len(ITEM_WAIT):]} now exists"
            )
            error = preflight_payload(locked.company, locked.kind, payload)
            if error is not None and error.kind == "invalid_reference":
                defer_until_items_exist(locked, locked.order)
            record_audit("push_request.healed", actor_label="system", obj=locked, waiting_on=pr.waiting_on)
            healed.append(locked.pk)
    return healed


def requeue_failed_for_items(company) -> list[int]:
    """Failed ``invalid_reference`` requests whose payload's ItemRefs all exist (active) in the mirror
    now are re-queued unchanged (a new revision authored by the system)."""
    healed = []
    active = set(Item.objects.filter(company=company, active=True).values_list("qbo_id", flat=True))
    failed = PushRequest.objects.filter(
        company=company, state=PushRequest.State.FAILED, error_kind="invalid_reference"
    ).order_by("id")[:500]
    for pr in failed:
        payload = pr.revisions.get(number=pr.revision).payload
        refs = [
            str(((line.get("SalesItemLineDetail") or {}).get("ItemRef") or {}).get("value", ""))
            for line in payload.get("Line") or []
            if isinstance(line, dict) and line.get("DetailType") == "SalesItemLineDetail"
        ]
        refs = [r for r in refs if r and r != SHIPPING_ITEM_ID]
        if refs and all(r in active for r in refs):
            requeue_request(pr.pk, note="the missing item now exists in QuickBooks", actor_label="system")
            healed.append(pr.pk)
    return healed




def after_item_request(pr: PushRequest, response_entity: dict | None) -> list[int]:
    """After the worker recorded an item request: a created Item enters the mirror and the documents
    waiting on it are rebuilt."""
    if pr.state != S.SUCCEEDED or not response_entity:
        return []
    item = apply_item(pr.company, response_entity)
    return rebuild_waiting_on_items(pr.company, [item]) if item else []
