"""The identity every mapped order keeps, to the cent:

    sum(qty x unit_price) + shipping - discount + (tax unless prices_include_tax) == the store's total

computed here on its own (not with ``order_total``), over every fixture and over generated bodies."""

from __future__ import annotations

import csv
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerlink.stores import MappingOptions, order_total, shopify, shopify_csv, woocommerce
from ledgerlink.stores.intents import LINE_KEYS, ORDER_KEYS

from .conftest import FIXTURES, load

CENT = Decimal("0.01")


def identity(order: dict) -> Decimal:
    total = Decimal(0)
    for line in order["lines"]:
        total += (Decimal(line["quantity"]) * Decimal(line["unit_price"])).quantize(
            CENT, rounding=ROUND_HALF_UP
        )
    total += Decimal(order["shipping"]) - Decimal(order["discount"])
    if not order["prices_include_tax"]:
        total += Decimal(order["tax"])
    return total


def assert_well_formed(order: dict) -> None:
    assert tuple(order) == ORDER_KEYS
    assert all(tuple(line) == LINE_KEYS for line in order["lines"])
    for key in ("shipping", "discount", "tax"):
        assert Decimal(order[key]).as_tuple().exponent == -2, key  # 2 places, always
    for line in order["lines"]:
        assert Decimal(line["unit_price"]).as_tuple().exponent in (-2, -4)
        if line["tax"] is not None:
            assert Decimal(line["tax"]).as_tuple().exponent == -2


def fixture_cases():
    for name in ("shopify_order_us.json", "shopify_order_canada_bc.json", "shopify_order_eu_inclusive.json"):
        body = load(name)
        yield name, shopify.route("orders/create", body).data, Decimal(body["total_price"])
    body = load("shopify_order_eu_inclusive.json")
    yield (
        "shopify_order_eu_inclusive.json (presentment)",
        shopify.route("orders/create", body, MappingOptions(money="presentment")).data,
        Decimal(body["total_price_set"]["presentment_money"]["amount"]),
    )
    for name in ("woo_order_us.json", "woo_order_quebec_inclusive.json"):
        body = load(name)
        yield name, woocommerce.route("order.created", body).intents[0].data, Decimal(body["total"])
    with open(FIXTURES / "shopify_orders_export.csv", newline="", encoding="utf-8") as handle:
        totals = {row["Id"]: Decimal(row["Total"]) for row in csv.DictReader(handle) if row["Id"]}
    for line, order in shopify_csv.parse_orders(FIXTURES / "shopify_orders_export.csv"):
        if isinstance(order, dict):
            yield f"shopify_orders_export.csv line {line}", order, totals[order["external_id"]]


CASES = list(fixture_cases())


def test_every_fixture_is_covered():
    assert len(CASES) == 10


@pytest.mark.parametrize(("name", "order", "store_total"), CASES, ids=[case[0] for case in CASES])
def test_identity_holds_for_every_fixture(name, order, store_total):
    assert_well_formed(order)
    assert identity(order) == store_total
    assert order_total(order) == store_total
    taxed = [Decimal(line["tax"]) for line in order["lines"] if line["tax"] is not None]
    if taxed:  # issue 14's rule: the lines' tax plus the shipping tax is the order's tax
        assert sum(taxed) + Decimal(order["shipping_tax"]) == Decimal(order["tax"])


# --- generated store bodies -------------------------------------------------------------------------

RATES = [Decimal(r) for r in ("0", "0.05", "0.06", "0.07", "0.09975", "0.13", "0.2")]
cents = st.integers(min_value=0, max_value=500_000)


def money(value: int) -> str:
    return str((Decimal(value) / 100).quantize(CENT))


