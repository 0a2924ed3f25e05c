"""Batch ingest (``ingest_orders``, issue 17): a batch stores exactly its good new orders, answers
each one in order, and writes what the single-order path writes for the same orders, row for row;
concurrent batches with the same orders create each order once; the statements it costs."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from ledgerlink.core.models import (
    Attempt,
    AuditLog,
    Order,
    OrderLine,
    OrderRuleLog,
    OrderSource,
    PushRequest,
    PushRevision,
    SiteArea,
)
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.ingest.automation import create_rule
from ledgerlink.domain.ingest.orders import ingest_order, ingest_orders
from tests.ledgerlink.factories import make_user, make_world, order_data


class _Rollback(Exception):
    pass


def _one_by_one(data: dict, *, actor, actor_label: str) -> None:
    """The single-order path as it was before the batch path (issue 17), written out with the
    per-order services that remain (``create_push_request``, ``apply_rules``, ``record_audit``): the
    reference the batch path is compared with."""
    from ledgerlink.domain.audit import record_audit
    from ledgerlink.domain.healing.policies import defer_for_missing
    from ledgerlink.domain.ingest.automation import apply_rules
    from ledgerlink.domain.ingest.orders import validate_order_input
    from ledgerlink.domain.outbox.create import create_push_request
    from ledgerlink.domain.payloads.build import build_payload

    clean = validate_order_input(data)
    source = clean["order_source"]
    if Order.objects.filter(order_source=source, external_id=clean["external_id"]).exists():
        return
    lines = clean.pop("lines")
    with transaction.atomic():
        order = Order.objects.create(**clean, status=Order.Status.RECEIVED)
        OrderLine.objects.bulk_create([OrderLine(order=order, position=i, **line) for i, line in enumerate(lines)])
        order.order_source = source
        logs = apply_rules(order)
        record_audit("order.ingest", actor=actor, actor_label=actor_label, obj=order, order_source=source.pk,
                     external_id=order.external_id, number=order.number, total=str(order.total),
                     rules=[{"rule": log.rule_name, "field": log.field, "new": log.new_value} for log in logs],
                     held=order.held)
        if not order.held:
            kind, payload = build_payload(order)
            create_push_request(company=source.site_area.company, kind=kind, payload=payload, order=order,
                                actor=actor, actor_label=actor_label, on_preflight_error=defer_for_missing)


def _world():
    """The ingest world, two rules, and a site area whose customer policy is ``create``."""
    w = make_world()
    create_rule(name="Trade Show orders to one account", conditions={"order_source": w.trade.pk},
                actions={"set_email": "tradeshow@example.com"}, actor_label="admin")
    create_rule(name="hold big", conditions={"total_min": "1000"}, actions={"hold": True}, actor_label="admin")
    create_rule(name="old stock", conditions={"email_pattern": "^old@"}, actions={"set_default_item": "4"},
                actor_label="admin")  # Old Thing, inactive: pre-flight refuses it
    creating = SiteArea.objects.create(company=w.company, name="New buyers", push_method="invoice",
                                       customer_policy="create", default_item="1")
    OrderSource.objects.create(name="Signup Shop", site_area=creating)
    return w


def _good_orders() -> list[dict]:
    return [
        order_data(external_id="WP-1", shipping="9.60", discount="5", tax="3.25",
                   ship_address={"line1": "1 Main St", "country": "US"}, txn_date="2026-11-20"),
        order_data(source="Web Shop", external_id="WEB-1", email="",
                   lines=[{"sku": "", "description": "Gift card", "quantity": 1, "unit_price": "25.00"}]),
        order_data(external_id="WP-2", email="new.buyer@example.org"),  # no customer: fails pre-flight
        order_data(external_id="WP-3", email="sales@@example..com"),  # invalid_email
        order_data(source="Trade Show", external_id="TS-1", email=""),  # a rule sets the email
        order_data(external_id="WP-BIG", lines=[{"sku": "W-100", "quantity": 100, "unit_price": "12.50"}]),  # held
        order_data(source="Signup Shop", external_id="SU-1", email="first.time@example.net",
                   customer_name="First Time"),  # the create policy: a customer request, the invoice waits
        order_data(source="Signup Shop", external_id="SU-2", email="first.time@example.net"),  # same customer
        order_data(source="Web Shop", external_id="WP-OLD-SKU", email="old@example.com",
                   lines=[{"sku": "OLD-1", "quantity": 1, "unit_price": "1"}]),  # inactive item: pre-flight fails
    ]


def _snapshot(external_ids) -> dict:
    """Everything ingest wrote for these orders, with ids replaced by the orders' external ids."""
    orders = {o.pk: o for o in Order.objects.filter(external_id__in=external_ids)}
    ext = {pk: o.external_id for pk, o in orders.items()}
    requests = {pr.pk: pr for pr in PushRequest.objects.filter(order__in=orders.values())}
    customer_requests = {pr.pk: pr for pr in PushRequest.objects.filter(kind="customer")}
    name = {pk: ("order", ext[pr.order_id], pr.kind) for pk, pr in requests.items()}
    name.update({pk: ("customer", pr.email) for pk, pr in customer_requests.items()})

    def fields(obj, *skip):
        skip = {"id", "created_at", "updated_at", "next_attempt_at", "completed_at", "started_at", "at", *skip}
        return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.attname not in skip}

    def payload(body):
        note = body.get("PrivateNote", "")
        if note.startswith("ledgerlink-order:"):
            body = {**body, "PrivateNote": f"ledgerlink-order:{ext[int(note.split(':')[1])]}"}
        return body

    out: dict = {}
    for pk, order in orders.items():
        out[("order", ext[pk])] = fields(order)
        out[("lines", ext[pk])] = [fields(line, "order_id") for line in OrderLine.objects.filter(order_id=pk)
                                   .order_by("position")]
        out[("rule_log", ext[pk])] = [fields(log, "order_id") for log in OrderRuleLog.objects.filter(order_id=pk)
                                      .order_by("id")]
    for pk, pr in {**requests, **customer_requests}.items():
        out[("request", *name[pk])] = fields(pr, "order_id")
        out[("revisions", *name[pk])] = [
            {**fields(rev, "push_request_id", "payload"), "payload": payload(rev.payload)}
            for rev in PushRevision.objects.filter(push_request_id=pk).order_by("number")
        ]
        out[("attempts", *name[pk])] = [
            {**fields(a, "push_request_id", "requestid"), "requestid": a.requestid.replace(f"ll-{pk}-", "ll-?-")}
            for a in Attempt.objects.filter(push_request_id=pk).order_by("id")
        ]
    audit = []
    for row in AuditLog.objects.filter(action__in=("order.ingest", "push_request.create")).order_by("id"):
        obj = ext.get(int(row.object_id)) if row.object_type == "order" else name.get(int(row.object_id))
        if obj is None:
            continue
        data = dict(row.data)
        if isinstance(data.get("order"), int):
            data["order"] = ext[data["order"]]
        audit.append((row.action, row.object_type, obj, row.actor_id, row.actor_label, data))
    out["audit"] = sorted(audit, key=repr)
    return out


