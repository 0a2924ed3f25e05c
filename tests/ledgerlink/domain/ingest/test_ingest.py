"""ingest_order: validation, totals, rules at ingest, the outbox row, idempotency."""

from decimal import Decimal

import pytest

from ledgerlink.core.models import AuditLog, Order, OrderLine, PushRequest, PushRevision
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.ingest.orders import ingest_order
from tests.ledgerlink.factories import make_world, order_data

pytestmark = pytest.mark.django_db


def test_ingest_creates_order_lines_totals_and_one_queued_request():
    w = make_world()
    order, created = ingest_order(order_data(shipping="9.60", discount="5", tax="3.25"), actor_label="api:alice")
    assert created is True
    order.refresh_from_db()
    assert order.order_source == w.portal
    assert order.subtotal == Decimal("80.00")
    assert order.total == Decimal("87.85")  # 80 + 9.60 - 5 + 3.25
    assert order.status == Order.Status.QUEUED
    assert list(order.lines.values_list("position", "sku", "quantity", "unit_price", "amount")) == [
        (0, "W-100", Decimal("4.0000"), Decimal("12.5000"), Decimal("50.00")),
        (1, "G-200", Decimal("1.0000"), Decimal("30.0000"), Decimal("30.00")),
    ]
    pr = PushRequest.objects.get()
    assert (pr.order_id, pr.kind, pr.state, pr.revision, pr.company_id) == (
        order.pk, "invoice", "queued", 1, w.company.pk,
    )
    assert (pr.site_area_id, pr.order_source_id, pr.email) == (w.wholesale.pk, w.portal.pk, "name2@example.com")
    assert pr.requestid == f"ll-{pr.pk}-r1"
    rev = PushRevision.objects.get()
    assert (rev.number, rev.author_label, rev.payload["CustomerRef"]) == (
        1, "api:alice", {"value": "56", "name": "Acme Tools"},
    )
    assert AuditLog.objects.filter(action="order.ingest", object_id=str(order.pk), actor_label="api:alice").count() == 1


def test_redelivery_returns_existing_order_and_creates_nothing():
    make_world()
    first, created1 = ingest_order(order_data())
    # The same (order_source, external_id), even with other content, is the same order.
    again, created2 = ingest_order(order_data(email="other@example.com", lines=[{"sku": "X", "quantity": 9, "unit_price": 1}]))
    assert (created1, created2) == (True, False)
    assert again.pk == first.pk
    assert again.email == "name2@example.com"
    assert Order.objects.count() == 1
    assert OrderLine.objects.count() == 2
    assert PushRequest.objects.count() == 1
    assert AuditLog.objects.filter(action="order.ingest").count() == 1


def test_order_source_by_id_and_same_external_id_in_another_source_is_another_order():
    w = make_world()
    ingest_order(order_data(source=w.portal.pk))
    _, created = ingest_order(order_data(source=str(w.trade.pk), email="tradeshow@example.com"))
    assert created is True
    assert Order.objects.count() == 2


