"""Store webhooks end to end: signed Shopify and WooCommerce deliveries (built from the stores' documented
payload shapes, tests/ledgerlink/stores/fixtures) posted to /webhooks/<kind>/<id>, the worker run, and the
exact QBO documents read back from qbo_sandbox. Negative tests prove nothing was stored or sent."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from ledgerlink.core import crypto
from ledgerlink.core.models import (
    AuditLog,
    Order,
    OrderSource,
    PushRequest,
    StoreDelivery,
    StoreOrderSnapshot,
)
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.healing.tax import save_tax_mapping
from ledgerlink.domain.routing.order_sources import accepted_secrets, create_order_source, update_order_source
from ledgerlink.domain.stores.deliveries import MAX_BODY, reprocess_delivery
from ledgerlink.domain.sync.full import sync_company
from ledgerlink.stores import signatures
from tests.ledgerlink.stores.conftest import load, raw

pytestmark = pytest.mark.django_db

SECRET = "shpss_3f1a9c-test-secret"
WOO_SECRET = "woo secret & more"


def post_shopify(source, body: bytes, topic: str = "orders/create", webhook_id: str = "wh-1", secret=SECRET,
                 **override):
    headers = signatures.shopify_headers(body, secret, topic=topic, webhook_id=webhook_id)
    headers.pop("Content-Type")
    headers.update(override)
    headers = {k: v for k, v in headers.items() if v is not None}
    return Client().post(f"/webhooks/shopify/{source.pk}", data=body, content_type="application/json",
                         headers=headers)


def post_woo(source, body: bytes, topic: str = "order.created", delivery_id: str = "d-1", secret=WOO_SECRET):
    headers = signatures.woocommerce_headers(body, secret, topic=topic, webhook_id=7, delivery_id=delivery_id)
    headers.pop("Content-Type")
    return Client().post(f"/webhooks/woocommerce/{source.pk}", data=body, content_type="application/json",
                         headers=headers)


def shipping_item(qbo, company) -> str:
    """The realm's "Shipping" item (created once): a site area's shipping goes on its shipping item."""
    found = qbo.api(company.realm_id, "GET", "query", params={"query": "select * from Item where Name = 'Shipping'"})
    items = found.json().get("QueryResponse", {}).get("Item", [])
    return items[0]["Id"] if items else qbo.create_item(company.realm_id, "Shipping")["Id"]


def dumps(value) -> bytes:
    return json.dumps(value).encode()


def document(entity: dict) -> dict:
    """The parts of a QBO sales document the tests pin down, exactly as QBO holds them."""
    lines = []
    for line in entity["Line"]:
        if line["DetailType"] == "SubTotalLineDetail":
            continue
        detail = line.get("SalesItemLineDetail") or {}
        lines.append((line.get("Description"), line["Amount"], detail.get("Qty"), detail.get("UnitPrice"),
                      line["DetailType"]))
    out = {
        "DocNumber": entity.get("DocNumber"), "TxnDate": entity.get("TxnDate"), "lines": lines,
        "TotalTax": entity["TxnTaxDetail"].get("TotalTax"), "TotalAmt": entity["TotalAmt"],
        "CurrencyRef": entity["CurrencyRef"]["value"], "BillEmail": (entity.get("BillEmail") or {}).get("Address"),
    }
    for key in ("BillAddr", "ShipAddr"):
        out[key] = {k: v for k, v in (entity.get(key) or {}).items() if k != "Id"}
    return out


@pytest.fixture
def receipts(company, qbo, site_area_factory):
    area = site_area_factory(company, "Web Store", push_method="sales_receipt", shipping_item=shipping_item(qbo, company))
    return create_order_source(name="Shopify shop", site_area=area.pk, kind="shopify", webhook_secret=SECRET)


@pytest.fixture
def invoices(company, qbo, site_area_factory):
    area = site_area_factory(company, "Wholesale", push_method="invoice", shipping_item=shipping_item(qbo, company))
    return create_order_source(name="Shopify B2B", site_area=area.pk, kind="shopify", webhook_secret=SECRET)


US_RECEIPT = {
    "DocNumber": "1001", "TxnDate": "2024-03-01",
    "lines": [
        ("IPod Nano - 8gb - black", 199.99, 1, 199.99, "SalesItemLineDetail"),
        ("Leather case", 30, 2, 15, "SalesItemLineDetail"),
        ("Shipping", 10, None, None, "SalesItemLineDetail"),
        ("Discount", 5, None, None, "DiscountLineDetail"),
    ],
    "TotalTax": 14.1, "TotalAmt": 249.09, "CurrencyRef": "USD", "BillEmail": "bob.norman@example.com",
    "BillAddr": {"Line1": "Chestnut Street 92", "Line2": "Apartment 2", "City": "Louisville",
                 "CountrySubDivisionCode": "KY", "PostalCode": "40202", "Country": "US"},
    "ShipAddr": {"Line1": "123 Amoebobacterieae St", "City": "Louisville", "CountrySubDivisionCode": "KY",
                 "PostalCode": "40202", "Country": "US"},
}


# --- Shopify: orders/create -------------------------------------------------------------------------


def test_shopify_order_becomes_a_sales_receipt_and_a_redelivery_makes_nothing_new(
    company, qbo, receipts, run_worker_until_idle
):
    body = raw("shopify_order_us.json")  # taxed lines, shipping with tax, a discount code
    r = post_shopify(receipts, body)
    assert r.status_code == 200
    order = Order.objects.get(order_source=receipts)
    assert r.json() == {"delivery": StoreDelivery.objects.get().pk, "outcome": "applied",
                        "reason": f"order {order.pk} created"}
    assert (order.external_id, order.number, order.email, order.customer_name, order.customer_company) == (
        "5678901234", "1001", "bob.norman@example.com", "Bob Norman", "Norman Supplies")
    assert (str(order.subtotal), str(order.shipping), str(order.discount), str(order.tax), str(order.total)) == (
        "229.99", "10.00", "5.00", "14.10", "249.09")
    delivery = StoreDelivery.objects.get()
    assert (delivery.topic, delivery.delivery_id, delivery.outcome, delivery.external_id, delivery.order_id,
            bytes(delivery.body)) == ("orders/create", "wh-1", "applied", "5678901234", order.pk, body)
    assert delivery.intents == [{"kind": "order", "outcome": "applied", "reason": f"order {order.pk} created",
                                 "field": "", "order": order.pk}]
    run_worker_until_idle()
    (receipt,) = qbo.entities(company.realm_id, "SalesReceipt")
    assert document(receipt) == US_RECEIPT
    assert receipt["PrivateNote"] == f"ledgerlink-order:{order.pk}"

    # Shopify retries with the same X-Shopify-Webhook-Id: stored as a duplicate, nothing else.
    again = post_shopify(receipts, body)
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"
    assert again.json()["reason"] == "webhook id wh-1 was received before"
    # The same order under a new webhook id (e.g. imported from the export first): the order exists.
    third = post_shopify(receipts, body, webhook_id="wh-2")
    assert third.json() == {"delivery": third.json()["delivery"], "outcome": "duplicate",
                            "reason": f"order {order.pk} exists already"}
    run_worker_until_idle()
    assert Order.objects.count() == 1 and PushRequest.objects.count() == 1
    assert len(qbo.entities(company.realm_id, "SalesReceipt")) == 1
    assert list(StoreDelivery.objects.order_by("id").values_list("outcome", flat=True)) == [
        "applied", "duplicate", "duplicate"]


def test_shopify_order_in_a_foreign_currency(company_factory, qbo, site_area_factory, run_worker_until_idle):
    company = company_factory(multicurrency=True, company_currencies=[{"Code": "CAD"}])
    area = site_area_factory(company, "Canada", push_method="sales_receipt", shipping_item=shipping_item(qbo, company))
    source = create_order_source(name="Shopify CA", site_area=area.pk, kind="shopify", webhook_secret=SECRET)
    assert post_shopify(source, raw("shopify_order_canada_bc.json")).json()["outcome"] == "applied"
    run_worker_until_idle()
    (receipt,) = qbo.entities(company.realm_id, "SalesReceipt")
    assert document(receipt) == {
        "DocNumber": "2001", "TxnDate": "2024-04-10",
        "lines": [
            ("Rain jacket - M", 100, 1, 100, "SalesItemLineDetail"),
            ("Kids tee", 30, 3, 10, "SalesItemLineDetail"),
            ("Gift card - $25.00", 25, 1, 25, "SalesItemLineDetail"),
            ("Tip", 5, 1, 5, "SalesItemLineDetail"),
            ("Shipping", 15, None, None, "SalesItemLineDetail"),
        ],
        "TotalTax": 15.3, "TotalAmt": 190.3, "CurrencyRef": "CAD", "BillEmail": "orders@coastal.example.ca",
        "BillAddr": {"Line1": "800 Robson St", "Line2": "Suite 300", "City": "Vancouver",
                     "CountrySubDivisionCode": "BC", "PostalCode": "V6Z 3B7", "Country": "CA"},
        "ShipAddr": {"Line1": "800 Robson St", "Line2": "Suite 300", "City": "Vancouver",
                     "CountrySubDivisionCode": "BC", "PostalCode": "V6Z 3B7", "Country": "CA"},
    }


def test_shopify_order_on_an_invoice_site_area(company, qbo, invoices, customer_factory, run_worker_until_idle):
    customer_factory(company, "Norman Supplies", "bob.norman@example.com")
    assert post_shopify(invoices, raw("shopify_order_us.json")).json()["outcome"] == "applied"
    run_worker_until_idle()
    (invoice,) = qbo.entities(company.realm_id, "Invoice")
    assert document(invoice) == US_RECEIPT
    assert invoice["CustomerRef"]["name"] == "Norman Supplies"


# --- signatures, size, unknown sources ----------------------------------------------------------------


def _nothing_stored(company, qbo):
    assert StoreDelivery.objects.count() == 0
    assert Order.objects.count() == 0
    assert PushRequest.objects.count() == 0
    assert qbo.entities(company.realm_id, "SalesReceipt") == []


def test_a_wrong_or_missing_signature_is_401_and_stores_nothing(company, qbo, receipts, run_worker_until_idle):
    body = raw("shopify_order_us.json")
    r = post_shopify(receipts, body, secret="not-the-secret")
    assert (r.status_code, r.json()) == (401, {"detail": "X-Shopify-Hmac-Sha256: does not match", "field": "signature"})
    r = post_shopify(receipts, body, **{"X-Shopify-Hmac-Sha256": None})
    assert r.status_code == 401
    # A body changed after signing.
    headers = signatures.shopify_headers(body, SECRET, topic="orders/create", webhook_id="wh-9")
    r = post_shopify(receipts, body.replace(b"249.09", b"149.09"), **{"X-Shopify-Hmac-Sha256":
                                                                      headers["X-Shopify-Hmac-Sha256"]})
    assert r.status_code == 401
    # A WooCommerce signature on the Shopify URL, and the Shopify URL of a WooCommerce source.
    woo = create_order_source(name="Woo", site_area=receipts.site_area_id, kind="woocommerce",
                              webhook_secret=WOO_SECRET)
    assert post_woo(woo, body, secret="wrong").status_code == 401
    assert post_shopify(woo, body).status_code == 404
    run_worker_until_idle()
    _nothing_stored(company, qbo)


def test_a_source_without_a_secret_refuses_every_delivery(company, qbo, site_area_factory):
    area = site_area_factory(company, "Web Store", push_method="sales_receipt", shipping_item=shipping_item(qbo, company))
    source = create_order_source(name="New shop", site_area=area.pk, kind="shopify")
    r = post_shopify(source, raw("shopify_order_us.json"), secret="")
    assert (r.status_code, r.json()["detail"]) == (
        401, "X-Shopify-Hmac-Sha256: no webhook secret is set for this order source")
    _nothing_stored(company, qbo)


def test_an_oversize_body_is_413_and_unknown_sources_404(company, qbo, receipts):
    big = b'{"id": 1, "pad": "' + b"x" * (MAX_BODY + 1) + b'"}'
    r = post_shopify(receipts, big)
    assert (r.status_code, r.json()["field"]) == (413, "body")
    assert post_shopify(OrderSource(pk=99999), raw("shopify_order_us.json")).status_code == 404
    api_source = create_order_source(name="API", site_area=receipts.site_area_id)
    assert post_shopify(api_source, raw("shopify_order_us.json")).status_code == 404
    assert Client().get(f"/webhooks/shopify/{receipts.pk}").status_code == 405
    _nothing_stored(company, qbo)


def test_secret_rotation_keeps_the_old_secret_for_24_hours(company, qbo, receipts):
    body = raw("shopify_order_us.json")
    update_order_source(receipts.pk, webhook_secret="the-new-secret")
    receipts.refresh_from_db()
    until = receipts.previous_secret_until
    assert timedelta(hours=23, minutes=59) < until - timezone.now() <= timedelta(hours=24)
    assert accepted_secrets(receipts) == ["the-new-secret", SECRET]
    assert SECRET not in receipts.webhook_secret_enc + receipts.previous_webhook_secret_enc  # encrypted
    assert crypto.decrypt(receipts.webhook_secret_enc) == "the-new-secret"
    assert post_shopify(receipts, body, webhook_id="old", secret=SECRET).status_code == 200
    assert post_shopify(receipts, body, webhook_id="new", secret="the-new-secret").status_code == 200
    # After the overlap only the new secret signs.
    OrderSource.objects.filter(pk=receipts.pk).update(previous_secret_until=timezone.now() - timedelta(seconds=1))
    receipts.refresh_from_db()
    assert accepted_secrets(receipts) == ["the-new-secret"]
    assert post_shopify(receipts, body, webhook_id="late", secret=SECRET).status_code == 401
    assert StoreDelivery.objects.count() == 2
    audit = AuditLog.objects.filter(action="order_source.update").get()
    assert audit.data["secret_changed"] is True and "the-new-secret" not in json.dumps(audit.data)


# --- failed deliveries and re-processing ---------------------------------------------------------------


def test_an_unknown_topic_and_a_body_that_does_not_map_are_kept_as_failed(company, qbo, receipts):
    r = post_shopify(receipts, raw("shopify_order_us.json"), topic="products/create", webhook_id="p-1")
    assert r.status_code == 200
    delivery = StoreDelivery.objects.get(pk=r.json()["delivery"])
    assert (delivery.outcome, delivery.field) == ("failed", "topic")
    assert delivery.reason.startswith("topic: 'products/create' is not a topic Ledgerlink handles")
    bad = load("shopify_order_us.json")
    bad["total_price"] = "250.00"
    r = post_shopify(receipts, dumps(bad), webhook_id="bad-1")
    delivery = StoreDelivery.objects.get(pk=r.json()["delivery"])
    assert (delivery.outcome, delivery.field) == ("failed", "total_price")
    assert "the store's total is 250.00 but the mapped order comes to 249.09" in delivery.reason
    assert Order.objects.count() == 0
    r = post_shopify(receipts, b"not json", webhook_id="bad-2")
    assert StoreDelivery.objects.get(pk=r.json()["delivery"]).field == "body"


def test_a_failed_delivery_is_reprocessed_after_its_cause_is_fixed(company, qbo, site_area_factory,
                                                                   run_worker_until_idle):
    """The source books Shopify's presentment money, but this body (an older API version) has no
    ``*_set`` fields: failed. The admin switches the source to the shop's money and re-processes it."""
    area = site_area_factory(company, "Web Store", push_method="sales_receipt", shipping_item=shipping_item(qbo, company))
    source = create_order_source(name="Shop", site_area=area.pk, kind="shopify", webhook_secret=SECRET,
                                 store_money="presentment")
    body = load("shopify_order_us.json")
    body = json.loads(json.dumps(body), object_hook=lambda d: {k: v for k, v in d.items() if not k.endswith("_set")})
    r = post_shopify(source, dumps(body))
    delivery = StoreDelivery.objects.get(pk=r.json()["delivery"])
    assert delivery.outcome == "failed"
    assert delivery.field.endswith("_set")
    assert Order.objects.count() == 0
    # Re-processing before the fix: failed again, counted.
    assert reprocess_delivery(delivery.pk, actor_label="test").outcome == "failed"
    update_order_source(source.pk, store_money="shop")
    delivery = reprocess_delivery(delivery.pk, actor_label="test")
    order = Order.objects.get()
    assert (delivery.outcome, delivery.reason, delivery.order_id, delivery.reprocessed) == (
        "applied", f"order {order.pk} created", order.pk, 2)
    run_worker_until_idle()
    (receipt,) = qbo.entities(company.realm_id, "SalesReceipt")
    assert document(receipt) == US_RECEIPT
    assert AuditLog.objects.filter(action="store_delivery.reprocess").count() == 2
    # Only a failed delivery is re-processed.
    with pytest.raises(ServiceError, match="is applied, not failed"):
        reprocess_delivery(delivery.pk)
    # And a re-delivery by Shopify now is a duplicate.
    assert post_shopify(source, dumps(body)).json()["outcome"] == "duplicate"


