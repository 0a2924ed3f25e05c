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
def canada(company_factory, site_area_factory, order_source_factory, customer_factory):
    """A Canadian company (global tax model), synced (its tax codes mirrored), untaxed lines booked
    with Zero-rated (5); an invoice site area whose order source matches customer Acme Tools."""
    company = company_factory(name="Maple Wholesale", country="CA")
    sync_company(company)
    save_tax_mapping(company.pk, {"rates": [], "exempt_tax_code": "5"}, actor_label="test")
    company.refresh_from_db()
    source = order_source_factory(site_area_factory(company, "Wholesale", "invoice"), "Wholesale Portal")
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