@pytest.mark.django_db
def test_batch_stores_exactly_the_good_orders_answers_each_and_writes_what_the_single_path_writes():
    _world()
    user = make_user("alice", "operator")
    ingest_order(order_data(external_id="WP-EXISTING"), actor_label="earlier")
    good = _good_orders()
    external_ids = [o["external_id"] for o in good]

    # The single-order path, order after order (as it was, and as it is: ingest_order); what each
    # wrote is kept, then rolled back.
    with pytest.raises(_Rollback), transaction.atomic():
        for data in good:
            _one_by_one(data, actor=user, actor_label="api:alice")
        single = _snapshot(external_ids)
        raise _Rollback
    with pytest.raises(_Rollback), transaction.atomic():
        for data in good:
            ingest_order(data, actor=user, actor_label="api:alice")
        assert _snapshot(external_ids) == single
        raise _Rollback
    assert Order.objects.filter(external_id__in=external_ids).count() == 0

    batch = [
        good[0],
        order_data(external_id="WP-BAD", lines=[{"sku": "A", "quantity": 0, "unit_price": 1}]),
        *good[1:4],
        order_data(external_id="WP-1", email="other@example.com"),  # WP-1 again in the same batch
        order_data(source="Nowhere", external_id="N-1"),
        "not an order",
        order_data(external_id="WP-EXISTING", email="changed@example.com"),  # delivered before
        *good[4:],
        order_data(external_id="WP-BAD2", shipping="1.234"),
    ]
    results = ingest_orders(batch, actor=user, actor_label="api:alice")

    ids = {o.external_id: o.pk for o in Order.objects.all()}
    assert [r.as_dict() for r in results] == [
        {"index": 0, "status": 201, "id": ids["WP-1"], "detail": None, "field": None},
        {"index": 1, "status": 422, "id": None, "detail": "must be a number greater than 0",
         "field": "lines[0].quantity"},
        {"index": 2, "status": 201, "id": ids["WEB-1"], "detail": None, "field": None},
        {"index": 3, "status": 201, "id": ids["WP-2"], "detail": None, "field": None},
        {"index": 4, "status": 201, "id": ids["WP-3"], "detail": None, "field": None},
        {"index": 5, "status": 200, "id": ids["WP-1"], "detail": None, "field": None},
        {"index": 6, "status": 422, "id": None, "detail": "no order source 'Nowhere'", "field": "order_source"},
        {"index": 7, "status": 422, "id": None, "detail": "the order must be a JSON object", "field": None},
        {"index": 8, "status": 200, "id": ids["WP-EXISTING"], "detail": None, "field": None},
        {"index": 9, "status": 201, "id": ids["TS-1"], "detail": None, "field": None},
        {"index": 10, "status": 201, "id": ids["WP-BIG"], "detail": None, "field": None},
        {"index": 11, "status": 201, "id": ids["SU-1"], "detail": None, "field": None},
        {"index": 12, "status": 201, "id": ids["SU-2"], "detail": None, "field": None},
        {"index": 13, "status": 201, "id": ids["WP-OLD-SKU"], "detail": None, "field": None},
        {"index": 14, "status": 422, "id": None, "detail": "must have at most 2 decimal places", "field": "shipping"},
    ]
    # Exactly the good new orders are stored; nothing of the bad ones, and the existing order is unchanged.
    assert sorted(ids) == sorted([*external_ids, "WP-EXISTING"])
    assert Order.objects.get(external_id="WP-EXISTING").email == "name2@example.com"
    assert Order.objects.get(external_id="WP-1").email == "name2@example.com"

    # ... and row for row what the single-order path wrote for the same orders.
    assert _snapshot(external_ids) == single
    # (the comparison covers what matters: every kind of outcome is in it)
    states = {(o.external_id, o.status) for o in Order.objects.filter(external_id__in=external_ids)}
    assert states == {("WP-1", "queued"), ("WEB-1", "queued"), ("WP-2", "failed"), ("WP-3", "failed"),
                      ("TS-1", "queued"), ("WP-BIG", "held"), ("SU-1", "queued"), ("SU-2", "queued"),
                      ("WP-OLD-SKU", "failed")}
    waiting = PushRequest.objects.filter(order__external_id__in=["SU-1", "SU-2"]).values_list("waiting_on", flat=True)
    assert list(waiting) == ["customer:first.time@example.net"] * 2
    assert PushRequest.objects.filter(kind="customer").count() == 1
    assert single[("rule_log", "TS-1")][0]["new_value"] == "tradeshow@example.com"
    assert [a["error_kind"] for a in single[("attempts", "order", "WP-3", "invoice")]] == ["invalid_email"]
    assert [a["error_kind"] for a in single[("attempts", "order", "WP-OLD-SKU", "sales_receipt")]] == ["invalid_reference"]