def test_a_tax_inclusive_woocommerce_order_in_a_canadian_company(qbo, company_factory, site_area_factory,
                                                                   run_worker_until_idle):
    """WooCommerce Quebec, prices including GST and QST, to a Canadian company: QBO's TaxInclusive."""
    company = company_factory(name="Maple Web", country="CA")
    shipping = qbo.create_item(company.realm_id, "Shipping")
    sync_company(company)
    save_tax_mapping(company.pk, {"exempt_tax_code": "5"}, actor_label="test")
    area = site_area_factory(company, "Web Store", "sales_receipt", shipping_item=shipping["Id"])
    source = create_order_source(name="Woo QC", site_area=area.pk, kind="woocommerce", webhook_secret=WOO_SECRET)
    r = post_woo(source, raw("woo_order_quebec_inclusive.json"))
    order = Order.objects.get(order_source=source)
    assert (r.json()["outcome"], str(order.total), str(order.tax), order.prices_include_tax) == (
        "applied", "471.40", "61.40", True)
    run_worker_until_idle(timeout=20)
    (doc,) = qbo.entities(company.realm_id, "SalesReceipt")
    assert doc["GlobalTaxCalculation"] == "TaxInclusive"
    assert (doc["DocNumber"], doc["TotalAmt"], doc["TxnTaxDetail"]["TotalTax"], doc["CurrencyRef"]["value"]) == (
        "901", 471.4, 61.4, "CAD")
    # TaxInclusive: QBO keeps each line's net Amount and the gross as TaxInclusiveAmt.
    assert [(line.get("Description"), line["Amount"], line["SalesItemLineDetail"].get("TaxInclusiveAmt"))
            for line in doc["Line"] if line["DetailType"] == "SalesItemLineDetail"] == [
        ("Sirop d'érable, caisse de 12", 400, 459.9), ("Shipping", 10, 11.5)]


