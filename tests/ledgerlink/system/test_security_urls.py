"""Every URL pattern of the whole project (web, API, ops, webhooks), found by walking the resolver,
tried anonymously and as a viewer (session and API token): nothing is reachable without signing in
except the few public endpoints, and a viewer can change nothing.

``test_web.py`` checks the web app's views in detail (role per view and method); this walk covers
every other app too and fails when a new route anywhere forgets its check."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from ledgerlink.core.models import ApiToken, PushRequest, SiteArea
from ledgerlink.domain.accounts.tokens import create_api_token
from ledgerlink.domain.ingest.orders import ingest_order
from tests.ledgerlink.factories import make_user, make_world, order_data

# Reachable without signing in, each for a reason.
PUBLIC = {
    "/healthz",  # liveness probe, says only "ok"
    "/readyz",  # readiness probe
    "/login/",
    "/logout/",  # signing out needs no sign-in; it changes nothing for an anonymous visitor
    "/webhooks/quickbooks",  # authenticated by the intuit-signature HMAC (refused unsigned: 401)
    "/webhooks/shopify/1",  # authenticated by the store's HMAC (unsigned: 401; no such store source: 404)
    "/webhooks/woocommerce/1",
    "/api/v1/openapi.json",  # the API's description, no data
    "/api/v1/docs",
    "/api/v1/",  # django-ninja's root: answers 404 to everybody, serves nothing
}
# API POSTs that write nothing and so are open to every role (the rule preview is not: it runs a
# rule's pattern over a thousand orders, so it needs the operator role).
READ_ONLY_POSTS: set[str] = set()
# API GETs that need the operator role: they read QuickBooks Online (its read quota counts, and a
# refused refresh token marks the Company needs_reconnect, as any QBO read does).
OPERATOR_READS = {"/api/v1/reconciliation"}
WRITE_METHODS = ("post", "put", "patch", "delete")


def walk(patterns, prefix: str = ""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from walk(p.url_patterns, prefix + str(p.pattern))
        else:
            assert isinstance(p, URLPattern)
            yield prefix + str(p.pattern)


def fill(route: str) -> str:
    route = re.sub(r"<(?:\w+:)?\w+>", "1", route)  # path() converters
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "1", route).lstrip("^").rstrip("$")  # re_path() groups
    return "/" + route


def all_urls() -> list[str]:
    return sorted({fill(route) for route in walk(get_resolver().url_patterns)})


def database_state() -> dict:
    """Every row of every table, read with raw SQL, except sessions (a sign-in writes one) and the
    API tokens' last-used time (a read updates it)."""
    state = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names()):
            if table in ("django_session", ApiToken._meta.db_table):
                continue
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            state[table] = sorted(map(repr, cursor.fetchall()))
    state["tokens"] = sorted(ApiToken.objects.values_list("id", "token_hash", "revoked_at", "user_id"))
    return state


@pytest.fixture
def world(db, settings):
    # /metrics as deployed behind a proxy: no address allowlist, a token required.
    settings.LEDGERLINK_METRICS_ALLOW = []
    settings.LEDGERLINK_METRICS_TOKEN = "metrics-secret-token"
    settings.QBO_WEBHOOK_VERIFIER = "verifier-token"
    make_world()
    for n in range(3):
        ingest_order(order_data(external_id=f"WP-{n}"))
    return make_user("vera", "viewer")


def test_the_walk_sees_every_app():
    urls = all_urls()
    for expected in ("/api/v1/requests/1/requeue", "/requests/1/requeue", "/metrics", "/webhooks/quickbooks", "/"):
        assert expected in urls
    assert len(urls) >= 50


def test_every_url_refuses_anonymous_visitors(world):
    client = Client()
    before = database_state()
    checked = 0
    for url in all_urls():
        if url in PUBLIC:
            continue
        for method in ("get", *WRITE_METHODS):
            resp = getattr(client, method)(url)
            checked += 1
            if resp.status_code == 302:
                assert resp["Location"].startswith("/login/"), (method, url, resp["Location"])
            else:
                assert resp.status_code in (401, 403, 405), (method, url, resp.status_code)
    assert checked >= 200
    assert database_state() == before


