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
from django.utils import timezone

from ledgerlink.core.models import Item, Order, PushRequest, PushRevision, SiteArea
from ledgerlink.core.services.audit import record_audit

S = PushRequest.State
WAIT_PREFIX = "item:"
ITEM_TYPE = {SiteArea.ItemPolicy.CREATE: "NonInventory", SiteArea.ItemPolicy.CREATE_SERVICE: "Service"}


def waiting_key(sku: str) -> str:
    return f"{WAIT_PREFIX}{sku.strip()}"[:64]


def item_name(sku: str) -> str:
    """QBO Item names: at most 100 characters, no ':' tab or newline."""
    from ledgerlink.core.services.customers import sanitize_display_name

    return sanitize_display_name(sku)[:100]


def missing_skus(order: Order) -> list[str]:
    from ledgerlink.core.services.payloads import find_item_for_sku

    company = order.order_source.site_area.company
    missing = []
    for line in order.lines.all().order_by("position", "id"):
        sku = (line.sku or "").strip()
        if sku and find_item_for_sku(company, sku) is None and sku not in missing:
            missing.append(sku)
    return missing


def _item_request(company, sku: str, site_area: SiteArea) -> PushRequest:
    from ledgerlink.core.services.requests import create_push_request

    key = sku.strip()
    existing = (
        PushRequest.objects.filter(company=company, kind=PushRequest.Kind.ITEM, email=key[:320])
        .exclude(state=S.CANCELLED)
        .order_by("-id")
        .first()
    )
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


def defer_until_items_exist(pr: PushRequest, order: Order) -> bool:
    """For the ``create`` item policies: queue the first missing SKU's Item and let ``pr`` wait.
    False when the policy does not apply (the invalid_reference failure then stands)."""
    site_area = order.order_source.site_area
    if site_area.item_policy not in ITEM_TYPE or not site_area.income_account:
        return False
    if order.default_item or site_area.default_item:
        return False  # unmapped SKUs use the default item: the failure is about something else
    missing = missing_skus(order)
    if not missing:
        return False
    from ledgerlink.core.services.requests import park_waiting

    _item_request(site_area.company, missing[0], site_area)
    park_waiting(pr, waiting_key(missing[0]), order)
    return True


def heal_requests_for_items(company, items: list[Item]) -> list[int]:
    """Documents waiting on one of these items' SKUs (or names): rebuild the payload from the order
    as a system revision and queue it (or wait on the next missing SKU)."""
    from ledgerlink.core.services.payloads import build_payload, preflight_payload

    keys = set()
    for item in items:
        if item is not None and item.active:
            for value in (item.sku, item.name):
                if value:
                    keys.add(waiting_key(value))
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
            locked.revision += 1
            PushRevision.objects.create(
                push_request=locked, number=locked.revision, payload=payload, author_label="system",
                note=f"rebuilt: the item for {locked.waiting_on[len(WAIT_PREFIX):]} now exists",
            )
            locked.waiting_on = ""
            locked.next_attempt_at = timezone.now()
            locked.updated_at = timezone.now()
            locked.save(update_fields=["revision", "waiting_on", "next_attempt_at", "updated_at"])
            error = preflight_payload(locked.company, locked.kind, payload)
            if error is not None and error.kind == "invalid_reference":
                defer_until_items_exist(locked, locked.order)
            record_audit("push_request.healed", actor_label="system", obj=locked, waiting_on=pr.waiting_on)
            healed.append(locked.pk)
    return healed


def after_item_request(pr: PushRequest, response_entity: dict | None) -> list[int]:
    """Worker hook: a created Item enters the mirror and heals what waits on it."""
    from ledgerlink.core.services.mirror import apply_item

    if pr.state != S.SUCCEEDED or not response_entity:
        return []
    item = apply_item(pr.company, response_entity)
    return heal_requests_for_items(pr.company, [item]) if item else []
