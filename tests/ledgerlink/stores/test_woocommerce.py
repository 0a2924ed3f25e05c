"""WooCommerce deliveries -> intents, classified against the snapshot of the previous delivery."""

from __future__ import annotations

import json

import pytest

from ledgerlink.stores import MappingError, MappingOptions, woocommerce

from .conftest import load, raw

WOO_ORDER = {
    "external_id": "727",
    "number": "727",
    "email": "john.doe@example.com",
    "customer_name": "John Doe",
    "customer_company": "Doe Design LLC",  # billing company empty: the shipping company
    "bill_address": {
        "line1": "969 Market",
        "line2": None,
        "city": "San Francisco",
        "region": "CA",
        "postal_code": "94103",
        "country": "US",
    },
    "ship_address": {
        "line1": "969 Market",
        "line2": "Floor 2",
        "city": "San Francisco",
        "region": "CA",
        "postal_code": "94103",
        "country": "US",
    },
    "currency": "USD",
    "exchange_rate": None,
    "txn_date": "2024-05-01",
    "lines": [
        {
            "sku": "WOO-1",
            "description": "Woo Single #1",
            "quantity": "2",
            "unit_price": "3.00",
            "tax": "0.45",
            "tax_rate": "7.5",
            "taxable": True,
        },
        {
            "sku": "IDEA-22",
            "description": "Ship Your Idea \u2013 Color: Black",
            "quantity": "1",
            "unit_price": "20.00",
            "tax": "1.35",
            "tax_rate": "7.5",
            "taxable": True,
        },  # before the coupon; tax after it
        {
            "sku": None,
            "description": "Gift wrap",
            "quantity": "1",
            "unit_price": "4.00",
            "tax": "0.30",
            "tax_rate": "7.5",
            "taxable": True,
        },  # a fee line
    ],
    "shipping": "10.00",
    "shipping_tax": "0.75",
    "shipping_tax_rate": "7.5",
    "discount": "2.00",  # the coupon: line subtotal - total
    "tax": "2.85",
    "prices_include_tax": False,
}
PAYMENT = {
    "external_id": "727:paid",
    "amount": "40.85",
    "date": "2024-05-01",
    "method": "Credit Card (Stripe)",
    "reference": "ch_3PAbc123",
}


def first_delivery():
    return woocommerce.route("order.created", load("woo_order_us.json"))


def test_ping_is_recognised_and_nothing_else_is():
    assert woocommerce.ping_webhook_id(b"webhook_id=58") == 58
    assert woocommerce.is_ping(b"webhook_id=58\n") is True
    assert woocommerce.ping_webhook_id(raw("woo_order_us.json")) is None
    assert woocommerce.ping_webhook_id(b"webhook_id=58&x=1") is None
    assert woocommerce.ping_webhook_id(b"webhook_id=") is None


def test_order_created_maps_lines_fees_shipping_tax_and_coupons():
    delivery = first_delivery()
    assert delivery.kinds == ("order", "payment")  # created already paid: the payment comes with it
    order, payment = delivery.intents
    assert order.data == WOO_ORDER
    assert order.order_external_id == "727"
    assert order.meta["coupon_codes"] == ["save2"]
    assert (order.meta["coupon_discount"], order.meta["line_discount"]) == ("2.00", "2.00")
    assert payment.data == PAYMENT
    assert delivery.snapshot == {
        "version": delivery.version,
        "date_modified_gmt": "2024-05-01T17:15:00",
        "status": "processing",
        "date_paid": "2024-05-01T17:15:00",
        "refund_ids": [],
        "order": WOO_ORDER,
    }
    assert delivery.version.startswith("2024-05-01T17:15:00#")
    assert json.loads(json.dumps(delivery.snapshot)) == delivery.snapshot  # storable as JSON


def test_fee_sku_is_configurable():
    delivery = woocommerce.route(
        "order.created", load("woo_order_us.json"), options=MappingOptions(fee_sku="FEE")
    )
    assert delivery.intents[0].data["lines"][2]["sku"] == "FEE"