def test_public_urls_change_nothing_for_anonymous_visitors(world):
    client = Client()
    before = database_state()
    for url in PUBLIC:
        for method in WRITE_METHODS:
            resp = getattr(client, method)(url)
            assert resp.status_code < 500, (method, url, resp.status_code)
    assert client.post("/webhooks/quickbooks", b"{}", content_type="application/json").status_code == 401
    # /login/ POSTs record failed sign-ins in the audit log; nothing else may change.
    after = database_state()
    after.pop("core_auditlog")
    before.pop("core_auditlog")
    assert after == before


def test_a_signed_in_viewer_changes_nothing_anywhere(world):
    client = Client()
    client.force_login(world)
    before = database_state()
    for url in all_urls():
        if url in PUBLIC:
            continue
        resp = client.get(url)
        assert resp.status_code in (200, 401, 403, 404, 405), (url, resp.status_code)
        for method in WRITE_METHODS:
            resp = getattr(client, method)(
                url, {"payload": "{}", "action": "save", "status": "paused", "role": "admin", "name": "x"}
            )
            if url.startswith("/api/"):
                # The API takes bearer tokens only: a session cookie is no credential there.
                assert resp.status_code in (401, 405), (method, url, resp.status_code)
            elif url == "/metrics":
                assert resp.status_code in (401, 405), (method, url, resp.status_code)
            else:
                assert resp.status_code in (403, 405), (method, url, resp.status_code)
    assert database_state() == before


def valid_bodies() -> dict[str, dict]:
    """Bodies that pass the API's schemas, so the role check (not validation) answers."""
    area = SiteArea.objects.first()
    return {
        "/api/v1/site-areas": {"name": "Sneaky", "company": area.company_id},
        "/api/v1/order-sources": {"name": "Sneaky", "site_area": area.pk},
        "/api/v1/orders": order_data(external_id="SNEAKY-1"),
        "/api/v1/automation-rules": {"name": "Sneaky", "actions": {"hold": True}},
        "/api/v1/automation-rules/preview": {"conditions": {}, "actions": {"hold": True}},
        "/api/v1/requests/requeue": {"ids": [PushRequest.objects.first().pk]},
    }


def test_a_viewer_api_token_changes_nothing(world):
    token = create_api_token(world, "viewer token")
    client = Client(headers={"Authorization": f"Bearer {token}"})
    bodies = valid_bodies()
    before = database_state()
    refused = 0
    for url in all_urls():
        if not url.startswith("/api/v1/") or url in PUBLIC:
            continue
        resp = client.get(url)
        admin_read = url.startswith("/api/v1/users/")  # who sees which company: admins only
        needs_more = admin_read or url in OPERATOR_READS
        assert resp.status_code in ((403,) if needs_more else (200, 404, 405)), (url, resp.status_code)
        for method in WRITE_METHODS:
            resp = getattr(client, method)(url, bodies.get(url, {}), content_type="application/json")
            if url in READ_ONLY_POSTS and method == "post":
                assert resp.status_code == 200, (method, url, resp.status_code, resp.content)
            else:
                assert resp.status_code in (403, 405), (method, url, resp.status_code, resp.content)
                refused += resp.status_code == 403
    assert refused >= 12
    assert database_state() == before


def test_every_post_needs_the_csrf_token_even_for_an_admin(world):
    """CSRF on every state change: an admin's browser tricked into posting (no CSRF token) changes
    nothing anywhere. The API takes no cookies (bearer tokens only, checked above) and the webhook
    is authenticated by its HMAC signature instead."""
    admin = make_user("ada", "admin")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    before = database_state()
    checked = 0
    for url in all_urls():
        if url.startswith(("/api/", "/webhooks/")):
            continue
        resp = client.post(url, {"payload": "{}", "action": "save", "status": "paused", "role": "viewer", "name": "x"})
        assert resp.status_code in (403, 405), (url, resp.status_code)
        checked += resp.status_code == 403
    assert checked >= 20
    assert database_state() == before
