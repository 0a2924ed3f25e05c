"""The reduced chaos run inside ``make test`` (the full one is ``make chaos``, tests/chaos/).

150 orders for 2 Companies (one sending Invoices one by one, one SalesReceipts in /batch requests) on
the current test database (SQLite pass: one worker process; PostgreSQL pass: two), pushed by real
``ledgerlink worker`` processes while the harness SIGKILLs one of them in the middle of an exchange and
restarts it, and the sandbox answers a few 500s, a burst of 429s, 003202s, timeouts and
commit-then-drops and expires the access tokens. The history check (tests/chaos/harness.py) must find
0 duplicates, 0 missing, nothing stuck in ``sending`` and no attempt missing.

Plus the regression for the first bug the chaos run found: a worker process exited when PostgreSQL
restarted (``AdminShutdown`` from the claim loop); it must reconnect and go on.
"""

from __future__ import annotations

import signal
import time

import pytest
from django.db import connection

from ledgerlink.core.models import PushRequest
from tests.chaos.harness import FAULT_KINDS, ChaosConfig, ChaosRun, Control, dumps

from .test_worker_process import database_url, start_worker, wait_for

ORDERS = 150


@pytest.mark.xdist_group("real-processes")  # not beside gunicorn + 3 workers: its kill waits for a lease
@pytest.mark.django_db(transaction=True)
def test_small_chaos_run_no_duplicate_no_missing_nothing_stuck(sandbox, tmp_path):
    workers = 2 if connection.vendor == "postgresql" else 1
    cfg = ChaosConfig(
        database_url=database_url(), orders=ORDERS, companies=2, workers=workers, concurrency=4, seed=7,
        window=6.0, kills=1, kill_window=1.0, faults_per_kind=2, expirations=1, limits=None, business_failures=1,
        lease_seconds=3, latency={"min_ms": 20, "max_ms": 60}, skip_throttle_pause=True, faults_up_front=True, idle_timeout=60, logdir=tmp_path,
    )
    control = Control(sandbox.base_url)
    try:
        s = ChaosRun(cfg, control).run()
    finally:
        control.close()
    (tmp_path / "summary.json").write_text(dumps(s))
    print(dumps(s))
    assert s["violation_counts"] == {}, s["violations"]
    assert s["orders"] == ORDERS
    assert s["outcome"] == {"one_document": ORDERS - 2, "failed_business": 2}
    assert s["failed_business_kinds"] == {"doc_number_too_long": 2}
    assert s["requests_by_state"] == {"succeeded": ORDERS - 2, "failed": 2}
    assert s["documents"] == ORDERS - 2
    # the chaos happened: one SIGKILL in the middle of an exchange, every fault kind fired, tokens expired
    assert s["chaos"]["sigkills"] == 1
    assert s["abandoned_by_killed_worker"] >= 1
    assert set(s["sandbox"]["faults_fired"]) == set(FAULT_KINDS), (s["sandbox"], s["chaos"], s["attempt_error_kinds"])
    assert s["sandbox"]["auth_401"] >= 1
    assert s["chaos"]["worker_crashes"] == 0
    assert s["chaos"]["workers_stopped"] == {"SIGKILL:-9": 1, "SIGTERM:0": workers}
    assert s["harness_errors"] == []


def terminate_other_backends() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return cur.fetchone()[0]


@pytest.fixture
def invoice_source(company, site_area_factory, order_source_factory, customer_factory):
    source = order_source_factory(site_area_factory(company, "Wholesale", "invoice"), "Wholesale Portal")
    customer_factory(company, "Acme Tools", "name2@example.com")
    return source


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_worker_process_survives_its_database_connections_being_terminated(invoice_source, order_factory, qbo,
                                                                          company):
    """Found by the chaos run: on ``pg_ctlcluster ... restart`` every worker process died with
    ``OperationalError: terminating connection due to administrator command``. Terminating the worker's
    backends does to it what a restart does, without touching the shared server."""
    qbo.set_config(company.realm_id, latency={"fixed_ms": 150})
    prs = [order_factory(invoice_source, email="name2@example.com")[1] for _ in range(12)]
    proc = start_worker("survivor", "--concurrency", "2", env={"LEDGERLINK_LEASE_SECONDS": "3"})
    try:
        assert wait_for(lambda: PushRequest.objects.filter(state="succeeded").exists(), 30)
        for _ in range(2):  # twice: the second time after it has reconnected
            assert wait_for(lambda: terminate_other_backends() >= 1, 15)
            time.sleep(0.3)
        done = wait_for(lambda: PushRequest.objects.filter(pk__in=[p.pk for p in prs], state="succeeded").count()
                        == len(prs), 45)
        alive = proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert alive, err[-3000:]
    assert done, list(PushRequest.objects.values_list("state", "error_kind"))
    assert proc.returncode == 0, err[-3000:]
    assert "database unavailable" in err
    invoices = qbo.entities(company.realm_id, "Invoice")
    assert len(invoices) == len(prs) == len({i["PrivateNote"] for i in invoices})


