"""The Content-Security-Policy holds in a real browser: every page of the admin area (and the API
docs) loads and runs with no CSP violation. Headless Debian chromium through Playwright, driven from
a child process (so it never shares an event loop with other browser tests in the same worker);
never downloads a browser. Skips without chromium unless LEDGERLINK_REQUIRE_BROWSER is set."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from ledgerlink.core.models import Company
from tests.ledgerlink.factories import PASSWORD, make_failed_request, make_login_user, make_web_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("LEDGERLINK_CHROMIUM", "/usr/bin/chromium")

DRIVER = r'''
import json, sys
from playwright.sync_api import sync_playwright

chromium, base_url, username, password, request_id, sandbox_url = sys.argv[1:7]
RECORD = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""
report = {"pages": {}, "login": None}
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, args=["--headless=new", "--no-sandbox", "--disable-gpu"])
    context = browser.new_context(base_url=base_url)
    context.add_init_script(RECORD)
    page = context.new_page()
    console = []
    page.on("console", lambda m: console.append(m.text))

    def violations():
        found = list(page.evaluate("window.__csp || []"))
        found += [m for m in console if "Content Security Policy" in m]
        console.clear()
        return found

    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    report["login"] = violations()
    for path in ["/", "/orders/", "/customers/", "/requests/pending/", "/requests/completed/",
                 f"/requests/{request_id}/", "/automation/", "/automation/new", "/setup/", "/connections/",
                 "/users/", "/api/v1/docs"]:
        response = page.goto(path)
        page.wait_for_load_state("load")
        page.wait_for_timeout(100)
        report["pages"][path] = {
            "status": response.status,
            "csp": response.headers.get("content-security-policy", ""),
            "violations": violations(),
        }
    # The scripts really run under the policy: the payload editor's JSON check reacts to typing.
    page.goto(f"/requests/{request_id}/")
    editor = page.locator("textarea[name=payload]")
    editor.fill('{"Line": [')
    page.wait_for_timeout(600)
    report["json_check"] = page.locator("#" + editor.get_attribute("aria-describedby")).inner_text()
    report["json_check_violations"] = violations()
    # Swagger UI renders from local static files.
    page.goto("/api/v1/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    report["docs_violations"] = violations()
    # "Connect to QuickBooks": the form posts to us and is redirected to the authorization server
    # (another origin) and back; CSP form-action must let that redirect through.
    page.goto("/connections/new")
    page.locator("select[name=target]").select_option("qbo_sandbox")
    page.locator("input[name=base_url]").fill(sandbox_url)
    page.locator("input[name=name]").fill("Browser Books")
    page.locator("form.card button[type=submit]").click()
    page.wait_for_url("**/connections/")
    page.wait_for_load_state("load")
    report["connect_page"] = page.inner_text("main")
    report["connect_violations"] = violations()
    # The detector itself works: an injected inline script is blocked and reported.
    page.evaluate("""() => { const s = document.createElement("script"); s.textContent = "window.pwned = 1";
                     document.body.appendChild(s); }""")
    page.wait_for_timeout(200)
    report["injected_ran"] = page.evaluate("window.pwned !== undefined")
    report["injected_violations"] = violations()
    context.close()
    browser.close()
print(json.dumps(report))
'''


def test_no_page_violates_the_content_security_policy(live_server, sandbox, settings):
    have = (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) or shutil.which(CHROMIUM)
    if not have:
        if os.environ.get("LEDGERLINK_REQUIRE_BROWSER"):
            pytest.fail(f"LEDGERLINK_REQUIRE_BROWSER is set but chromium is not at {CHROMIUM}")
        pytest.skip(f"chromium not found at {CHROMIUM}")
    world = make_web_world()
    pr = make_failed_request(world)
    make_login_user("ada", "admin")
    settings.QBO_REDIRECT_URI = live_server.url + "/connections/callback"
    settings.LEDGERLINK_CSP_FORM_ACTION = ["https://appcenter.intuit.com", sandbox.base_url]

    result = subprocess.run(
        [sys.executable, "-c", DRIVER, CHROMIUM, live_server.url, "ada", PASSWORD, str(pr.pk), sandbox.base_url],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["login"] == []
    assert len(report["pages"]) == 12
    for path, seen in report["pages"].items():
        assert seen["status"] == 200, path
        assert seen["csp"].startswith("default-src 'self'; script-src 'self'"), path
        assert seen["violations"] == [], path
    assert report["json_check"].lower().startswith("invalid json")
    assert report["json_check_violations"] == []
    assert report["docs_violations"] == []
    assert report["connect_violations"] == []
    assert "Connected Browser Books (realm " in report["connect_page"]
    assert Company.objects.filter(name="Browser Books").count() == 1
    assert report["injected_ran"] is False
    assert any(v.startswith("script-src") for v in report["injected_violations"])
