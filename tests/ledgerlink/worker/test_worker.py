"""The push worker against qbo_sandbox over HTTP: success, transient retries, exhaustion, business
faults, unknown outcomes (never a second document), leases, the per-Company limiter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ledgerlink.core.models import Attempt, Company, Order, PushRequest, WorkerHeartbeat
from ledgerlink.domain.companies.tokens import client_for
from ledgerlink.domain.outbox.delivery import backoff_delay
from ledgerlink.quickbooks.errors import ERROR_KINDS
from ledgerlink.worker import Worker, claim_for_company, record_results, recover_expired_leases, send_unit


@pytest.fixture
def wholesale(company, site_area_factory, order_source_factory, customer_factory):
    """An invoice site area whose order source's email matches a QBO customer."""
    area = site_area_factory(company, "Wholesale", "invoice")
    source = order_source_factory(area, "Wholesale Portal")
    customer_factory(company, "Acme Tools", "name2@example.com")
    return source


def _attempts(pr):
    return list(Attempt.objects.filter(push_request=pr).order_by("id").values_list(
        "outcome", "http_status", "error_kind", "requestid"))


def test_invoice_succeeds_with_requestid_and_everything_recorded(wholesale, order_factory, qbo, company,
                                                                 run_worker_until_idle):
    order, pr = order_factory(wholesale, email="name2@example.com", number="WP-1001")
    assert pr.state == "queued"
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    order.refresh_from_db()
    invoices = qbo.entities(company.realm_id, "Invoice")
    assert len(invoices) == 1
    assert (pr.state, pr.qbo_id, pr.qbo_doc_number, pr.qbo_sync_token, pr.error_kind) == (
        "succeeded", invoices[0]["Id"], "WP-1001", "0", "")
    assert (order.status, order.qbo_id, order.qbo_doc_number) == ("pushed", invoices[0]["Id"], "WP-1001")
    assert invoices[0]["PrivateNote"] == f"ledgerlink-order:{order.pk}"
    log = [e for e in qbo.requests(company.realm_id) if e["operation"] == "create" and e["entities"] == ["Invoice"]]
    assert [(e["requestid"], e["status"]) for e in log] == [(f"ll-{pr.pk}-r1", 200)]
    assert "minorversion=75" in log[0]["query"]
    attempt = Attempt.objects.get(push_request=pr)
    assert (attempt.outcome, attempt.http_status, attempt.requestid, attempt.intuit_tid, attempt.batched) == (
        "succeeded", 200, f"ll-{pr.pk}-r1", log[0]["intuit_tid"], False)
    assert attempt.duration_ms is not None
    assert '"DocNumber":"WP-1001"' in attempt.response_body
    assert pr.completed_at is not None and pr.lease_owner == "" and pr.lease_expires_at is None


def test_sales_receipt_without_email_succeeds(company, site_area_factory, order_source_factory, order_factory, qbo,
                                              run_worker_until_idle):
    source = order_source_factory(site_area_factory(company, "Web Store", "sales_receipt"), "Web Shop")
    order, pr = order_factory(source, email="")
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert pr.state == "succeeded"
    assert len(qbo.entities(company.realm_id, "SalesReceipt")) == 1
    assert qbo.entities(company.realm_id, "Invoice") == []


def test_003202_is_retried_and_succeeds_with_nobody_involved(wholesale, order_factory, qbo, company, fast_retries,
                                                             run_worker_until_idle):
    qbo.add_fault(company.realm_id, "003202", entity="Invoice", count=1)
    order, pr = order_factory(wholesale, email="name2@example.com")
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert pr.state == "succeeded"
    assert pr.attempt_count == 1
    rid = f"ll-{pr.pk}-r1"
    assert _attempts(pr) == [("transient", 400, "connection_003202", rid), ("succeeded", 200, "", rid)]
    assert len(qbo.entities(company.realm_id, "Invoice")) == 1


