"""POST /api/v1/orders/batch (issue 17): up to 500 orders, each as POST /orders takes it, answered
each in the request's order; a bad order refuses only itself."""

import json

import pytest
from django.test import Client

from ledgerlink.core.models import AuditLog, Order, PushRequest
from ledgerlink.domain.accounts.tokens import create_api_token
from tests.ledgerlink.factories import make_user, make_world, order_data

pytestmark = pytest.mark.django_db


def client_for(role: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {create_api_token(make_user(role, role), 'test')}")


def post(client: Client, path: str, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def test_batch_answers_each_order_in_order_and_stores_the_good_ones():
    make_world()
    c = client_for("operator")
    existing = post(c, "/api/v1/orders", order_data(external_id="WP-0")).json()["id"]
    bad_quantity = order_data(external_id="WP-Q")
    bad_quantity["lines"][0]["quantity"] = "two"
    r = post(c, "/api/v1/orders/batch", {"orders": [
        order_data(external_id="WP-1"),
        bad_quantity,
        order_data(external_id="WP-0"),
        order_data(source="Web Shop", external_id="WEB-1", email=""),
        [1, 2],
        order_data(external_id="WP-1"),
        order_data(external_id="WP-N", lines=[]),
        {"order_source": "Wholesale Portal", "number": "X"},
    ]})
    assert r.status_code == 200
    ids = dict(Order.objects.values_list("external_id", "pk"))
    assert r.json() == {
        "results": [
            {"index": 0, "status": 201, "id": ids["WP-1"], "detail": None, "field": None},
            {"index": 1, "status": 422, "id": None, "detail": "must be a number", "field": "lines[0].quantity"},
            {"index": 2, "status": 200, "id": existing, "detail": None, "field": None},
            {"index": 3, "status": 201, "id": ids["WEB-1"], "detail": None, "field": None},
            {"index": 4, "status": 422, "id": None, "detail": "the order must be a JSON object", "field": None},
            {"index": 5, "status": 200, "id": ids["WP-1"], "detail": None, "field": None},
            {"index": 6, "status": 422, "id": None, "detail": "must have at least one line", "field": "lines"},
            {"index": 7, "status": 422, "id": None, "detail": "is required", "field": "external_id"},
        ],
        "created": 2, "existing": 2, "refused": 4,
    }
    assert sorted(ids) == ["WEB-1", "WP-0", "WP-1"]
    assert PushRequest.objects.count() == 3
    assert AuditLog.objects.filter(action="order.ingest", actor_label="api:operator").count() == 3
    # The same order through POST /orders is refused with the same words.
    single = post(c, "/api/v1/orders", bad_quantity)
    assert (single.status_code, single.json()["detail"], single.json()["field"]) == (
        422, "must be a number", "lines[0].quantity")
    # Re-delivering the whole batch creates nothing.
    again = post(c, "/api/v1/orders/batch", {"orders": [order_data(external_id="WP-1"),
                                                         order_data(source="Web Shop", external_id="WEB-1")]})
    assert [(x["status"], x["id"]) for x in again.json()["results"]] == [(200, ids["WP-1"]), (200, ids["WEB-1"])]
    assert Order.objects.count() == 3


def test_batch_needs_the_operator_role_and_at_most_500_orders():
    make_world()
    assert post(client_for("viewer"), "/api/v1/orders/batch", {"orders": [order_data()]}).status_code == 403
    c = client_for("operator")
    r = post(c, "/api/v1/orders/batch", {"orders": [order_data(external_id=f"B-{n}") for n in range(501)]})
    assert (r.status_code, r.json()["field"], r.json()["detail"]) == (
        422, "orders", "must hold at most 500 orders (got 501): send the rest in another batch")
    r = post(c, "/api/v1/orders/batch", {"orders": []})
    assert (r.status_code, r.json()["field"], r.json()["detail"]) == (422, "orders", "must hold at least one order")
    r = post(c, "/api/v1/orders/batch", {"order": []})
    assert (r.status_code, r.json()["field"]) == (422, "orders")
    assert Order.objects.count() == 0
    r = post(c, "/api/v1/orders/batch", {"orders": [order_data(external_id=f"B-{n}") for n in range(500)]})
    assert (r.status_code, r.json()["created"]) == (200, 500)
    assert Order.objects.count() == PushRequest.objects.count() == 500


def test_batch_over_the_body_limit_is_413_naming_orders(settings):
    make_world()
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    r = post(client_for("operator"), "/api/v1/orders/batch",
             {"orders": [order_data(external_id=f"B-{n}") for n in range(100)]})
    assert (r.status_code, r.json()) == (413, {
        "detail": "the request body is too large (at most 10,000 bytes): send the orders in smaller batches",
        "field": "orders"})
    assert Order.objects.count() == 0


def test_openapi_documents_the_batch_endpoint():
    doc = Client().get("/api/v1/openapi.json").json()
    op = doc["paths"]["/api/v1/orders/batch"]["post"]
    assert op["operationId"] == "ledgerlink_core_api_create_orders_batch"
    assert set(doc["components"]["schemas"]["OrderBatchResultOut"]["properties"]) == {
        "index", "status", "id", "detail", "field"}
