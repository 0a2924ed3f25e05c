"""CSP and the other security headers are on every kind of response; templates stay CSP-clean."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

import ledgerlink
from ledgerlink.domain.accounts.tokens import create_api_token
from tests.ledgerlink.factories import make_user

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    # Form submissions may be redirected to the OAuth authorization server (Connect to QuickBooks):
    # Intuit's, and outside production the demo qbo_sandbox.
    "form-action 'self' https://appcenter.intuit.com http://127.0.0.1:8700 http://localhost:8700; "
    "base-uri 'none'"
)


def assert_security_headers(response) -> None:
    headers = response.headers
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
    policy = headers["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in policy


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/api/v1/openapi.json", "/api/v1/docs"])
def test_headers_on_pages_and_api(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert_security_headers(response)


@pytest.mark.django_db
def test_headers_on_not_found_and_api_errors(client):
    assert_security_headers(client.get("/no-such-page"))
    response = client.get("/api/v1/no-such-route")
    assert response.status_code == 404
    assert_security_headers(response)


@pytest.mark.django_db
def test_headers_on_csrf_failure():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert_security_headers(response)


@pytest.mark.django_db
def test_headers_on_login_and_signed_in_pages(client):
    assert_security_headers(client.get("/login/"))
    user = make_user("vera", "viewer")
    client.force_login(user)
    for path in ("/", "/requests/pending/", "/requests/completed/", "/orders/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_security_headers(response)
        assert "no-store" in response.headers["Cache-Control"]


@pytest.mark.django_db
def test_headers_on_api_answers_with_and_without_a_token(client):
    response = client.get("/api/v1/requests")
    assert response.status_code == 401
    assert_security_headers(response)
    token = create_api_token(make_user("ann", "viewer"), "t")
    response = client.get("/api/v1/requests", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert_security_headers(response)
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_responses_are_not_cached_unless_the_view_says_so(client):
    assert "no-store" in client.get("/api/v1/openapi.json").headers["Cache-Control"]


@pytest.mark.django_db
def test_form_action_origins_come_from_settings(settings, client):
    settings.LEDGERLINK_CSP_FORM_ACTION = ["https://appcenter.intuit.com", "http://127.0.0.1:9999"]
    csp = client.get("/healthz").headers["Content-Security-Policy"]
    assert "; form-action 'self' https://appcenter.intuit.com http://127.0.0.1:9999; " in csp


@pytest.mark.django_db
def test_report_only_mode(settings):
    settings.LEDGERLINK_CSP_REPORT_ONLY = True
    response = Client().get("/healthz")
    assert response.headers["Content-Security-Policy-Report-Only"] == CSP
    assert "Content-Security-Policy" not in response.headers


@pytest.mark.django_db
def test_api_docs_page_needs_no_inline_script(client):
    html = client.get("/api/v1/docs").content.decode()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S | re.I)
    assert scripts
    for attrs, body in scripts:
        # Either an external same-origin file or an inert JSON data block; never code inline.
        if "src=" in attrs:
            assert not re.search(r"src=[\"']?(https?:)?//", attrs), attrs
            assert body.strip() == ""
        else:
            assert 'type="application/json"' in attrs, attrs
    assert "cdn.jsdelivr.net" not in html


TEMPLATE_DIRS = [Path(ledgerlink.__file__).parent]
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
INLINE_STYLE_ATTR = re.compile(r"\sstyle\s*=", re.I)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)


def ledgerlink_templates() -> list[Path]:
    return sorted(p for d in TEMPLATE_DIRS for p in d.rglob("templates/**/*.html"))


def test_templates_have_no_inline_script_or_style():
    """The CSP forbids inline code: a template that uses it breaks in the browser."""
    problems = []
    for path in ledgerlink_templates():
        text = path.read_text()
        for attrs, body in SCRIPT_TAG.findall(text):
            if "src=" not in attrs and "application/json" not in attrs:
                problems.append(f"{path}: inline <script>")
            elif body.strip():
                problems.append(f"{path}: <script src> with a body")
        if re.search(r"<style\b", text, re.I):
            problems.append(f"{path}: <style> element")
        if INLINE_HANDLER.search(text):
            problems.append(f"{path}: on...= event handler attribute")
        if INLINE_STYLE_ATTR.search(text):
            problems.append(f"{path}: style= attribute")
        if re.search(r"javascript:", text, re.I):
            problems.append(f"{path}: javascript: URL")
        if re.search(r"<(script|link|img)\b[^>]*(src|href)=[\"']?(https?:)?//", text, re.I):
            problems.append(f"{path}: third-party resource")
    assert problems == []