def test_003202_until_retries_exhausted_fails_then_requeue_unchanged_succeeds(
        wholesale, order_factory, qbo, company, fast_retries, run_worker_until_idle):
    from ledgerlink.domain.outbox.actions import requeue_request

    fast_retries.LEDGERLINK_MAX_ATTEMPTS = 3
    qbo.add_fault(company.realm_id, "003202", entity="Invoice", count=3)
    order, pr = order_factory(wholesale, email="name2@example.com")
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    order.refresh_from_db()
    assert (pr.state, pr.error_kind, pr.error_code, pr.attempt_count) == ("failed", "connection_003202", "3202", 3)
    assert pr.error_title == "message=BadRequest; errorCode=003202; statusCode=400"
    assert pr.error_message == "message=BadRequest; errorCode=003202; statusCode=400"
    assert order.status == "failed"
    assert [a[0] for a in _attempts(pr)] == ["transient", "transient", "transient"]
    assert qbo.entities(company.realm_id, "Invoice") == []

    requeue_request(pr.pk, actor_label="test")
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    order.refresh_from_db()
    assert (pr.state, pr.revision, pr.error_kind, order.status) == ("succeeded", 2, "", "pushed")
    assert len(qbo.entities(company.realm_id, "Invoice")) == 1


def test_business_fault_is_parked_with_qbos_words(company, site_area_factory, order_source_factory, order_factory,
                                                  qbo, run_worker_until_idle):
    # Item 999 does not exist; the mirror is not synced, so pre-flight leaves the verdict to QBO.
    source = order_source_factory(site_area_factory(company, "Wholesale", "sales_receipt", default_item="999"))
    order, pr = order_factory(source, email="")
    assert pr.state == "queued"
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    order.refresh_from_db()
    assert (pr.state, pr.error_kind, pr.error_code, pr.error_message, pr.error_element) == (
        "failed", "invalid_reference", "2500", "Invalid Reference Id", "Line.SalesItemLineDetail.ItemRef")
    assert pr.error_title == ERROR_KINDS["invalid_reference"]["title"]
    assert order.status == "failed"
    assert _attempts(pr) == [("failed", 400, "invalid_reference", f"ll-{pr.pk}-r1")]


def test_drop_after_commit_leaves_exactly_one_invoice(wholesale, order_factory, qbo, company, fast_retries,
                                                      run_worker_until_idle):
    qbo.add_fault(company.realm_id, "drop_after_commit", entity="Invoice", operation="create", count=1)
    order, pr = order_factory(wholesale, email="name2@example.com")
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    invoices = qbo.entities(company.realm_id, "Invoice")
    assert len(invoices) == 1
    assert (pr.state, pr.qbo_id, pr.outcome_unknown) == ("succeeded", invoices[0]["Id"], False)
    assert [(a[0], a[2]) for a in _attempts(pr)] == [("unknown", "network"), ("succeeded", "")]


def test_dropped_batch_leaves_exactly_one_invoice_per_order(wholesale, order_factory, qbo, company, fast_retries,
                                                           run_worker_until_idle):
    qbo.add_fault(company.realm_id, "drop_after_commit", operation="batch", count=1)
    requests = [order_factory(wholesale, email="name2@example.com")[1] for _ in range(5)]
    run_worker_until_idle(timeout=30)
    invoices = qbo.entities(company.realm_id, "Invoice")
    assert len(invoices) == 5
    assert sorted(i["PrivateNote"] for i in invoices) == sorted(f"ledgerlink-order:{p.order_id}" for p in requests)
    for pr in requests:
        pr.refresh_from_db()
        assert pr.state == "succeeded"
        assert [(a[0]) for a in _attempts(pr)] == ["unknown", "succeeded"]
    assert Attempt.objects.filter(outcome="unknown", batched=True).count() == 5


def test_batches_of_up_to_30(wholesale, order_factory, qbo, company, run_worker_until_idle):
    Company.objects.filter(pk=company.pk).update(batch_size=30, use_batch=True)
    for _ in range(40):
        order_factory(wholesale, email="name2@example.com")
    run_worker_until_idle(timeout=30)
    assert PushRequest.objects.filter(state="succeeded").count() == 40
    assert len(qbo.entities(company.realm_id, "Invoice")) == 40
    batches = [e for e in qbo.requests(company.realm_id) if e["operation"] == "batch"]
    assert len(batches) == 2
    assert all(e["requestid"] and len(e["requestid"]) <= 36 for e in batches)
    assert Attempt.objects.filter(batched=True, outcome="succeeded").count() == 40