@pytest.mark.parametrize(
    ("patch", "field", "message"),
    [
        ({"order_source": "Nope"}, "order_source", "no order source 'Nope'"),
        ({"order_source": None}, "order_source", "is required"),
        ({"external_id": ""}, "external_id", "is required"),
        ({"number": "   "}, "number", "is required"),
        ({"lines": []}, "lines", "must have at least one line"),
        ({"lines": "x"}, "lines", "must be a list of order lines"),
        ({"lines": [{"sku": "A", "quantity": 0, "unit_price": 1}]}, "lines[0].quantity", "must be a number greater than 0"),
        ({"lines": [{"sku": "A", "quantity": 1, "unit_price": 1}, {"sku": "B", "quantity": "two", "unit_price": 1}]},
         "lines[1].quantity", "must be a number (got 'two')"),
        ({"lines": [{"sku": "A", "quantity": 1, "unit_price": -1}]}, "lines[0].unit_price", "must be a number of at least 0"),
        ({"lines": [{"sku": "A", "quantity": 1}]}, "lines[0].unit_price", "is required"),
        ({"lines": [{"quantity": 1, "unit_price": 1}]}, "lines[0].sku", "needs a sku or a description"),
        ({"lines": [{"sku": "A", "quantity": True, "unit_price": 1}]}, "lines[0].quantity", "must be a number"),
        ({"shipping": "1.234"}, "shipping", "must have at most 2 decimal places"),
        ({"tax": "NaN"}, "tax", "must be a finite number"),
        ({"discount": "500"}, "discount",
         "is larger than the order (subtotal 80.00 + shipping + tax): the total would be -420.00"),
        ({"currency": "US"}, "currency", "must be a 3-letter ISO 4217 code (A-Z) such as USD"),
        ({"txn_date": "2026-13-01"}, "txn_date", "must be a date as YYYY-MM-DD"),
        ({"ship_address": {"street": "x"}}, "ship_address.street",
         "is not an address field (known: line1, line2, city, region, postal_code, country)"),
        ({"email": "x" * 321}, "email", "must be at most 320 characters (got 321)"),
    ],
)
def test_invalid_input_names_field_and_reason_and_writes_nothing(patch, field, message):
    make_world()
    with pytest.raises(ServiceError) as exc:
        ingest_order(order_data(**{k: v for k, v in patch.items() if k != "lines"}, **(
            {"lines": patch["lines"]} if "lines" in patch else {})))
    assert (exc.value.field, exc.value.message, exc.value.status) == (field, message, 422)
    assert Order.objects.count() == 0
    assert PushRequest.objects.count() == 0


def test_bad_email_syntax_is_accepted_and_fails_preflight_as_invalid_email():
    make_world()
    order, _ = ingest_order(order_data(external_id="WP-1004", email="sales@@example..com"))
    pr = order.push_requests.get()
    assert (pr.state, pr.error_kind, pr.error_code) == ("failed", "invalid_email", "2210")
    order.refresh_from_db()
    assert order.status == "failed"


def test_invoice_without_matching_customer_fails_preflight_without_api_call():
    make_world()
    order, _ = ingest_order(order_data(external_id="WP-1003", email="new.buyer@example.org"))
    pr = order.push_requests.get()
    assert (pr.state, pr.error_kind, pr.error_title, pr.error_message, pr.error_detail, pr.error_code,
            pr.error_element) == (
        "failed", "customer_ref_required", "CustomerRef is required",
        "Required param missing, need to supply the required value for the API",
        "Required parameter CustomerRef is missing in the request", "2020", "CustomerRef",
    )
    attempt = pr.attempts.get()
    assert (attempt.outcome, attempt.http_status, attempt.requestid, attempt.error_kind, attempt.fault_code) == (
        "preflight", None, f"ll-{pr.pk}-r1", "customer_ref_required", "2020",
    )


def test_sales_receipt_without_email_is_queued():
    make_world()
    order, _ = ingest_order(order_data(source="Web Shop", external_id="WEB-1", email=""))
    pr = order.push_requests.get()
    assert (pr.kind, pr.state, pr.error_kind) == ("sales_receipt", "queued", "")
    assert "CustomerRef" not in pr.revisions.get().payload


def test_held_order_gets_no_request():
    from ledgerlink.domain.ingest.automation import create_rule

    w = make_world()
    create_rule(name="hold big", conditions={"total_min": "1000"}, actions={"hold": True})
    order, _ = ingest_order(order_data(lines=[{"sku": "W-100", "quantity": 100, "unit_price": "12.50"}]))
    assert (order.held, order.status) == (True, "held")
    assert PushRequest.objects.count() == 0
    assert list(order.rule_log.values_list("rule_name", "field", "old_value", "new_value")) == [
        ("hold big", "held", "false", "true")
    ]
    assert w.portal.orders.count() == 1
