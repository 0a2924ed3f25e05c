"""Shopify webhook bodies -> intents, with the exact dicts Ledgerlink will receive."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledgerlink.stores import MappingError, MappingOptions, order_total, shopify
from ledgerlink.stores.intents import ORDER_KEYS

from .conftest import load, raw

US_ORDER = {
    "external_id": "5678901234",
    "number": "1001",
    "email": "bob.norman@example.com",
    "customer_name": "Bob Norman",
    "customer_company": "Norman Supplies",
    "bill_address": {
        "line1": "Chestnut Street 92",
        "line2": "Apartment 2",
        "city": "Louisville",
        "region": "KY",
        "postal_code": "40202",
        "country": "US",
    },
    "ship_address": {
        "line1": "123 Amoebobacterieae St",
        "line2": None,
        "city": "Louisville",
        "region": "KY",
        "postal_code": "40202",
        "country": "US",
    },
    "currency": "USD",
    "exchange_rate": None,
    "txn_date": "2024-03-01",
    "lines": [
        {
            "sku": "IPOD-342-N",
            "description": "IPod Nano - 8gb - black",
            "quantity": "1",
            "unit_price": "199.99",
            "tax": "11.70",
            "tax_rate": "6",
            "taxable": True,
        },
        {
            "sku": "CASE-1",
            "description": "Leather case",
            "quantity": "2",
            "unit_price": "15.00",
            "tax": "1.80",
            "tax_rate": "6",
            "taxable": True,
        },
    ],
    "shipping": "10.00",
    "shipping_tax": "0.60",
    "shipping_tax_rate": "6",
    "discount": "5.00",
    "tax": "14.10",
    "prices_include_tax": False,
}


def test_orders_create_maps_taxed_lines_shipping_tax_and_a_discount():
    intent = shopify.route("orders/create", load("shopify_order_us.json"))
    assert intent.kind == "order"
    assert intent.order_external_id == "5678901234"
    assert intent.data == US_ORDER
    assert tuple(intent.data) == ORDER_KEYS
    assert intent.meta["discount_codes"] == ["SAVE5"]
    assert intent.meta["financial_status"] == "paid"
    assert intent.version.startswith("2024-03-01T10:05:00-05:00#")
    assert order_total(intent.data) == Decimal("249.09")


def test_canadian_gst_plus_pst_lines_gift_card_and_tip():
    intent = shopify.route("orders/create", load("shopify_order_canada_bc.json"))
    data = intent.data
    assert data["currency"] == "CAD"
    assert data["lines"] == [
        {
            "sku": "JACKET-M",
            "description": "Rain jacket - M",
            "quantity": "1",
            "unit_price": "100.00",
            "tax": "12.00",
            "tax_rate": "12",
            "taxable": True,
        },  # GST 5 + PST 7 on one line
        {
            "sku": "KIDS-TEE",
            "description": "Kids tee",
            "quantity": "3",
            "unit_price": "10.00",
            "tax": "1.50",
            "tax_rate": "5",
            "taxable": True,
        },  # GST only
        {
            "sku": "GIFT-CARD",
            "description": "Gift card - $25.00",
            "quantity": "1",
            "unit_price": "25.00",
            "tax": "0.00",
            "tax_rate": None,
            "taxable": False,
        },  # a gift card sold: a line (no SKU: the option's)
        {
            "sku": "TIP",
            "description": "Tip",
            "quantity": "1",
            "unit_price": "5.00",
            "tax": "0.00",
            "tax_rate": None,
            "taxable": False,
        },  # total_tip_received
    ]
    assert (data["shipping"], data["shipping_tax"], data["shipping_tax_rate"]) == ("15.00", "1.80", "12")
    assert (data["discount"], data["tax"], data["prices_include_tax"]) == ("0.00", "15.30", False)
    assert data["customer_company"] == "Coastal Outfitters Ltd"
    assert data["bill_address"]["region"] == "BC"


def test_tip_and_gift_card_skus_are_configurable():
    options = MappingOptions(tip_sku="GRATUITY", gift_card_sku="GC")
    data = shopify.route("orders/create", load("shopify_order_canada_bc.json"), options).data
    assert [line["sku"] for line in data["lines"]] == ["JACKET-M", "KIDS-TEE", "GC", "GRATUITY"]


def test_a_tip_already_among_the_line_items_is_not_added_twice(fixture):
    body = fixture("shopify_order_canada_bc.json")
    body["line_items"].append(
        {
            "id": 11004,
            "title": "Tip",
            "name": "Tip",
            "sku": None,
            "quantity": 1,
            "price": "5.00",
            "taxable": False,
            "gift_card": False,
            "tax_lines": [],
        }
    )
    intent = shopify.route("orders/create", body)
    assert [line["description"] for line in intent.data["lines"]] == [
        "Rain jacket - M",
        "Kids tee",
        "Gift card - $25.00",
        "Tip",
    ]
    assert intent.meta["tip_in_line_items"] == "5.00"


def test_tax_inclusive_foreign_currency_with_duties_in_shop_money():
    intent = shopify.route("orders/create", load("shopify_order_eu_inclusive.json"))
    assert intent.data == {
        "external_id": "7300000042",
        "number": "EU-3042",
        "email": "oliver@example.co.uk",
        "customer_name": "Oliver Twist",
        "customer_company": None,
        "bill_address": {
            "line1": "10 Downing Lane",
            "line2": None,
            "city": "London",
            "region": "ENG",
            "postal_code": "SW1A 2AA",
            "country": "GB",
        },
        "ship_address": {
            "line1": "10 Downing Lane",
            "line2": None,
            "city": "London",
            "region": "ENG",
            "postal_code": "SW1A 2AA",
            "country": "GB",
        },
        "currency": "EUR",
        "exchange_rate": None,
        "txn_date": "2024-06-02",  # the shop's local date, not UTC (that would be the same day here)
        "lines": [
            {
                "sku": "MUG-1",
                "description": "Stoneware mug",
                "quantity": "2",
                "unit_price": "12.00",
                "tax": "3.60",
                "tax_rate": "20",
                "taxable": True,
            },
            {
                "sku": "DUTIES",
                "description": "Duties",
                "quantity": "1",
                "unit_price": "3.00",
                "tax": "0.00",
                "tax_rate": None,
                "taxable": False,
            },
        ],
        "shipping": "6.00",
        "shipping_tax": "1.00",
        "shipping_tax_rate": "20",
        "discount": "2.40",
        "tax": "4.60",
        "prices_include_tax": True,
    }
    assert intent.meta["shop_currency"] == "EUR"
    assert intent.meta["presentment_currency"] == "GBP"


def test_presentment_money_maps_the_buyers_currency():
    data = shopify.route(
        "orders/create", load("shopify_order_eu_inclusive.json"), MappingOptions(money="presentment")
    ).data
    assert data["currency"] == "GBP"
    assert [(line["unit_price"], line["tax"]) for line in data["lines"]] == [
        ("10.20", "3.06"),
        ("2.55", "0.00"),
    ]
    assert (data["shipping"], data["shipping_tax"], data["discount"], data["tax"]) == (
        "5.10",
        "0.85",
        "2.04",
        "3.91",
    )
    assert str(order_total(data)) == "26.01"


def test_presentment_mapping_needs_the_money_sets(fixture):
    body = fixture("shopify_order_us.json")
    del body["line_items"][1]["price_set"]
    with pytest.raises(MappingError) as err:
        shopify.route("orders/create", body, MappingOptions(money="presentment"))
    assert err.value.field == "line_items[1].price_set"


def test_orders_updated_is_a_change_carrying_the_full_order(fixture):
    body = fixture("shopify_order_us.json")
    body["line_items"][1]["quantity"] = 3
    body["line_items"][1]["tax_lines"][0]["price"] = "2.70"
    body["total_line_items_price"], body["subtotal_price"] = "244.99", "239.99"
    body["total_tax"], body["total_price"] = "15.00", "264.99"
    body["updated_at"] = "2024-03-02T09:00:00-05:00"
    intent = shopify.route("orders/updated", body)
    assert intent.kind == "change"
    assert intent.data == {
        **US_ORDER,
        "lines": [
            US_ORDER["lines"][0],
            {
                "sku": "CASE-1",
                "description": "Leather case",
                "quantity": "3",
                "unit_price": "15.00",
                "tax": "2.70",
                "tax_rate": "6",
                "taxable": True,
            },
        ],
        "tax": "15.00",
    }
    assert intent.version != shopify.route("orders/create", load("shopify_order_us.json")).version


def test_orders_paid_is_a_payment_of_what_was_received():
    intent = shopify.route("orders/paid", load("shopify_order_us.json"))
    assert intent.kind == "payment"
    assert intent.data == {
        "external_id": "5678901234:paid",
        "amount": "249.09",
        "date": "2024-03-01",
        "method": "shopify_payments",
        "reference": "XPAV284CT",
    }


def test_orders_paid_in_part_by_gift_card_names_every_gateway(fixture):
    intent = shopify.route("orders/paid", fixture("shopify_order_canada_bc.json"))
    assert intent.data == {
        "external_id": "6123450001:paid",
        "amount": "190.30",
        "date": "2024-04-10",
        "method": "gift_card, shopify_payments",
        "reference": None,
    }
    assert intent.meta["non_cash_gateways"] == ["gift_card"]


def test_orders_paid_with_an_outstanding_balance_pays_the_received_part(fixture):
    body = fixture("shopify_order_us.json")
    body["total_outstanding"] = "49.09"
    assert shopify.route("orders/paid", body).data["amount"] == "200.00"
    body["total_outstanding"] = "249.09"
    intent = shopify.route("orders/paid", body)
    assert (intent.kind, intent.data) == ("ignore", None)


def test_orders_cancelled_is_a_cancel_with_shopifys_reason(fixture):
    body = fixture("shopify_order_us.json")
    body.update(cancelled_at="2024-03-01T12:00:00-05:00", cancel_reason="customer", financial_status="voided")
    intent = shopify.route("orders/cancelled", body)
    assert (intent.kind, intent.data, intent.order_external_id) == (
        "cancel",
        {"reason": "customer"},
        "5678901234",
    )
    assert intent.meta["cancelled_at"] == "2024-03-01T12:00:00-05:00"


def test_partial_refund_with_refunded_shipping_lines_and_transactions():
    intent = shopify.route("refunds/create", load("shopify_refund_partial.json"))
    assert intent.kind == "refund"
    assert intent.order_external_id == "5678901234"
    assert intent.data == {
        "external_id": "929361001",
        "lines": [{"sku": "CASE-1", "quantity": "1"}],
        "shipping": "10.00",
        "amount": "26.50",
        "reason": "Case arrived scratched",
    }
    # the failed transaction does not count; the gift-card part is a refund too, and said so
    assert intent.meta["amount_by_gateway"] == {"shopify_payments": "20.00", "gift_card": "6.50"}
    assert intent.meta["non_cash_amount"] == "6.50"


def test_shipping_only_refund_as_an_order_adjustment():
    intent = shopify.route("refunds/create", load("shopify_refund_shipping_adjustment.json"))
    assert intent.data == {
        "external_id": "929361467",
        "lines": [],
        "shipping": "5.00",
        "amount": "5.00",
        "reason": "Shipping was late",
    }


def test_refund_without_transactions_is_worth_its_parts(fixture):
    body = fixture("shopify_refund_partial.json")
    body["transactions"] = []
    assert shopify.route("refunds/create", body).data["amount"] == "26.50"  # 15.00 + 0.90 + 10.00 + 0.60


def test_restock_only_refund_is_ignored(fixture):
    body = fixture("shopify_refund_partial.json")
    body.update(refund_line_items=[], refund_shipping_lines=[], transactions=[])
    intent = shopify.route("refunds/create", body)
    assert (intent.kind, intent.order_external_id) == ("ignore", "5678901234")
    assert intent.reason == "the refund returns no line, no shipping and no money"


@pytest.mark.parametrize(
    "topic", ["orders/fulfilled", "orders/partially_fulfilled", "orders/edited", "orders/delete"]
)
def test_known_topics_that_change_nothing_are_ignored(topic):
    intent = shopify.route(topic, load("shopify_order_us.json"))
    assert (intent.kind, intent.data, intent.order_external_id) == ("ignore", None, "5678901234")
    assert intent.reason.startswith(topic)


@pytest.mark.parametrize("topic", ["products/create", "", "orders/creat", "checkouts/update"])
def test_unknown_topic_is_a_mapping_error(topic):
    with pytest.raises(MappingError) as err:
        shopify.route(topic, load("shopify_order_us.json"))
    assert err.value.field == "topic"
    assert "is not a topic Ledgerlink handles" in err.value.message


@pytest.mark.parametrize(
    ("edit", "field", "words"),
    [
        (lambda b: b.pop("id"), "id", "is missing"),
        (lambda b: b.update(line_items=[]), "line_items", "at least one line item"),
        (lambda b: b["line_items"][0].update(price="abc"), "line_items[0].price", "must be a number"),
        (
            lambda b: b["line_items"][0].update(price="199.999"),
            "line_items[0].price",
            "more than 2 decimal places",
        ),
        (lambda b: b["line_items"][1].update(quantity=0), "line_items[1].quantity", "greater than 0"),
        (
            lambda b: b["line_items"][0]["tax_lines"][0].update(rate=13),
            "line_items[0].tax_lines[0].rate",
            "fraction between 0 and 1",
        ),
        (lambda b: b.update(taxes_included=None), "taxes_included", "true or false"),
        (
            lambda b: b.update(total_price="250.00"),
            "total_price",
            "the store's total is 250.00 but the mapped order comes to 249.09",
        ),
        (
            lambda b: b.update(total_tax="14.20", total_price="249.19"),
            "total_tax",
            "the store's total tax is 14.20 but the lines' tax (13.50) plus the shipping tax (0.60) is 14.10",
        ),
        (lambda b: b.update(total_tax="14.20"), "total_price", "249.19"),
        (lambda b: b.update(currency=None), "currency", "is missing"),
        (lambda b: b.update(processed_at="yesterday"), "processed_at", "is not a date-time"),
        (lambda b: b.update(line_items="x"), "line_items", "must be a list"),
    ],
)
def test_bodies_that_do_not_map_say_what_is_wrong(fixture, edit, field, words):
    body = fixture("shopify_order_us.json")
    edit(body)
    with pytest.raises(MappingError) as err:
        shopify.route("orders/create", body)
    assert err.value.field == field
    assert words in err.value.message


def test_line_tax_that_does_not_add_up_to_total_tax_is_refused(fixture):
    body = fixture("shopify_order_us.json")
    body["line_items"][1]["tax_lines"][0]["price"] = "1.90"  # lines + shipping say 14.20, the order 14.10
    with pytest.raises(MappingError) as err:
        shopify.route("orders/create", body)
    assert err.value.as_dict() == {
        "detail": "the store's total tax is 14.10 but the lines' tax (13.60) plus the shipping tax (0.60) is 14.20",
        "field": "total_tax",
    }


def test_the_raw_delivery_parses_and_routes():
    body = shopify.parse_body(raw("shopify_order_us.json"))
    assert shopify.route("ORDERS/CREATE ", body).data == US_ORDER
    with pytest.raises(MappingError) as err:
        shopify.parse_body(b"webhook_id=1")
    assert err.value.field == "body"
    with pytest.raises(MappingError, match="must be a JSON object"):
        shopify.parse_body(b"[1, 2]")