# --- lifecycle topics (issue 15's services) -----------------------------------------------------------


def _changed_us_order() -> dict:
    """The US order with the leather case's quantity 2 -> 3 (its tax and the totals to match)."""
    body = load("shopify_order_us.json")
    body["updated_at"] = "2024-03-02T10:00:00-05:00"
    case = body["line_items"][1]
    case["quantity"] = 3
    case["tax_lines"][0]["price"] = "2.70"
    body.update(total_tax="15.00", total_price="264.99")
    return body


def test_an_invoice_order_paid_then_partly_refunded(company, qbo, invoices, customer_factory,
                                                    run_worker_until_idle):
    customer_factory(company, "Norman Supplies", "bob.norman@example.com")
    # A refund before its order: failed, saying so; re-processed once the order is there.
    r = post_shopify(invoices, raw("shopify_refund_partial.json"), topic="refunds/create", webhook_id="rf-1")
    early = StoreDelivery.objects.get(pk=r.json()["delivery"])
    assert (early.outcome, early.field) == ("failed", "order")
    assert early.reason.startswith("order 5678901234 is not in Ledgerlink yet")
    assert post_shopify(invoices, raw("shopify_order_us.json"), webhook_id="oc-1").json()["outcome"] == "applied"
    order = Order.objects.get(order_source=invoices)
    run_worker_until_idle()
    (invoice,) = qbo.entities(company.realm_id, "Invoice")
    assert (invoice["TotalAmt"], invoice["Balance"]) == (249.09, 249.09)

    r = post_shopify(invoices, raw("shopify_order_us.json"), topic="orders/paid", webhook_id="paid-1")
    assert (r.json()["outcome"], r.json()["reason"]) == ("applied", "payment 5678901234:paid of 249.09 recorded")
    again = post_shopify(invoices, raw("shopify_order_us.json"), topic="orders/paid", webhook_id="paid-2")
    assert (again.json()["outcome"], again.json()["reason"]) == (
        "duplicate", "payment 5678901234:paid is recorded already")
    run_worker_until_idle()
    (payment,) = qbo.entities(company.realm_id, "Payment")
    assert payment["TotalAmt"] == 249.09
    assert [link["TxnId"] for line in payment["Line"] for link in line["LinkedTxn"]] == [invoice["Id"]]
    (invoice,) = qbo.entities(company.realm_id, "Invoice")
    assert invoice["Balance"] == 0

    early = reprocess_delivery(early.pk, actor_label="test")
    assert (early.outcome, early.reason, early.order_id) == ("applied", "refund 929361001 recorded", order.pk)
    run_worker_until_idle()
    (memo,) = qbo.entities(company.realm_id, "CreditMemo")
    assert [(line.get("Description"), line["Amount"]) for line in memo["Line"]
            if line["DetailType"] == "SalesItemLineDetail"] == [("Leather case", 15), ("Shipping", 10)]
    assert (memo["TxnTaxDetail"]["TotalTax"], memo["TotalAmt"]) == (1.5, 26.5)
    assert len(qbo.entities(company.realm_id, "Invoice")) == 1