@pytest.mark.django_db
def test_the_answer_of_a_new_order_is_what_is_stored():
    _world()
    (result,) = ingest_orders([order_data(source="Trade Show", external_id="TS-9", email="")], actor_label="t")
    order = Order.objects.get(pk=result.id)
    assert (result.order.status, result.order.email, result.order.total) == (order.status, order.email, order.total)
    assert [(line.pk, line.amount) for line in result.lines] == list(order.lines.values_list("pk", "amount"))
    assert [log.pk for log in result.rule_log] == list(order.rule_log.values_list("pk", flat=True))
    assert result.request.pk == order.push_requests.get().pk
    assert (result.request.state, result.request.revision) == ("queued", 1)


@pytest.mark.django_db
def test_ingest_order_raises_the_refusal_and_writes_nothing():
    make_world()
    with pytest.raises(ServiceError) as exc:
        ingest_order(order_data(lines=[{"sku": "A", "quantity": 1, "unit_price": "1.00001"}]))
    assert (exc.value.field, exc.value.message) == ("lines[0].unit_price", "must have at most 4 decimal places")
    assert (Order.objects.count(), AuditLog.objects.filter(action="order.ingest").count()) == (0, 0)


def _sku_order(n: int, source: str = "Wholesale Portal") -> dict:
    return order_data(source=source, external_id=f"Q-{n}", shipping="4.50", tax="1.20")


