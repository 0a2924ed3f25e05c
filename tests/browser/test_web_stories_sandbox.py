"""The seed's three troubleshooting stories end to end: orders ingested through the real path, the
real worker pushing to qbo_sandbox over HTTP, and a person fixing each failure in the browser."""

from __future__ import annotations

import re

import pytest

from ledgerlink.core.models import Attempt, PushRequest, PushRevision
from ledgerlink.domain.sync.full import run_requested_syncs
from tests.ledgerlink.factories import PASSWORD, make_login_user

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def wholesale(company, site_area_factory, order_source_factory, customer_factory):
    """An Invoice site area (default item "1") and Acme Tools in QBO and in the Customers tab."""
    source = order_source_factory(site_area_factory(company, "Wholesale", "invoice"), "Wholesale Portal")
    customer_factory(company, "Acme Tools", "name2@example.com")
    return source


@pytest.fixture
def operator(page):
    make_login_user("olga", "operator")
    sign_in(page, "olga", PASSWORD)
    return page


def invoices(qbo, company):
    return qbo.entities(company.realm_id, "Invoice")


def test_sandbox_story_customer_ref_required(operator, shots, wholesale, company, qbo, customer_factory,
                                             order_factory, run_worker_until_idle):
    """The seed's story: the customer is set up in QBO under another email than the order's, so the
    person finds it in the Customers tab and sets BillEmail and CustomerRef by hand."""
    page = operator
    order, pr = order_factory(wholesale, email="buyer@newco.example", number="WP-1001")
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert (pr.state, pr.error_kind) == ("failed", "customer_ref_required")

    page.goto("/requests/completed/")
    row = page.locator(f'tr[data-id="{pr.pk}"]')
    assert row.locator(".err-title").inner_text() == "CustomerRef is required"
    shots.take(page, "failed")

    # The person adds the customer in QuickBooks (accounts payable address), then syncs.
    created = customer_factory(company, "New Co", "ap@newco.example", sync=False)
    page.get_by_role("link", name="Customers").click()
    assert page.get_by_role("cell", name="New Co").count() == 0
    page.get_by_role("button", name="Sync now").click()
    assert "queued" in page.locator(".messages").inner_text()
    assert run_requested_syncs(worker_id="test") == 1  # the worker's part of "Sync now"
    page.reload()
    new_row = page.locator("tr", has=page.get_by_role("cell", name="New Co", exact=True))
    assert new_row.locator("td").first.inner_text() == created["Id"]
    shots.take(page, "customers-synced")

    page.get_by_role("link", name="Requests Completed").click()
    page.locator(f'tr[data-id="{pr.pk}"]').get_by_role("link", name="Edit for Re-Queue").click()
    page.get_by_label("Find customer (email or name)").fill("new co")
    page.get_by_role("button", name=f"New Co — ap@newco.example (Id {created['Id']})").click()
    page.get_by_role("button", name="Save & Re-Queue").click()
    assert page.locator("h1 .state").inner_text() == "Queued"

    run_worker_until_idle(timeout=20)
    page.reload()
    assert page.locator("h1 .state").inner_text() == "Succeeded"
    shots.take(page, "succeeded")
    docs = invoices(qbo, company)
    assert len(docs) == 1
    assert docs[0]["CustomerRef"]["value"] == created["Id"]
    assert docs[0]["BillEmail"] == {"Address": "ap@newco.example"}
    pr.refresh_from_db()
    assert (pr.state, pr.revision, pr.qbo_id) == ("succeeded", 2, docs[0]["Id"])
    assert list(Attempt.objects.filter(push_request=pr).values_list("revision", "outcome")) == [
        (1, "preflight"), (2, "succeeded")]
    assert page.js_errors == []


def test_sandbox_customer_with_the_orders_email_heals_the_request_on_sync(
        operator, shots, wholesale, company, qbo, customer_factory, order_factory, run_worker_until_idle):
    """When the new QBO customer has the order's email, "Sync now" is the whole fix."""
    page = operator
    order, pr = order_factory(wholesale, email="buyer@newco.example", number="WP-1101")
    run_worker_until_idle(timeout=20)
    customer_factory(company, "New Co", "buyer@newco.example", sync=False)
    page.goto("/customers/")
    page.get_by_role("button", name="Sync now").click()
    assert run_requested_syncs(worker_id="test") == 1  # the worker's part of "Sync now"
    page.goto(f"/requests/{pr.pk}/")
    assert page.locator("h1 .state").inner_text() == "Queued"
    assert "by system" in page.locator(".revision").first.inner_text()
    run_worker_until_idle(timeout=20)
    page.reload()
    assert page.locator("h1 .state").inner_text() == "Succeeded"
    shots.take(page, "healed")
    assert len(invoices(qbo, company)) == 1