def test_a_sales_receipt_order_changed_then_cancelled(company, qbo, receipts, run_worker_until_idle):
    post_shopify(receipts, raw("shopify_order_us.json"), webhook_id="oc-1")
    run_worker_until_idle()
    (receipt,) = qbo.entities(company.realm_id, "SalesReceipt")
    assert receipt["TotalAmt"] == 249.09
    # orders/paid on a sales receipt: nothing to do. A fulfilment: nothing to do.
    r = post_shopify(receipts, raw("shopify_order_us.json"), topic="orders/paid", webhook_id="paid-1")
    assert (r.json()["outcome"], r.json()["reason"]) == ("applied", "nothing to do: a sales receipt is paid already")
    r = post_shopify(receipts, raw("shopify_order_us.json"), topic="orders/fulfilled", webhook_id="f-1")
    assert r.json()["outcome"] == "applied" and r.json()["reason"].startswith("nothing to do: orders/fulfilled")
    # orders/updated with the same order: nothing kept changed.
    r = post_shopify(receipts, raw("shopify_order_us.json"), topic="orders/updated", webhook_id="up-0")
    assert (r.json()["outcome"], r.json()["reason"]) == (
        "applied", "nothing to do: nothing Ledgerlink keeps of the order changed")
    # A quantity change: the same Sales Receipt, new total.
    r = post_shopify(receipts, dumps(_changed_us_order()), topic="orders/updated", webhook_id="up-1")
    assert r.json()["outcome"] == "applied"
    assert r.json()["reason"].startswith("order ") and "changed (version 1" in r.json()["reason"]
    run_worker_until_idle()
    (receipt,) = qbo.entities(company.realm_id, "SalesReceipt")
    assert (receipt["TotalAmt"], receipt["TxnTaxDetail"]["TotalTax"], receipt["SyncToken"]) == (264.99, 15, "1")
    assert [line["SalesItemLineDetail"]["Qty"] for line in receipt["Line"]
            if line["DetailType"] == "SalesItemLineDetail" and "Qty" in line["SalesItemLineDetail"]] == [1, 3]
    # orders/cancelled: the Sales Receipt is voided; a second cancel is a duplicate.
    cancelled = _changed_us_order()
    cancelled.update(cancelled_at="2024-03-03T10:00:00-05:00", cancel_reason="customer")
    r = post_shopify(receipts, dumps(cancelled), topic="orders/cancelled", webhook_id="cx-1")
    assert r.json()["outcome"] == "applied" and "cancelled (void request" in r.json()["reason"]
    r = post_shopify(receipts, dumps(cancelled), topic="orders/cancelled", webhook_id="cx-2")
    assert r.json()["outcome"] == "duplicate"
    run_worker_until_idle()
    (receipt,) = qbo.entities(company.realm_id, "SalesReceipt")
    assert receipt["TotalAmt"] == 0 and "Voided" in (receipt.get("PrivateNote") or "")
    assert Order.objects.get(order_source=receipts).status == "cancelled"


