"""Playwright (Python) driving Debian's chromium against pytest-django's live_server.

Never downloads a browser. Without /usr/bin/chromium the tests skip, unless
LEDGERLINK_REQUIRE_BROWSER is set (CI), where they fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("LEDGERLINK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"

# qbo_sandbox, a connected Company and the real worker: the product tests' fixtures.
from tests.ledgerlink.conftest import (  # noqa: E402,F401
    _sandbox_control,
    company,
    customer_factory,
    fast_retries,
    order_factory,
    order_source_factory,
    qbo,
    run_worker_until_idle,
    sandbox,
    site_area_factory,
)


def _browser_missing_reason() -> str | None:
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) and not shutil.which(CHROMIUM):
        return f"chromium not found at {CHROMIUM}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (Python) is not installed"
    return None


@pytest.fixture(scope="session")
def browser():
    reason = _browser_missing_reason()
    if reason:
        if os.environ.get("LEDGERLINK_REQUIRE_BROWSER"):
            pytest.fail(f"LEDGERLINK_REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the tests' own ORM calls are plain
    # synchronous code, so Django's async-safety guard is relaxed while the browser is open (only).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Shots:
    """Saves numbered screenshots of a test under test-artifacts/screenshots/."""

    def __init__(self, name: str):
        self.name = name
        self.n = 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(self, page, step: str, *, full_page: bool = True, readme: str | None = None,
             around: list[str] | None = None) -> Path:
        """``around``: CSS selectors; the shot is clipped to the box holding all of them."""
        self.n += 1
        path = ARTIFACTS / f"{self.name}-{self.n:02d}-{step}.png"
        clip = None
        if around:
            page.evaluate("window.scrollTo(0, 0)")
            boxes = [page.locator(sel).first.bounding_box() for sel in around]
            boxes = [b for b in boxes if b]
            if boxes:
                x0 = max(min(b["x"] for b in boxes) - 8, 0)
                y0 = max(min(b["y"] for b in boxes) - 8, 0)
                x1 = max(b["x"] + b["width"] for b in boxes) + 8
                y1 = max(b["y"] + b["height"] for b in boxes) + 8
                clip = {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}
        page.screenshot(path=str(path), full_page=full_page, clip=clip)
        # The README's screenshots are refreshed on request only (LEDGERLINK_UPDATE_SCREENSHOTS=1), so a
        # test run leaves the work tree clean.
        if readme and os.environ.get("LEDGERLINK_UPDATE_SCREENSHOTS"):
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_SCREENSHOTS / readme)
        return path


@pytest.fixture
def shots(request):
    return Shots(request.node.name.replace("[", "-").replace("]", "").replace("/", "-"))


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.js_errors = errors
    yield page
    context.close()


def sign_in(page, username: str, password: str):
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login/" not in url)
