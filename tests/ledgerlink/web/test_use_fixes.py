"""Issue 18, "Correctness and use": what a person sees and does in the admin area."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from ledgerlink.core.models import (
    Attempt,
    AutomationRule,
    Company,
    Customer,
    PushRequest,
    PushRevision,
    SyncRequest,
    SyncState,
)
from ledgerlink.domain.outbox.actions import requeue_request
from ledgerlink.ops.digests import send_digests
from ledgerlink.quickbooks.errors import ERROR_KINDS
from ledgerlink.web.presentation import KIND_COLOURS, dashboard_data
from tests.ledgerlink.factories import (
    invoice_payload,
    make_attempt,
    make_failed_request,
    make_login_user,
    make_web_world,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return make_web_world()


@pytest.fixture
def users():
    return {role: make_login_user(role, role) for role in ("viewer", "operator", "admin")}


# ---------------------------------------------------------------- caught before sending


def test_preflight_errors_are_labelled_caught_before_sending(client, world, users):
    sent = make_failed_request(world, number="W-1")  # QBO answered it (one attempt of revision 1)
    caught = make_failed_request(world, number="W-2")
    requeue_request(caught.pk, payload=invoice_payload("not an email"), note="typo", actor=None,
                    actor_label="test")
    caught.refresh_from_db()
    assert (caught.state, caught.error_kind, caught.attempt_count) == ("failed", "invalid_email", 0)
    client.force_login(users["viewer"])

    detail = client.get(reverse("web:request_detail", args=[caught.pk])).content.decode()
    assert "<dt>Caught before sending</dt>" in detail
    assert "QuickBooks said" not in detail
    detail = client.get(reverse("web:request_detail", args=[sent.pk])).content.decode()
    assert "<dt>QuickBooks said</dt>" in detail
    assert "Caught before sending</dt>" not in detail

    rows = client.get(reverse("web:requests_completed")).content.decode()
    row_of = {pk: rows.split(f'data-id="{pk}"', 1)[1].split("</tr>", 1)[0] for pk in (sent.pk, caught.pk)}
    assert "Caught before sending:" in row_of[caught.pk] and "QuickBooks said" not in row_of[caught.pk]
    assert "QuickBooks said:" in row_of[sent.pk] and "Caught before sending" not in row_of[sent.pk]
    assert PushRequest.objects.get(pk=sent.pk).state == "failed"


# ---------------------------------------------------------------- bulk fix of similar requests


def test_bulk_fix_of_similar_requests_keeps_the_persons_note(client, world, users):
    first = make_failed_request(world, number="W-1")
    second = make_failed_request(world, number="W-2")
    third = make_failed_request(world, number="W-3")
    client.force_login(users["operator"])
    client.post(
        reverse("web:request_edit", args=[first.pk]),
        {"payload": json.dumps(invoice_payload("buyer@newco.example")), "bill_email": "name2@example.com",
         "customer_value": "56", "customer_name": "Acme Tools", "note": "New Co buys as Acme Tools",
         "action": "save"},
    )
    page = client.get(reverse("web:request_similar", args=[first.pk]), {"by": "email"}).content.decode()
    assert 'name="note" id="bulk-note" value="New Co buys as Acme Tools"' in page
    resp = client.post(reverse("web:request_similar", args=[first.pk]), {"by": "email", "ids": [second.pk]})
    assert resp.status_code == 302
    rev = PushRevision.objects.get(push_request=second, number=2)
    assert (rev.note, rev.author_label) == ("New Co buys as Acme Tools", "operator")
    # A note typed on the confirmation page wins.
    client.post(reverse("web:request_similar", args=[first.pk]),
                {"by": "email", "ids": [third.pk], "note": "batch of 3 Dec"})
    assert PushRevision.objects.get(push_request=third, number=2).note == "batch of 3 Dec"
    assert not PushRevision.objects.filter(note="edited").exists()


# ---------------------------------------------------------------- dashboard colours


def test_every_error_kind_has_its_own_colour_in_the_failures_chart(world):
    now = timezone.now()
    pr = make_failed_request(world)
    kinds = sorted(ERROR_KINDS) + ["retired_kind", "another_retired_kind"]
    for kind in kinds:
        make_attempt(pr, Attempt.Outcome.FAILED, http_status=400, started_at=now, error_kind=kind)
    chart = dashboard_data(now=now)["kind_chart"]
    colours = {row["name"]: row["colour"] for row in chart["legend"]}
    assert set(colours) == set(kinds) | {"customer_ref_required"}
    assert len(set(colours.values())) == len(colours)  # no two kinds share a colour
    assert colours["customer_ref_required"] == "#1565c0" and colours["invalid_email"] == "#c62828"
    # Each bar has its kind's legend colour.
    for bar in chart["bars"]:
        assert bar["colour"] == colours[bar["title"].split(": ", 1)[1].rsplit(" ", 1)[0]]
    # A new kind gets its own fixed colour too.
    assert set(KIND_COLOURS) == set(ERROR_KINDS)


# ---------------------------------------------------------------- "Make this a rule"


def _fix_email(client, pr, email):
    """The operator's fix: BillEmail (and Acme's CustomerRef) through Edit for Re-Queue."""
    client.post(
        reverse("web:request_edit", args=[pr.pk]),
        {"payload": json.dumps(PushRevision.objects.get(push_request=pr, number=1).payload), "bill_email": email,
         "customer_value": "56", "customer_name": "Acme Tools", "action": "save"},
    )


def test_make_this_a_rule_proposes_the_condition_of_the_failure_and_previews_before_saving(client, world, users):
    pr = make_failed_request(world, number="W-1", email="buyer@newco.example")  # no customer has it
    make_failed_request(world, number="W-2", email="name2@example.com", state=PushRequest.State.SUCCEEDED)
    make_failed_request(world, number="W-3", email="", state=PushRequest.State.SUCCEEDED)
    client.force_login(users["admin"])
    _fix_email(client, pr, "orders@newco.example")
    page = client.get(reverse("web:request_detail", args=[pr.pk])).content.decode()
    assert ("Order Automation: set email orders@newco.example when an order from Wholesale portal has an email "
            "no QuickBooks customer has") in page
    resp = client.post(reverse("web:request_make_rule", args=[pr.pk]), {"email": "orders@newco.example"})
    html = resp.content.decode()
    assert resp.status_code == 200
    assert AutomationRule.objects.count() == 0  # proposed, not saved
    # Only W-1 would change: W-2's email is Acme Tools', W-3 has none (another failure, another rule).
    assert "This rule would change <strong>1</strong> of the last 1,000 orders." in html
    assert f'action="{reverse("web:rule_new")}"' in html
    assert '<option value="unmatched" selected>' in html
    assert f'<option value="{world["portal"].pk}" selected>' in html
    assert 'name="set_email" value="orders@newco.example"' in html
    save = client.post(reverse("web:rule_new"), {
        "name": "Set email orders@newco.example when an order from Wholesale portal has an email no QuickBooks "
                "customer has", "order_source": world["portal"].pk, "email": "unmatched",
        "set_email": "orders@newco.example", "enabled": "on", "action": "save"})
    assert save.status_code == 302
    rule = AutomationRule.objects.get()
    assert (rule.conditions, rule.actions) == (
        {"order_source": world["portal"].pk, "email": "unmatched"}, {"set_email": "orders@newco.example"})


def test_make_this_a_rule_for_a_missing_or_invalid_email(client, world, users):
    client.force_login(users["admin"])
    missing = make_failed_request(world, number="M-1", email="", payload=invoice_payload(""))
    _fix_email(client, missing, "orders@newco.example")
    html = client.post(reverse("web:request_make_rule", args=[missing.pk])).content.decode()
    assert '<option value="missing" selected>' in html
    invalid = make_failed_request(world, number="I-1", email="bad@@x.example", kind="invalid_email",
                                  title="Invalid Email Address format", payload=invoice_payload("bad@@x.example"))
    _fix_email(client, invalid, "orders@newco.example")
    html = client.post(reverse("web:request_make_rule", args=[invalid.pk])).content.decode()
    assert '<option value="invalid" selected>' in html
    assert AutomationRule.objects.count() == 0


def test_make_this_a_rule_is_never_proposed_with_an_invalid_email(client, world, users):
    pr = make_failed_request(world, number="I-2", email="bad@@x.example", kind="invalid_email",
                             title="Invalid Email Address format", payload=invoice_payload("bad@@x.example"))
    client.force_login(users["admin"])
    page = client.get(reverse("web:request_detail", args=[pr.pk])).content.decode()
    assert "Make this a rule" not in page  # no fix yet: the only email is the invalid one
    resp = client.post(reverse("web:request_make_rule", args=[pr.pk]), {"email": "bad@@x.example"})
    assert resp.status_code == 302 and resp["Location"] == reverse("web:request_detail", args=[pr.pk])
    page = client.get(resp["Location"]).content.decode()
    assert "No rule proposed: a rule can set only a valid email address." in page
    assert AutomationRule.objects.count() == 0


# ---------------------------------------------------------------- reconnect


PAGES = ("dashboard", "orders", "customers", "requests_pending", "requests_completed", "rules", "setup",
         "connections")


def test_a_company_needing_reconnecting_shows_a_banner_on_every_page_for_operators_and_admins(client, world, users):
    bolt = Company.objects.create(name="Bolt Books", realm_id="4620816365000000001",
                                  api_base_url="http://127.0.0.1:1", status=Company.Status.NEEDS_RECONNECT)
    reconnect_url = f'{reverse("web:connection_new")}?reconnect={bolt.pk}'
    for role in ("operator", "admin"):
        client.force_login(users[role])
        for name in PAGES:
            html = client.get(reverse(f"web:{name}")).content.decode()
            assert "QuickBooks needs reconnecting:" in html, (role, name)
            assert "Bolt Books" in html.split("QuickBooks needs reconnecting:", 1)[1].split("</div>", 1)[0]
        assert (f'<a href="{reconnect_url}">Bolt Books</a>' in html) == (role == "admin")
    client.force_login(users["viewer"])
    assert "QuickBooks needs reconnecting" not in client.get(reverse("web:dashboard")).content.decode()
    Company.objects.filter(pk=bolt.pk).update(status=Company.Status.ACTIVE)
    client.force_login(users["admin"])
    assert "QuickBooks needs reconnecting" not in client.get(reverse("web:dashboard")).content.decode()


def test_the_reconnect_email_names_what_the_ui_shows(client, world, users, settings):
    settings.LEDGERLINK_ADMIN_EMAILS = ["ops@example.com"]
    settings.LEDGERLINK_BASE_URL = "https://ll.example.com"
    bolt = Company.objects.create(name="Bolt Books", realm_id="4620816365000000001",
                                  api_base_url="http://127.0.0.1:8700", status=Company.Status.NEEDS_RECONNECT)
    (digest,) = [d for d in send_digests(dry_run=True) if d.key == "reconnect"]
    assert "Companies > Reconnect" not in digest.body
    assert "(Connections > Reconnect, then sign in to QuickBooks and choose the same company;" in digest.body
    link = f"https://ll.example.com{reverse('web:connection_new')}?reconnect={bolt.pk}"
    assert link in digest.body.splitlines()
    client.force_login(users["admin"])
    connections = client.get(reverse("web:connections")).content.decode()
    assert f'<a class="button primary" href="{reverse("web:connection_new")}?reconnect={bolt.pk}">Reconnect</a>' \
        in connections
    page = client.get(link.removeprefix("https://ll.example.com")).content.decode()
    assert "<h1>Reconnect Bolt Books</h1>" in page
    assert 'name="name" value="Bolt Books"' in page and 'name="base_url" value="http://127.0.0.1:8700"' in page
    assert "Companies > Reconnect" not in ERROR_KINDS["auth_reconnect"]["fix"]
    assert "Connections > Reconnect" in ERROR_KINDS["auth_reconnect"]["fix"]


# ---------------------------------------------------------------- "Sync now" is the worker's


def test_sync_now_is_queued_for_the_worker_and_shows_its_progress(client, users, company, qbo,
                                                                  run_worker_until_idle):
    qbo.create_customer(company.realm_id, "Zed Co", "zed@co.example")
    client.force_login(users["operator"])
    resp = client.post(reverse("web:customers"), {"company": company.pk})
    assert resp.status_code == 302
    # Nothing was asked of QBO in the web request: the mirror is still empty, the request is queued.
    assert Customer.objects.filter(company=company).count() == 0
    assert not SyncState.objects.filter(company=company).exists()
    sync = SyncRequest.objects.get()
    assert (sync.status, sync.requested_by) == ("queued", "operator")
    page = client.get(reverse("web:customers"), {"company": company.pk}).content.decode()
    assert f'hx-get="{reverse("web:sync_status")}?company={company.pk}" hx-trigger="every 2s"' in page
    assert f"Sync now #{sync.pk} (asked by operator):" in page and "<strong>queued</strong>" in page
    # Asked again while queued: the same request, not a second sync.
    client.post(reverse("web:customers"), {"company": company.pk})
    assert SyncRequest.objects.count() == 1
    # Progress as a worker writes it.
    SyncRequest.objects.filter(pk=sync.pk).update(status="running", entity="Customer", done=1000, total=2500)
    partial = client.get(reverse("web:sync_status"), {"company": company.pk}).content.decode()
    assert "<strong>running</strong>: customers 1,000 of 2,500" in partial
    SyncRequest.objects.filter(pk=sync.pk).update(status="queued")

    run_worker_until_idle(timeout=30)
    sync.refresh_from_db()
    assert (sync.status, sync.result, sync.error) == ("succeeded", {"Customer": 1, "Item": 2}, "")
    assert (sync.entity, sync.done, sync.total) == ("Item", 2, 2)
    assert list(Customer.objects.filter(company=company).values_list("display_name", flat=True)) == ["Zed Co"]
    partial = client.get(reverse("web:sync_status"), {"company": company.pk}).content.decode()
    assert "<strong>done</strong>" in partial and ": 1 customers, 2 items." in partial


def test_a_failed_requested_sync_says_why(client, users, world, run_worker_until_idle):
    company = world["company"]  # its API base URL answers nothing
    client.force_login(users["operator"])
    client.post(reverse("web:customers"), {"company": company.pk})
    run_worker_until_idle(timeout=30)
    sync = SyncRequest.objects.get()
    assert sync.status == "failed" and sync.error
    partial = client.get(reverse("web:sync_status"), {"company": company.pk}).content.decode()
    assert "<strong>failed</strong>" in partial
    assert not Customer.objects.filter(company=company).exclude(qbo_id="56").exists()


# ---------------------------------------------------------------- per-company limits


def test_admin_sets_a_companys_limits_on_connections_within_qbos(client, world, users):
    company = world["company"]
    url = reverse("web:connection_limits", args=[company.pk])
    client.force_login(users["admin"])
    page = client.get(reverse("web:connections")).content.decode()
    assert 'name="max_in_flight" type="number" min="1" max="10" value="10"' in page
    form = {"max_in_flight": "3", "max_per_minute": "100", "max_batches_per_minute": "20", "batch_size": "15",
            "use_batch": "on"}
    assert client.post(url, form).status_code == 302
    company.refresh_from_db()
    assert (company.max_in_flight, company.max_per_minute, company.max_batches_per_minute, company.batch_size,
            company.use_batch) == (3, 100, 20, 15, True)
    resp = client.post(url, {**form, "max_in_flight": "2", "batch_size": "50"})
    assert resp.status_code == 422
    assert ("<strong>batch_size</strong>: must be at most 30: QuickBooks allows no more requests per batch. "
            "Nothing was saved.") in resp.content.decode()
    company.refresh_from_db()
    assert (company.max_in_flight, company.batch_size) == (3, 15)  # nothing of the refused form stored
    client.force_login(users["operator"])
    assert client.post(url, {**form, "max_in_flight": "1"}).status_code == 403
    company.refresh_from_db()
    assert company.max_in_flight == 3
