"""The seed's three troubleshooting stories, walked through the admin area in headless Chromium.

Data is written straight to the DB as the worker would leave it (a failed request with its attempt);
Save & Re-Queue then runs the real services (validation, new revision, pre-flight).
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from ledgerlink.core.models import PushRequest, PushRevision
from tests.ledgerlink.factories import (
    PASSWORD,
    QBO_HTML_MESSAGE,
    invoice_payload,
    make_failed_request,
    make_login_user,
    make_web_world,
)

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world():
    return make_web_world()


def open_edit(page, pr):
    page.goto("/requests/completed/")
    page.locator(f'tr[data-id="{pr.pk}"]').get_by_role("link", name="Edit for Re-Queue").click()
    page.wait_for_url(f"**/requests/{pr.pk}/#edit")


def test_story_customer_ref_required(page, shots, world):
    """"CustomerRef is required": find the customer, set BillEmail and CustomerRef, Save & Re-Queue."""
    pr = make_failed_request(world, number="W-1001", email="buyer@newco.example")
    make_failed_request(world, number="W-1002", email="buyer@newco.example")
    make_login_user("olga", "operator")
    sign_in(page, "olga", PASSWORD)
    page.goto("/requests/completed/")
    row = page.locator(f'tr[data-id="{pr.pk}"]')
    assert row.locator(".err-title").inner_text() == "CustomerRef is required"
    assert "Required param missing" in row.locator(".qbo-msg").inner_text()
    shots.take(page, "requests-completed")

    open_edit(page, pr)
    page.get_by_label("Find customer (email or name)").fill("acme")
    page.get_by_role("button", name="Acme Tools — name2@example.com (Id 56)").click()
    assert page.get_by_label("CustomerRef value (QBO Id)").input_value() == "56"
    assert page.get_by_label("CustomerRef name").input_value() == "Acme Tools"
    assert page.get_by_label("BillEmail address").input_value() == "name2@example.com"
    typed = json.loads(page.get_by_label("Payload (JSON, revision 1)").input_value())
    assert typed["CustomerRef"] == {"value": "56", "name": "Acme Tools"}
    assert typed["TotalAmt"] == "69.60"
    page.get_by_label("Note (why)").fill("Acme Tools set up in QBO")
    page.get_by_role("button", name="Preview changes").click()
    assert page.locator("pre.diff .d-add", has_text='"value": "56"').count() == 1
    shots.take(page, "edit-for-requeue", readme="edit-for-requeue.png", around=[".error-card", "#edit"])

    page.get_by_role("button", name="Save & Re-Queue").click()
    assert "Saved as a new revision and re-queued" in page.locator(".messages").inner_text()
    assert page.locator("h1 .state").inner_text() == "Queued"
    shots.take(page, "queued")
    pr.refresh_from_db()
    assert (pr.state, pr.revision) == ("queued", 2)
    rev2 = PushRevision.objects.get(push_request=pr, number=2)
    assert rev2.payload["CustomerRef"] == {"value": "56", "name": "Acme Tools"}
    assert rev2.payload["BillEmail"] == {"Address": "name2@example.com"}
    assert rev2.note == "Acme Tools set up in QBO"
    assert PushRevision.objects.get(push_request=pr, number=1).payload == invoice_payload("buyer@newco.example")

    # The same fix for the other order with that email, listed first.
    page.get_by_role("link", name="Apply this fix to all 1 similar failed requests (same email)").click()
    assert page.locator("tbody tr").count() == 1
    shots.take(page, "similar")
    page.get_by_role("button", name="Apply the fix and re-queue the checked requests").click()
    assert "Re-queued 1 similar request(s) with the same fix." in page.locator(".messages").inner_text()
    assert page.js_errors == []


def test_story_invalid_email_then_customer_ref(page, shots, world):
    """"Invalid Email Address format": fix BillEmail; that usually leads to CustomerRef is required."""
    pr = make_failed_request(
        world, number="W-2001", email="buyer@newco,example", kind="invalid_email",
        title="Invalid Email Address format", message="Invalid Email Address format",
        detail="Email Address does not conform to the syntax rules of RFC 822. Supplied value:buyer@newco,example",
        code="2210", element="BillEmail.Address", payload=invoice_payload("buyer@newco,example"),
    )
    make_login_user("olga", "operator")
    sign_in(page, "olga", PASSWORD)
    open_edit(page, pr)
    assert page.locator("#err-h").inner_text() == "Error: Invalid Email Address format"
    page.get_by_label("BillEmail address").fill("buyer@newco.example")
    page.get_by_label("BillEmail address").press("Tab")
    shots.take(page, "email-fixed")
    page.get_by_role("button", name="Save & Re-Queue").click()
    # Pre-flight: an Invoice without a customer fails at once with the seed's first error.
    assert page.locator("#err-h").inner_text() == "Error: CustomerRef is required"
    shots.take(page, "now-customer-ref-required")
    pr.refresh_from_db()
    assert (pr.state, pr.revision, pr.error_kind) == ("failed", 2, "customer_ref_required")
    assert PushRevision.objects.get(push_request=pr, number=2).payload["BillEmail"] == {"Address": "buyer@newco.example"}

    page.get_by_label("Find customer (email or name)").fill("name2@")
    page.get_by_role("button", name="Acme Tools — name2@example.com (Id 56)").click()
    assert page.get_by_label("BillEmail address").input_value() == "name2@example.com"
    page.get_by_role("button", name="Save & Re-Queue").click()
    assert page.locator("h1 .state").inner_text() == "Queued"
    shots.take(page, "queued")
    pr.refresh_from_db()
    assert (pr.state, pr.revision) == ("queued", 3)
    # As in the seed's fix, the picker also sets BillEmail to the chosen customer's email.
    rev3 = PushRevision.objects.get(push_request=pr, number=3).payload
    assert rev3["BillEmail"] == {"Address": "name2@example.com"}
    assert rev3["CustomerRef"] == {"value": "56", "name": "Acme Tools"}
    assert page.js_errors == []


def test_story_003202_requeue_unchanged(page, shots, world):
    """003202: Edit for Re-Queue, change nothing, Save & Re-Queue."""
    payload = invoice_payload("name2@example.com", customer={"value": "56", "name": "Acme Tools"})
    pr = make_failed_request(
        world, number="W-3001", email="name2@example.com", kind="connection_003202",
        title="message=BadRequest; errorCode=003202; statusCode=400",
        message="message=BadRequest; errorCode=003202; statusCode=400", detail="", code="003202", element="",
        payload=payload,
    )
    make_login_user("olga", "operator")
    sign_in(page, "olga", PASSWORD)
    open_edit(page, pr)
    assert "without changing anything" in page.locator(".error-card .fix").inner_text()
    shots.take(page, "edit")
    page.get_by_role("button", name="Save & Re-Queue").click()
    assert "re-queued unchanged" in page.locator(".messages").inner_text()
    assert page.locator("h1 .state").inner_text() == "Queued"
    shots.take(page, "queued")
    pr.refresh_from_db()
    assert (pr.state, pr.revision) == ("queued", 2)
    assert PushRevision.objects.get(push_request=pr, number=2).payload == payload
    assert page.js_errors == []


def test_json_syntax_error_at_line_and_column(page, shots, world):
    pr = make_failed_request(world)
    make_login_user("olga", "operator")
    sign_in(page, "olga", PASSWORD)
    open_edit(page, pr)
    area = page.get_by_label("Payload (JSON, revision 1)")
    area.fill('{\n  "TotalAmt": "69.60",\n  "BillEmail" {"Address": "x@example.com"}\n}')
    expect(page.locator("#json-error-client")).to_contain_text("Invalid JSON at line 3, column 15")
    assert page.locator("#payload").get_attribute("aria-invalid") == "true"
    page.get_by_role("button", name="Save & Re-Queue").click()
    assert "Line 3, column 15: Expecting ':' delimiter" in page.locator("#json-error-server").inner_text()
    shots.take(page, "json-error")
    pr.refresh_from_db()
    assert (pr.state, pr.revision) == ("failed", 1)
    assert PushRevision.objects.filter(push_request=pr).count() == 1


def test_viewer_finds_no_way_to_requeue(page, shots, world):
    pr = make_failed_request(world, customer_name='<script>alert("owned")</script>', message=QBO_HTML_MESSAGE,
                             kind="validation", title="QuickBooks rejected the document")
    make_login_user("vera", "viewer")
    sign_in(page, "vera", PASSWORD)
    page.goto("/requests/completed/")
    assert page.get_by_role("link", name="Edit for Re-Queue").count() == 0
    assert page.locator(".qbo-msg").first.inner_text().endswith(QBO_HTML_MESSAGE)
    page.get_by_role("link", name=f"#{pr.pk}").click()
    shots.take(page, "request-read-only")
    for name in ("Save & Re-Queue", "Re-Queue unchanged", "Preview changes", "Cancel request", "Make this a rule"):
        assert page.get_by_role("button", name=name).count() == 0, name
    assert page.locator("textarea").count() == 0
    assert page.locator("main form").count() == 0
    assert page.locator("script:not([src])").count() == 0
    assert page.js_errors == []
    # Posting by hand is refused too.
    status = page.evaluate(
        """async (url) => (await fetch(url, {method: 'POST', headers: {'X-CSRFToken':
             document.cookie.replace(/(?:^|.*;\\s*)csrftoken=([^;]*).*$/, '$1')}})).status""",
        f"/requests/{pr.pk}/requeue",
    )
    assert status == 403
    pr.refresh_from_db()
    assert (pr.state, pr.revision) == ("failed", 1)


def test_completed_list_refreshes_without_reload_and_fits_a_phone(browser, live_server, shots, world):
    make_failed_request(world, number="W-5001")
    make_login_user("olga", "operator")
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server.url)
    page = context.new_page()
    sign_in(page, "olga", PASSWORD)
    page.goto("/requests/completed/")
    assert page.locator("tr[data-id]").count() == 1
    page.evaluate("window.__marker = 42")
    newer = make_failed_request(world, number="W-5002", email="late@x.example")
    page.wait_for_selector(f'tr[data-id="{newer.pk}"]', timeout=15_000)
    assert page.evaluate("window.__marker") == 42  # same document: no reload
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    shots.take(page, "phone")
    context.close()
    assert PushRequest.objects.count() == 2
