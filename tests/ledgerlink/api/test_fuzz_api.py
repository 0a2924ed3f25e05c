"""Schemathesis against the API's own OpenAPI document (/api/v1/openapi.json), in-process over WSGI.

Every operation gets generated requests, valid and invalid (bounded: a few examples per operation so
``make test`` stays fast), sent as an admin with a valid token against a world with a Company, site
areas, order sources, mirror rows, orders and push requests. Checks:

* no 5xx, ever;
* every 4xx answer is JSON with a non-empty ``detail`` string that says what to fix (and, for 422, the
  ``field`` it is about when the input names one);
* answers conform to the documented response schemas.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckContext
from schemathesis.specs.openapi.checks import response_schema_conformance

from ledgerlink.core.models import PushRequest
from ledgerlink.domain.accounts.tokens import create_api_token
from ledgerlink.domain.ingest.orders import ingest_order
from tests.ledgerlink.factories import make_user, make_world, order_data

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())

EXAMPLES = 12  # per operation; ~30 operations


def detail_says_what_to_fix(ctx: CheckContext, response, case) -> bool | None:
    """A 4xx must be JSON ``{"detail": "<non-empty text>", ...}``."""
    if not 400 <= response.status_code < 500:
        return None
    if response.status_code == 405:
        # django-ninja answers an undocumented method (TRACE, PUT on a GET route, ...) in plain text
        # "Method not allowed"; the Allow header names the methods to use (RFC 9110 15.5.6).
        assert response.headers.get("allow"), "405 without an Allow header"
        return True
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"{response.status_code} answer is not JSON: {response.content[:200]!r}") from exc
    assert isinstance(body, dict), f"{response.status_code} answer is not an object: {body!r}"
    detail = body.get("detail")
    assert isinstance(detail, str) and len(detail.strip()) >= 5, (
        f"{response.status_code} answer without a useful detail: {body!r}")
    return True


def no_server_error(ctx: CheckContext, response, case) -> bool | None:
    assert response.status_code < 500, f"{response.status_code}: {response.content[:500]!r}"
    return True


@pytest.fixture
def keep_test_connection():
    """Schemathesis drives the real WSGI handler, whose request signals close the database connection,
    which would end the test's transaction; Django's own test client disconnects them the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_world(db, keep_test_connection):
    w = make_world()
    for n in range(3):
        ingest_order(order_data(external_id=f"FZ-{n}"), actor_label="fuzz")
    ingest_order(order_data(external_id="FZ-bad", email="nobody@nowhere.example"), actor_label="fuzz")
    assert PushRequest.objects.count() == 4
    token = create_api_token(make_user("fuzz-admin", "admin"), "fuzz")
    return w, token


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck), database=None)
def test_api_never_5xx_and_every_4xx_says_what_to_fix(case, api_world):
    _, token = api_world
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        checks=[no_server_error, detail_says_what_to_fix, response_schema_conformance],
    )
