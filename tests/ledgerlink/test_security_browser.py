"""The Content-Security-Policy holds in a real browser: every page of the admin area (and the API
docs) loads and runs with no CSP violation. Headless Debian chromium through Playwright; never
downloads a browser. Skips without chromium unless LEDGERLINK_REQUIRE_BROWSER is set."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.ledgerlink.test_web_factories import PASSWORD, make_failed_request, make_user, make_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("LEDGERLINK_CHROMIUM", "/usr/bin/chromium")
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def page(live_server, monkeypatch):
    have = (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) or shutil.which(CHROMIUM)
    if not have:
        if os.environ.get("LEDGERLINK_REQUIRE_BROWSER"):
            pytest.fail(f"LEDGERLINK_REQUIRE_BROWSER is set but chromium is not at {CHROMIUM}")
        pytest.skip(f"chromium not found at {CHROMIUM}")
    # Playwright's sync API runs an event loop in this thread; the test's ORM calls are synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox", "--disable-gpu"])
        context = browser.new_context(base_url=live_server.url)
        context.add_init_script(RECORD_VIOLATIONS)
        page = context.new_page()
        page.console_messages = []
        page.on("console", lambda m: page.console_messages.append(m.text))
        yield page
        context.close()
        browser.close()


def violations(page) -> list[str]:
    found = list(page.evaluate("window.__csp || []"))
    found += [m for m in page.console_messages if "Content Security Policy" in m]
    return found


def test_no_page_violates_the_content_security_policy(page):
    world = make_world()
    pr = make_failed_request(world)
    make_user("ada", "admin")
    page.goto("/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    assert violations(page) == []

    paths = [
        "/",
        "/orders/",
        "/customers/",
        "/requests/pending/",
        "/requests/completed/",
        f"/requests/{pr.pk}/",
        "/automation/",
        "/automation/new",
        "/setup/",
        "/connections/",
        "/users/",
        "/api/v1/docs",
    ]
    for path in paths:
        response = page.goto(path)
        assert response.status == 200, path
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
        page.wait_for_load_state("load")
        assert violations(page) == [], path

    # The scripts really run under the policy: the JSON check of the payload editor reacts to typing.
    page.goto(f"/requests/{pr.pk}/")
    editor = page.locator("textarea[name=payload]")
    editor.fill('{"Line": [')
    page.wait_for_timeout(600)
    assert "invalid json" in page.locator(f"#{editor.get_attribute('aria-describedby')}").inner_text().lower()
    assert violations(page) == []
    # And the API docs render (Swagger UI from local static files).
    page.goto("/api/v1/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert violations(page) == []

    # The detector itself works: an injected inline script is blocked and reported.
    page.evaluate("""() => { const s = document.createElement("script"); s.textContent = "window.pwned = 1";
                     document.body.appendChild(s); }""")
    page.wait_for_timeout(200)
    assert page.evaluate("window.pwned === undefined")
    assert any(v.startswith("script-src") for v in violations(page))
