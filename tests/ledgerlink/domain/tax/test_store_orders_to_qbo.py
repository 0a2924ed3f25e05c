"""Orders as the store mappers give them (ledgerlink.stores), ingested and sent to a Canadian company:
QBO stores the tax the store charged, line for line, and the document's total is the store's."""

from __future__ import annotations

import json
import pathlib
from decimal import Decimal

import pytest

from ledgerlink.domain.healing.tax import save_tax_mapping
from ledgerlink.domain.ingest.orders import ingest_order
from ledgerlink.domain.sync.full import sync_company
from ledgerlink.stores import order_total, shopify, woocommerce
from tests.ledgerlink.domain.tax.test_tax_e2e import _codes, _tax_lines

FIXTURES = pathlib.Path(__file__).parents[2] / "stores" / "fixtures"  # the store mappers' test payloads


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def canada_shop(qbo, company_factory, site_area_factory, order_source_factory):
    company = company_factory(name="Maple Web", country="CA")
    shipping = qbo.create_item(company.realm_id, "Shipping")
    sync_company(company)
    save_tax_mapping(company.pk, {"exempt_tax_code": "5"}, actor_label="test")  # Zero-rated
    area = site_area_factory(company, "Web Store", "sales_receipt", shipping_item=shipping["Id"])
    return company, order_source_factory(area, "Shop")


def test_shopify_bc_order_gst_pst_and_untaxed_gift_card(canada_shop, qbo, run_worker_until_idle):
    company, source = canada_shop
    data = shopify.route("orders/create", load("shopify_order_canada_bc.json")).data
    order, _ = ingest_order({**data, "order_source": source.pk}, actor_label="test")
    assert order.total == order_total(data)
    run_worker_until_idle(timeout=20)
    (doc,) = qbo.entities(company.realm_id, "SalesReceipt")
    # jacket GST/PST BC 12 %, tee GST 5 %, gift card and tip Zero-rated, shipping GST/PST BC
    assert _codes(doc) == ["12", "6", "5", "5", "12"]
    assert Decimal(str(doc["TxnTaxDetail"]["TotalTax"])) == Decimal(data["tax"]) == Decimal("15.30")
    assert Decimal(str(doc["TotalAmt"])) == order.total


def test_woocommerce_quebec_prices_including_gst_and_qst(canada_shop, qbo, run_worker_until_idle):
    company, source = canada_shop
    data = woocommerce.route("order.created", load("woo_order_quebec_inclusive.json")).intents[0].data
    order, _ = ingest_order({**data, "order_source": source.pk}, actor_label="test")
    assert (order.total, order.tax) == (Decimal("471.40"), Decimal("61.40"))
    run_worker_until_idle(timeout=20)
    (doc,) = qbo.entities(company.realm_id, "SalesReceipt")
    assert doc["GlobalTaxCalculation"] == "TaxInclusive"
    assert _codes(doc) == ["9", "9"]  # GST/QST QC - 9.975 (5 % + 9.975 %)
    assert _tax_lines(doc) == [("1", Decimal("20.5")), ("5", Decimal("40.9"))]  # GST, QST
    assert Decimal(str(doc["TotalAmt"])) == order.total == Decimal("471.40")
