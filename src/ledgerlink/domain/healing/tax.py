"""Requests that wait on a tax rate (``tax_code_unmapped``, caught by pre-flight): when the rate maps
to a QuickBooks tax code (a saved mapping, or a sync that brought a code whose total is the rate),
each one's payload is rebuilt from its order and re-queued as a system revision."""

from __future__ import annotations

from ledgerlink.core.models import Company, PushRequest
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.outbox.actions import requeue_request
from ledgerlink.domain.payloads.build import build_payload
from ledgerlink.domain.tax.mapping import company_world, rate_is_mapped, set_tax_mapping, waiting_rates


def requeue_waiting_on_rates(company: Company) -> list[int]:
    """Rebuild and re-queue every failed request whose rate now has a code; the ids, oldest first."""
    company = Company.objects.get(pk=company.pk)
    world = company_world(company)
    healed: list[int] = []
    for rate, ids in waiting_rates(company).items():
        if not rate_is_mapped(world, rate):
            continue
        for pr in PushRequest.objects.filter(pk__in=ids).select_related("order__order_source__site_area__company"):
            if pr.order is None:
                continue
            _, payload = build_payload(pr.order)
            requeue_request(
                pr.pk, payload=payload, note=f"rebuilt: the tax rate {rate} % now has a QuickBooks tax code",
                actor_label="system",
            )
            record_audit("push_request.healed", actor_label="system", obj=pr, waiting_on=f"tax_rate:{rate}")
            healed.append(pr.pk)
    return sorted(healed)


def requeue_refused_tax_codes(company: Company) -> list[int]:
    """Failed ``tax_code_invalid`` documents (QBO refused their codes): rebuilt from their orders with
    the current mapping and re-queued."""
    healed = []
    failed = PushRequest.objects.filter(
        company=company, state=PushRequest.State.FAILED, error_kind="tax_code_invalid", order__isnull=False
    ).select_related("order__order_source__site_area__company").order_by("id")
    for pr in failed:
        _, payload = build_payload(pr.order)
        requeue_request(pr.pk, payload=payload, note="rebuilt with the saved tax mapping", actor_label="system")
        healed.append(pr.pk)
    return healed


def save_tax_mapping(company_id: int, data, *, actor=None, actor_label: str | None = None) -> tuple[Company, list[int]]:
    """Save the mapping (``tax.mapping.set_tax_mapping``), then re-queue what waited on a now mapped
    rate, and the documents whose codes QBO refused, rebuilt ("Map and re-queue all"). Returns
    (company, re-queued request ids)."""
    company = set_tax_mapping(company_id, data, actor=actor, actor_label=actor_label)
    return company, sorted(requeue_waiting_on_rates(company) + requeue_refused_tax_codes(company))
