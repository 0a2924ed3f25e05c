"""The push worker: ``claim`` (with a lease, within the per-Company ``limiter``), ``send``, ``record``
(through the outbox, which owns every request state), ``recovery``, ``loop``. Nothing imports this
package but the CLI (`ledgerlink worker`), the demo and the benchmarks (an import-linter contract).
"""

from ledgerlink.worker.claim import Unit, claim_for_company, due_company_ids
from ledgerlink.worker.loop import Worker, run_until_idle, run_worker
from ledgerlink.worker.record import record_results
from ledgerlink.worker.recovery import lease_still_held, recover_expired_leases, release_unit
from ledgerlink.worker.send import send_unit

__all__ = [
    "Unit",
    "Worker",
    "claim_for_company",
    "due_company_ids",
    "lease_still_held",
    "record_results",
    "recover_expired_leases",
    "release_unit",
    "run_until_idle",
    "run_worker",
    "send_unit",
]
