"""Security response headers (OWASP ASVS 5.0 V3.4): CSP, Permissions-Policy, COOP, CORP, no-store.

Django 5.2's ``SecurityMiddleware`` already sends ``X-Content-Type-Options: nosniff``,
``Referrer-Policy``, ``Cross-Origin-Opener-Policy`` and (in production) HSTS, and
``XFrameOptionsMiddleware`` sends ``X-Frame-Options: DENY``. This middleware adds what Django 5.2
lacks, on every response (pages, the API, errors, static files):

* ``Content-Security-Policy``: same-origin scripts, styles and images only, no inline script or
  style, no plugins, no framing, forms post only to us. Templates must therefore load JavaScript
  and CSS from ``static/`` files (htmx included) and never use inline ``<script>``, ``on*=``
  attributes or ``style=`` attributes.
* ``Permissions-Policy``: every powerful browser feature off.
* ``Cross-Origin-Opener-Policy`` / ``Cross-Origin-Resource-Policy``: same-origin.
* ``Cache-Control: no-store`` when the view set no caching policy of its own, so order data and
  payloads are not kept in shared or browser caches (ASVS 14.3.2). WhiteNoise sets its own
  ``Cache-Control`` on static files, which is left alone.

``form-action`` also governs where a form submission may be *redirected*: "Connect to QuickBooks"
posts to us and is redirected to the OAuth authorization server, so that origin must be listed.
``LEDGERLINK_CSP_FORM_ACTION`` (settings) adds origins to ``form-action``: Intuit's
``https://appcenter.intuit.com`` by default, plus the demo qbo_sandbox origin outside production.

A view may send its own ``Content-Security-Policy`` (the header is only added when missing).
``LEDGERLINK_CSP_REPORT_ONLY=true`` sends the policy as ``Content-Security-Policy-Report-Only``
instead, for a trial of a stricter policy on a running deployment.
"""

from __future__ import annotations

from django.conf import settings

# Directive -> sources. Order is kept in the header.
DEFAULT_CSP: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
}

PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "usb",
        "xr-spatial-tracking",
    )
)


def build_csp(directives: dict[str, list[str]]) -> str:
    return "; ".join(f"{name} {' '.join(sources)}".strip() for name, sources in directives.items())


def current_csp() -> str:
    """The policy from settings (read per call, so overridden settings apply at once)."""
    directives = {name: list(sources) for name, sources in getattr(settings, "LEDGERLINK_CSP", DEFAULT_CSP).items()}
    for origin in getattr(settings, "LEDGERLINK_CSP_FORM_ACTION", []):
        if origin not in directives.setdefault("form-action", []):
            directives["form-action"].append(origin)
    return build_csp(directives)


class SecurityHeadersMiddleware:
    """Adds the headers above to every response that does not carry them already."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        headers = response.headers
        if "Content-Security-Policy" not in headers and "Content-Security-Policy-Report-Only" not in headers:
            report_only = getattr(settings, "LEDGERLINK_CSP_REPORT_ONLY", False)
            headers["Content-Security-Policy-Report-Only" if report_only else "Content-Security-Policy"] = current_csp()
        headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Cache-Control", "no-store")
        return response
