"""Access per company (issue 18): an admin limits a user (web session and API tokens) to some
companies; lists, pages, API answers and digests then hold only those."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from ledgerlink.core.models import AuditLog, Company, UserProfile
from ledgerlink.core.roles import visible_company_ids
from ledgerlink.domain.accounts.tokens import create_api_token
from ledgerlink.domain.accounts.users import set_user_companies
from ledgerlink.domain.errors import ServiceError
from tests.ledgerlink.factories import make_login_user, make_user

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
