"""The order's tax as stores give it: per-line tax and rate, taxable, prices including tax, shipping
tax, exchange rate; the order's tax is the lines' sum plus the shipping's (422 naming ``tax``); the
same columns in the CSV import; a bare ``tax`` as before."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from ledgerlink.core.models import Order, OrderLine
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.ingest.csv_import import import_orders_csv
from ledgerlink.domain.ingest.orders import ingest_order
from tests.ledgerlink.factories import make_world, order_data

pytestmark = pytest.mark.django_db

TAXED = [
    {"sku": "W-100", "quantity": 2, "unit_price": "50.00", "tax_rate": "13", "tax": "13.00"},
    {"sku": "G-200", "quantity": 1, "unit_price": "20.00", "tax_rate": "9.975"},
    {"sku": "OLD-1", "quantity": 1, "unit_price": "5.00"},
]


def test_line_tax_fields_are_stored_and_the_tax_defaults_to_their_sum():
    make_world()
    order, _ = ingest_order(order_data(lines=TAXED, shipping="10.00", shipping_tax="1.30", shipping_tax_rate="13",
                                       exchange_rate="1.0873"))
    lines = list(OrderLine.objects.filter(order=order).order_by("position").values_list("tax", "tax_rate", "taxable"))
    assert lines == [(Decimal("13.00"), Decimal("13.0000"), True), (None, Decimal("9.9750"), True), (None, None, False)]
    order = Order.objects.get(pk=order.pk)
    assert (order.tax, order.shipping_tax, order.shipping_tax_rate, order.exchange_rate, order.itemized_tax) == (
        Decimal("14.30"), Decimal("1.30"), Decimal("13.0000"), Decimal("1.08730000"), True)
    assert (order.subtotal, order.total) == (Decimal("125.00"), Decimal("149.30"))


def test_order_tax_other_than_the_lines_sum_is_422_naming_tax_and_nothing_is_stored():
    make_world()
    with pytest.raises(ServiceError) as exc:
        ingest_order(order_data(lines=TAXED, tax="15.00", shipping_tax="1.30"))
    assert (exc.value.field, exc.value.message) == (
        "tax", "must equal the lines' tax plus the shipping tax (14.30), got 15.00")
    assert Order.objects.count() == 0


@pytest.mark.parametrize(("line", "field", "message"), [
    ({"tax_rate": "101"}, "lines[0].tax_rate", "must be a percent from 0 to 100 (e.g. 13 or 9.975)"),
    ({"tax_rate": "abc"}, "lines[0].tax_rate", "must be a number (got 'abc')"),
    ({"tax": "-1"}, "lines[0].tax", "must be a number of at least 0"),
    ({"taxable": "maybe"}, "lines[0].taxable", "must be true or false"),
])
def test_bad_line_tax_fields_name_the_field(line, field, message):
    make_world()
    with pytest.raises(ServiceError) as exc:
        ingest_order(order_data(lines=[{"sku": "W-100", "quantity": 1, "unit_price": "1", **line}]))
    assert (exc.value.field, exc.value.message) == (field, message)


def test_prices_including_tax_add_the_tax_once():
    make_world()
    order, _ = ingest_order(order_data(
        prices_include_tax=True, lines=[{"sku": "W-100", "quantity": 1, "unit_price": "113.00", "tax": "13.00"}]))
    assert (order.prices_include_tax, order.tax, order.subtotal, order.total) == (
        True, Decimal("13.00"), Decimal("113.00"), Decimal("113.00"))


def test_a_bare_tax_works_as_before():
    w = make_world()
    order, _ = ingest_order(order_data(tax="3.25"))
    assert (order.tax, order.total, order.itemized_tax) == (Decimal("3.25"), Decimal("83.25"), False)
    payload = order.push_requests.get().revisions.get().payload
    assert payload["TxnTaxDetail"] == {"TotalTax": 3.25}
    assert all("TaxCodeRef" not in line.get("SalesItemLineDetail", {}) for line in payload["Line"])
    assert w.company.tax_model == ""


def test_csv_import_reads_the_tax_columns():
    make_world()
    csv = (
        "order_source,external_id,number,sku,quantity,unit_price,line_tax,tax_rate,taxable,shipping,shipping_tax,"
        "shipping_tax_rate,prices_include_tax,tax\n"
        "Wholesale Portal,C-1,C-1,W-100,2,50.00,13.00,13,,10.00,1.30,13,false,14.30\n"
        "Wholesale Portal,C-1,C-1,G-200,1,20.00,,,false,,,,,\n"
        "Wholesale Portal,C-2,C-2,W-100,1,10.00,1.30,13,,,,,,2.00\n"
    )
    report = import_orders_csv(io.BytesIO(csv.encode()), actor_label="csv:test")
    assert report.created == 1
    assert report.errors == [(4, "tax: must equal the lines' tax plus the shipping tax (1.30), got 2.00")]
    order = Order.objects.get(external_id="C-1")
    assert (order.tax, order.shipping_tax, order.total) == (Decimal("14.30"), Decimal("1.30"), Decimal("144.30"))
    assert list(order.lines.order_by("position").values_list("tax", "tax_rate", "taxable")) == [
        (Decimal("13.00"), Decimal("13.0000"), True), (None, None, False)]
