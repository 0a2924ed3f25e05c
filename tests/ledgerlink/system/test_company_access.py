"""Access per company (issue 18): an admin limits a user (web session and API tokens) to some
companies; lists, pages, API answers and digests then hold only those."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from ledgerlink.core.models import (
    AuditLog,
    Company,
    Customer,
    CustomerEmail,
    Item,
    Order,
    OrderSource,
    PushRevision,
    SiteArea,
    UserProfile,
)
from ledgerlink.core.roles import visible_company_ids
from ledgerlink.domain.accounts.tokens import create_api_token
from ledgerlink.domain.accounts.users import set_user_companies
from ledgerlink.domain.errors import ServiceError
from ledgerlink.web.presentation import dashboard_data
from tests.ledgerlink.factories import make_failed_request, make_login_user, make_user, make_web_world

pytestmark = pytest.mark.django_db


def api(user) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {create_api_token(user, 'test')}")


def two_companies():
    acme = Company.objects.create(name="Acme", realm_id="9130000000000101", api_base_url="http://127.0.0.1:1")
    globex = Company.objects.create(name="Globex", realm_id="9130000000000202", api_base_url="http://127.0.0.1:1")
    return acme, globex


# --- setting it ------------------------------------------------------------------------------------


def test_an_admin_limits_a_user_and_gives_every_company_back():
    acme, globex = two_companies()
    admin = make_user("boss", "admin")
    viewer = make_user("vera", "viewer")
    assert visible_company_ids(viewer) is None
    set_user_companies(viewer.pk, [acme.pk], actor=admin)
    viewer.refresh_from_db()
    assert visible_company_ids(type(viewer).objects.get(pk=viewer.pk)) == frozenset({acme.pk})
    set_user_companies(viewer.pk, [], actor=admin)
    assert visible_company_ids(type(viewer).objects.get(pk=viewer.pk)) == frozenset()
    set_user_companies(viewer.pk, None, actor=admin)
    assert visible_company_ids(type(viewer).objects.get(pk=viewer.pk)) is None
    assert list(AuditLog.objects.filter(action="user.companies").values_list("data", flat=True).order_by("id")) == [
        {"old": None, "new": [acme.pk]}, {"old": [acme.pk], "new": []}, {"old": [], "new": None}]
    with pytest.raises(ServiceError) as exc:
        set_user_companies(viewer.pk, [globex.pk, 99999], actor=admin)
    assert (exc.value.field, exc.value.message) == ("companies", "no company 99999")
    assert UserProfile.objects.get(user=viewer).all_companies is True
    superuser = make_user("root", None, superuser=True)
    set_user_companies(superuser.pk, [acme.pk], actor=admin)
    assert visible_company_ids(type(superuser).objects.get(pk=superuser.pk)) is None  # a superuser sees all


def test_the_users_page_sets_it():
    acme, globex = two_companies()
    admin = make_login_user("boss", "admin")
    viewer = make_login_user("vera", "viewer")
    client = Client()
    client.force_login(admin)
    page = client.get(reverse("web:users")).content.decode()
    assert f'name="companies" value="{globex.pk}"' in page
    r = client.post(reverse("web:user_update", args=[viewer.pk]), {"action": "companies", "companies": [str(globex.pk)]})
    assert r.status_code == 302
    assert visible_company_ids(type(viewer).objects.get(pk=viewer.pk)) == frozenset({globex.pk})
    client.post(reverse("web:user_update", args=[viewer.pk]), {"action": "companies", "all_companies": "1"})
    assert visible_company_ids(type(viewer).objects.get(pk=viewer.pk)) is None
    # a viewer cannot set it
    other = Client()
    other.force_login(viewer)
    assert other.post(reverse("web:user_update", args=[viewer.pk]), {"action": "companies",
                                                                     "companies": [str(acme.pk)]}).status_code == 403
    assert visible_company_ids(type(viewer).objects.get(pk=viewer.pk)) is None


def test_the_api_sets_it_admins_only():
    acme, _ = two_companies()
    admin, viewer = make_user("boss", "admin"), make_user("vera", "viewer")
    path = f"/api/v1/users/{viewer.pk}/companies"
    r = api(viewer).put(path, data=json.dumps({"companies": [acme.pk]}), content_type="application/json")
    assert r.status_code == 403
    client = api(admin)
    assert client.get(path).json() == {"user": viewer.pk, "username": "vera", "companies": None}
    r = client.put(path, data=json.dumps({"companies": [acme.pk]}), content_type="application/json")
    assert r.json() == {"user": viewer.pk, "username": "vera", "companies": [acme.pk]}
    r = client.put(path, data=json.dumps({"companies": [True]}), content_type="application/json")
    assert (r.status_code, r.json()["field"]) == (422, "companies[0]")
    r = client.put(path, data=json.dumps({"companies": None}), content_type="application/json")
    assert r.json()["companies"] is None


# --- the API ----------------------------------------------------------------------------------------


def two_worlds():
    """Company A (make_web_world) and company B, each with a site area, an order source, a customer,
    an item and a failed request."""
    a = make_web_world()
    b_company = Company.objects.create(name="Globex", realm_id="9130000000000202", api_base_url="http://127.0.0.1:1")
    b_area = SiteArea.objects.create(name="Globex Wholesale", company=b_company, push_method="invoice")
    b_source = OrderSource.objects.create(name="Globex portal", site_area=b_area)
    b_customer = Customer.objects.create(company=b_company, qbo_id="77", display_name="Globex Buyer",
                                         email="buyer@globex.example")
    CustomerEmail.objects.create(company=b_company, customer=b_customer, email="buyer@globex.example")
    Item.objects.create(company=b_company, qbo_id="1", name="Globex Services", type="Service")
    Item.objects.create(company=a["company"], qbo_id="1", name="Acme Services", type="Service")
    b = {"company": b_company, "wholesale": b_area, "portal": b_source, "acme": b_customer}
    pr_a = make_failed_request(a, number="A-1")
    pr_b = make_failed_request(b, number="B-1")
    return a, b, pr_a, pr_b


def limited(username: str, role: str, company):
    user = make_user(username, role)
    set_user_companies(user.pk, [company.pk])
    return type(user).objects.get(pk=user.pk)


def test_api_answers_hold_only_the_users_companies():
    a, b, pr_a, pr_b = two_worlds()
    client = api(limited("vera", "viewer", a["company"]))
    ids = lambda rows: sorted(r["id"] for r in rows)  # noqa: E731
    assert [c["name"] for c in client.get("/api/v1/companies").json()] == ["Demo Company"]
    assert ids(client.get("/api/v1/site-areas").json()) == sorted([a["wholesale"].pk, a["retail"].pk])
    assert ids(client.get(f"/api/v1/site-areas?company={b['company'].pk}").json()) == []
    assert ids(client.get("/api/v1/order-sources").json()) == sorted([a["portal"].pk, a["shop"].pk])
    assert [r["id"] for r in client.get("/api/v1/requests").json()["items"]] == [pr_a.pk]
    assert [r["id"] for r in client.get("/api/v1/orders").json()["items"]] == [pr_a.order_id]
    assert [r["display_name"] for r in client.get("/api/v1/customers").json()["items"]] == ["Acme Tools"]
    assert [r["name"] for r in client.get("/api/v1/items").json()["items"]] == ["Acme Services"]
    for path in (f"/api/v1/requests/{pr_b.pk}", f"/api/v1/orders/{pr_b.order_id}",
                 f"/api/v1/site-areas/{b['wholesale'].pk}", f"/api/v1/order-sources/{b['portal'].pk}"):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/api/v1/requests/{pr_a.pk}").status_code == 200
    # an unlimited viewer sees both
    everyone = api(make_user("walt", "viewer"))
    assert len(everyone.get("/api/v1/requests").json()["items"]) == 2


def test_api_writes_reach_only_the_users_companies():
    a, b, pr_a, pr_b = two_worlds()
    operator = api(limited("olga", "operator", a["company"]))
    before = (Order.objects.count(), PushRevision.objects.count(), AuditLog.objects.count())
    order = {"order_source": b["portal"].name, "external_id": "B-2", "number": "B-2",
             "lines": [{"sku": "X", "quantity": 1, "unit_price": "1.00"}]}
    r = operator.post("/api/v1/orders", data=json.dumps(order), content_type="application/json")
    assert (r.status_code, r.json()) == (422, {"detail": "no order source 'Globex portal'", "field": "order_source"})
    r = operator.post("/api/v1/orders/batch", data=json.dumps({"orders": [order]}), content_type="application/json")
    assert r.json()["refused"] == 1
    for path in (f"/api/v1/requests/{pr_b.pk}/requeue", f"/api/v1/requests/{pr_b.pk}/cancel",
                 f"/api/v1/requests/{pr_b.pk}/create-customer", f"/api/v1/orders/{pr_b.order_id}/run-rules"):
        r = operator.post(path, data="{}", content_type="application/json")
        assert r.status_code == 404, (path, r.content)
    r = operator.post("/api/v1/requests/requeue", data=json.dumps({"ids": [pr_b.pk]}), content_type="application/json")
    assert r.json() == {"requeued": []}
    assert (Order.objects.count(), PushRevision.objects.count(), AuditLog.objects.count()) == before
    pr_b.refresh_from_db()
    assert (pr_b.state, pr_b.revision) == ("failed", 1)
    # the bulk re-queue by filter takes only the user's company's requests
    r = operator.post("/api/v1/requests/requeue", data=json.dumps({"error_kind": "customer_ref_required"}),
                      content_type="application/json")
    assert r.json() == {"requeued": [pr_a.pk]}
    admin = api(limited("ada", "admin", a["company"]))
    r = admin.post("/api/v1/site-areas", data=json.dumps({"name": "New", "company": b["company"].pk}),
                   content_type="application/json")
    assert (r.status_code, r.json()["field"]) == (422, "company")
    r = admin.post("/api/v1/order-sources", data=json.dumps({"name": "New", "site_area": b["wholesale"].pk}),
                   content_type="application/json")
    assert (r.status_code, r.json()["field"]) == (422, "site_area")
    r = admin.patch(f"/api/v1/site-areas/{b['wholesale'].pk}", data=json.dumps({"name": "Mine"}),
                    content_type="application/json")
    assert r.status_code == 404
    assert SiteArea.objects.get(pk=b["wholesale"].pk).name == "Globex Wholesale"


# --- the admin area ----------------------------------------------------------------------------------


def web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pages_hold_only_the_users_companies():
    a, b, pr_a, pr_b = two_worlds()
    viewer = make_login_user("vera", "viewer")
    set_user_companies(viewer.pk, [a["company"].pk])
    client = web(viewer)
    for name in ("dashboard", "orders", "customers", "requests_completed", "requests_pending", "setup"):
        html = client.get(reverse(f"web:{name}")).content.decode()
        assert "Globex" not in html and "B-1" not in html, name
    failed = client.get(reverse("web:requests_completed") + "?outcome=failed").content.decode()
    assert "A-1" in failed
    for url in (reverse("web:request_detail", args=[pr_b.pk]), reverse("web:order_detail", args=[pr_b.order_id])):
        assert client.get(url).status_code == 404, url
    assert client.get(reverse("web:request_detail", args=[pr_a.pk])).status_code == 200
    picker = client.get(reverse("web:customer_search") + f"?company={b['company'].pk}&q=globex").json()
    assert picker == {"results": []}
    customers = client.get(reverse("web:customers") + f"?company={b['company'].pk}").content.decode()
    assert "Globex Buyer" not in customers and "Acme Tools" in customers
    # the dashboard counts only company A's failed request
    assert ui_failed_counts(type(viewer).objects.get(pk=viewer.pk)) == {"customer_ref_required": 1}
    admin = make_login_user("ada", "admin")
    set_user_companies(admin.pk, [a["company"].pk])
    admin_client = web(admin)
    assert "Globex" not in admin_client.get(reverse("web:connections")).content.decode()
    assert admin_client.post(reverse("web:connection_status", args=[b["company"].pk]),
                             {"status": "paused"}).status_code == 404
    assert Company.objects.get(pk=b["company"].pk).status == "active"
    for url in (reverse("web:site_area_edit", args=[b["wholesale"].pk]),
                reverse("web:order_source_edit", args=[b["portal"].pk])):
        assert admin_client.get(url).status_code == 404, url
    new_area = admin_client.get(reverse("web:site_area_new")).content.decode()
    assert "Globex" not in new_area and "Demo Company" in new_area


def ui_failed_counts(user) -> dict:
    data = dashboard_data(company_ids=visible_company_ids(user))
    return {row["error_kind"]: row["n"] for row in data["failed_by_kind"]}


def test_web_writes_reach_only_the_users_companies():
    a, b, pr_a, pr_b = two_worlds()
    operator = make_login_user("olga", "operator")
    set_user_companies(operator.pk, [a["company"].pk])
    client = web(operator)
    before = (PushRevision.objects.count(), AuditLog.objects.count())
    assert client.get(reverse("web:request_similar", args=[pr_b.pk])).status_code == 404
    for url in (reverse("web:request_requeue", args=[pr_b.pk]), reverse("web:request_cancel", args=[pr_b.pk]),
                reverse("web:request_edit", args=[pr_b.pk])):
        assert client.post(url, {"payload": "{}", "action": "save"}).status_code == 404, url
    assert (PushRevision.objects.count(), AuditLog.objects.count()) == before
    pr_b.refresh_from_db()
    assert pr_b.state == "failed"


def test_a_rule_preview_counts_only_the_users_companies_orders():
    a, _b, _pr_a, _pr_b = two_worlds()
    body = json.dumps({"conditions": {}, "actions": {"hold": True}})
    limited_op = api(limited("olga", "operator", a["company"]))
    everyone = api(make_user("otto", "operator"))
    for client, expected in ((limited_op, 1), (everyone, 2)):
        r = client.post("/api/v1/automation-rules/preview", data=body, content_type="application/json")
        assert r.json() == {"would_change": expected, "last_n": 1000}


def test_a_limited_admin_cannot_change_another_companys_limits():
    a, b, _pr_a, _pr_b = two_worlds()
    admin = api(limited("ada", "admin", a["company"]))
    before = Company.objects.get(pk=b["company"].pk).max_in_flight
    r = admin.patch(f"/api/v1/companies/{b['company'].pk}/limits", data=json.dumps({"max_in_flight": 1}),
                    content_type="application/json")
    assert r.status_code == 404
    assert Company.objects.get(pk=b["company"].pk).max_in_flight == before
    r = admin.patch(f"/api/v1/companies/{a['company'].pk}/limits", data=json.dumps({"max_in_flight": 1}),
                    content_type="application/json")
    assert (r.status_code, Company.objects.get(pk=a["company"].pk).max_in_flight) == (200, 1)