def test_tax_inclusive_quebec_gst_plus_qst():
    delivery = woocommerce.route("order.created", load("woo_order_quebec_inclusive.json"))
    assert delivery.kinds == ("order",)  # on hold, not paid
    assert delivery.intents[0].data == {
        "external_id": "901",
        "number": "901",
        "email": "achats@sucrerie.example.ca",
        "customer_name": "Émile Nelligan",
        "customer_company": "Sucrerie Laval inc.",
        "bill_address": {
            "line1": "275 rue Notre-Dame Est",
            "line2": None,
            "city": "Montréal",
            "region": "QC",
            "postal_code": "H2Y 1C6",
            "country": "CA",
        },
        "ship_address": {
            "line1": "275 rue Notre-Dame Est",
            "line2": None,
            "city": "Montréal",
            "region": "QC",
            "postal_code": "H2Y 1C6",
            "country": "CA",
        },
        "currency": "CAD",
        "exchange_rate": None,
        "txn_date": "2024-07-15",
        "lines": [
            {
                "sku": "MAPLE-12",
                "description": "Sirop d'érable, caisse de 12",
                "quantity": "2",
                "unit_price": "229.95",
                "tax": "59.90",
                "tax_rate": "14.975",
                "taxable": True,
            }
        ],
        "shipping": "11.50",  # shipping with its tax: every amount of an inclusive order includes tax
        "shipping_tax": "1.50",
        "shipping_tax_rate": "14.975",
        "discount": "0.00",
        "tax": "61.40",
        "prices_include_tax": True,
    }


def test_unchanged_version_is_ignored_and_keeps_the_snapshot():
    first = first_delivery()
    again = woocommerce.route("order.updated", load("woo_order_us.json"), previous=first.snapshot)
    assert again.kinds == ("ignore",)
    assert again.intents[0].reason == "unchanged version: a re-delivery of what was already applied"
    assert again.snapshot == first.snapshot
    assert again.version == first.version


def test_a_new_refund_entry_is_a_refund(fixture):
    first = first_delivery()
    body = fixture("woo_order_us.json")
    body["refunds"] = [{"id": 730, "reason": "Damaged", "total": "-6.45"}]
    body["date_modified_gmt"] = "2024-05-03T16:00:00"
    delivery = woocommerce.route("order.updated", body, previous=first.snapshot)
    assert delivery.kinds == ("refund",)  # the order itself did not change: no change intent
    refund = delivery.intents[0]
    assert refund.data == {
        "external_id": "730",
        "lines": [],
        "shipping": None,
        "amount": "6.45",
        "reason": "Damaged",
    }
    assert refund.meta["detail"] == "/wp-json/wc/v3/orders/727/refunds/730"
    assert delivery.snapshot["refund_ids"] == ["730"]

    # the same refund delivered again (WooCommerce retries have new delivery ids): nothing new
    again = woocommerce.route("order.updated", body, previous=delivery.snapshot)
    assert again.kinds == ("ignore",)

    # a second refund later: only the new entry is a refund
    body["refunds"].insert(0, {"id": 744, "reason": "", "total": "-10.00"})
    body["status"], body["date_modified_gmt"] = "refunded", "2024-05-04T10:00:00"
    later = woocommerce.route("order.updated", body, previous=delivery.snapshot)
    assert later.kinds == ("refund",)
    assert later.intents[0].data == {
        "external_id": "744",
        "lines": [],
        "shipping": None,
        "amount": "10.00",
        "reason": None,
    }
    assert later.snapshot["refund_ids"] == ["730", "744"]


def test_refund_detail_gives_the_refunded_lines():
    assert woocommerce.map_refund_detail(load("woo_refund_detail.json")) == {
        "external_id": "730",
        "lines": [{"sku": "WOO-1", "quantity": "1"}],
        "shipping": "3.00",
        "amount": "6.45",
        "reason": "Damaged",
    }
    assert (
        woocommerce.map_refund_detail(load("woo_refund_detail.json"), prices_include_tax=True)["shipping"]
        == "3.22"
    )


