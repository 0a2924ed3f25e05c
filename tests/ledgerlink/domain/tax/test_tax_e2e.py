"""Sales tax per QBO tax model, end to end against qbo_sandbox: the order is ingested, the worker
sends it, and the test reads the document QBO stored (tax codes per line, TotalTax, TotalAmt to the
cent equal to the order's total)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledgerlink.core.models import Company, TaxCode
from ledgerlink.domain.healing.tax import save_tax_mapping
from ledgerlink.domain.sync.full import sync_company


def _codes(doc: dict) -> list[str]:
    return [
        line["SalesItemLineDetail"].get("TaxCodeRef", {}).get("value")
        for line in doc["Line"]
        if line["DetailType"] == "SalesItemLineDetail"
    ]


def _tax_lines(doc: dict) -> list[tuple[str, Decimal]]:
    return [
        (t["TaxLineDetail"]["TaxRateRef"]["value"], Decimal(str(t["Amount"])))
        for t in doc["TxnTaxDetail"].get("TaxLine", [])
    ]


@pytest.fixture
def canada(qbo, company_factory, site_area_factory, order_source_factory, customer_factory):
    """A Canadian company (global tax model), synced (its tax codes mirrored), untaxed lines booked
    with Zero-rated (5); an invoice site area (shipping on its Shipping item) whose order source
    matches customer Acme Tools."""
    company = company_factory(name="Maple Wholesale", country="CA")
    shipping = qbo.create_item(company.realm_id, "Shipping")
    sync_company(company)
    save_tax_mapping(company.pk, {"rates": [], "exempt_tax_code": "5"}, actor_label="test")
    company.refresh_from_db()
    source = order_source_factory(site_area_factory(company, "Wholesale", "invoice", shipping_item=shipping["Id"]),
                                  "Wholesale Portal")
    customer_factory(company, "Acme Tools", "name2@example.com")
    return company, source


def test_connect_reads_the_tax_world_and_sync_mirrors_the_tax_codes(canada):
    company, _ = canada
    company = Company.objects.get(pk=company.pk)
    assert (company.country, company.tax_model, company.home_currency, company.multicurrency) == (
        "CA", "global", "CAD", False)
    codes = {c.qbo_id: (c.name, c.active, str(c.total)) for c in TaxCode.objects.filter(company=company)}
    assert codes["7"] == ("HST ON", True, "13.0000")
    assert codes["9"] == ("GST/QST QC - 9.975", True, "14.9750")
    assert codes["3"] == ("Out of Scope", True, "0.0000")


def test_canada_tax_excluded_with_shipping_tax_and_a_discount(canada, order_factory, qbo, run_worker_until_idle):
    company, source = canada
    order, pr = order_factory(
        source, email="name2@example.com", number="CA-1001",
        lines=[
            {"description": "Widget", "quantity": 2, "unit_price": "50.00", "tax_rate": "13", "tax": "12.35"},
            {"description": "Book", "quantity": 1, "unit_price": "20.00", "taxable": False},
            {"description": "Gadget", "quantity": 1, "unit_price": "40.00", "tax_rate": "5", "tax": "2.00"},
        ],
        shipping="10.00", shipping_tax="1.30", shipping_tax_rate="13", discount="5.00",
    )
    assert order.tax == Decimal("15.65")
    assert order.total == Decimal("180.65")  # 100 + 20 + 40 + 10 - 5 + 15.65
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert (pr.state, pr.error_kind) == ("succeeded", "")
    (doc,) = qbo.entities(company.realm_id, "Invoice")
    assert _codes(doc) == ["7", "5", "6", "7"]  # HST ON, Zero-rated, GST, shipping HST ON
    assert doc["GlobalTaxCalculation"] == "TaxExcluded"
    assert Decimal(str(doc["TxnTaxDetail"]["TotalTax"])) == Decimal("15.65")
    # TaxRates (the sandbox's default Canadian ones): 1 GST 5 %, 2 HST ON 13 %, 6 Zero-rated 0 %
    assert _tax_lines(doc) == [("1", Decimal("2.00")), ("2", Decimal("13.65")), ("6", Decimal("0"))]
    assert Decimal(str(doc["TotalAmt"])) == order.total == Decimal("180.65")
    assert pr.warnings == []


def test_canada_tax_inclusive_with_shipping_tax_and_a_discount(canada, order_factory, qbo, run_worker_until_idle):
    """Gross prices (13 % HST included), a gross discount of 11.30 and HST on shipping: QBO books the
    nets, the discount in net (10.00) and the order's tax, so TotalAmt is what the customer paid."""
    company, source = canada
    order, pr = order_factory(
        source, email="name2@example.com", number="CA-1002", prices_include_tax=True,
        lines=[{"description": "Widget", "quantity": 2, "unit_price": "56.50", "tax_rate": "13", "tax": "11.70"}],
        shipping="11.30", shipping_tax="1.30", shipping_tax_rate="13", discount="11.30",
    )
    assert (order.tax, order.total) == (Decimal("13.00"), Decimal("113.00"))  # 113 + 11.30 - 11.30, tax included
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert (pr.state, pr.error_kind) == ("succeeded", "")
    (doc,) = qbo.entities(company.realm_id, "Invoice")
    assert doc["GlobalTaxCalculation"] == "TaxInclusive"
    assert _codes(doc) == ["7", "7"]
    sales = [line for line in doc["Line"] if line["DetailType"] == "SalesItemLineDetail"]
    assert [(line["Amount"], line["SalesItemLineDetail"]["TaxInclusiveAmt"]) for line in sales] == [
        (100, 113), (10, 11.3)]
    discount = next(line for line in doc["Line"] if line["DetailType"] == "DiscountLineDetail")
    assert discount["Amount"] == 10
    assert _tax_lines(doc) == [("2", Decimal("13"))]
    assert Decimal(str(doc["TxnTaxDetail"]["TotalTax"])) == Decimal("13.00")
    assert Decimal(str(doc["TotalAmt"])) == order.total == Decimal("113.00")
    assert pr.warnings == []


