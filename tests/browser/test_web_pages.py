"""Every tab at 1280 px and at a phone's width: a label on every field, no page wider than the
screen, reachable by keyboard, no script errors. Saves a screenshot of each."""

from __future__ import annotations

import pytest

from ledgerlink.core.models import AutomationRule, PushRequest
from tests.ledgerlink.factories import PASSWORD, make_failed_request, make_login_user, make_web_world

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden' && !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
  .map(el => el.outerHTML)"""


def varied_requests(world):
    make_failed_request(world, number="W-1001", email="buyer@newco.example")
    make_failed_request(world, number="W-1002", email="jo@shop,example", kind="invalid_email",
                        title="Invalid Email Address format", message="Invalid Email Address format",
                        detail="Email Address does not conform to the syntax rules of RFC 822.", code="2210",
                        element="BillEmail.Address", source=world["shop"])
    make_failed_request(world, number="W-1003", email="name2@example.com", kind="connection_003202",
                        title="message=BadRequest; errorCode=003202; statusCode=400",
                        message="message=BadRequest; errorCode=003202; statusCode=400", detail="", code="3202",
                        element="")
    for n in range(3):
        make_failed_request(world, number=f"W-20{n}", email="name2@example.com", state=PushRequest.State.SUCCEEDED)
    make_failed_request(world, number="W-3001", email="name2@example.com", state=PushRequest.State.QUEUED)
    PushRequest.objects.filter(state="succeeded").update(qbo_id="145", qbo_doc_number="W-200")


@pytest.mark.parametrize("width", [1280, 390])
def test_every_tab_is_labelled_and_fits(browser, live_server, shots, width):
    world = make_web_world()
    varied_requests(world)
    rule = AutomationRule.objects.create(name="Portal to one account", conditions={"order_source": world["portal"].pk},
                                         actions={"set_email": "name2@example.com"})
    failed = PushRequest.objects.filter(state="failed").order_by("id").first()
    make_login_user("ada", "admin")
    context = browser.new_context(viewport={"width": width, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # CSP violations (inline script or style) are reported on the console as errors.
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, "ada", PASSWORD)
    urls = {
        "dashboard": "/", "orders": "/orders/", "customers": "/customers/", "pending": "/requests/pending/",
        "completed": "/requests/completed/", "request": f"/requests/{failed.pk}/", "automation": "/automation/",
        "rule": f"/automation/{rule.pk}/", "setup": "/setup/", "site-area": "/setup/site-areas/new",
        "connections": "/connections/", "users": "/users/", "user-new": "/users/new",
        "similar": f"/requests/{failed.pk}/similar?by=order_source",
    }
    for name, url in urls.items():
        resp = page.goto(url)
        assert resp.status == 200, (name, resp.status)
        assert page.evaluate(UNLABELLED) == [], name
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, (name, overflow)
        if (name, width) == ("completed", 1280):
            page.locator("tr[data-id] details summary").last.click()  # the steps of one failure, opened
        shots.take(page, f"{name}-{width}", readme="requests-completed.png" if (name, width) == ("completed", 1280)
                   else None)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")
    assert page.goto("/requests/completed/").url.endswith("/login/?next=/requests/completed/")
    assert errors == []
    context.close()


def test_edit_for_requeue_by_keyboard_only(page, shots):
    world = make_web_world()
    pr = make_failed_request(world)
    make_login_user("olga", "operator")
    sign_in(page, "olga", PASSWORD)
    page.goto(f"/requests/{pr.pk}/")
    page.locator("#bill_email").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "customer_search"
    page.keyboard.type("acme")
    page.locator(".picker-results button").wait_for()
    page.keyboard.press("Tab")  # the first result
    assert page.evaluate("document.activeElement.textContent").startswith("Acme Tools")
    page.keyboard.press("Enter")
    assert page.locator("#customer_value").input_value() == "56"
    # On to Save & Re-Queue with Tab only.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Save & Re-Queue":
            break
    else:
        raise AssertionError("Save & Re-Queue not reachable by Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector(".messages")
    assert page.locator("h1 .state").inner_text() == "Queued"
    shots.take(page, "queued")
