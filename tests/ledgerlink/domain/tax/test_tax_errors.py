"""The tax and currency error kinds, each with its fix, against qbo_sandbox: tax_code_unmapped (caught
before sending; mapping the rate heals the requests waiting on it), tax_code_invalid (QBO refused the
code), currency_not_enabled and customer_currency_mismatch (caught before sending); and the
amount_mismatch warning when QBO computes another tax than the order's."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client

from ledgerlink.core.models import Company, PushRequest, TaxCode
from ledgerlink.domain.accounts.tokens import create_api_token
from ledgerlink.domain.healing.tax import save_tax_mapping
from ledgerlink.domain.outbox.actions import requeue_request
from ledgerlink.domain.outbox.selectors import current_payload
from ledgerlink.domain.sync.full import sync_company
from ledgerlink.domain.tax.mapping import set_tax_mapping
from ledgerlink.ops import digests, metrics
from tests.ledgerlink.domain.tax.test_tax_e2e import SHIP_CA, _codes
from tests.ledgerlink.factories import make_user


def _documents(qbo, company) -> list[dict]:
    return qbo.entities(company.realm_id, "Invoice") + qbo.entities(company.realm_id, "SalesReceipt")


def _writes(qbo, company) -> list[dict]:
    return [e for e in qbo.requests(company.realm_id) if e["operation"] in ("create", "batch")]


@pytest.fixture
def canada(company_factory, site_area_factory, order_source_factory, customer_factory):
    company = company_factory(name="Maple Wholesale", country="CA")
    sync_company(company)
    save_tax_mapping(company.pk, {"exempt_tax_code": "5"}, actor_label="test")
    source = order_source_factory(site_area_factory(company, "Wholesale", "invoice"), "Wholesale Portal")
    customer_factory(company, "Acme Tools", "name2@example.com")
    return Company.objects.get(pk=company.pk), source


def _tax_code(qbo, company, name: str, rate: str) -> str:
    r = qbo.api(company.realm_id, "POST", "taxservice/taxcode", json={
        "TaxCode": name, "TaxRateDetails": [
            {"TaxRateName": name, "RateValue": rate, "TaxAgencyId": "1", "TaxApplicableOn": "Sales"}]})
    assert r.status_code == 200, r.text
    return r.json()["TaxCodeId"]


def test_unmapped_rate_waits_nothing_is_sent_and_mapping_it_heals_exactly_its_requests(
        canada, order_factory, qbo, run_worker_until_idle):
    company, source = canada
    # Two 8 % codes: the rate cannot map itself (a person must choose).
    first = _tax_code(qbo, company, "PST 8 A", "8")
    _tax_code(qbo, company, "PST 8 B", "8")
    sync_company(company)
    waiting = [
        order_factory(source, email="name2@example.com", number=f"R8-{n}",
                      lines=[{"description": "Tool", "quantity": 1, "unit_price": "50.00", "tax_rate": "8",
                              "tax": "4.00"}])[1]
        for n in range(3)
    ]
    _, other = order_factory(source, email="name2@example.com", number="R6-1",
                             lines=[{"description": "Tool", "quantity": 1, "unit_price": "50.00", "tax_rate": "6",
                                     "tax": "3.00"}])
    qbo.clear_requests(company.realm_id)
    run_worker_until_idle(timeout=20)
    for pr in [*waiting, other]:
        pr.refresh_from_db()
        assert (pr.state, pr.error_kind) == ("failed", "tax_code_unmapped")
    assert (waiting[0].error_message, waiting[0].error_element) == ("No QuickBooks tax code for 8 %", "tax_rate:8")
    assert other.error_message == "No QuickBooks tax code for 6 %"
    assert waiting[0].error_title == "No QuickBooks tax code for this tax rate"
    assert _documents(qbo, company) == [] and _writes(qbo, company) == []  # nothing was sent

    company, healed = save_tax_mapping(company.pk, {"rates": [{"rate": "8", "tax_code": first}]}, actor_label="test")
    assert healed == sorted(pr.pk for pr in waiting)  # the three waiting on 8 %, not the one on 6 %
    run_worker_until_idle(timeout=20)
    for pr in waiting:
        pr.refresh_from_db()
        assert (pr.state, pr.revision) == ("succeeded", 2)
        assert pr.revisions.get(number=2).author_label == "system"
    other.refresh_from_db()
    assert (other.state, other.error_kind) == ("failed", "tax_code_unmapped")
    docs = qbo.entities(company.realm_id, "Invoice")
    assert sorted(d["DocNumber"] for d in docs) == ["R8-0", "R8-1", "R8-2"]
    assert {tuple(_codes(d)) for d in docs} == {(first,)}
    assert {Decimal(str(d["TotalAmt"])) for d in docs} == {Decimal("54.00")}


def test_untaxed_line_without_an_exempt_code_is_unmapped_0(company_factory, site_area_factory, order_source_factory,
                                                           order_factory, qbo):
    company = company_factory(name="No Exempt", country="CA")
    sync_company(company)
    source = order_source_factory(site_area_factory(company, "Web", "sales_receipt"), "Shop")
    _, pr = order_factory(source, lines=[{"description": "Book", "quantity": 1, "unit_price": "20.00"}])
    pr.refresh_from_db()
    assert (pr.state, pr.error_kind, pr.error_message) == ("failed", "tax_code_unmapped", "No QuickBooks tax code for 0 %")
    _, healed = save_tax_mapping(company.pk, {"exempt_tax_code": "4"}, actor_label="test")
    assert healed == [pr.pk]
    assert current_payload(PushRequest.objects.get(pk=pr.pk))["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {
        "value": "4"}


def test_tax_code_refused_by_qbo_then_sync_and_mapping_fix_it(canada, order_factory, qbo, run_worker_until_idle):
    company, source = canada
    # The mirror still holds a code QBO no longer has (e.g. deleted since the last sync).
    TaxCode.objects.create(company=company, qbo_id="99", name="Old HST", rates=[], total=Decimal("13"))
    set_tax_mapping(company.pk, {"rates": [{"rate": "13", "tax_code": "99"}]}, actor_label="test")
    _, pr = order_factory(source, email="name2@example.com", number="INV-13",
                          lines=[{"description": "Tool", "quantity": 1, "unit_price": "100.00", "tax_rate": "13",
                                  "tax": "13.00"}])
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert (pr.state, pr.error_kind, pr.error_code, pr.error_element) == (
        "failed", "tax_code_invalid", "2500", "Line.SalesItemLineDetail.TaxCodeRef")
    assert pr.error_title == "QuickBooks refused the tax codes"
    assert _documents(qbo, company) == []

    sync_company(company)
    assert TaxCode.objects.get(company=company, qbo_id="99").active is False
    _, healed = save_tax_mapping(company.pk, {"rates": [{"rate": "13", "tax_code": "7"}]}, actor_label="test")
    assert healed == [pr.pk]
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert pr.state == "succeeded"
    (doc,) = qbo.entities(company.realm_id, "Invoice")
    assert _codes(doc) == ["7"] and Decimal(str(doc["TotalAmt"])) == Decimal("113.00")


def test_foreign_currency_without_multicurrency_then_a_customer_in_another_currency(
        canada, customer_factory, order_factory, qbo, run_worker_until_idle):
    company, source = canada
    qbo.clear_requests(company.realm_id)
    _, pr = order_factory(source, email="name2@example.com", number="USD-1", currency="USD",
                          lines=[{"description": "Tool", "quantity": 1, "unit_price": "100.00", "taxable": False}])
    pr.refresh_from_db()
    assert (pr.state, pr.error_kind) == ("failed", "currency_not_enabled")
    assert pr.error_message == "The order is in USD; the company books in CAD and multicurrency is off"
    run_worker_until_idle(timeout=20)
    assert _documents(qbo, company) == [] and _writes(qbo, company) == []

    # Fix: multicurrency on and USD added in QuickBooks, then a sync reads it.
    prefs = qbo.api(company.realm_id, "GET", "preferences").json()["Preferences"]
    r = qbo.api(company.realm_id, "POST", "preferences", json={
        "SyncToken": prefs["SyncToken"], "sparse": True, "CurrencyPrefs": {"MultiCurrencyEnabled": True}})
    assert r.status_code == 200, r.text
    assert qbo.api(company.realm_id, "POST", "companycurrency", json={"Code": "USD"}).status_code == 200
    sync_company(company)
    assert Company.objects.get(pk=company.pk).multicurrency is True
    pr = requeue_request(pr.pk, actor_label="test")
    # Acme Tools is a CAD customer: caught before sending too.
    assert (pr.state, pr.error_kind) == ("failed", "customer_currency_mismatch")
    assert pr.error_message == ("Business Validation Error: The transaction needs to be in the same currency as "
                                "the A/R and A/P accounts you use.")
    run_worker_until_idle(timeout=20)
    assert _documents(qbo, company) == []

    usd = customer_factory(company, "Acme Tools (USD)", "name2@example.com", CurrencyRef={"value": "USD"})
    payload = {**current_payload(pr), "CustomerRef": {"value": usd["Id"], "name": "Acme Tools (USD)"}}
    requeue_request(pr.pk, payload=payload, note="the customer in USD", actor_label="test")
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert pr.state == "succeeded"
    (doc,) = qbo.entities(company.realm_id, "Invoice")
    assert (doc["CurrencyRef"]["value"], doc["CustomerRef"]["value"]) == ("USD", usd["Id"])
    assert Decimal(str(doc["TotalAmt"])) == Decimal("100.00")


def test_qbo_computing_another_tax_is_reported_as_an_amount_mismatch(company, site_area_factory, order_source_factory,
                                                                      customer_factory, order_factory, qbo, settings,
                                                                      run_worker_until_idle):
    """US automated sales tax, taxable lines and no tax amount on the order: QBO computes 7.25 % from the
    ship-to address; the document's total differs from the order's, and it shows."""
    source = order_source_factory(site_area_factory(company, "Wholesale", "invoice"), "Portal")
    customer_factory(company, "Acme Tools", "name2@example.com")
    order, pr = order_factory(source, email="name2@example.com", number="MM-1", ship_address=SHIP_CA,
                              lines=[{"description": "Widget", "quantity": 1, "unit_price": "100.00",
                                      "taxable": True}])
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    (doc,) = qbo.entities(company.realm_id, "Invoice")
    assert Decimal(str(doc["TotalAmt"])) == Decimal("107.25") and order.total == Decimal("100.00")
    warning = {"kind": "amount_mismatch", "qbo_total": "107.25", "order_total": "100.00"}
    assert (pr.state, pr.warnings) == ("succeeded", [warning])

    user = make_user("op", "operator")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {create_api_token(user, 'test')}")
    assert api.get(f"/api/v1/requests/{pr.pk}").json()["warnings"] == [warning]
    assert api.get("/api/v1/requests").json()["items"][0]["warnings"] == [warning]
    web = Client()
    web.force_login(user)
    page = web.get("/requests/completed/").content.decode()
    assert "total differs: QuickBooks 107.25, order 100.00" in page
    assert f'ledgerlink_amount_mismatch_documents{{company="{company.pk}"}} 1.0' in metrics.render().decode()
    settings.LEDGERLINK_ADMIN_EMAILS = ["ops@example.com"]
    (digest,) = [d for d in digests.send_digests(dry_run=True) if d.key == "amount_mismatch"]
    assert f"request #{pr.pk}, order MM-1: QuickBooks total 107.25, order total 100.00" in digest.body
    assert json.loads(json.dumps(pr.warnings)) == [warning]


def test_a_sync_that_brings_the_rates_only_code_heals_the_waiting_requests(canada, order_factory, qbo,
                                                                           run_worker_until_idle):
    company, source = canada
    _, pr = order_factory(source, email="name2@example.com", number="S-8",
                          lines=[{"description": "Tool", "quantity": 1, "unit_price": "50.00", "tax_rate": "8",
                                  "tax": "4.00"}])
    pr.refresh_from_db()
    assert (pr.state, pr.error_kind) == ("failed", "tax_code_unmapped")
    code = _tax_code(qbo, company, "PST 8", "8")  # added in QuickBooks: the only 8 % code
    sync_company(company)
    pr.refresh_from_db()
    assert (pr.state, pr.revision) == ("queued", 2)
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert pr.state == "succeeded"
    (doc,) = qbo.entities(company.realm_id, "Invoice")
    assert _codes(doc) == [code] and Decimal(str(doc["TotalAmt"])) == Decimal("54.00")
