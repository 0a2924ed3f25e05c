"""A refund's tax follows the tax work (issue 14): a Canadian invoice with HST and GST per line;
the credit memo's lines carry the same tax codes and the refunded lines' tax."""

from __future__ import annotations

from decimal import Decimal

from ledgerlink.domain.healing.tax import save_tax_mapping
from ledgerlink.domain.sync.full import sync_company


def _canadian_wholesale(qbo, company_factory, site_area_factory, order_source_factory, customer_factory, name):
    """A Canadian company (its tax codes synced, 5 the exempt code), an invoice site area shipping on a
    Shipping item, and a source whose buyer name2@example.com is the QBO customer Acme Tools."""
    company = company_factory(name=name, country="CA")
    shipping = qbo.create_item(company.realm_id, "Shipping")
    sync_company(company)
    save_tax_mapping(company.pk, {"rates": [], "exempt_tax_code": "5"}, actor_label="test")
    source = order_source_factory(site_area_factory(company, "Wholesale", "invoice", shipping_item=shipping["Id"]),
                                  "Wholesale Portal")
    customer_factory(company, "Acme Tools", "name2@example.com")
    return company, source


def test_partial_refund_of_a_canadian_invoice_carries_the_lines_tax_codes_and_tax(
        qbo, company_factory, site_area_factory, order_source_factory, customer_factory, order_factory, api,
        run_worker_until_idle):
    company, source = _canadian_wholesale(qbo, company_factory, site_area_factory, order_source_factory,
                                          customer_factory, "Maple Wholesale")
    order, doc = order_factory(
        source, email="name2@example.com", number="CA-2001",
        lines=[
            {"sku": "W", "description": "Widget", "quantity": 2, "unit_price": "50.00", "tax_rate": "13",
             "tax": "13.00"},
            {"sku": "G", "description": "Gadget", "quantity": 1, "unit_price": "40.00", "tax_rate": "5", "tax": "2.00"},
        ],
        shipping="10.00", shipping_tax="1.30", shipping_tax_rate="13",
    )
    assert order.total == Decimal("166.30")
    run_worker_until_idle(timeout=20)
    doc.refresh_from_db()
    assert doc.state == "succeeded"
    # One widget and the shipping back: 50 + 10 + HST 6.50 + 1.30 = 67.80
    r = api.post(f"/orders/{order.pk}/refunds", {"external_id": "r1", "lines": [{"sku": "W", "quantity": 1}],
                                                 "shipping": "10.00"})
    assert r.status_code == 201, r.content
    assert r.json()["amount"] == "67.80"
    run_worker_until_idle(timeout=30)
    (memo,) = qbo.entities(company.realm_id, "CreditMemo")
    sales = [ln for ln in memo["Line"] if ln["DetailType"] == "SalesItemLineDetail"]
    assert [(ln["Description"], ln["Amount"], ln["SalesItemLineDetail"]["TaxCodeRef"]["value"]) for ln in sales] == [
        ("Widget", 50, "7"), ("Shipping", 10, "7")]
    assert memo["GlobalTaxCalculation"] == "TaxExcluded"
    assert (Decimal(str(memo["TxnTaxDetail"]["TotalTax"])), Decimal(str(memo["TotalAmt"]))) == (
        Decimal("7.80"), Decimal("67.80"))
    (invoice,) = qbo.entities(company.realm_id, "Invoice")
    assert Decimal(str(invoice["Balance"])) == Decimal("98.50")  # 166.30 - 67.80, applied by a Payment of 0


def test_a_change_keeps_the_lines_tax_and_a_changed_line_carries_its_new_tax(
        qbo, company_factory, site_area_factory, order_source_factory, customer_factory, order_factory, api,
        run_worker_until_idle):
    """A change of a Canadian invoice with tax per line: changing the email keeps every tax field
    (total, lines' tax, shipping tax, the version names only the email); changing a line's quantity
    with its new tax updates the posted invoice with the same tax codes and the new tax to the cent."""
    company, source = _canadian_wholesale(qbo, company_factory, site_area_factory, order_source_factory,
                                          customer_factory, "Maple Changes")
    customer_factory(company, "Birch Supply", "name3@example.com")
    widget = {"sku": "W", "description": "Widget", "quantity": 2, "unit_price": "50.00", "tax_rate": "13",
              "tax": "13.00"}
    gadget = {"sku": "G", "description": "Gadget", "quantity": 1, "unit_price": "40.00", "tax_rate": "5",
              "tax": "2.00"}
    order, doc = order_factory(source, email="name2@example.com", number="CA-3001", lines=[widget, gadget],
                               shipping="10.00", shipping_tax="1.30", shipping_tax_rate="13")
    run_worker_until_idle(timeout=20)

    r = api.patch(f"/orders/{order.pk}", {"email": "name3@example.com"})
    assert r.status_code == 200, r.content
    assert sorted(r.json()["version"]["changes"]) == ["email"]
    order.refresh_from_db()
    assert (order.total, order.tax, order.shipping_tax, order.shipping_tax_rate, order.itemized_tax) == (
        Decimal("166.30"), Decimal("16.30"), Decimal("1.30"), Decimal("13.0000"), True)
    assert list(order.lines.order_by("position").values_list("tax", "tax_rate", "taxable")) == [
        (Decimal("13.00"), Decimal("13.0000"), True), (Decimal("2.00"), Decimal("5.0000"), True)]
    run_worker_until_idle(timeout=20)
    (invoice,) = qbo.entities(company.realm_id, "Invoice")
    assert (Decimal(str(invoice["TotalAmt"])), Decimal(str(invoice["TxnTaxDetail"]["TotalTax"]))) == (
        Decimal("166.30"), Decimal("16.30"))

    # Three widgets now, with their tax: 150 + 40 + 10 + HST 19.50 + GST 2.00 + HST 1.30 = 222.80
    r = api.patch(f"/orders/{order.pk}", {"lines": [{**widget, "quantity": 3, "tax": "19.50"}, gadget],
                                          "tax": "22.80"})
    assert r.status_code == 200, r.content
    assert r.json()["order"]["total"] == "222.80"
    assert r.json()["version"]["changes"]["lines"]["new"][0] == {
        "sku": "W", "description": "Widget", "quantity": "3", "unit_price": "50", "tax": "19.5", "tax_rate": "13",
        "taxable": True}
    run_worker_until_idle(timeout=20)
    (invoice,) = qbo.entities(company.realm_id, "Invoice")
    sales = [ln for ln in invoice["Line"] if ln["DetailType"] == "SalesItemLineDetail"]
    assert [(ln["Description"], ln["Amount"], ln["SalesItemLineDetail"]["TaxCodeRef"]["value"]) for ln in sales] == [
        ("Widget", 150, "7"), ("Gadget", 40, "6"), ("Shipping", 10, "7")]
    assert (Decimal(str(invoice["TotalAmt"])), Decimal(str(invoice["TxnTaxDetail"]["TotalTax"])),
            invoice["SyncToken"]) == (Decimal("222.80"), Decimal("22.80"), "2")
