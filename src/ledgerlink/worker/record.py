"""Recording a sent unit through the outbox (``outbox.delivery``, the owner of the states), one log
line per attempt after commit, then the healing a finished customer / item request triggers."""

from __future__ import annotations

import logging
from datetime import datetime

from ledgerlink.core.logging import log_attempt
from ledgerlink.core.models import PushRequest
from ledgerlink.domain.healing.events import after_created_request
from ledgerlink.domain.outbox.delivery import Result, record_delivery
from ledgerlink.quickbooks.client import QBOClient, QBOResponse
from ledgerlink.worker.claim import Unit

log = logging.getLogger("ledgerlink.worker")


def record_results(unit: Unit, results: list[Result], resp: QBOResponse | None, started: datetime,
                   duration_ms: int, worker_id: str) -> None:
    """One transaction (``outbox.delivery.record_delivery``): the request rows, fenced by the unit's
    lease owner, their Attempts, the Orders and the Company's throttle / health."""
    attempts = record_delivery(
        unit.company_id, unit.owner, results, batched=unit.batched,
        intuit_tid=resp.intuit_tid if resp is not None else "", started=started, duration_ms=duration_ms,
        worker_id=worker_id,
    )
    # One structured line per attempt, after commit (never the response body).
    if log_attempts_enabled():
        for res, attempt in zip(results, attempts, strict=True):
            log_attempt(attempt, order=res.request.order_id)


def log_attempts_enabled() -> bool:
    return logging.getLogger("ledgerlink").isEnabledFor(logging.INFO)


def after_customer_results(client: QBOClient, results: list[Result]) -> None:
    """After commit: a created customer or item enters the mirror and heals the requests waiting on
    it; a customer's 6240 duplicate name is resolved (``healing.events.after_created_request``)."""
    for res in results:
        if res.request.kind not in (PushRequest.Kind.CUSTOMER, PushRequest.Kind.ITEM):
            continue
        pr = PushRequest.objects.select_related("company").get(pk=res.request.id)
        try:
            after_created_request(pr, res.entity, client)
        except Exception:  # noqa: BLE001 - the request itself is recorded; healing retries on sync
            log.exception("after %s request %s", pr.kind, pr.pk)