# --- WooCommerce ---------------------------------------------------------------------------------------


@pytest.fixture
def woo(company, qbo, site_area_factory):
    area = site_area_factory(company, "Woo Store", push_method="sales_receipt", shipping_item=shipping_item(qbo, company))
    return create_order_source(name="WooCommerce", site_area=area.pk, kind="woocommerce", webhook_secret=WOO_SECRET)


def test_woocommerce_ping_is_200_and_stores_nothing(company, qbo, woo):
    r = Client().post(f"/webhooks/woocommerce/{woo.pk}", data=b"webhook_id=7",
                      content_type="application/x-www-form-urlencoded")
    assert (r.status_code, r.json()) == (200, {"ping": 7})
    assert StoreDelivery.objects.count() == 0


def test_woocommerce_order_becomes_a_sales_receipt_and_a_same_version_redelivery_is_a_duplicate(
    company, qbo, woo, run_worker_until_idle
):
    body = raw("woo_order_us.json")  # taxed lines, a fee, shipping with tax, a coupon, paid
    r = post_woo(woo, body)
    order = Order.objects.get(order_source=woo)
    assert r.json()["outcome"] == "applied"
    delivery = StoreDelivery.objects.get()
    assert [(i["kind"], i["outcome"]) for i in delivery.intents] == [("order", "applied"), ("payment", "applied")]
    assert delivery.previous_snapshot is None
    snapshot = StoreOrderSnapshot.objects.get(order_source=woo, external_id="727").snapshot
    assert snapshot["version"].startswith("2024-05-01T17:15:00#")
    run_worker_until_idle()
    (receipt,) = qbo.entities(company.realm_id, "SalesReceipt")
    assert document(receipt) == {
        "DocNumber": "727", "TxnDate": "2024-05-01",
        "lines": [
            ("Woo Single #1", 6, 2, 3, "SalesItemLineDetail"),
            ("Ship Your Idea – Color: Black", 20, 1, 20, "SalesItemLineDetail"),
            ("Gift wrap", 4, 1, 4, "SalesItemLineDetail"),
            ("Shipping", 10, None, None, "SalesItemLineDetail"),
            ("Discount", 2, None, None, "DiscountLineDetail"),
        ],
        "TotalTax": 2.85, "TotalAmt": 40.85, "CurrencyRef": "USD", "BillEmail": "john.doe@example.com",
        "BillAddr": {"Line1": "969 Market", "City": "San Francisco", "CountrySubDivisionCode": "CA",
                     "PostalCode": "94103", "Country": "US"},
        "ShipAddr": {"Line1": "969 Market", "Line2": "Floor 2", "City": "San Francisco",
                     "CountrySubDivisionCode": "CA", "PostalCode": "94103", "Country": "US"},
    }
    # WooCommerce's retry has a new delivery id: the same order version is a duplicate.
    again = post_woo(woo, body, topic="order.updated", delivery_id="d-2")
    assert (again.json()["outcome"], again.json()["reason"]) == (
        "duplicate", "the order's version was applied already (a re-delivery)")
    # A cancel (status cancelled): the posted Sales Receipt is voided.
    cancelled = load("woo_order_us.json")
    cancelled.update(status="cancelled", date_modified_gmt="2024-05-02T09:00:00")
    r = post_woo(woo, dumps(cancelled), topic="order.updated", delivery_id="d-3")
    assert r.json()["outcome"] == "applied"
    assert r.json()["reason"].startswith(f"order {order.pk} cancelled (void request")
    delivery = StoreDelivery.objects.get(pk=r.json()["delivery"])
    assert delivery.previous_snapshot == snapshot  # what a re-process compares with again
    assert StoreOrderSnapshot.objects.get(order_source=woo, external_id="727").snapshot["status"] == "cancelled"
    run_worker_until_idle()
    assert Order.objects.count() == 1
    (receipt,) = qbo.entities(company.realm_id, "SalesReceipt")
    assert receipt["TotalAmt"] == 0  # voided
    assert list(PushRequest.objects.order_by("id").values_list("kind", "state")) == [
        ("sales_receipt", "succeeded"), ("void", "succeeded")]
    assert order.deliveries.count() == 2


