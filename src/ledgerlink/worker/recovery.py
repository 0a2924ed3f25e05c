"""Recovery: the requests of a worker that died (lease expired) and the units this process claimed
but will not send (stopping, or its lease ran out while it stalled). The state changes are
``outbox.leases``'s."""

from __future__ import annotations

import logging
from datetime import datetime

from ledgerlink.domain.outbox import leases
from ledgerlink.worker.claim import Unit

log = logging.getLogger("ledgerlink.worker")


def recover_expired_leases(now: datetime | None = None, *, limit: int = 500) -> int:
    """Requests left in ``sending`` by a dead worker: outcome unknown, back to retrying (or failed
    when the attempts are exhausted), with an ``abandoned`` Attempt."""
    recovered = leases.recover_expired_leases(now, limit=limit)
    if recovered:
        log.warning("recovered %d expired leases", recovered)
    return recovered


def lease_still_held(unit: Unit, margin: float) -> bool:
    """True when every request of the unit is still under this unit's lease with ``margin`` seconds
    left (``outbox.leases.lease_still_held``)."""
    return leases.lease_still_held(unit.requests, unit.owner, margin)


def release_unit(unit: Unit) -> None:
    """Give back a claimed unit that was never sent."""
    leases.release(unit.requests, unit.owner)
