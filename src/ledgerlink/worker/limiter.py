"""The per-Company limiter (invariant 5), read from the database so every worker process shares it:
at most ``max_in_flight`` HTTP requests in flight (rows in ``sending``; a batch counts once), at most
``max_per_minute`` requests and ``max_batches_per_minute`` batches started in the last 60 s, nothing
while ``throttled_until`` is in the future (60 s after a 429) nor unless the Company is active.

The minute is counted a little long (``LEDGERLINK_LIMIT_WINDOW_MARGIN`` seconds more, default 2): an
exchange's ``started_at`` is the worker's clock before it sends, QBO counts it when it arrives, so a
request that left at the window's edge and travelled longer than the next one would still be in
QBO's minute when the limiter had let it go.

Not counted yet: requests that are not push attempts (the connect's CompanyInfo and Preferences reads,
mirror syncs, look-ups before a re-send, reconciliation queries). QBO counts them in the same 500 a
minute: the ceiling benchmark's 429s (458 creates + 40 batches + 2 reads = 500 in its minute) are those.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from ledgerlink.core.models import Attempt, PushRequest
from ledgerlink.domain.outbox.leases import db_datetime

# Every exchange that was or may have been on the wire. ABANDONED: a lease that ran out (its worker died or
# froze), maybe after the request left; counted from its recovery (make chaos met the sandbox's per-minute
# 429 when those were not). PREFLIGHT never leaves.
COUNTED_OUTCOMES = (
    Attempt.Outcome.SUCCEEDED, Attempt.Outcome.TRANSIENT, Attempt.Outcome.FAILED, Attempt.Outcome.UNKNOWN,
    Attempt.Outcome.ABANDONED,
)


def company_load(company_id: int, now: datetime) -> dict:
    """In-flight HTTP requests and requests/batches started in the last minute (and the margin), from
    the DB (so it is shared by every worker process). One round trip."""
    pr = PushRequest._meta.db_table
    at = Attempt._meta.db_table
    outcomes = ", ".join(["%s"] * len(COUNTED_OUTCOMES))
    since = db_datetime(now - timedelta(seconds=60 + settings.LEDGERLINK_LIMIT_WINDOW_MARGIN))
    sql = (
        f"SELECT "
        f"(SELECT COUNT(*) FROM {pr} WHERE company_id = %s AND state = 'sending' AND lease_owner NOT LIKE %s), "
        f"(SELECT COUNT(DISTINCT lease_owner) FROM {pr} WHERE company_id = %s AND state = 'sending' "
        f"AND lease_owner LIKE %s), "
        f"(SELECT COUNT(*) FROM {at} WHERE company_id = %s AND started_at >= %s AND batched = %s "
        f"AND outcome IN ({outcomes})), "
        # every item of one batch shares its started_at: distinct values count the batches
        f"(SELECT COUNT(DISTINCT started_at) FROM {at} WHERE company_id = %s AND started_at >= %s "
        f"AND batched = %s AND outcome IN ({outcomes}))"
    )
    params = [company_id, "%#b%", company_id, "%#b%", company_id, since, False, *COUNTED_OUTCOMES,
              company_id, since, True, *COUNTED_OUTCOMES]
    with connection.cursor() as cur:
        cur.execute(sql, params)
        singles, batches, recent_singles, recent_batches = cur.fetchone()
    return {
        "in_flight": singles + batches,
        "in_flight_batches": batches,
        "last_minute": recent_singles + recent_batches,
        "batches_last_minute": recent_batches,
    }


def free_slots(company, load: dict, max_units: int) -> int:
    """How many more HTTP requests the Company may start now (``company`` has the limit fields)."""
    return min(
        max_units,
        company.max_in_flight - load["in_flight"],
        company.max_per_minute - load["last_minute"] - load["in_flight"],
    )


def free_batches(company, load: dict) -> int:
    """How many more batches the Company may start within the minute."""
    return company.max_batches_per_minute - load["batches_last_minute"] - load["in_flight_batches"]
