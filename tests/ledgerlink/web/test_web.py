"""The QBO admin area: access control on every URL, CSRF, escaping, Edit for Re-Queue, fixes."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, get_resolver, reverse

from ledgerlink.core.models import (
    ApiToken,
    Attempt,
    AuditLog,
    AutomationRule,
    Company,
    OrderSource,
    PushRequest,
    PushRevision,
    SiteArea,
    StoreDelivery,
)
from tests.ledgerlink.factories import (
    PASSWORD,
    QBO_HTML_MESSAGE,
    invoice_payload,
    make_failed_request,
    make_login_user,
    make_web_world,
)

pytestmark = pytest.mark.django_db

SCRIPT = '<script>alert("owned")</script>'


@pytest.fixture
def world():
    return make_web_world()


@pytest.fixture
def users():
    return {role: make_login_user(role, role) for role in ("viewer", "operator", "admin")}


def login(client, user):
    client.force_login(user)
    return client


def web_patterns():
    """Every named URL pattern of the web app, as (name, callback)."""
    resolver = get_resolver()
    out = []
    for top in resolver.url_patterns:
        if getattr(top, "namespace", None) == "web":
            for p in top.url_patterns:
                assert isinstance(p, URLPattern)
                out.append((p.name, p.callback, p.pattern))
    return out


def url_for(name, pattern, ids):
    if "<int:pk>" in str(pattern):
        return reverse(f"web:{name}", kwargs={"pk": ids[name]})
    return reverse(f"web:{name}")


@pytest.fixture
def ids(world, users):
    pr = make_failed_request(world)
    rule = AutomationRule.objects.create(name="r", conditions={}, actions={"hold": True})
    token = ApiToken.objects.create(user=users["admin"], prefix="ll_abc", token_hash="0" * 64)
    delivery = StoreDelivery.objects.create(order_source=world["portal"], topic="orders/unknown", body=b"{}",
                                            outcome="failed", reason="unknown topic")
    return {
        "delivery_reprocess": delivery.pk,
        "order_detail": pr.order_id,
        "order_cancel": pr.order_id,
        "request_detail": pr.pk,
        "request_edit": pr.pk,
        "request_requeue": pr.pk,
        "request_cancel": pr.pk,
        "request_create_customer": pr.pk,
        "request_similar": pr.pk,
        "request_make_rule": pr.pk,
        "rule_edit": rule.pk,
        "site_area_edit": world["wholesale"].pk,
        "order_source_edit": world["portal"].pk,
        "connection_refresh": world["company"].pk,
        "connection_status": world["company"].pk,
        "tax_mapping": world["company"].pk,
        "connection_disconnect": world["company"].pk,
        "connection_limits": world["company"].pk,
        "user_update": users["operator"].pk,
        "token_new": users["operator"].pk,
        "token_revoke": token.pk,
    }


PUBLIC = {"healthz", "login", "logout"}


def snapshot():
    """Everything a POST could change (the audit log included)."""
    return {
        "revisions": list(PushRevision.objects.order_by("id").values_list("id", "number", "payload")),
        "requests": list(PushRequest.objects.order_by("id").values_list("id", "state", "revision", "error_kind")),
        "rules": list(AutomationRule.objects.order_by("id").values_list("id", "name", "conditions", "actions")),
        "areas": list(SiteArea.objects.order_by("id").values_list("id", "name", "push_method")),
        "sources": list(OrderSource.objects.order_by("id").values_list("id", "name", "site_area_id")),
        "companies": list(Company.objects.order_by("id").values_list("id", "status", "max_in_flight", "batch_size")),
        "users": list(get_user_model().objects.order_by("id").values_list("id", "is_active", "profile__role")),
        "tokens": list(ApiToken.objects.order_by("id").values_list("id", "revoked_at")),
        "audit": AuditLog.objects.count(),
    }


def test_every_view_is_role_checked():
    for name, callback, _ in web_patterns():
        if name in PUBLIC:
            continue
        assert hasattr(callback, "ll_read_role"), f"{name} is not wrapped in role_required"


def test_every_url_anonymous_is_sent_to_login(client, ids):
    before = snapshot()
    for name, _, pattern in web_patterns():
        if name in PUBLIC:
            continue
        url = url_for(name, pattern, ids)
        for method in ("get", "post"):
            resp = getattr(client, method)(url)
            assert resp.status_code == 302, (name, method, resp.status_code)
            assert resp["Location"].startswith("/login/?next="), (name, resp["Location"])
    assert snapshot() == before


def test_every_url_as_viewer_reads_but_changes_nothing(client, ids, users):
    login(client, users["viewer"])
    before = snapshot()
    for name, callback, pattern in web_patterns():
        if name in PUBLIC:
            continue
        url = url_for(name, pattern, ids)
        read, write = callback.ll_read_role, callback.ll_write_role
        resp = client.get(url)
        if read is None:
            assert resp.status_code == 405, (name, resp.status_code)
        elif read == "viewer":
            assert resp.status_code == 200, (name, resp.status_code)
        else:
            assert resp.status_code == 403, (name, resp.status_code)
        resp = client.post(url, {"payload": "{}", "action": "save", "status": "paused", "role": "admin", "name": "x"})
        expected = 405 if write is None else 403
        assert resp.status_code == expected, (name, resp.status_code)
    assert snapshot() == before


def test_viewer_sees_no_requeue_control(client, world, users):
    pr = make_failed_request(world)
    login(client, users["viewer"])
    html = client.get(reverse("web:request_detail", args=[pr.pk])).content.decode()
    assert reverse("web:request_edit", args=[pr.pk]) not in html
    assert reverse("web:request_requeue", args=[pr.pk]) not in html
    assert "<form" not in html.split("<main", 1)[1]
    assert 'name="payload"' not in html
    assert "CustomerRef is required" in html
    operator_html = login(Client(), users["operator"]).get(reverse("web:request_detail", args=[pr.pk])).content.decode()
    assert '<button type="submit" name="action" value="save" class="primary">Save &amp; Re-Queue</button>' in operator_html
    assert reverse("web:request_requeue", args=[pr.pk]) in operator_html


def test_csrf_is_enforced_on_posts(world, users):
    pr = make_failed_request(world)
    client = login(Client(enforce_csrf_checks=True), users["operator"])
    url = reverse("web:request_requeue", args=[pr.pk])
    resp = client.post(url)
    assert resp.status_code == 403
    pr.refresh_from_db()
    assert (pr.state, pr.revision) == ("failed", 1)
    edit = client.post(reverse("web:request_edit", args=[pr.pk]), {"payload": "{}", "action": "save"})
    assert edit.status_code == 403
    assert PushRevision.objects.filter(push_request=pr).count() == 1
    # With the token from the page the same POST goes through.
    client.get(reverse("web:request_detail", args=[pr.pk]))
    token = client.cookies["csrftoken"].value
    resp = client.post(url, {"csrfmiddlewaretoken": token})
    assert resp.status_code == 302
    pr.refresh_from_db()
    assert pr.revision == 2


def test_third_party_text_is_escaped(client, world, users):
    pr = make_failed_request(world, customer_name=SCRIPT, message=QBO_HTML_MESSAGE, detail=SCRIPT, kind="validation",
                             title="QuickBooks rejected the document")
    login(client, users["operator"])
    pages = [
        reverse("web:requests_completed"),
        reverse("web:requests_completed_rows"),
        reverse("web:request_detail", args=[pr.pk]),
        reverse("web:orders"),
        reverse("web:order_detail", args=[pr.order_id]),
    ]
    for url in pages:
        html = client.get(url).content.decode()
        assert "<script>alert" not in html, url
        assert "<b>bold</b>" not in html, url
        assert '<img src=x' not in html, url
    detail = client.get(reverse("web:request_detail", args=[pr.pk])).content.decode()
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in detail
    assert "Business Validation Error: &lt;b&gt;bold&lt;/b&gt; &lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in detail
    listing = client.get(reverse("web:requests_completed")).content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt;" in listing


def test_no_template_marks_text_safe():
    from pathlib import Path

    import ledgerlink.web

    root = Path(ledgerlink.web.__file__).parent
    for path in list(root.rglob("*.html")) + list(root.rglob("*.py")):
        text = path.read_text()
        assert "|safe" not in text and "mark_safe(" not in text and "autoescape off" not in text, path


def test_completed_list_shows_title_message_and_fix(client, world, users):
    make_failed_request(world)
    login(client, users["viewer"])
    html = client.get(reverse("web:requests_completed")).content.decode()
    assert "CustomerRef is required" in html
    assert "Required param missing, need to supply the required value for the API" in html
    assert "Add the new Customer in your QuickBooks Online account" in html
    assert 'hx-get="/requests/completed/rows?' in html


def test_list_filters(client, world, users):
    a = make_failed_request(world, number="A1", email="a@x.example")
    b = make_failed_request(world, number="B1", email="bad@@x", kind="invalid_email", title="Invalid Email Address format",
                            source=world["shop"])
    login(client, users["viewer"])
    url = reverse("web:requests_completed")

    def ids_in(html):
        return {int(x) for x in re.findall(r'data-id="(\d+)"', html)}

    assert ids_in(client.get(url).content.decode()) == {a.pk, b.pk}
    assert ids_in(client.get(url, {"error_kind": "invalid_email"}).content.decode()) == {b.pk}
    assert ids_in(client.get(url, {"order_source": world["portal"].pk}).content.decode()) == {a.pk}
    assert ids_in(client.get(url, {"site_area": world["retail"].pk}).content.decode()) == {b.pk}
    assert ids_in(client.get(url, {"outcome": "succeeded"}).content.decode()) == set()
    assert ids_in(client.get(url, {"after": b.pk}).content.decode()) == {a.pk}
    assert ids_in(client.get(reverse("web:requests_pending")).content.decode()) == set()


# ---------------------------------------------------------------- Edit for Re-Queue


def test_save_and_requeue_makes_a_new_revision(client, world, users):
    pr = make_failed_request(world)
    original = PushRevision.objects.get(push_request=pr, number=1).payload
    login(client, users["operator"])
    edited = dict(original)
    edited["BillEmail"] = {"Address": "name2@example.com"}
    resp = client.post(
        reverse("web:request_edit", args=[pr.pk]),
        {
            "payload": json.dumps(edited, indent=2),
            "customer_value": "56",
            "customer_name": "Acme Tools",
            "note": "customer set up in QBO",
            "action": "save",
        },
    )
    assert resp.status_code == 302
    pr.refresh_from_db()
    assert pr.state == "queued"
    assert pr.revision == 2
    revs = {r.number: r for r in PushRevision.objects.filter(push_request=pr)}
    assert revs[1].payload == original  # nothing overwritten
    assert revs[2].payload["BillEmail"] == {"Address": "name2@example.com"}
    assert revs[2].payload["CustomerRef"] == {"value": "56", "name": "Acme Tools"}
    assert revs[2].payload["TotalAmt"] == "69.60"
    assert revs[2].author == users["operator"]
    assert revs[2].note == "customer set up in QBO"
    page = client.get(reverse("web:request_detail", args=[pr.pk])).content.decode()
    assert "Diff against revision 1" in page
    assert '<span class="d-add">+  &quot;CustomerRef&quot;: {</span>' in page


def test_json_syntax_error_shows_line_and_column_and_saves_nothing(client, world, users):
    pr = make_failed_request(world)
    before = snapshot()
    login(client, users["operator"])
    bad = '{\n  "TotalAmt": "69.60",\n  "BillEmail" {"Address": "x@example.com"}\n}'
    resp = client.post(reverse("web:request_edit", args=[pr.pk]), {"payload": bad, "action": "save"})
    assert resp.status_code == 422
    html = resp.content.decode()
    assert "Line 3, column 15: Expecting &#x27;:&#x27; delimiter" in html
    assert 'data-error-line="3" data-error-col="15"' in html
    # The textarea keeps what the person typed, so nothing is lost.
    assert "&quot;BillEmail&quot; {&quot;Address&quot;" in html
    assert snapshot() == before


def test_service_refusal_is_shown_and_nothing_saved(client, world, users):
    pr = make_failed_request(world)
    before = snapshot()
    login(client, users["operator"])
    resp = client.post(
        reverse("web:request_edit", args=[pr.pk]),
        {"payload": json.dumps({"Invoice": invoice_payload()}), "action": "save"},
    )
    assert resp.status_code == 422
    assert "payload.Invoice" in resp.content.decode()
    assert snapshot() == before


def test_preview_shows_diff_without_saving(client, world, users):
    pr = make_failed_request(world)
    before = snapshot()
    login(client, users["operator"])
    resp = client.post(
        reverse("web:request_edit", args=[pr.pk]),
        {"payload": json.dumps(invoice_payload("buyer@newco.example")), "bill_email": "name2@example.com",
         "action": "preview"},
    )
    assert resp.status_code == 200
    html = resp.content.decode()
    assert '<span class="d-del">-    &quot;Address&quot;: &quot;buyer@newco.example&quot;</span>' in html
    assert '<span class="d-add">+    &quot;Address&quot;: &quot;name2@example.com&quot;</span>' in html
    assert snapshot() == before


def test_requeue_unchanged_keeps_payload(client, world, users):
    pr = make_failed_request(
        world, kind="connection_003202", title="message=BadRequest; errorCode=003202; statusCode=400",
        payload=invoice_payload("name2@example.com", customer={"value": "56", "name": "Acme Tools"}),
    )
    login(client, users["operator"])
    resp = client.post(reverse("web:request_requeue", args=[pr.pk]))
    assert resp.status_code == 302
    pr.refresh_from_db()
    assert pr.state == "queued"
    revs = list(PushRevision.objects.filter(push_request=pr).order_by("number"))
    assert [r.number for r in revs] == [1, 2]
    assert revs[1].payload == revs[0].payload


def test_customer_picker_searches_the_mirror(client, world, users):
    login(client, users["viewer"])
    url = reverse("web:customer_search")
    by_email = client.get(url, {"company": world["company"].pk, "q": "NAME2@"}).json()
    assert by_email == {"results": [{"value": "56", "name": "Acme Tools", "email": "name2@example.com", "active": True}]}
    by_name = client.get(url, {"company": world["company"].pk, "q": "acme"}).json()
    assert [r["value"] for r in by_name["results"]] == ["56"]
    assert client.get(url, {"company": world["company"].pk, "q": "zzz"}).json() == {"results": []}


# ---------------------------------------------------------------- one-click fixes


def test_apply_fix_to_all_similar_failed_requests(client, world, users):
    first = make_failed_request(world, number="W-1")
    second = make_failed_request(world, number="W-2")
    third = make_failed_request(world, number="W-3")
    other = make_failed_request(world, number="W-4", email="someone@else.example")
    login(client, users["operator"])
    client.post(
        reverse("web:request_edit", args=[first.pk]),
        {"payload": json.dumps(invoice_payload("buyer@newco.example")), "bill_email": "name2@example.com",
         "customer_value": "56", "customer_name": "Acme Tools", "action": "save"},
    )
    page = client.get(reverse("web:request_detail", args=[first.pk])).content.decode()
    assert "Apply this fix to all 2 similar failed requests (same email)" in page
    confirm = client.get(reverse("web:request_similar", args=[first.pk]), {"by": "email"}).content.decode()
    assert f'value="{second.pk}"' in confirm and f'value="{third.pk}"' in confirm
    assert f'value="{other.pk}"' not in confirm
    resp = client.post(
        reverse("web:request_similar", args=[first.pk]), {"by": "email", "ids": [second.pk, third.pk, other.pk]}
    )
    assert resp.status_code == 302
    for pr in (second, third):
        pr.refresh_from_db()
        assert (pr.state, pr.revision) == ("queued", 2)
        payload = PushRevision.objects.get(push_request=pr, number=2).payload
        assert payload["CustomerRef"] == {"value": "56", "name": "Acme Tools"}
        assert payload["BillEmail"] == {"Address": "name2@example.com"}
    other.refresh_from_db()
    assert (other.state, other.revision) == ("failed", 1)


def test_make_this_a_rule(client, world, users):
    pr = make_failed_request(world, payload=invoice_payload("orders@portal.example"))
    login(client, users["admin"])
    resp = client.post(reverse("web:request_make_rule", args=[pr.pk]), {"email": "orders@portal.example"})
    # Proposed in the rule editor with its preview (tests/ledgerlink/web/test_use_fixes.py), not saved.
    assert resp.status_code == 200 and AutomationRule.objects.count() == 0
    assert 'name="set_email" value="orders@portal.example"' in resp.content.decode()
    # An operator may fix requests but not write rules.
    assert login(Client(), users["operator"]).post(reverse("web:request_make_rule", args=[pr.pk])).status_code == 403


def test_rule_editor_preview_and_save(client, world, users):
    make_failed_request(world, number="P-1", email="")
    make_failed_request(world, number="P-2", email="x@y.example")
    make_failed_request(world, number="S-1", email="", source=world["shop"])
    login(client, users["admin"])
    form = {"name": "Portal email", "order_source": world["portal"].pk, "set_email": "orders@portal.example",
            "enabled": "on"}
    resp = client.post(reverse("web:rule_new"), {**form, "action": "preview"})
    assert "This rule would change <strong>2</strong> of the last 1,000 orders." in resp.content.decode()
    assert AutomationRule.objects.count() == 0
    resp = client.post(reverse("web:rule_new"), {**form, "action": "save"})
    rule = AutomationRule.objects.get()
    assert resp.status_code == 302
    assert (rule.name, rule.conditions, rule.actions) == (
        "Portal email", {"order_source": world["portal"].pk}, {"set_email": "orders@portal.example"})


# ---------------------------------------------------------------- login


def test_login_is_audited_and_throttled(world):
    user = make_login_user("olga", "operator")
    client = Client()
    assert client.post(reverse("web:login"), {"username": "olga", "password": PASSWORD}).status_code == 302
    assert AuditLog.objects.filter(action="auth.login", actor=user).count() == 1
    client = Client()
    statuses = [client.post(reverse("web:login"), {"username": "olga", "password": "wrong"}).status_code
                for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]  # the fifth failure locks (olga, this address) out
    assert AuditLog.objects.filter(action="auth.login_failed", data__username="olga").count() == 5
    resp = client.post(reverse("web:login"), {"username": "olga", "password": PASSWORD})
    assert resp.status_code == 429
    assert "Too many failed sign-ins" in resp.content.decode()
    assert "_auth_user_id" not in client.session
    # Another user from the same address is not blocked.
    make_login_user("pat", "viewer")
    assert client.post(reverse("web:login"), {"username": "pat", "password": PASSWORD}).status_code == 302


def test_pages_render_for_admin(client, world, users):
    make_failed_request(world)
    login(client, users["admin"])
    for name in ("dashboard", "orders", "customers", "requests_pending", "requests_completed", "rules", "rule_new",
                 "setup", "site_area_new", "order_source_new", "connections", "users", "user_new"):
        resp = client.get(reverse(f"web:{name}"))
        assert resp.status_code == 200, name
    dash = client.get(reverse("web:dashboard")).content.decode()
    assert "<svg" in dash and "Oldest pending request" in dash


def test_admin_creates_and_revokes_an_api_token(client, world, users):
    from ledgerlink.domain.accounts.tokens import authenticate_token

    login(client, users["admin"])
    resp = client.post(reverse("web:token_new", args=[users["operator"].pk]), {"name": "erp"})
    assert resp.status_code == 302
    page = client.get(reverse("web:users")).content.decode()
    raw = re.search(r'id="new-token" readonly value="([^"]+)"', page).group(1)
    assert authenticate_token(raw) == users["operator"]
    # Shown once only.
    assert 'id="new-token"' not in client.get(reverse("web:users")).content.decode()
    token = ApiToken.objects.get(user=users["operator"])
    client.post(reverse("web:token_revoke", args=[token.pk]))
    assert authenticate_token(raw) is None
    assert list(AuditLog.objects.filter(object_type="apitoken").values_list("action", flat=True).order_by("id")) == [
        "api_token.create", "api_token.revoke"]


def test_admin_manages_users_and_roles(client, users):
    login(client, users["admin"])
    resp = client.post(reverse("web:user_new"), {"username": "newbie", "email": "", "password": "a-long-passphrase-77",
                                                 "role": "operator"})
    assert resp.status_code == 302
    newbie = get_user_model().objects.get(username="newbie")
    assert newbie.profile.role == "operator" and newbie.check_password("a-long-passphrase-77")
    client.post(reverse("web:user_update", args=[newbie.pk]), {"action": "role", "role": "viewer"})
    newbie.profile.refresh_from_db()
    assert newbie.profile.role == "viewer"
    client.post(reverse("web:user_update", args=[newbie.pk]), {"action": "deactivate"})
    newbie.refresh_from_db()
    assert newbie.is_active is False
    # An admin cannot demote themself.
    client.post(reverse("web:user_update", args=[users["admin"].pk]), {"action": "role", "role": "viewer"})
    users["admin"].profile.refresh_from_db()
    assert users["admin"].profile.role == "admin"


def test_create_customer_button_only_on_customer_ref_required(client, world, users):
    needs = make_failed_request(world, number="C-1")
    other = make_failed_request(world, number="C-2", kind="invalid_email", title="Invalid Email Address format")
    login(client, users["operator"])
    label = "Create customer in QuickBooks and re-queue"
    assert label in client.get(reverse("web:request_detail", args=[needs.pk])).content.decode()
    assert label not in client.get(reverse("web:request_detail", args=[other.pk])).content.decode()
    assert label not in login(Client(), users["viewer"]).get(
        reverse("web:request_detail", args=[needs.pk])).content.decode()


def test_dashboard_numbers(client, world, users):
    from datetime import timedelta

    from django.utils import timezone

    from ledgerlink.web.presentation import dashboard_data

    now = timezone.now()
    d1 = make_failed_request(world, number="D-1")
    d2 = make_failed_request(world, number="D-2", kind="invalid_email", title="Invalid Email Address format")
    make_failed_request(world, number="D-3", state=PushRequest.State.SUCCEEDED)
    old = make_failed_request(world, number="D-4", state=PushRequest.State.QUEUED)
    PushRequest.objects.filter(pk=old.pk).update(created_at=now - timedelta(minutes=90))
    make_failed_request(world, number="D-5", state=PushRequest.State.RETRYING)
    Attempt.objects.filter(push_request=d1).update(started_at=now - timedelta(hours=2))
    Attempt.objects.filter(push_request=d2).update(started_at=now)
    Attempt.objects.create(push_request=d2, company=world["company"], revision=1, requestid="x", started_at=now,
                           outcome="succeeded")
    data = dashboard_data(now=now)
    assert data["oldest"].pk == old.pk
    assert data["oldest_age"] == timedelta(minutes=90)
    assert data["pending_by_state"] == {"queued": 1, "retrying": 1}
    assert data["hourly_chart"]["total"] == 3
    assert sorted((b["title"]) for b in data["hourly_chart"]["bars"]) == sorted([
        f"{(now - timedelta(hours=2)).strftime('%Y-%m-%d %H')}:00 UTC: failed 1",
        f"{now.strftime('%Y-%m-%d %H')}:00 UTC: failed 1",
        f"{now.strftime('%Y-%m-%d %H')}:00 UTC: succeeded 1",
    ])
    assert [s["name"] for s in data["kind_chart"]["legend"]] == ["customer_ref_required", "invalid_email"]
    assert data["kind_chart"]["total"] == 2
    assert {(r["error_kind"], r["n"]) for r in data["failed_by_kind"]} == {
        ("customer_ref_required", 1), ("invalid_email", 1)}
    login(client, users["viewer"])
    html = client.get(reverse("web:dashboard")).content.decode()
    assert f'<a href="/requests/{old.pk}/">#{old.pk}</a> waiting 1h 30m' in html


def test_admin_edits_site_areas_and_order_sources(client, world, users):
    login(client, users["admin"])
    resp = client.post(reverse("web:site_area_new"), {
        "name": "Marketplace", "company": world["company"].pk, "push_method": "sales_receipt",
        "customer_policy": "match", "item_policy": "default", "default_item": "1"})
    assert resp.status_code == 302
    area = SiteArea.objects.get(name="Marketplace")
    resp = client.post(reverse("web:order_source_new"), {"name": "Etsy", "site_area": area.pk})
    assert resp.status_code == 302
    assert OrderSource.objects.get(name="Etsy").site_area == area
    resp = client.post(reverse("web:site_area_edit", args=[area.pk]), {
        "name": "Marketplace", "company": world["company"].pk, "push_method": "invoice",
        "customer_policy": "match", "item_policy": "default", "default_item": "1"})
    area.refresh_from_db()
    assert area.push_method == "invoice"
    assert list(AuditLog.objects.filter(object_type__in=["sitearea", "ordersource"]).order_by("id").values_list(
        "action", flat=True)) == ["site_area.create", "order_source.create", "site_area.update"]
    bad = client.post(reverse("web:order_source_new"), {"name": "", "site_area": area.pk})
    assert bad.status_code == 422 and "This field is required." in bad.content.decode()


def test_site_area_and_order_source_forms_save_through_the_routing_services(client, world, users):
    """The Set-up forms write what the API writes (``domain.routing``): the same audit rows."""
    login(client, users["admin"])
    client.post(reverse("web:site_area_new"), {
        "name": "Marketplace", "company": world["company"].pk, "push_method": "sales_receipt",
        "customer_policy": "match", "item_policy": "default", "default_item": "1"})
    area = SiteArea.objects.get(name="Marketplace")
    client.post(reverse("web:order_source_new"), {"name": "Etsy", "site_area": area.pk})
    client.post(reverse("web:order_source_edit", args=[OrderSource.objects.get(name="Etsy").pk]),
                {"name": "Etsy EU", "site_area": world["wholesale"].pk})
    rows = {r.action: r for r in AuditLog.objects.filter(object_type__in=["sitearea", "ordersource"])}
    assert rows["site_area.create"].data == {
        "name": "Marketplace", "company": world["company"].pk, "push_method": "sales_receipt",
        "customer_policy": "match", "item_policy": "default", "default_item": "1", "shipping_item": "",
        "discount_item": "", "default_customer": "", "income_account": "", "deposit_account": "",
        "refund_account": ""}
    secretless = {"kind": "api", "store_money": "shop", "has_webhook_secret": False, "previous_secret_until": None}
    assert rows["order_source.create"].data == {"name": "Etsy", "site_area": area.pk, **secretless}
    assert rows["order_source.update"].data == {
        "before": {"name": "Etsy", "site_area": area.pk, **secretless},
        "after": {"name": "Etsy EU", "site_area": world["wholesale"].pk, **secretless}, "secret_changed": False}
    assert rows["site_area.create"].actor_label == "admin"


def test_admin_pauses_and_resumes_a_connection(client, world, users):
    login(client, users["admin"])
    company = world["company"]
    client.post(reverse("web:connection_status", args=[company.pk]), {"status": "paused"})
    company.refresh_from_db()
    assert company.status == "paused"
    assert "Resume sending" in client.get(reverse("web:connections")).content.decode()
    client.post(reverse("web:connection_status", args=[company.pk]), {"status": "active"})
    company.refresh_from_db()
    assert company.status == "active"
    assert login(Client(), users["operator"]).post(
        reverse("web:connection_status", args=[company.pk]), {"status": "paused"}).status_code == 403


def test_sync_now_mirrors_customers_from_qbo(client, users, company, qbo, run_worker_until_idle):
    qbo.create_customer(company.realm_id, "Zed & <Co>", "zed@co.example")
    login(client, users["operator"])
    resp = client.post(reverse("web:customers"), {"company": company.pk})
    assert resp.status_code == 302
    run_worker_until_idle(timeout=30)  # "Sync now" is queued for the worker (test_use_fixes.py)
    page = client.get(reverse("web:customers"), {"company": company.pk, "q": "zed@"}).content.decode()
    assert "Zed &amp; &lt;Co&gt;" in page and "zed@co.example" in page
    assert "last sync:" in page and "never" not in page.split("last sync:")[1][:80]


def test_completed_date_filter(client, world, users):
    from datetime import timedelta

    from django.utils import timezone

    today = make_failed_request(world, number="T-1")
    earlier = make_failed_request(world, number="T-2")
    PushRequest.objects.filter(pk=earlier.pk).update(completed_at=timezone.now() - timedelta(days=3))
    login(client, users["viewer"])
    html = client.get(reverse("web:requests_completed"), {"date": timezone.now().date().isoformat()}).content.decode()
    assert f'data-id="{today.pk}"' in html and f'data-id="{earlier.pk}"' not in html