@st.composite
def shopify_bodies(draw):
    included = draw(st.booleans())
    items, gross, discounts, taxes = [], 0, 0, 0
    for index in range(draw(st.integers(min_value=1, max_value=5))):
        qty = draw(st.integers(min_value=1, max_value=12))
        price = draw(st.integers(min_value=1, max_value=200_000))
        discount = draw(st.integers(min_value=0, max_value=price * qty))
        tax_lines = []
        for rate in draw(st.lists(st.sampled_from(RATES), min_size=0, max_size=2)):
            tax = int((Decimal(price * qty - discount) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            tax_lines.append({"title": "T", "rate": float(rate), "price": money(tax)})
            taxes += tax
        items.append(
            {
                "id": index,
                "sku": f"S{index}",
                "name": f"Item {index}",
                "quantity": qty,
                "price": money(price),
                "taxable": bool(tax_lines),
                "tax_lines": tax_lines,
                "discount_allocations": [{"amount": money(discount)}] if discount else [],
            }
        )
        gross += price * qty
        discounts += discount
    ship = draw(cents)
    ship_discount = draw(st.integers(min_value=0, max_value=ship))
    ship_tax = draw(st.integers(min_value=0, max_value=ship))
    tip = draw(st.sampled_from([0, 0, 500]))
    total = gross - discounts + ship - ship_discount + tip + (0 if included else taxes + ship_tax)
    body = {
        "id": 1,
        "name": "#1",
        "currency": "USD",
        "taxes_included": included,
        "created_at": "2024-01-01T00:00:00Z",
        "line_items": items,
        "shipping_lines": [
            {
                "price": money(ship),
                "tax_lines": [{"rate": 0.05, "price": money(ship_tax)}],
                "discount_allocations": [{"amount": money(ship_discount)}],
            }
        ],
        "total_tax": money(taxes + ship_tax),
        "total_tip_received": money(tip),
        "total_price": money(total),
    }
    return body, Decimal(money(total))


@settings(max_examples=150, deadline=None)
@given(shopify_bodies())
def test_identity_holds_for_generated_shopify_orders(case):
    body, store_total = case
    order = shopify.route("orders/create", body).data
    assert_well_formed(order)
    assert identity(order) == store_total


@st.composite
def woo_bodies(draw):
    included = draw(st.booleans())
    total, total_tax, line_items = 0, 0, []
    for index in range(draw(st.integers(min_value=1, max_value=5))):
        qty = draw(st.integers(min_value=1, max_value=9))
        unit = draw(st.integers(min_value=1, max_value=100_000))  # the catalogue price (gross when included)
        before = unit * qty
        after = draw(st.integers(min_value=0, max_value=before))  # after coupons
        before_tax = draw(st.integers(min_value=0, max_value=before // 5))
        after_tax = draw(st.integers(min_value=0, max_value=before_tax))
        if included:  # gross = net + tax
            subtotal, subtotal_tax = before - before_tax, before_tax
            line_total, line_tax = max(after - after_tax, 0), min(after_tax, after)
        else:
            subtotal, subtotal_tax, line_total, line_tax = before, before_tax, after, after_tax
        line_items.append(
            {
                "id": index,
                "name": f"Item {index}",
                "sku": f"S{index}",
                "quantity": qty,
                "subtotal": money(subtotal),
                "subtotal_tax": money(subtotal_tax),
                "total": money(line_total),
                "total_tax": money(line_tax),
                "taxes": [{"id": 1, "total": money(line_tax)}] if line_tax else [],
            }
        )
        total += line_total + line_tax
        total_tax += line_tax
    fee, fee_tax = draw(cents), draw(st.integers(min_value=0, max_value=5_000))
    ship, ship_tax = draw(cents), draw(st.integers(min_value=0, max_value=5_000))
    total += fee + fee_tax + ship + ship_tax
    total_tax += fee_tax + ship_tax
    body = {
        "id": 5,
        "number": "5",
        "currency": "EUR",
        "prices_include_tax": included,
        "date_created": "2024-01-01T00:00:00",
        "date_modified_gmt": "2024-01-01T00:00:00",
        "line_items": line_items,
        "fee_lines": [
            {
                "name": "Fee",
                "total": money(fee),
                "total_tax": money(fee_tax),
                "taxes": [{"id": 1, "total": money(fee_tax)}],
            }
        ],
        "shipping_lines": [
            {
                "total": money(ship),
                "total_tax": money(ship_tax),
                "taxes": [{"id": 1, "total": money(ship_tax)}],
            }
        ],
        "tax_lines": [{"rate_id": 1, "rate_percent": 10}],
        "total": money(total),
        "total_tax": money(total_tax),
        "refunds": [],
    }
    return body, Decimal(money(total))


@settings(max_examples=150, deadline=None)
@given(woo_bodies())
def test_identity_holds_for_generated_woocommerce_orders(case):
    body, store_total = case
    order = woocommerce.route("order.created", body).intents[0].data
    assert_well_formed(order)
    assert identity(order) == store_total