def test_uk_sales_receipt_standard_and_reduced_vat(company_factory, site_area_factory, order_source_factory,
                                                   order_factory, qbo, run_worker_until_idle):
    company = company_factory(name="Thames Ltd", country="GB")
    sync_company(company)
    company.refresh_from_db()
    assert (company.tax_model, company.home_currency) == ("global", "GBP")
    source = order_source_factory(site_area_factory(company, "Web Store", "sales_receipt"), "Web Shop")
    order, pr = order_factory(
        source, number="UK-1",
        lines=[{"description": "Kettle", "quantity": 1, "unit_price": "100.00", "tax_rate": "20", "tax": "20.00"},
               {"description": "Child seat", "quantity": 2, "unit_price": "5.00", "tax_rate": "5", "tax": "0.50"}],
    )
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert pr.state == "succeeded"
    (doc,) = qbo.entities(company.realm_id, "SalesReceipt")
    assert _codes(doc) == ["2", "3"]  # 20.0% S, 5.0% R: each rate maps itself (one code each)
    assert doc["GlobalTaxCalculation"] == "TaxExcluded"
    assert _tax_lines(doc) == [("1", Decimal("20")), ("2", Decimal("0.5"))]
    assert Decimal(str(doc["TxnTaxDetail"]["TotalTax"])) == Decimal("20.50")
    assert Decimal(str(doc["TotalAmt"])) == order.total == Decimal("130.50")