def test_dead_worker_lease_is_recovered_and_resolved_without_a_second_invoice(
        wholesale, order_factory, qbo, company, run_worker_until_idle):
    order, pr = order_factory(wholesale, email="name2@example.com")
    # A worker claims and sends, then dies before recording anything.
    units = claim_for_company(company.pk, "dead-worker", 1)
    assert [u.requests[0].id for u in units] == [pr.pk]
    with client_for(company) as client:
        send_unit(client, units[0])
    assert len(qbo.entities(company.realm_id, "Invoice")) == 1
    pr.refresh_from_db()
    assert (pr.state, pr.lease_owner.split("#")[0]) == ("sending", "dead-worker")
    assert recover_expired_leases() == 0  # lease still valid
    PushRequest.objects.filter(pk=pr.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert recover_expired_leases() == 1
    pr.refresh_from_db()
    assert (pr.state, pr.outcome_unknown, pr.attempt_count, pr.lease_owner) == ("retrying", True, 1, "")
    abandoned = Attempt.objects.get(push_request=pr)
    assert (abandoned.outcome, abandoned.worker, abandoned.requestid) == ("abandoned", "dead-worker", f"ll-{pr.pk}-r1")

    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    invoices = qbo.entities(company.realm_id, "Invoice")
    assert len(invoices) == 1
    assert (pr.state, pr.qbo_id, pr.outcome_unknown) == ("succeeded", invoices[0]["Id"], False)


def test_unknown_outcome_without_document_resends_same_requestid(wholesale, order_factory, qbo, company,
                                                                  run_worker_until_idle):
    order, pr = order_factory(wholesale, email="name2@example.com")
    units = claim_for_company(company.pk, "dead-worker", 1)  # dies before sending
    PushRequest.objects.filter(pk=pr.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    recover_expired_leases()
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert pr.state == "succeeded"
    assert len(units) == 1
    log = qbo.requests(company.realm_id)
    # look-up first (a query), then the create with the same requestid
    assert [e["operation"] for e in log if e["operation"] in ("query", "create")][-2:] == ["query", "create"]
    assert [e["requestid"] for e in log if e["operation"] == "create" and e["entities"] == ["Invoice"]] == [
        f"ll-{pr.pk}-r1"]


def test_429_pauses_only_that_company_for_60_seconds(wholesale, order_factory, qbo, company, company_factory,
                                                     run_worker_until_idle):
    other = company_factory("Other Company")
    qbo.add_fault(company.realm_id, "429", entity="Invoice", count=1)
    order, pr = order_factory(wholesale, email="name2@example.com")
    before = timezone.now()
    Worker("w-429", concurrency=0).run(once=True)
    pr.refresh_from_db()
    company.refresh_from_db()
    assert (pr.state, pr.error_kind, pr.attempt_count) == ("retrying", "throttled", 1)
    assert before + timedelta(seconds=59) < company.throttled_until <= timezone.now() + timedelta(seconds=60)
    assert pr.next_attempt_at >= company.throttled_until - timedelta(seconds=1)
    PushRequest.objects.filter(pk=pr.pk).update(next_attempt_at=timezone.now())
    assert claim_for_company(company.pk, "w-429", 5) == []  # throttled: nothing claimed
    other.refresh_from_db()
    assert other.throttled_until is None


def test_paused_company_is_skipped_and_nothing_fails(wholesale, order_factory, company, run_worker_until_idle):
    order, pr = order_factory(wholesale, email="name2@example.com")
    Company.objects.filter(pk=company.pk).update(status="paused")
    Worker("w-paused", concurrency=0).run(once=True)
    pr.refresh_from_db()
    assert (pr.state, pr.attempt_count) == ("queued", 0)
    assert not Attempt.objects.filter(push_request=pr).exists()


def test_refused_refresh_token_pauses_company_and_requeues(wholesale, order_factory, qbo, company,
                                                          run_worker_until_idle):
    order, pr = order_factory(wholesale, email="name2@example.com")
    qbo.expire_tokens(company.realm_id, refresh=True)
    Worker("w-auth", concurrency=0).run(once=True)
    company.refresh_from_db()
    pr.refresh_from_db()
    assert company.status == "needs_reconnect"
    assert (pr.state, pr.attempt_count, pr.error_kind) == ("queued", 0, "auth_reconnect")
    assert qbo.entities(company.realm_id, "Invoice") == []

    from ledgerlink.domain.companies.connect import connect_company

    connect_company(qbo.base_url, name=company.name, realm_id=company.realm_id)
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert pr.state == "succeeded"
    assert len(qbo.entities(company.realm_id, "Invoice")) == 1


def test_per_minute_limit(wholesale, order_factory, company, qbo):
    Company.objects.filter(pk=company.pk).update(max_per_minute=5, use_batch=False)
    for _ in range(8):
        order_factory(wholesale, email="name2@example.com")
    Worker("w-minute", concurrency=0).run(once=True)
    assert PushRequest.objects.filter(state="succeeded").count() == 5
    assert PushRequest.objects.filter(state="queued").count() == 3
    assert len(qbo.entities(company.realm_id, "Invoice")) == 5


@pytest.mark.parametrize(("left_seconds_ago", "sent"), [(61.0, 0), (63.0, 2)])
def test_per_minute_limit_counts_the_minute_a_little_long(wholesale, order_factory, company, qbo, settings,
                                                          left_seconds_ago, sent):
    """QBO counts a request when it arrives, the limiter from when it left: five requests that left 61 s
    ago may have arrived within QBO's last minute, so with 5 a minute nothing more goes (2 s margin);
    63 s ago they are out of both counts."""
    settings.LEDGERLINK_LIMIT_WINDOW_MARGIN = 2.0
    Company.objects.filter(pk=company.pk).update(max_per_minute=5, use_batch=False)
    _order, old = order_factory(wholesale, email="name2@example.com")
    left = timezone.now() - timedelta(seconds=left_seconds_ago)
    Attempt.objects.bulk_create([Attempt(push_request=old, company=company, revision=1, requestid=f"ll-old-{i}",
                                         started_at=left, outcome="transient") for i in range(5)])
    PushRequest.objects.filter(pk=old.pk).update(state="succeeded")
    for _ in range(2):
        order_factory(wholesale, email="name2@example.com")
    Worker("w-minute-edge", concurrency=0).run(once=True)
    assert PushRequest.objects.filter(state="succeeded").exclude(pk=old.pk).count() == sent
    assert PushRequest.objects.filter(state="queued").count() == 2 - sent
    assert len(qbo.entities(company.realm_id, "Invoice")) == sent


@pytest.mark.parametrize(("outcome", "sent"), [("abandoned", 0), ("preflight", 2)])
def test_per_minute_limit_counts_abandoned_exchanges(wholesale, order_factory, company, qbo, outcome, sent):
    """An exchange whose lease ran out may have reached QBO: it counts against the minute; a request
    caught before sending does not."""
    Company.objects.filter(pk=company.pk).update(max_per_minute=5, use_batch=False)
    _order, old = order_factory(wholesale, email="name2@example.com")
    Attempt.objects.bulk_create([Attempt(push_request=old, company=company, revision=1, requestid=f"ll-old-{i}",
                                         outcome=outcome) for i in range(5)])
    PushRequest.objects.filter(pk=old.pk).update(state="succeeded")
    for _ in range(2):
        order_factory(wholesale, email="name2@example.com")
    Worker("w-minute-abandoned", concurrency=0).run(once=True)
    assert PushRequest.objects.filter(state="succeeded").exclude(pk=old.pk).count() == sent
    assert len(qbo.entities(company.realm_id, "Invoice")) == sent


def test_backoff_is_exponential_with_full_jitter_and_cap(settings):
    settings.LEDGERLINK_BACKOFF_BASE = 2.0
    settings.LEDGERLINK_BACKOFF_CAP = 10.0
    for attempt, ceiling in ((1, 2.0), (2, 4.0), (3, 8.0), (4, 10.0), (9, 10.0)):
        values = [backoff_delay(attempt) for _ in range(200)]
        assert all(0 <= v <= ceiling for v in values)
        assert max(values) > ceiling * 0.7


def test_record_results_is_fenced_by_the_lease(wholesale, order_factory, company):
    """A worker whose lease was taken over cannot overwrite the request (its attempt is kept)."""
    order, pr = order_factory(wholesale, email="name2@example.com")
    units = claim_for_company(company.pk, "slow-worker", 1)
    PushRequest.objects.filter(pk=pr.pk).update(lease_owner="other-worker")
    with client_for(company) as client:
        results, resp, started, ms = send_unit(client, units[0])
    record_results(units[0], results, resp, started, ms, "slow-worker")
    pr.refresh_from_db()
    assert (pr.state, pr.lease_owner) == ("sending", "other-worker")
    assert Attempt.objects.get(push_request=pr).outcome == "succeeded"


@pytest.mark.django_db(transaction=True)
def test_in_flight_never_exceeds_company_limit(transactional_db, wholesale, order_factory, qbo, company,
                                               run_worker_until_idle):
    Company.objects.filter(pk=company.pk).update(max_in_flight=3, use_batch=False)
    qbo.set_config(company.realm_id, latency={"fixed_ms": 40})
    for _ in range(24):
        order_factory(wholesale, email="name2@example.com")
    worker = run_worker_until_idle(timeout=60, concurrency=8)
    assert worker.requests_done == 24
    assert PushRequest.objects.filter(state="succeeded").count() == 24
    log = [e for e in qbo.requests(company.realm_id) if e["entities"] == ["Invoice"] and e["operation"] == "create"]
    assert len(log) == 24
    events = sorted([(e["started"], 1) for e in log] + [(e["finished"], -1) for e in log], key=lambda x: (x[0], x[1]))
    peak = level = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    assert 2 <= peak <= 3
    assert WorkerHeartbeat.objects.get(worker_id=worker.worker_id).stopped_at is not None
    assert Order.objects.filter(status="pushed").count() == 24


def test_look_up_never_adopts_another_orders_document(wholesale, order_factory, qbo, company, run_worker_until_idle):
    """After an unknown outcome, a document with the same DocNumber whose marker is another order's
    (``ledgerlink-order:{id}1`` contains ``ledgerlink-order:{id}``) is not taken for ours."""
    from ledgerlink.quickbooks.wire import has_marker

    order, pr = order_factory(wholesale, email="name2@example.com", number="DUP-1")
    claim_for_company(company.pk, "dead-worker", 1)  # dies before sending
    PushRequest.objects.filter(pk=pr.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    recover_expired_leases()
    payload = pr.revisions.get(number=1).payload
    other = qbo.api(company.realm_id, "POST", "invoice",
                    json={**payload, "PrivateNote": f"ledgerlink-order:{order.pk}1"}).json()["Invoice"]
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    invoices = qbo.entities(company.realm_id, "Invoice")
    assert len(invoices) == 2
    ours = [i for i in invoices if i["Id"] != other["Id"]]
    assert (pr.state, pr.qbo_id) == ("succeeded", ours[0]["Id"])
    assert ours[0]["PrivateNote"] == f"ledgerlink-order:{order.pk}"
    assert has_marker("x ledgerlink-order:4 y", 4) and has_marker("ledgerlink-order:4", 4)
    assert not has_marker("ledgerlink-order:42", 4) and not has_marker("", 4) and not has_marker(None, 4)


def test_batch_with_a_failing_item_parks_only_that_one(company, site_area_factory, order_source_factory,
                                                       order_factory, qbo, run_worker_until_idle):
    good = order_source_factory(site_area_factory(company, "Web", "sales_receipt"), "Good Shop")
    bad = order_source_factory(site_area_factory(company, "Broken", "sales_receipt", default_item="999"), "Bad Shop")
    ok1 = order_factory(good)[1]
    broken = order_factory(bad)[1]
    ok2 = order_factory(good)[1]
    run_worker_until_idle(timeout=20)
    for pr in (ok1, broken, ok2):
        pr.refresh_from_db()
    assert [ok1.state, broken.state, ok2.state] == ["succeeded", "failed", "succeeded"]
    assert (broken.error_kind, broken.error_code, broken.error_element) == (
        "invalid_reference", "2500", "Line.SalesItemLineDetail.ItemRef")
    assert list(Attempt.objects.order_by("id").values_list("batched", "http_status", "outcome")) == [
        (True, 200, "succeeded"), (True, 200, "failed"), (True, 200, "succeeded")]
    assert len({a.started_at for a in Attempt.objects.all()}) == 1  # one exchange
    assert [e["operation"] for e in qbo.requests(company.realm_id) if e["operation"] != "query"] == ["batch"]
    assert len(qbo.entities(company.realm_id, "SalesReceipt")) == 2


def test_heartbeat_row_and_lease_extension(wholesale, order_factory, company):
    import os

    order, pr = order_factory(wholesale, email="name2@example.com")
    worker = Worker("hb-worker", concurrency=0, lease_seconds=300)
    units = claim_for_company(company.pk, "hb-worker", 1, lease_seconds=5)
    assert units[0].owner.startswith("hb-worker")
    worker.heartbeat(force=True)
    hb = WorkerHeartbeat.objects.get(worker_id="hb-worker")
    assert (hb.pid, hb.stopped_at) == (os.getpid(), None)
    pr.refresh_from_db()
    assert pr.lease_expires_at > timezone.now() + timedelta(seconds=290)
