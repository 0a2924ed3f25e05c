"""The tax world in the API: GET /companies (country, tax model, currencies), GET /tax-codes, GET/PUT
/companies/{id}/tax-mapping (suggestions, 422 naming the field, admin only); and the batch's tax
look-ups: the TaxCodes once per batch, not per order."""

from __future__ import annotations

import json

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from ledgerlink.core.models import PushRequest
from ledgerlink.domain.accounts.tokens import create_api_token
from ledgerlink.domain.ingest.orders import ingest_orders
from ledgerlink.domain.sync.full import sync_company
from tests.ledgerlink.factories import make_user


def _api(role: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {create_api_token(make_user(role, role), 'test')}")


def _put(client: Client, path: str, body):
    return client.put(path, data=json.dumps(body), content_type="application/json")


def test_companies_tax_codes_and_the_mapping(company_factory):
    company = company_factory(name="Maple Wholesale", country="CA")
    sync_company(company)
    admin, operator = _api("admin"), _api("operator")
    (row,) = admin.get("/api/v1/companies").json()
    assert {k: row[k] for k in ("country", "tax_model", "home_currency", "multicurrency")} == {
        "country": "CA", "tax_model": "global", "home_currency": "CAD", "multicurrency": False}
    codes = {c["id"]: c for c in admin.get(f"/api/v1/tax-codes?company={company.pk}").json()}
    assert codes["7"] == {"company": company.pk, "id": "7", "name": "HST ON", "active": True,
                          "rates": [{"id": "2", "name": "HST ON", "percent": "13"}], "total": "13"}
    assert codes["9"]["rates"] == [{"id": "1", "name": "GST", "percent": "5"}, {"id": "5", "name": "QST",
                                                                                 "percent": "9.975"}]
    assert codes["9"]["total"] == "14.975"

    url = f"/api/v1/companies/{company.pk}/tax-mapping"
    view = admin.get(url).json()
    assert (view["rates"], view["exempt_tax_code"], view["waiting"]) == ([], "", [])
    suggested = {s["rate"]: s["tax_code"] for s in view["suggestions"]}
    # every rate that exactly one active code adds up to; 0 % is Exempt, Zero-rated: no suggestion
    assert suggested == {"5": "6", "7": "11", "9.975": "10", "12": "12", "13": "7", "14.975": "9", "15": "8"}

    assert _put(operator, url, {"rates": []}).status_code == 403
    r = _put(admin, url, {"rates": [{"rate": "13", "tax_code": "404"}]})
    assert (r.status_code, r.json()) == (422, {
        "detail": "is not a QuickBooks tax code of this company: 404 (sync the company?)", "field": "rates[0].tax_code"})
    r = _put(admin, url, {"rates": [{"rate": "abc", "tax_code": "7"}]})
    assert (r.status_code, r.json()["field"]) == (422, "rates[0].rate")
    r = _put(admin, url, {"rates": [{"rate": "13.0", "tax_code": "8"}], "exempt_tax_code": "4"})
    assert r.status_code == 200
    body = r.json()
    assert body["rates"] == [{"rate": "13", "tax_code": "8", "tax_code_name": "HST NB 2016", "suggested": False}]
    assert (body["exempt_tax_code"], body["requeued"]) == ("4", [])
    assert "13" not in {s["rate"] for s in body["suggestions"]}
    assert admin.get("/api/v1/companies/999999/tax-mapping").status_code == 404


def test_tax_codes_are_read_once_per_batch(company_factory, site_area_factory, order_source_factory):
    company = company_factory(name="Maple Wholesale", country="CA")
    sync_company(company)
    source = order_source_factory(site_area_factory(company, "Web", "sales_receipt"), "Shop")
    orders = [
        {"order_source": source.pk, "external_id": f"B-{n}", "number": f"B-{n}",
         "lines": [{"description": "Tool", "quantity": 1, "unit_price": "10.00", "tax_rate": "13", "tax": "1.30"}]}
        for n in range(40)
    ]
    with CaptureQueriesContext(connection) as ctx:
        results = ingest_orders(orders, actor_label="test")
    assert [r.status for r in results] == [201] * 40
    tax_queries = [q["sql"] for q in ctx.captured_queries if "core_taxcode" in q["sql"]]
    assert len(tax_queries) == 1
    assert PushRequest.objects.filter(state="queued").count() == 40