def test_australia_gst_and_gst_free_without_any_mapping(company_factory, site_area_factory, order_source_factory,
                                                         order_factory, customer_factory, qbo, run_worker_until_idle):
    """GST 10 % and GST free 0 % are each the only code of their rate: they map themselves, untaxed lines
    included. A bare ``tax`` (no line detail) is spread at the rate it works out at (10 %)."""
    company = company_factory(name="Sydney Pty", country="AU")
    sync_company(company)
    source = order_source_factory(site_area_factory(company, "Wholesale", "invoice"), "Portal")
    customer_factory(company, "Bondi Traders", "buyer@bondi.example")
    itemized, pr1 = order_factory(
        source, email="buyer@bondi.example", number="AU-1",
        lines=[{"description": "Surfboard", "quantity": 1, "unit_price": "100.00", "tax_rate": "10", "tax": "10.00"},
               {"description": "Bread", "quantity": 1, "unit_price": "50.00", "taxable": False}],
    )
    bare, pr2 = order_factory(
        source, email="buyer@bondi.example", number="AU-2", tax="15.00",
        lines=[{"description": "Wax", "quantity": 1, "unit_price": "100.00"},
               {"description": "Leash", "quantity": 1, "unit_price": "50.00"}],
    )
    run_worker_until_idle(timeout=20)
    docs = {d["DocNumber"]: d for d in qbo.entities(company.realm_id, "Invoice")}
    assert _codes(docs["AU-1"]) == ["2", "3"]
    assert Decimal(str(docs["AU-1"]["TotalAmt"])) == itemized.total == Decimal("160.00")
    assert _codes(docs["AU-2"]) == ["2", "2"]
    assert _tax_lines(docs["AU-2"]) == [("1", Decimal("15"))]
    assert Decimal(str(docs["AU-2"]["TotalAmt"])) == bare.total == Decimal("165.00")


@pytest.fixture
def us_source(site_area_factory, order_source_factory, customer_factory):
    def make(company):
        source = order_source_factory(site_area_factory(company, "Wholesale", "invoice"), "Portal")
        customer_factory(company, "Acme Tools", "name2@example.com")
        return source

    return make


SHIP_CA = {"line1": "1 Market St", "city": "San Francisco", "region": "CA", "postal_code": "94105", "country": "US"}


def test_us_ast_with_a_tax_amount_overrides_the_engine(company, us_source, order_factory, qbo, run_worker_until_idle):
    assert company.tax_model == "ast"
    order, pr = order_factory(
        us_source(company), email="name2@example.com", number="AST-1", ship_address=SHIP_CA,
        lines=[{"description": "Widget", "quantity": 1, "unit_price": "100.00", "tax_rate": "8.5", "tax": "8.50"},
               {"description": "Gift card", "quantity": 1, "unit_price": "20.00", "taxable": False}],
    )
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert pr.state == "succeeded"
    (doc,) = qbo.entities(company.realm_id, "Invoice")
    assert _codes(doc) == ["TAX", "NON"]
    assert doc["ShipAddr"]["CountrySubDivisionCode"] == "CA"
    assert doc["TxnTaxDetail"]["TaxReviewStatus"] == "AST_TAX_OVERRIDE"  # the engine's 7.25 % replaced
    assert Decimal(str(doc["TxnTaxDetail"]["TotalTax"])) == Decimal("8.50")
    assert Decimal(str(doc["TotalAmt"])) == order.total == Decimal("128.50")
    assert pr.warnings == []


def test_us_ast_without_a_tax_amount_untaxed_lines(company, us_source, order_factory, qbo, run_worker_until_idle):
    order, pr = order_factory(
        us_source(company), email="name2@example.com", number="AST-2", ship_address=SHIP_CA,
        lines=[{"description": "Consulting", "quantity": 2, "unit_price": "60.00", "taxable": False}],
    )
    run_worker_until_idle(timeout=20)
    (doc,) = qbo.entities(company.realm_id, "Invoice")
    assert _codes(doc) == ["NON"]
    assert "TaxReviewStatus" not in doc["TxnTaxDetail"]
    assert Decimal(str(doc["TxnTaxDetail"]["TotalTax"])) == Decimal("0")
    assert Decimal(str(doc["TotalAmt"])) == order.total == Decimal("120.00")


def test_us_legacy_tax_code_from_the_mapping(company_factory, us_source, order_factory, qbo, run_worker_until_idle):
    company = company_factory(name="Old Books", tax_model="legacy")
    sync_company(company)
    company.refresh_from_db()
    assert company.tax_model == "legacy"
    order, pr = order_factory(
        us_source(company), email="name2@example.com", number="LEG-1",
        lines=[{"description": "Widget", "quantity": 1, "unit_price": "100.00", "tax_rate": "8", "tax": "8.00"},
               {"description": "Labour", "quantity": 1, "unit_price": "20.00", "taxable": False}],
    )
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert pr.state == "succeeded"
    (doc,) = qbo.entities(company.realm_id, "Invoice")
    assert _codes(doc) == ["TAX", "NON"]
    assert doc["TxnTaxDetail"]["TxnTaxCodeRef"] == {"value": "2"}  # California 8 %: the rate maps itself
    assert _tax_lines(doc) == [("1", Decimal("8"))]
    assert Decimal(str(doc["TotalAmt"])) == order.total == Decimal("128.00")