@pytest.mark.django_db
def test_statements_single_order_and_batch():
    """Round trips are the cost on PostgreSQL: the single path reads the order source (with the
    existing order), the rules, the items and the customers, then writes order, lines, request,
    revision and audit rows in one transaction; a batch reads as much once."""
    make_world()
    ingest_order(_sku_order(0))
    with CaptureQueriesContext(connection) as single:
        ingest_order(_sku_order(1))
    # 4 reads; BEGIN (a savepoint here); 5 INSERTs; COMMIT
    assert len(single) == 11, [q["sql"][:60] for q in single.captured_queries]
    with CaptureQueriesContext(connection) as redelivery:
        _, created = ingest_order(_sku_order(1))
    assert created is False and len(redelivery) == 2  # the sources read finds it; then it is loaded
    batch = [_sku_order(n, "Web Shop" if n % 2 else "Wholesale Portal") for n in range(100, 400)]
    with CaptureQueriesContext(connection) as many:
        results = ingest_orders(batch, actor_label="t")
    assert [r.status for r in results] == [201] * 300
    # the same 4 reads and the transaction for the whole batch; the backend caps the rows per INSERT
    assert len(many) == 4 + 2 + _inserts(300)
    assert len(many) / 300 < 3  # the goal: at most 3 statements a order


def _inserts(n: int) -> int:
    """INSERT statements for n orders of 2 lines (Django splits a bulk INSERT by the backend's limit
    on query parameters: 999 on SQLite, none on PostgreSQL; lines go 1,000 at a time)."""
    total = 0
    for model, rows in ((Order, n), (OrderLine, 2 * n), (PushRequest, n), (PushRevision, n), (AuditLog, 2 * n)):
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        size = connection.ops.bulk_batch_size(fields, [None] * rows)
        if model is OrderLine:
            size = min(size, 1000)
        total += -(-rows // size)
    return total


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_batches_with_the_same_orders_create_each_order_once():
    make_world()
    first = [order_data(external_id=f"RACE-{n:03d}") for n in range(0, 60)]
    second = [order_data(external_id=f"RACE-{n:03d}") for n in reversed(range(30, 90))]  # 30 shared
    barrier = threading.Barrier(2)
    answers: dict[str, list] = {}
    errors: list[str] = []

    def deliver(name: str, batch: list[dict]) -> None:
        try:
            barrier.wait(timeout=10)
            answers[name] = ingest_orders(batch, actor_label=name)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=args) for args in (("a", first), ("b", second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    ids = dict(Order.objects.values_list("external_id", "pk"))
    assert len(ids) == 90
    for name, batch in (("a", first), ("b", second)):
        assert [(r.status in (200, 201), r.id) for r in answers[name]] == [
            (True, ids[data["external_id"]]) for data in batch]
    created = [r.id for name in "ab" for r in answers[name] if r.status == 201]
    assert sorted(created) == sorted(ids.values())  # each order created by exactly one of them
    assert PushRequest.objects.count() == 90
    assert OrderLine.objects.count() == 180
    assert AuditLog.objects.filter(action="order.ingest").count() == 90
    assert sum(Order.objects.values_list("total", flat=True), Decimal(0)) == Decimal("7200.00")
