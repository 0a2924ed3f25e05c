"""The number of SQL queries per list page is pinned and does not grow with the rows shown."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ledgerlink.core.models import PushRequest
from tests.ledgerlink.factories import make_failed_request, make_login_user, make_web_world

pytestmark = pytest.mark.django_db

# session, user, profile, the page's rows (one JOINed query per state: 3, each an index range scan
# on (state, id) with LIMIT 51), site areas, order sources, then the idle-timeout session save
# (SAVEPOINT, UPDATE, RELEASE)
LIST_QUERIES = 11
# the polled partial: session, user, profile, the rows (3), session save (3)
ROWS_QUERIES = 9


def build(n: int, state: str):
    world = make_web_world()
    for i in range(n):
        make_failed_request(
            world, number=f"N-{i}", email=f"b{i}@x.example", state=state,
            source=world["portal"] if i % 2 else world["shop"],
        )
    return world


@pytest.mark.parametrize("rows", [5, 50])
@pytest.mark.parametrize(
    "name,state,expected",
    [
        ("requests_completed", PushRequest.State.FAILED, LIST_QUERIES),
        ("requests_completed_rows", PushRequest.State.FAILED, ROWS_QUERIES),
        ("requests_pending", PushRequest.State.QUEUED, LIST_QUERIES),
        ("requests_pending_rows", PushRequest.State.QUEUED, ROWS_QUERIES),
    ],
)
def test_request_list_query_count_is_constant(client, django_assert_num_queries, rows, name, state, expected):
    build(rows, state)
    client.force_login(make_login_user("v", "viewer"))
    with django_assert_num_queries(expected):
        resp = client.get(reverse(f"web:{name}"))
    assert resp.status_code == 200
    assert resp.content.decode().count('data-id="') == rows


def test_second_page_uses_keyset_not_offset_or_count(client):
    build(60, PushRequest.State.FAILED)
    client.force_login(make_login_user("v", "viewer"))
    first = client.get(reverse("web:requests_completed"))
    assert first.content.decode().count('data-id="') == 50
    last_id = PushRequest.objects.order_by("-id").values_list("id", flat=True)[49]
    assert f"after={last_id}" in first.content.decode()
    with CaptureQueriesContext(connection) as ctx:
        second = client.get(reverse("web:requests_completed"), {"after": last_id})
    assert second.content.decode().count('data-id="') == 10
    sql = " ".join(q["sql"].upper() for q in ctx.captured_queries)
    assert "OFFSET" not in sql and "COUNT(" not in sql
    assert f'"ID" < {last_id}' in sql.replace("`", '"') or f"ID\" < {last_id}" in sql


@pytest.mark.parametrize("rows", [5, 50])
def test_orders_and_customers_query_count_is_constant(client, django_assert_num_queries, rows):
    build(rows, PushRequest.State.FAILED)
    client.force_login(make_login_user("v", "viewer"))
    # session, user, profile, orders (JOINed), order sources, session save (3)
    with django_assert_num_queries(8):
        assert client.get(reverse("web:orders")).status_code == 200


@pytest.mark.parametrize("rows", [5, 50])
def test_customers_query_count_is_constant(client, django_assert_num_queries, rows):
    from ledgerlink.core.models import Customer

    world = make_web_world()
    for i in range(rows - 1):
        Customer.objects.create(company=world["company"], qbo_id=str(100 + i), display_name=f"C {i}")
    client.force_login(make_login_user("v", "viewer"))
    # session, user, profile, companies, customers, sync state, newest "Sync now", session save (3)
    with django_assert_num_queries(10):
        resp = client.get(reverse("web:customers"))
    assert resp.content.decode().count("<tr><td>") == rows