def test_woocommerce_wrong_signature_stores_nothing(company, qbo, woo):
    r = post_woo(woo, raw("woo_order_us.json"), secret="nope")
    assert (r.status_code, r.json()["detail"]) == (401, "X-WC-Webhook-Signature: does not match")
    _nothing_stored(company, qbo)
    assert StoreOrderSnapshot.objects.count() == 0


# --- queued mode: store at once, the worker applies in batches -----------------------------------------


def test_queued_mode_stores_at_once_and_the_worker_applies_in_batches(company, qbo, receipts, woo, settings,
                                                                      run_worker_until_idle):
    settings.LEDGERLINK_STORE_WEBHOOKS = "queued"
    body = raw("shopify_order_us.json")
    first = post_shopify(receipts, body)
    assert (first.status_code, first.json()) == (200, {"delivery": first.json()["delivery"], "outcome": "received",
                                                       "reason": ""})
    assert post_shopify(receipts, body).json()["outcome"] == "duplicate"  # the same webhook id
    post_shopify(receipts, body, webhook_id="wh-2")  # the same order, another webhook id
    post_shopify(receipts, body, topic="products/create", webhook_id="p-1")
    post_woo(woo, raw("woo_order_us.json"))
    post_woo(woo, raw("woo_order_us.json"), topic="order.updated", delivery_id="d-2")
    assert Order.objects.count() == 0  # nothing applied yet
    assert list(StoreDelivery.objects.order_by("id").values_list("outcome", flat=True)) == [
        "received", "duplicate", "received", "received", "received", "received"]
    assert post_shopify(receipts, body, secret="wrong").status_code == 401
    run_worker_until_idle()
    rows = list(StoreDelivery.objects.order_by("id").values_list("topic", "outcome", "reason"))
    order = Order.objects.get(order_source=receipts)
    woo_order = Order.objects.get(order_source=woo)
    assert rows == [
        ("orders/create", "applied", f"order {order.pk} created"),
        ("orders/create", "duplicate", "webhook id wh-1 was received before"),
        ("orders/create", "duplicate", f"order {order.pk} exists already"),
        ("products/create", "failed", rows[3][2]),
        ("order.created", "applied", f"order {woo_order.pk} created; nothing to do: a sales receipt is paid already"),
        ("order.updated", "duplicate", "the order's version was applied already (a re-delivery)"),
    ]
    assert rows[3][2].startswith("topic: 'products/create' is not a topic")
    receipts_in_qbo = {r["DocNumber"]: r for r in qbo.entities(company.realm_id, "SalesReceipt")}
    assert sorted(receipts_in_qbo) == ["1001", "727"]
    assert document(receipts_in_qbo["1001"]) == US_RECEIPT
    assert StoreDelivery.objects.filter(outcome="received").count() == 0
