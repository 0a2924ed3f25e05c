"""`ledgerlink import-orders --format shopify FILE.csv [--order-source ID]`: Shopify's order export through
ingest_orders, with progress and per-row errors, idempotent on the export's Id (= the webhooks' order id)."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ledgerlink.cli import command_argv
from ledgerlink.core.models import Order
from ledgerlink.domain.routing.order_sources import create_order_source
from ledgerlink.stores import signatures
from tests.ledgerlink.domain.stores.test_deliveries import shipping_item
from tests.ledgerlink.stores.conftest import FIXTURES, load

pytestmark = pytest.mark.django_db

EXPORT = FIXTURES / "shopify_orders_export.csv"


def test_the_shopify_export_is_imported_with_errors_by_line_and_idempotent_on_the_order_id(
    company_factory, qbo, site_area_factory, run_worker_until_idle, capsys, client
):
    company = company_factory(multicurrency=True, company_currencies=[{"Code": "CAD"}, {"Code": "EUR"}])
    area = site_area_factory(company, "Shopify", push_method="sales_receipt", shipping_item=shipping_item(qbo, company))
    source = create_order_source(name="Shopify", site_area=area.pk, kind="shopify", webhook_secret="s")
    with pytest.raises(SystemExit) as exc:
        call_command(*command_argv(["import-orders", "--format", "shopify", str(EXPORT), "--order-source",
                                    str(source.pk)]))
    assert exc.value.code == 1
    out, err = capsys.readouterr()
    assert out == "4 created, 0 already imported, 5 bad row(s)\n"
    assert err.count(f"{EXPORT}:") == 5
    for line, text in (
        (7, "Lineitem quantity: must be a number (got 'two') (order #1003)"),
        (9, "Total: is 99.00 but the line items less the discount plus shipping come to 55.00"),
        (10, "Cancelled at: is 2024-03-08 12:00:00 -0500: order #1006 was cancelled and is not imported"),
        (11, "row: has 12 cells where the header has 79 columns"),
        (13, "Total: is empty on the first row of order #1002"),
    ):
        assert f"{EXPORT}:{line}: {text}" in err
    assert "import: 9order" in err  # the tqdm counter: 9 orders read
    orders = {o.number: o for o in Order.objects.filter(order_source=source)}
    assert sorted(orders) == ["1001", "1002", "1004", "1008"]
    assert (orders["1004"].currency, orders["1004"].prices_include_tax, str(orders["1004"].total)) == (
        "EUR", True, str(orders["1004"].subtotal + orders["1004"].shipping - orders["1004"].discount))
    o = orders["1001"]
    assert (o.external_id, o.currency, str(o.subtotal), str(o.shipping), str(o.discount), str(o.tax),
            str(o.total), o.customer_name, o.customer_company, o.ship_address["postal_code"]) == (
        "5001001001", "CAD", "130.00", "15.00", "13.00", "15.84", "147.84", "Ada Lovelace",
        "Analytical Engines Ltd", "V6B 1A1")
    run_worker_until_idle()
    receipts = {r["DocNumber"]: r for r in qbo.entities(company.realm_id, "SalesReceipt")}
    assert sorted(receipts) == ["1001", "1002", "1004", "1008"]
    r = receipts["1001"]
    assert [(line.get("Description"), line["Amount"]) for line in r["Line"] if line["DetailType"] != "SubTotalLineDetail"] == [
        ("Rain jacket - M", 100), ("Kids tee", 30), ("Shipping", 15), ("Discount", 13)]
    assert (r["TxnTaxDetail"]["TotalTax"], r["TotalAmt"], r["CurrencyRef"]["value"]) == (15.84, 147.84, "CAD")

    # Again: nothing new. The default order source is the one of kind shopify.
    with pytest.raises(SystemExit):
        call_command("import_orders", "--format", "shopify", str(EXPORT), "--no-progress")
    out, _ = capsys.readouterr()
    assert out == "0 created, 4 already imported, 5 bad row(s)\n"
    # The same order by webhook later: the order exists (one order, one document).
    webhook = load("shopify_order_us.json")
    webhook.update(id=5001001002, name="#1002")
    body = json.dumps(webhook).encode()
    headers = signatures.shopify_headers(body, "s", topic="orders/create", webhook_id="w-1")
    headers.pop("Content-Type")
    r = client.post(f"/webhooks/shopify/{source.pk}", data=body, content_type="application/json", headers=headers)
    assert (r.json()["outcome"], r.json()["reason"]) == ("duplicate", f"order {orders['1002'].pk} exists already")
    assert Order.objects.count() == 4
    run_worker_until_idle()
    assert len(qbo.entities(company.realm_id, "SalesReceipt")) == 4


def test_the_order_source_must_be_known(db, capsys, company, site_area_factory):
    with pytest.raises(CommandError, match="no order source of kind shopify"):
        call_command("import_orders", "--format", "shopify", str(EXPORT))
    with pytest.raises(CommandError, match="no order source 'Nope'"):
        call_command("import_orders", "--format", "shopify", str(EXPORT), "--order-source", "Nope")
    with pytest.raises(CommandError, match="--order-source is for --format shopify"):
        call_command("import_orders", str(EXPORT), "--order-source", "1")
    assert Order.objects.count() == 0