def test_stalled_worker_does_not_send_a_batch_whose_lease_has_expired(company, site_area_factory, order_source_factory,
                                                                      order_factory, qbo, fast_retries):
    """A process that stalls (GC pause, swap, SIGSTOP) after claiming a batch and wakes up after its lease
    expired must not send it: meanwhile recovery handed the requests to another worker, which re-sent the
    batch (same items, same stamped requestid)."""
    from datetime import timedelta

    from django.utils import timezone

    from ledgerlink.worker import Worker, claim_for_company, recover_expired_leases, run_until_idle

    source = order_source_factory(site_area_factory(company, "Web", "sales_receipt"), "Web Shop")
    prs = [order_factory(source)[1] for _ in range(3)]
    stalled = Worker("stalled-worker", concurrency=0, lease_seconds=60)
    (unit,) = claim_for_company(company.pk, "stalled-worker", 5, lease_seconds=60)
    assert unit.batched and len(unit.requests) == 3
    # ... the process stalls past its lease; recovery and another worker take over
    PushRequest.objects.filter(pk__in=[p.pk for p in prs]).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert recover_expired_leases() == 3
    run_until_idle(timeout=30)
    assert set(PushRequest.objects.values_list("state", flat=True)) == {"succeeded"}
    # ... then it wakes up and goes on with what it had claimed
    stalled.process(unit)
    receipts = qbo.entities(company.realm_id, "SalesReceipt")
    assert sorted(r["PrivateNote"] for r in receipts) == sorted(f"ledgerlink-order:{p.order_id}" for p in prs)
    # The one /batch is the next worker's re-send of the lost batch; the stalled worker sent nothing.
    assert [e["requestid"] for e in qbo.requests(company.realm_id) if e["operation"] == "batch"] == [
        unit.batch_requestid]


def test_worker_frozen_between_its_lease_check_and_its_batch_send_posts_nothing_twice(
        company, site_area_factory, order_source_factory, order_factory, qbo, fast_retries):
    """The window docs/reliability.md named: the worker checked its lease, then froze before its /batch
    left. Recovery hands the batch on; the batch's requestid was stamped on its rows at the claim, so the
    next worker re-sends the same batch with the same requestid, and the frozen worker's late copy gets
    QBO's replay of the first answer instead of a second set of documents."""
    from datetime import timedelta

    from django.utils import timezone

    from ledgerlink.worker import Worker, claim_for_company, recover_expired_leases, run_until_idle
    from ledgerlink.worker.record import record_results
    from ledgerlink.worker.recovery import lease_still_held
    from ledgerlink.worker.send import send_unit

    source = order_source_factory(site_area_factory(company, "Web", "sales_receipt"), "Web Shop")
    prs = [order_factory(source)[1] for _ in range(3)]
    frozen = Worker("frozen-worker", concurrency=0, lease_seconds=60)
    (unit,) = claim_for_company(company.pk, "frozen-worker", 5, lease_seconds=60)
    assert unit.batched and len(unit.requests) == 3
    assert set(PushRequest.objects.values_list("batch_requestid", flat=True)) == {unit.batch_requestid}
    assert lease_still_held(unit, margin=15)  # the check passed ... and the process froze right after it
    PushRequest.objects.filter(pk__in=[p.pk for p in prs]).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert recover_expired_leases() == 3
    run_until_idle(timeout=30)
    assert set(PushRequest.objects.values_list("state", flat=True)) == {"succeeded"}
    # ... it wakes up and sends what it had claimed (its lease check is behind it)
    results, resp, started, duration = send_unit(frozen.client_for(company.pk), unit)
    record_results(unit, results, resp, started, duration, frozen.worker_id)
    receipts = qbo.entities(company.realm_id, "SalesReceipt")
    assert sorted(r["PrivateNote"] for r in receipts) == sorted(f"ledgerlink-order:{p.order_id}" for p in prs)
    batches = [e for e in qbo.requests(company.realm_id) if e["operation"] == "batch"]
    assert [(e["requestid"], e["replayed"]) for e in batches] == [(unit.batch_requestid, False),
                                                                 (unit.batch_requestid, True)]
    assert set(PushRequest.objects.values_list("state", flat=True)) == {"succeeded"}