def test_multicurrency_eur_order_to_a_usd_company(company_factory, us_source, customer_factory, order_factory, qbo,
                                                  run_worker_until_idle):
    """CurrencyRef is the order's currency with its exchange rate; of two customers with the email the
    one in EUR is used."""
    company = company_factory(name="Global Inc", multicurrency=True, company_currencies=[{"Code": "EUR"}])
    assert (company.home_currency, company.multicurrency) == ("USD", True)
    source = us_source(company)  # Acme Tools, USD
    eur = customer_factory(company, "Acme Tools (EUR)", "name2@example.com", CurrencyRef={"value": "EUR"})
    order, pr = order_factory(
        source, email="name2@example.com", number="EUR-1", currency="EUR", exchange_rate="1.08",
        lines=[{"description": "Widget", "quantity": 3, "unit_price": "25.00"}],
    )
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert pr.state == "succeeded"
    (doc,) = qbo.entities(company.realm_id, "Invoice")
    assert doc["CustomerRef"]["value"] == eur["Id"]
    assert doc["CurrencyRef"]["value"] == "EUR"
    assert Decimal(str(doc["ExchangeRate"])) == Decimal("1.08")
    assert Decimal(str(doc["TotalAmt"])) == order.total == Decimal("75.00")
    assert Decimal(str(doc["HomeTotalAmt"])) == Decimal("81.00")


def test_create_policy_makes_one_customer_per_currency(company_factory, site_area_factory, order_source_factory,
                                                       customer_factory, order_factory, qbo, run_worker_until_idle):
    """Acme Tools exists in USD; an EUR order with the same email gets its own customer "Acme Tools (EUR)"
    (created by the create policy, the invoice waiting for it); the next EUR order and a USD order each
    find the customer in their currency."""
    company = company_factory(name="Global Inc", multicurrency=True, company_currencies=[{"Code": "EUR"}])
    area = site_area_factory(company, "Wholesale", "invoice", customer_policy="create")
    source = order_source_factory(area, "Portal")
    usd = customer_factory(company, "Acme Tools", "name2@example.com")
    _, first = order_factory(source, email="name2@example.com", number="E-1", currency="EUR",
                             customer_name="Acme Tools",
                             lines=[{"description": "Widget", "quantity": 1, "unit_price": "40.00"}])
    first.refresh_from_db()
    assert (first.state, first.waiting_on) == ("queued", "customer:name2@example.com|EUR")
    run_worker_until_idle(timeout=30)
    customers = [c for c in qbo.entities(company.realm_id, "Customer") if c["DisplayName"].startswith("Acme")]
    assert sorted((c["DisplayName"], c["CurrencyRef"]["value"]) for c in customers) == [
        ("Acme Tools", "USD"), ("Acme Tools (EUR)", "EUR")]
    eur_id = next(c["Id"] for c in customers if c["DisplayName"] == "Acme Tools (EUR)")
    _, second = order_factory(source, email="name2@example.com", number="E-2", currency="EUR",
                              lines=[{"description": "Widget", "quantity": 2, "unit_price": "40.00"}])
    _, third = order_factory(source, email="name2@example.com", number="U-1",
                             lines=[{"description": "Widget", "quantity": 1, "unit_price": "40.00"}])
    run_worker_until_idle(timeout=30)
    docs = {d["DocNumber"]: d for d in qbo.entities(company.realm_id, "Invoice")}
    assert {n: (d["CustomerRef"]["value"], d["CurrencyRef"]["value"]) for n, d in docs.items()} == {
        "E-1": (eur_id, "EUR"), "E-2": (eur_id, "EUR"), "U-1": (usd["Id"], "USD")}
    assert [Decimal(str(docs[n]["TotalAmt"])) for n in ("E-1", "E-2", "U-1")] == [
        Decimal("40"), Decimal("80"), Decimal("40")]