def test_cancelled_status_is_a_cancel(fixture):
    first = first_delivery()
    body = fixture("woo_order_us.json")
    body.update(status="cancelled", date_modified_gmt="2024-05-02T08:00:00")
    delivery = woocommerce.route("order.updated", body, previous=first.snapshot)
    assert delivery.kinds == ("cancel",)
    assert delivery.intents[0].data == {"reason": None}
    # still cancelled on the next delivery: not a second cancel
    body["date_modified_gmt"] = "2024-05-02T09:00:00"
    assert woocommerce.route("order.updated", body, previous=delivery.snapshot).kinds == ("ignore",)


def test_date_paid_newly_set_is_a_payment(fixture):
    pending = fixture("woo_order_us.json")
    pending.update(status="pending", date_paid=None, date_paid_gmt=None, transaction_id="")
    first = woocommerce.route("order.created", pending)
    assert first.kinds == ("order",)
    paid = fixture("woo_order_us.json")
    paid["date_modified_gmt"] = "2024-05-01T17:20:00"
    delivery = woocommerce.route("order.updated", paid, previous=first.snapshot)
    assert delivery.kinds == ("payment",)
    assert delivery.intents[0].data == PAYMENT


def test_a_content_change_is_a_change_with_the_full_order(fixture):
    first = first_delivery()
    body = fixture("woo_order_us.json")
    item = body["line_items"][0]
    item.update(quantity=3, subtotal="9.00", subtotal_tax="0.68", total="9.00", total_tax="0.68")
    item["taxes"][0].update(total="0.68", subtotal="0.68")
    body.update(total="44.08", total_tax="3.08", cart_tax="2.33", date_modified_gmt="2024-05-02T10:00:00")
    delivery = woocommerce.route("order.updated", body, previous=first.snapshot)
    assert delivery.kinds == ("change",)
    change = delivery.intents[0].data
    assert change["lines"][0] == {
        "sku": "WOO-1",
        "description": "Woo Single #1",
        "quantity": "3",
        "unit_price": "3.00",
        "tax": "0.68",
        "tax_rate": "7.5",
        "taxable": True,
    }
    assert change["tax"] == "3.08"
    assert {key: value for key, value in change.items() if key not in ("lines", "tax")} == {
        key: value for key, value in WOO_ORDER.items() if key not in ("lines", "tax")
    }


def test_status_move_alone_changes_nothing_but_the_snapshot(fixture):
    first = first_delivery()
    body = fixture("woo_order_us.json")
    body.update(
        status="completed", date_completed="2024-05-02T11:00:00", date_modified_gmt="2024-05-02T18:00:00"
    )
    delivery = woocommerce.route("order.updated", body, previous=first.snapshot)
    assert delivery.kinds == ("ignore",)
    assert delivery.intents[0].reason == "nothing Ledgerlink maps changed (status processing -> completed)"
    assert delivery.snapshot["status"] == "completed"
    assert delivery.version != first.version


def test_a_stale_delivery_is_ignored_and_the_newer_snapshot_kept(fixture):
    first = first_delivery()
    newer = fixture("woo_order_us.json")
    newer.update(status="cancelled", date_modified_gmt="2024-05-02T08:00:00")
    cancelled = woocommerce.route("order.updated", newer, previous=first.snapshot)
    late = fixture("woo_order_us.json")
    late.update(status="on-hold", date_modified_gmt="2024-05-01T17:16:00")  # older than the cancel
    delivery = woocommerce.route("order.updated", late, previous=cancelled.snapshot)
    assert delivery.kinds == ("ignore",)
    assert delivery.intents[0].reason.startswith("stale: modified 2024-05-01T17:16:00")
    assert delivery.snapshot == cancelled.snapshot


def test_first_sight_of_an_updated_order_brings_everything_true_of_it(fixture):
    body = fixture("woo_order_us.json")
    body.update(status="cancelled", refunds=[{"id": 730, "reason": "Damaged", "total": "-40.85"}])
    delivery = woocommerce.route("order.updated", body)
    assert delivery.kinds == ("order", "payment", "refund", "cancel")


def test_previous_snapshot_of_another_order_is_refused(fixture):
    other = woocommerce.route("order.created", load("woo_order_quebec_inclusive.json")).snapshot
    with pytest.raises(MappingError) as err:
        woocommerce.route("order.updated", load("woo_order_us.json"), previous=other)
    assert err.value.as_dict() == {
        "detail": "is the snapshot of order '901', not of order '727'",
        "field": "previous",
    }
    with pytest.raises(MappingError, match="must be the snapshot an earlier delivery returned"):
        woocommerce.route("order.updated", load("woo_order_us.json"), previous={"version": "x"})


