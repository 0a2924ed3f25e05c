"""Acceptance (issue 3): two worker processes on PostgreSQL push 1,000 orders for 3 companies. Each
order ends with exactly one document in the sandbox, and the sandbox's request log shows no company
over 10 requests in flight (the sandbox enforces QBO's limits and would answer 429)."""

from __future__ import annotations

import time

import pytest

from ledgerlink.core.models import Attempt, Company, Order, PushRequest

from .test_worker_process import start_worker

ORDERS = 1000


def peak_in_flight(entries: list[dict]) -> int:
    events = sorted([(e["started"], 1) for e in entries] + [(e["finished"], -1) for e in entries],
                    key=lambda x: (x[0], x[1]))
    peak = level = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    return peak


@pytest.mark.postgres
@pytest.mark.xdist_group("real-processes")  # with the other many-process tests, one at a time
@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_push_1000_orders_for_3_companies(
        qbo, company_factory, site_area_factory, order_source_factory, customer_factory, order_factory):
    companies = [company_factory(f"Company {n}", limits={}) for n in "ABC"]  # QBO's limits on
    a, b, c = companies
    Company.objects.filter(pk__in=[a.pk, b.pk]).update(use_batch=False)  # singles: the in-flight limit matters
    sources = []
    for n, company in enumerate(companies):
        qbo.set_config(company.realm_id, latency={"min_ms": 5, "max_ms": 40})
        if n == 1:
            area = site_area_factory(company, f"Web {n}", "sales_receipt")
        else:
            area = site_area_factory(company, f"Wholesale {n}", "invoice")
            customer_factory(company, f"Buyer {n}", f"buyer{n}@example.com")
        sources.append((order_source_factory(area, f"Source {n}"), "" if n == 1 else f"buyer{n}@example.com"))
    for i in range(ORDERS):
        source, email = sources[i % 3]
        order_factory(source, email=email, external_id=f"P-{i:05d}")
    assert PushRequest.objects.filter(state="queued").count() == ORDERS

    started = time.monotonic()
    workers = [start_worker(f"pg-worker-{n}", "--concurrency", "12", "--until-idle", "--timeout", "240")
               for n in (1, 2)]
    try:
        results = [w.communicate(timeout=300) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    elapsed = time.monotonic() - started
    for w, (_, err) in zip(workers, results, strict=True):
        assert w.returncode == 0, err

    assert PushRequest.objects.filter(state="succeeded").count() == ORDERS, (
        list(PushRequest.objects.exclude(state="succeeded").values_list("state", "error_kind")[:5]))
    assert Order.objects.filter(status="pushed").count() == ORDERS
    sent = {}
    for n, company in enumerate(companies):
        entity = "SalesReceipt" if n == 1 else "Invoice"
        docs = qbo.entities(company.realm_id, entity)
        notes = [d["PrivateNote"] for d in docs]
        expected = {f"ledgerlink-order:{pk}" for pk in
                    Order.objects.filter(order_source=sources[n][0]).values_list("pk", flat=True)}
        assert len(notes) == len(set(notes)) == len(expected)  # exactly one document per order
        assert set(notes) == expected
        log = qbo.requests(company.realm_id)
        api = [e for e in log if e["operation"] in ("create", "batch", "query")]
        assert [e for e in api if e["status"] == 429] == []
        assert peak_in_flight(api) <= 10
        assert max(e["inflight_at_start"] for e in api) <= 9
        sent[company.name] = len(api)
    # both processes did part of the work
    per_worker = {w: Attempt.objects.filter(worker=w).count() for w in ("pg-worker-1", "pg-worker-2")}
    assert all(n > 0 for n in per_worker.values()), per_worker
    assert sum(per_worker.values()) == ORDERS
    print(f"\n{ORDERS} orders in {elapsed:.1f}s; HTTP requests per company {sent}; attempts per worker {per_worker}")
