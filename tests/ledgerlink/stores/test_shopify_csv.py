"""Shopify's order export, streamed: one result per order, per-row errors, memory bounded."""

from __future__ import annotations

import io
import tracemalloc

import pytest

from ledgerlink.stores import MappingError, shopify_csv
from ledgerlink.stores.shopify_csv import COLUMNS

from .conftest import FIXTURES, raw

EXPORT = FIXTURES / "shopify_orders_export.csv"
BC = {
    "line1": "1 Granville St",
    "line2": "Unit 4",
    "city": "Vancouver",
    "region": "BC",
    "postal_code": "V6B 1A1",
    "country": "CA",
}


def results(source):
    out = []
    for line, item in shopify_csv.parse_orders(source):
        out.append((line, item.as_dict() if isinstance(item, MappingError) else item))
    return out


def test_the_export_maps_order_by_order_and_reports_broken_orders_by_line():
    assert results(EXPORT) == [
        (
            2,
            {  # its first row spans lines 2-3 (a note with a line break)
                "external_id": "5001001001",
                "number": "1001",
                "email": "ada@example.com",
                "customer_name": "Ada Lovelace",
                "customer_company": "Analytical Engines Ltd",
                "bill_address": BC,
                "ship_address": BC,  # the zip's leading apostrophe removed
                "currency": "CAD",
                "exchange_rate": None,
                "txn_date": "2024-03-05",
                "lines": [
                    {
                        "sku": "JACKET-M",
                        "description": "Rain jacket - M",
                        "quantity": "1",
                        "unit_price": "100.00",
                        "tax": None,
                        "tax_rate": "12",
                        "taxable": True,
                    },  # GST 5% + PST 7% from the tax names
                    {
                        "sku": "KIDS-TEE",
                        "description": "Kids tee",
                        "quantity": "3",
                        "unit_price": "10.00",
                        "tax": None,
                        "tax_rate": "12",
                        "taxable": True,
                    },
                ],
                "shipping": "15.00",
                "shipping_tax": None,
                "shipping_tax_rate": None,
                "discount": "13.00",
                "tax": "15.84",
                "prices_include_tax": False,
            },
        ),
        (
            5,
            {
                "external_id": "5001001002",
                "number": "1002",
                "email": "grace@example.com",
                "customer_name": "Grace Hopper",
                "customer_company": None,
                "bill_address": {
                    "line1": "1 Navy Way",
                    "line2": None,
                    "city": "Arlington",
                    "region": "VA",
                    "postal_code": "22202",
                    "country": "US",
                },
                "ship_address": None,
                "currency": "USD",
                "exchange_rate": None,
                "txn_date": "2024-03-06",
                "lines": [
                    {
                        "sku": "STK-1",
                        "description": "Sticker pack",
                        "quantity": "4",
                        "unit_price": "2.50",
                        "tax": None,
                        "tax_rate": None,
                        "taxable": False,
                    }
                ],
                "shipping": "3.00",
                "shipping_tax": None,
                "shipping_tax_rate": None,
                "discount": "0.00",
                "tax": "0.00",
                "prices_include_tax": False,
            },
        ),
        (7, {"detail": "must be a number (got 'two') (order #1003)", "field": "Lineitem quantity"}),
        (
            8,
            {
                "external_id": "5001001004",
                "number": "1004",
                "email": "marie@example.fr",
                "customer_name": "Marie Curie",
                "customer_company": None,
                "bill_address": {
                    "line1": "11 rue Pierre et Marie Curie",
                    "line2": None,
                    "city": "Paris",
                    "region": None,
                    "postal_code": "75005",
                    "country": "FR",
                },
                "ship_address": None,
                "currency": "EUR",
                "exchange_rate": None,
                "txn_date": "2024-03-07",
                "lines": [
                    {
                        "sku": "MUG-1",
                        "description": "Stoneware mug",
                        "quantity": "2",
                        "unit_price": "12.00",
                        "tax": None,
                        "tax_rate": "20",
                        "taxable": True,
                    }
                ],
                "shipping": "6.00",
                "shipping_tax": None,
                "shipping_tax_rate": None,
                "discount": "2.40",
                "tax": "4.60",
                "prices_include_tax": True,  # 24.00 - 2.40 + 6.00 = 27.60
            },
        ),
        (
            9,
            {
                "detail": "is 99.00 but the line items less the discount plus shipping come to 55.00 (55.00 with the"
                " taxes added): order #1005 does not add up",
                "field": "Total",
            },
        ),
        (
            10,
            {
                "detail": "is 2024-03-08 12:00:00 -0500: order #1006 was cancelled and is not imported",
                "field": "Cancelled at",
            },
        ),
        (11, {"detail": "has 12 cells where the header has 79 columns", "field": "row"}),
        (
            12,
            {
                "external_id": "5001001008",
                "number": "1008",
                "email": "ada@example.com",
                "customer_name": "Ada Lovelace",
                "customer_company": "Analytical Engines Ltd",
                "bill_address": BC,
                "ship_address": BC,
                "currency": "CAD",
                "exchange_rate": None,
                "txn_date": "2024-03-09",
                "lines": [
                    {
                        "sku": "SCARF",
                        "description": "Wool scarf",
                        "quantity": "1",
                        "unit_price": "40.00",
                        "tax": None,
                        "tax_rate": None,
                        "taxable": True,
                    },
                    {
                        "sku": "DUTIES",
                        "description": "Duties",
                        "quantity": "1",
                        "unit_price": "4.00",
                        "tax": None,
                        "tax_rate": None,
                        "taxable": False,
                    },
                ],
                "shipping": "0.00",
                "shipping_tax": None,
                "shipping_tax_rate": None,
                "discount": "0.00",
                "tax": "0.00",
                "prices_include_tax": False,
            },
        ),
        (
            13,
            {
                "detail": "is empty on the first row of order #1002: the order's totals are on its first row, so its"
                " rows must be together in the file",
                "field": "Total",
            },
        ),
    ]


