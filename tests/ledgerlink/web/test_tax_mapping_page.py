"""The tax mapping page: the Company's codes, the rates with suggestions, the orders waiting on an
unmapped rate; "Map and re-queue all" from the failed request saves and re-queues them."""

from __future__ import annotations

import re

from django.test import Client

from ledgerlink.core.models import PushRequest
from ledgerlink.domain.healing.tax import save_tax_mapping
from ledgerlink.domain.sync.full import sync_company
from tests.ledgerlink.factories import make_user


def _client(role: str) -> Client:
    client = Client()
    client.force_login(make_user(role, role))
    return client


def test_page_shows_suggestions_and_waiting_orders_and_maps_them_in_one_save(
        company_factory, site_area_factory, order_source_factory, order_factory, qbo):
    company = company_factory(name="Maple Wholesale", country="CA")
    sync_company(company)
    save_tax_mapping(company.pk, {"exempt_tax_code": "5"}, actor_label="test")
    source = order_source_factory(site_area_factory(company, "Web", "sales_receipt"), "Shop")
    waiting = [order_factory(source, number=f"W-{n}", lines=[
        {"description": "Tool", "quantity": 1, "unit_price": "10.00", "tax_rate": "8", "tax": "0.80"}])[1]
        for n in range(2)]
    assert {PushRequest.objects.get(pk=pr.pk).error_kind for pr in waiting} == {"tax_code_unmapped"}

    admin = _client("admin")
    listing = admin.get("/requests/completed/").content.decode()
    link = f"/connections/{company.pk}/tax-mapping?rate=8#rate-8"
    assert f'href="{link}">Map and re-queue all</a>' in listing
    page = admin.get(link.split("#")[0]).content.decode()
    assert "Orders waiting on an unmapped rate (2)" in page
    assert "No QuickBooks tax code for 8 %" in page
    assert 'id="rate-8" class="wanted"' in page and "2 waiting" in page
    # 13 % is only HST ON's total: suggested and pre-selected
    row13 = re.search(r'<tr id="rate-13".*?</tr>', page, re.S).group(0)
    assert '<option value="7" selected>HST ON (13 %)</option>' in row13 and "suggested" in row13

    rates = re.findall(r'<tr id="rate-([\d.]+)"', page)
    form = {"rows": str(len(rates)), "exempt_tax_code": "5"}
    for index, rate in enumerate(rates):
        form[f"rate_{index}"] = rate
        form[f"code_{index}"] = "11" if rate == "8" else ""  # map 8 % to PST BC (the person's choice)
    r = admin.post(f"/connections/{company.pk}/tax-mapping", form, follow=True)
    assert "Tax mapping saved; 2 request(s) re-queued." in r.content.decode()
    assert {PushRequest.objects.get(pk=pr.pk).state for pr in waiting} == {"queued"}
    company.refresh_from_db()
    assert (company.tax_mapping, company.exempt_tax_code) == ({"8": "11"}, "5")

    viewer = _client("viewer")
    assert viewer.get(f"/connections/{company.pk}/tax-mapping").status_code == 200
    assert viewer.post(f"/connections/{company.pk}/tax-mapping", form).status_code == 403