def test_sandbox_story_invalid_email(operator, shots, wholesale, company, qbo, order_factory, run_worker_until_idle):
    page = operator
    order, pr = order_factory(wholesale, email="name2@example,com", number="WP-2001")
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert (pr.state, pr.error_kind) == ("failed", "invalid_email")

    page.goto(f"/requests/{pr.pk}/")
    assert page.locator("#err-h").inner_text() == "Error: Invalid Email Address format"
    page.get_by_label("BillEmail address").fill("name2@example.com")
    page.get_by_role("button", name="Save & Re-Queue").click()
    # As the seed warns, the fixed email now needs its customer: "CustomerRef is required".
    assert page.locator("h1 .state").inner_text() == "Failed"
    assert page.locator("#err-h").inner_text() == "Error: CustomerRef is required"
    shots.take(page, "then-customer-ref")
    page.get_by_label("Find customer (email or name)").fill("acme")
    page.get_by_role("button", name=re.compile(r"^Acme Tools — name2@example\.com \(Id \d+\)$")).click()
    page.get_by_role("button", name="Save & Re-Queue").click()
    assert page.locator("h1 .state").inner_text() == "Queued"
    run_worker_until_idle(timeout=20)
    page.reload()
    assert page.locator("h1 .state").inner_text() == "Succeeded"
    shots.take(page, "succeeded")
    docs = invoices(qbo, company)
    assert len(docs) == 1 and docs[0]["BillEmail"] == {"Address": "name2@example.com"}
    assert page.js_errors == []


def test_sandbox_story_003202_requeue_unchanged(operator, shots, wholesale, company, qbo, fast_retries,
                                                order_factory, run_worker_until_idle):
    page = operator
    fast_retries.LEDGERLINK_MAX_ATTEMPTS = 3
    qbo.add_fault(company.realm_id, "003202", entity="Invoice", count=3)
    order, pr = order_factory(wholesale, email="name2@example.com", number="WP-3001")
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert (pr.state, pr.error_kind) == ("failed", "connection_003202")
    before = PushRevision.objects.get(push_request=pr, number=1).payload

    page.goto("/requests/completed/?error_kind=connection_003202")
    row = page.locator(f'tr[data-id="{pr.pk}"]')
    assert row.locator(".err-title").inner_text() == "message=BadRequest; errorCode=003202; statusCode=400"
    row.get_by_role("link", name="Edit for Re-Queue").click()
    assert page.locator("section[aria-labelledby=att-h] tbody tr").count() == 3
    shots.take(page, "edit")
    page.get_by_role("button", name="Save & Re-Queue").click()
    assert "re-queued unchanged" in page.locator(".messages").inner_text()
    run_worker_until_idle(timeout=20)
    page.reload()
    assert page.locator("h1 .state").inner_text() == "Succeeded"
    shots.take(page, "succeeded")
    pr.refresh_from_db()
    assert (pr.state, pr.revision) == ("succeeded", 2)
    assert PushRevision.objects.get(push_request=pr, number=2).payload == before
    assert len(invoices(qbo, company)) == 1
    assert PushRequest.objects.count() == 1
    assert page.js_errors == []


def test_sandbox_one_click_create_customer_and_requeue(operator, shots, wholesale, company, qbo, order_factory,
                                                       run_worker_until_idle):
    page = operator
    order, pr = order_factory(wholesale, email="fresh@buyer.example", number="WP-4001",
                              customer_name="Fresh Buyer")
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert (pr.state, pr.error_kind) == ("failed", "customer_ref_required")
    page.goto(f"/requests/{pr.pk}/")
    page.get_by_role("button", name="Create customer in QuickBooks and re-queue").click()
    assert "waits for it" in page.locator(".messages").inner_text()
    shots.take(page, "waiting")
    run_worker_until_idle(timeout=30)
    page.reload()
    assert page.locator("h1 .state").inner_text() == "Succeeded"
    shots.take(page, "succeeded")
    customers = [c for c in qbo.entities(company.realm_id, "Customer")
                 if (c.get("PrimaryEmailAddr") or {}).get("Address") == "fresh@buyer.example"]
    assert len(customers) == 1
    docs = invoices(qbo, company)
    assert len(docs) == 1 and docs[0]["CustomerRef"]["value"] == customers[0]["Id"]
    assert page.js_errors == []