def test_every_kind_of_source_gives_the_same_results():
    expected = results(EXPORT)
    assert results(str(EXPORT)) == expected
    handle = io.BytesIO(b"\xef\xbb\xbf" + raw("shopify_orders_export.csv"))  # with a byte-order mark
    assert results(handle) == expected
    assert not handle.closed  # the caller's file stays open
    assert results(io.StringIO(raw("shopify_orders_export.csv").decode())) == expected
    assert results(raw("shopify_orders_export.csv").decode().splitlines(keepends=True)) == expected


def test_not_an_export_reports_the_header_and_stops():
    assert results(io.StringIO("order,sku,qty\n1,A,2\n")) == [
        (
            1,
            {
                "detail": "is not Shopify's order export: missing column(s) Name, Id, Currency, Subtotal, Shipping, Taxes,"
                " Total, Discount Amount, Created at, Lineitem quantity, Lineitem name, Lineitem price",
                "field": "header",
            },
        )
    ]
    assert results(io.StringIO("")) == [
        (1, {"detail": "the file is empty (expected Shopify's order export header)", "field": "header"})
    ]


def _row(**cells) -> str:
    values = {column: "" for column in COLUMNS} | {k.replace("_", " "): v for k, v in cells.items()}
    out = io.StringIO()
    import csv

    csv.writer(out, lineterminator="\n").writerow([values[c] for c in COLUMNS])
    return out.getvalue()


def _order_rows(n: int) -> str:
    first = _row(
        Name=f"#{n}",
        Id=str(9000000 + n),
        Email=f"c{n}@example.com",
        Currency="USD",
        Subtotal="25.00",
        Shipping="5.00",
        Taxes="0.00",
        Total="30.00",
        Discount_Amount="0.00",
        Created_at="2024-01-02 03:04:05 -0500",
        Lineitem_quantity="2",
        Lineitem_name="Widget",
        Lineitem_price="10.00",
        Lineitem_sku="W-1",
        Notes="x" * 200,
    )
    second = _row(
        Name=f"#{n}", Lineitem_quantity="1", Lineitem_name="Gadget", Lineitem_price="5.00", Lineitem_sku="G-1"
    )
    return first + second


def test_not_utf8_stops_with_the_line():
    data = (",".join(COLUMNS) + "\n" + _order_rows(1)).encode() + b"#2,\xff\xfe broken\n"
    out = results(io.BytesIO(data))
    assert out[0][0] == 2 and out[0][1]["external_id"] == "9000001"
    assert out[-1][1]["field"] == "file"
    assert "is not UTF-8 text" in out[-1][1]["detail"]


def test_a_row_without_an_order_name_is_reported_and_the_rest_goes_on():
    text = ",".join(COLUMNS) + "\n" + _row(Lineitem_name="orphan") + _order_rows(7)
    assert [
        (line, item.get("field", item.get("external_id"))) for line, item in results(io.StringIO(text))
    ] == [(2, "Name"), (3, "9000007")]


def test_parsing_streams_holding_one_order_at_a_time():
    """When order k comes out, the parser has read no further than the first row of order k+1."""
    consumed = 0

    def lines():
        nonlocal consumed
        yield ",".join(COLUMNS) + "\n"
        consumed = 1
        for n in range(1, 51):
            for line in _order_rows(n).splitlines(keepends=True):
                consumed += 1
                yield line

    seen = 0
    for line, order in shopify_csv.parse_orders(lines()):
        seen += 1
        assert order["external_id"] == str(9000000 + seen)
        assert line == 2 * seen
        assert consumed <= line + 2  # its two rows and, at most, the next order's first row
    assert seen == 50


def test_memory_does_not_grow_with_the_file():
    def lines(count):
        yield ",".join(COLUMNS) + "\n"
        for n in range(1, count + 1):
            yield from _order_rows(n).splitlines(keepends=True)

    def peak(count):
        tracemalloc.start()
        try:
            total = sum(1 for _ in shopify_csv.parse_orders(lines(count)))
            return total, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small_orders, small_peak = peak(200)
    big_orders, big_peak = peak(4000)  # 20x the rows (about 4 MB of CSV)
    assert (small_orders, big_orders) == (200, 4000)
    assert big_peak < small_peak * 1.5 + 64 * 1024


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        ({"Lineitem_price": "10.005"}, "Lineitem price"),
        ({"Lineitem_taxable": "maybe"}, "Lineitem taxable"),
        ({"Id": ""}, "Id"),
        ({"Currency": ""}, "Currency"),
        ({"Created_at": "soon"}, "Created at"),
        ({"Total": "thirty"}, "Total"),
    ],
)
def test_each_bad_cell_names_its_column(cells, field):
    first = (
        dict(
            Name="#5",
            Id="9000005",
            Currency="USD",
            Subtotal="20.00",
            Shipping="0.00",
            Taxes="0.00",
            Total="20.00",
            Discount_Amount="0.00",
            Created_at="2024-01-02 03:04:05 -0500",
            Lineitem_quantity="2",
            Lineitem_name="Widget",
            Lineitem_price="10.00",
            Lineitem_taxable="false",
        )
        | cells
    )
    text = ",".join(COLUMNS) + "\n" + _row(**first)
    [(line, item)] = results(io.StringIO(text))
    assert (line, item["field"]) == (2, field)