def test_negative_fee_without_tax_is_a_discount_and_with_tax_an_error(fixture):
    body = fixture("woo_order_us.json")
    body["fee_lines"].append(
        {
            "id": 330,
            "name": "Loyalty",
            "tax_status": "none",
            "total": "-5.00",
            "total_tax": "0.00",
            "taxes": [],
        }
    )
    body["total"] = "35.85"
    order = woocommerce.route("order.created", body).intents[0].data
    assert order["discount"] == "7.00"
    assert len(order["lines"]) == 3
    body["fee_lines"][-1].update(total_tax="-0.38")
    with pytest.raises(MappingError) as err:
        woocommerce.route("order.created", body)
    assert err.value.field == "fee_lines[1]"


def test_positive_refund_total_is_refused(fixture):
    body = fixture("woo_order_us.json")
    body["refunds"] = [{"id": 730, "reason": "", "total": "6.45"}]
    with pytest.raises(MappingError) as err:
        woocommerce.route("order.updated", body)
    assert err.value.field == "refunds[0].total"


def test_unit_price_gets_four_places_only_when_the_line_needs_them(fixture):
    body = fixture("woo_order_quebec_inclusive.json")
    item = body["line_items"][0]
    item.update(quantity=3, subtotal="100.00", subtotal_tax="14.98", total="100.00", total_tax="14.98")
    item["taxes"] = [
        {"id": 1, "total": "5.00", "subtotal": "5.00"},
        {"id": 2, "total": "9.98", "subtotal": "9.98"},
    ]
    body.update(total="126.48", total_tax="16.48")
    line = woocommerce.route("order.created", body).intents[0].data["lines"][0]
    assert (line["quantity"], line["unit_price"]) == ("3", "38.3267")  # 3 x 38.3267 = 114.98 to the cent


@pytest.mark.parametrize(("topic", "words"), [("order.deleted", "trashed"), ("order.restored", "restored")])
def test_known_topics_that_change_nothing_are_ignored(topic, words):
    delivery = woocommerce.route(topic, {"id": 727}, previous=None)
    assert delivery.kinds == ("ignore",)
    assert words in delivery.intents[0].reason


@pytest.mark.parametrize("topic", ["product.created", "order.refunded", "action.woocommerce_x", ""])
def test_unknown_topic_is_a_mapping_error(topic):
    with pytest.raises(MappingError) as err:
        woocommerce.route(topic, load("woo_order_us.json"))
    assert err.value.field == "topic"


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda b: b.update(total="41.00"), "total"),
        (lambda b: b.update(prices_include_tax="no"), "prices_include_tax"),
        (lambda b: b["line_items"][0].update(quantity=-1), "line_items[0].quantity"),
        (lambda b: b["line_items"][1].update(total="x"), "line_items[1].total"),
        (lambda b: b["shipping_lines"][0].update(total_tax="0.80"), "total_tax"),
        (lambda b: b.update(date_created=None, date_created_gmt=None), "date_created"),
        (lambda b: b.update(line_items=[]), "line_items"),
    ],
)
def test_bodies_that_do_not_map_name_the_field(fixture, edit, field):
    body = fixture("woo_order_us.json")
    edit(body)
    with pytest.raises(MappingError) as err:
        woocommerce.route("order.created", body)
    assert err.value.field == field


def test_rate_unknown_without_rate_percent_but_the_tax_amounts_stay(fixture):
    body = fixture("woo_order_us.json")
    del body["tax_lines"][0]["rate_percent"]  # WooCommerce before rate_percent was added to tax lines
    order = woocommerce.route("order.created", body).intents[0].data
    assert [(line["tax"], line["tax_rate"]) for line in order["lines"]] == [
        ("0.45", None),
        ("1.35", None),
        ("0.30", None),
    ]
    assert (order["shipping_tax"], order["shipping_tax_rate"]) == ("0.75", None)
