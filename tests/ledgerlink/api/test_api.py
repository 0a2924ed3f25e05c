"""The REST API: bearer auth and roles, ingest 201/200/422, requests list/detail/requeue, OpenAPI."""

import json

import pytest
from django.test import Client
from django.utils import timezone

from ledgerlink.core.models import ApiToken, AuditLog, Order, PushRequest, PushRevision
from ledgerlink.domain.accounts.tokens import authenticate_token, create_api_token, revoke_api_token
from tests.ledgerlink.factories import make_user, make_world, order_data

pytestmark = pytest.mark.django_db


def client_for(role: str | None, username: str | None = None, *, superuser: bool = False) -> Client:
    user = make_user(username or (role or "super"), role, superuser=superuser)
    return Client(HTTP_AUTHORIZATION=f"Bearer {create_api_token(user, 'test')}")


def post(client: Client, path: str, body=None):
    return client.post(path, data=json.dumps(body) if body is not None else "", content_type="application/json")


# --- auth --------------------------------------------------------------------------------------------


def test_no_token_bad_token_revoked_token_are_401():
    make_world()
    assert Client().get("/api/v1/requests").status_code == 401
    assert Client(HTTP_AUTHORIZATION="Bearer nope").get("/api/v1/requests").status_code == 401
    user = make_user("vic", "viewer")
    raw = create_api_token(user)
    c = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert c.get("/api/v1/requests").status_code == 200
    revoke_api_token(ApiToken.objects.get(user=user).pk)
    r = c.get("/api/v1/requests")
    assert (r.status_code, r.json()) == (
        401, {"detail": "a valid API token is required (Authorization: Bearer <token>)", "field": None},
    )
    user.is_active = False
    user.save()
    assert authenticate_token(raw) is None


def test_token_is_stored_hashed_and_last_used_recorded():
    user = make_user("tok", "viewer")
    raw = create_api_token(user, "ci")
    token = ApiToken.objects.get()
    assert raw.startswith("llk_") and len(raw) > 40
    assert token.prefix == raw[:12]
    assert token.token_hash != raw and len(token.token_hash) == 64
    assert token.last_used_at is None
    assert authenticate_token(raw) == user
    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_at <= timezone.now()
    assert AuditLog.objects.filter(action="api_token.create").count() == 1


def test_roles_viewer_reads_operator_writes_admin_configures():
    w = make_world()
    viewer, operator, admin = client_for("viewer"), client_for("operator"), client_for("admin")
    superuser = client_for(None, "root", superuser=True)
    assert viewer.get("/api/v1/orders").status_code == 200
    r = post(viewer, "/api/v1/orders", order_data())
    assert (r.status_code, r.json()) == (403, {"detail": "this needs the operator role", "field": None})
    assert post(operator, "/api/v1/orders", order_data()).status_code == 201
    site_area = {"name": "B2C", "company": w.company.pk, "push_method": "sales_receipt"}
    r = post(operator, "/api/v1/site-areas", site_area)
    assert (r.status_code, r.json()) == (403, {"detail": "this needs the admin role", "field": None})
    assert post(admin, "/api/v1/site-areas", site_area).status_code == 201
    assert post(superuser, "/api/v1/order-sources", {"name": "Etsy", "site_area": w.web.pk}).status_code == 201
    assert Order.objects.count() == 1


# --- orders --------------------------------------------------------------------------------------------


def test_post_order_201_then_redelivery_200_same_body_and_one_request():
    make_world()
    c = client_for("operator")
    first = post(c, "/api/v1/orders", order_data(shipping=9.6))
    again = post(c, "/api/v1/orders", order_data(shipping=9.6))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    body = first.json()
    assert {k: body[k] for k in ("external_id", "number", "email", "status", "subtotal", "shipping", "total")} == {
        "external_id": "WP-1001", "number": "WP-1001", "email": "name2@example.com", "status": "queued",
        "subtotal": "80.00", "shipping": "9.60", "total": "89.60",
    }
    assert body["lines"][0] == {"sku": "W-100", "description": "Widget", "quantity": "4.0000",
                                "unit_price": "12.5000", "amount": "50.00", "tax": None, "tax_rate": None,
                                "taxable": False}
    assert len(body["requests"]) == 1 and body["requests"][0]["state"] == "queued"
    assert PushRequest.objects.count() == 1
    assert AuditLog.objects.get(action="order.ingest").actor_label == "api:operator"


@pytest.mark.parametrize(
    ("mutate", "field", "detail"),
    [
        (lambda d: d.pop("external_id"), "external_id", "is required"),
        (lambda d: d.pop("lines"), "lines", "is required"),
        (lambda d: d["lines"][0].update(quantity="two"), "lines[0].quantity", "must be a number"),
        (lambda d: d["lines"][1].update(quantity=0), "lines[1].quantity", "must be a number greater than 0"),
        (lambda d: d["lines"][0].pop("unit_price"), "lines[0].unit_price", "is required"),
        (lambda d: d.update(order_source="Nowhere"), "order_source", "no order source 'Nowhere'"),
        (lambda d: d.update(txn_date="yesterday"), "txn_date", "must be a date as YYYY-MM-DD"),
        (lambda d: d.update(lines=[]), "lines", "must have at least one line"),
        (lambda d: d.update(ship_address="Main St"), "ship_address", "must be an object"),
    ],
)
def test_post_order_422_names_field_and_reason(mutate, field, detail):
    make_world()
    data = order_data()
    mutate(data)
    r = post(client_for("operator"), "/api/v1/orders", data)
    assert r.status_code == 422
    assert (r.json()["field"], r.json()["detail"]) == (field, detail)
    assert Order.objects.count() == 0


def test_malformed_json_is_400_and_creates_nothing():
    make_world()
    r = client_for("operator").post("/api/v1/orders", data="{not json", content_type="application/json")
    assert r.status_code == 400
    assert Order.objects.count() == 0


def test_get_order_and_list_with_keyset_pagination():
    make_world()
    c = client_for("operator")
    ids = [post(c, "/api/v1/orders", order_data(external_id=f"WP-{n}")).json()["id"] for n in range(5)]
    page1 = c.get("/api/v1/orders?limit=2").json()
    assert [o["id"] for o in page1["items"]] == ids[::-1][:2]
    page2 = c.get(f"/api/v1/orders?limit=2&after={page1['next_after']}").json()
    assert [o["id"] for o in page2["items"]] == ids[::-1][2:4]
    page3 = c.get(f"/api/v1/orders?limit=2&after={page2['next_after']}").json()
    assert ([o["id"] for o in page3["items"]], page3["next_after"]) == ([ids[0]], None)
    detail = c.get(f"/api/v1/orders/{ids[0]}").json()
    assert (detail["id"], detail["order_source_name"], detail["push_method"]) == (ids[0], "Wholesale Portal", "invoice")
    r = c.get("/api/v1/orders/999999")
    assert (r.status_code, r.json()) == (404, {"detail": "order 999999 does not exist", "field": "id"})


# --- requests ------------------------------------------------------------------------------------------


def test_request_detail_shows_preflight_failure_with_title_and_fix():
    make_world()
    c = client_for("operator")
    order = post(c, "/api/v1/orders", order_data(external_id="WP-1003", email="new.buyer@example.org")).json()
    rid = order["requests"][0]["id"]
    d = c.get(f"/api/v1/requests/{rid}").json()
    assert (d["state"], d["kind"], d["qbo_id"], d["revision"], d["requestid"]) == (
        "failed", "invoice", "", 1, f"ll-{rid}-r1",
    )
    err = d["error"]
    assert {k: err[k] for k in ("kind", "title", "message", "detail", "code", "element")} == {
        "kind": "customer_ref_required",
        "title": "CustomerRef is required",
        "message": "Required param missing, need to supply the required value for the API",
        "detail": "Required parameter CustomerRef is missing in the request",
        "code": "2020",
        "element": "CustomerRef",
    }
    assert err["fix"].startswith("No QuickBooks Online customer has this order's email")
    assert d["payload"]["BillEmail"] == {"Address": "new.buyer@example.org"}
    assert [(r["number"], r["author"]) for r in d["revisions"]] == [(1, "api:operator")]
    assert [(a["revision"], a["requestid"], a["outcome"], a["error_kind"], a["http_status"]) for a in d["attempts"]] == [
        (1, f"ll-{rid}-r1", "preflight", "customer_ref_required", None)
    ]
    queued = post(c, "/api/v1/orders", order_data(external_id="WP-OK")).json()["requests"][0]["id"]
    assert c.get(f"/api/v1/requests/{queued}").json()["error"] is None


def test_requeue_with_edited_payload_via_api_keeps_history():
    w = make_world()
    c = client_for("operator")
    order = post(c, "/api/v1/orders", order_data(external_id="WP-1003", email="new.buyer@example.org")).json()
    rid = order["requests"][0]["id"]
    payload = c.get(f"/api/v1/requests/{rid}").json()["payload"]
    payload["BillEmail"] = {"Address": "name2@example.com"}
    payload["CustomerRef"] = {"value": "56", "name": "Acme Tools"}
    r = post(c, f"/api/v1/requests/{rid}/requeue", {"payload": payload, "note": "customer added in QBO"})
    assert r.status_code == 200
    d = r.json()
    assert (d["state"], d["revision"], d["requestid"], d["error"], d["attempt_count"]) == (
        "queued", 2, f"ll-{rid}-r2", None, 0,
    )
    assert [(x["number"], x["author"], x["note"]) for x in d["revisions"]] == [
        (1, "api:operator", ""), (2, "api:operator", "customer added in QBO"),
    ]
    assert "CustomerRef" not in d["revisions"][0]["payload"]
    assert d["payload"]["CustomerRef"] == {"value": "56", "name": "Acme Tools"}
    assert len(d["attempts"]) == 1  # the pre-flight attempt of revision 1 stays
    # A queued request cannot be re-queued: 409.
    r = post(c, f"/api/v1/requests/{rid}/requeue")
    assert (r.status_code, r.json()["field"]) == (409, "state")
    assert PushRevision.objects.filter(push_request_id=rid).count() == 2
    assert w.company.push_requests.count() == 1


def test_requeue_refuses_bad_edits_with_field():
    make_world()
    c = client_for("operator")
    rid = post(c, "/api/v1/orders", order_data(external_id="X", email="nobody@example.org")).json()["requests"][0]["id"]
    r = post(c, f"/api/v1/requests/{rid}/requeue", {"payload": {"Invoice": {"Line": []}}})
    assert (r.status_code, r.json()["field"]) == (422, "payload.Invoice")
    r = post(c, f"/api/v1/requests/{rid}/requeue", {"payload": [1]})
    assert (r.status_code, r.json()["field"]) == (422, "payload")
    big = {"payload": {"Line": [], "PrivateNote": "x" * (10 * 1024 * 1024)}}
    r = post(c, f"/api/v1/requests/{rid}/requeue", big)
    assert r.status_code == 413
    assert r.json()["field"] == "payload"
    assert PushRevision.objects.filter(push_request_id=rid).count() == 1
    assert post(client_for("viewer"), f"/api/v1/requests/{rid}/requeue").status_code == 403


def test_request_list_filters_and_bulk_requeue_by_error_kind():
    w = make_world()
    c = client_for("operator")
    failed = [post(c, "/api/v1/orders", order_data(external_id=f"F{n}", email=f"x{n}@nowhere.example")).json()
              for n in range(3)]
    post(c, "/api/v1/orders", order_data(external_id="OK1"))
    post(c, "/api/v1/orders", order_data(source="Web Shop", external_id="B2C", email=""))
    failed_ids = sorted(o["requests"][0]["id"] for o in failed)
    r = c.get("/api/v1/requests?state=failed&error_kind=customer_ref_required").json()
    assert sorted(x["id"] for x in r["items"]) == failed_ids
    assert len(c.get(f"/api/v1/requests?site_area={w.web.pk}").json()["items"]) == 1
    assert len(c.get(f"/api/v1/requests?order={failed[0]['id']}").json()["items"]) == 1
    assert len(c.get("/api/v1/requests?state=queued,failed").json()["items"]) == 5
    r = c.get("/api/v1/requests?state=bogus")
    assert (r.status_code, r.json()["field"]) == (422, "state")
    r = post(c, "/api/v1/requests/requeue", {"email": "x1@nowhere.example"})
    assert r.json() == {"requeued": [failed[1]["requests"][0]["id"]]}
    # Unchanged re-queue: pre-flight fails it again at once (no customer yet).
    assert PushRequest.objects.get(pk=failed[1]["requests"][0]["id"]).state == "failed"
    patch = {"CustomerRef": {"value": "56", "name": "Acme Tools"}, "BillEmail": {"Address": "name2@example.com"}}
    r = post(c, "/api/v1/requests/requeue", {"error_kind": "customer_ref_required", "payload_patch": patch})
    assert r.json() == {"requeued": failed_ids}
    assert set(PushRequest.objects.filter(pk__in=failed_ids).values_list("state", flat=True)) == {"queued"}
    r = post(c, "/api/v1/requests/requeue", {})
    assert (r.status_code, r.json()["field"]) == (422, "ids")


def test_cancel_via_api():
    make_world()
    c = client_for("operator")
    rid = post(c, "/api/v1/orders", order_data()).json()["requests"][0]["id"]
    r = post(c, f"/api/v1/requests/{rid}/cancel", {"note": "duplicate order"})
    assert (r.status_code, r.json()["state"]) == (200, "cancelled")
    assert post(c, f"/api/v1/requests/{rid}/cancel").status_code == 409


# --- configuration, mirror ---------------------------------------------------------------------------


def test_site_areas_order_sources_rules_companies_customers_items():
    w = make_world()
    admin = client_for("admin")
    r = post(admin, "/api/v1/site-areas", {"name": "Marketplace", "company": w.company.pk,
                                           "push_method": "sales_receipt", "default_item": "1"})
    sa = r.json()
    assert (r.status_code, sa["name"], sa["push_method"], sa["customer_policy"], sa["default_item"]) == (
        201, "Marketplace", "sales_receipt", "match", "1",
    )
    r = admin.patch(f"/api/v1/site-areas/{sa['id']}", data=json.dumps({"push_method": "bogus"}),
                    content_type="application/json")
    assert (r.status_code, r.json()) == (422, {"detail": "must be one of invoice, sales_receipt", "field": "push_method"})
    r = admin.patch(f"/api/v1/site-areas/{sa['id']}", data=json.dumps({"shipping_item": "SHIPPING_ITEM_ID"}),
                    content_type="application/json")
    assert r.json()["shipping_item"] == "SHIPPING_ITEM_ID"
    r = post(admin, "/api/v1/site-areas", {"name": "Marketplace", "company": w.company.pk})
    assert r.status_code == 409
    src = post(admin, "/api/v1/order-sources", {"name": "Amazon", "site_area": sa["id"]}).json()
    assert src == {"id": src["id"], "name": "Amazon", "site_area": sa["id"], "kind": "api", "webhook_url": None,
                   "has_webhook_secret": False, "previous_secret_until": None, "store_money": "shop"}
    assert admin.get(f"/api/v1/site-areas/{sa['id']}").json()["order_sources"] == [src["id"]]

    rule = post(admin, "/api/v1/automation-rules", {"name": "Trade show to one account",
                                                    "conditions": {"order_source": w.trade.pk},
                                                    "actions": {"set_email": "tradeshow@example.com"}})
    assert rule.status_code == 201
    rid = rule.json()["id"]
    r = post(admin, "/api/v1/automation-rules", {"name": "bad", "actions": {"set_email": "nope"}})
    assert (r.status_code, r.json()) == (422, {"detail": "must be a valid email address", "field": "actions.set_email"})
    r = admin.patch(f"/api/v1/automation-rules/{rid}", data=json.dumps({"enabled": False}),
                    content_type="application/json")
    assert r.json()["enabled"] is False
    r = post(admin, "/api/v1/automation-rules/preview", {"conditions": {}, "actions": {"hold": True}})
    assert r.json() == {"would_change": 0, "last_n": 1000}
    assert admin.delete(f"/api/v1/automation-rules/{rid}").status_code == 204
    assert admin.get(f"/api/v1/automation-rules/{rid}").status_code == 404

    assert admin.get("/api/v1/companies").json() == [
        {"id": w.company.pk, "name": "Demo Company", "realm_id": "9130350000000001", "status": "active",
         "last_success_at": None, "country": "", "tax_model": "", "home_currency": "", "multicurrency": False,
         "limits": {"max_in_flight": 10, "max_per_minute": 500, "max_batches_per_minute": 40, "batch_size": 30,
                    "use_batch": True, "qbo": {"max_in_flight": 10, "max_per_minute": 500,
                                               "max_batches_per_minute": 40, "batch_size": 30}}}
    ]
    r = admin.get("/api/v1/customers?email=%20NAME2@example.com").json()
    assert [(x["qbo_id"], x["display_name"], x["emails"]) for x in r["items"]] == [
        ("56", "Acme Tools", ["name2@example.com"])
    ]
    assert [x["qbo_id"] for x in admin.get("/api/v1/customers?q=trade").json()["items"]] == ["57"]
    assert [x["qbo_id"] for x in admin.get("/api/v1/items?sku=W-100").json()["items"]] == ["2"]
    assert [x["qbo_id"] for x in admin.get("/api/v1/items?active=false").json()["items"]] == ["4"]


def test_openapi_is_served_and_names_the_contract_fields():
    r = Client().get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    for path in ("/api/v1/orders", "/api/v1/orders/{order_id}/run-rules", "/api/v1/requests",
                 "/api/v1/requests/{request_id}", "/api/v1/requests/{request_id}/requeue",
                 "/api/v1/requests/requeue", "/api/v1/site-areas", "/api/v1/order-sources",
                 "/api/v1/automation-rules", "/api/v1/customers", "/api/v1/items", "/api/v1/companies"):
        assert path in doc["paths"], path
    schemas = doc["components"]["schemas"]
    assert set(schemas["OrderIn"]["properties"]) >= {
        "order_source", "external_id", "number", "email", "lines", "shipping", "discount", "tax"}
    assert set(schemas["LineIn"]["properties"]) == {
        "sku", "description", "quantity", "unit_price", "tax", "tax_rate", "taxable"}
    assert set(schemas["RequestErrorOut"]["properties"]) == {
        "kind", "title", "message", "detail", "code", "element", "fix"}
    assert doc["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"


def test_requeue_without_body_like_curl_x_post():
    make_world()
    c = client_for("operator")
    rid = post(c, "/api/v1/orders", order_data(external_id="X", email="nobody@example.org")).json()["requests"][0]["id"]
    r = c.generic("POST", f"/api/v1/requests/{rid}/requeue")  # no body, no Content-Type
    assert r.status_code == 200
    d = r.json()
    assert (d["revision"], d["state"], d["error"]["kind"]) == (2, "failed", "customer_ref_required")
    assert [x["note"] for x in d["revisions"]] == ["", "re-queued unchanged"]
    r = post(c, f"/api/v1/requests/{rid}/requeue", {"note": "try again"})
    assert [x["note"] for x in r.json()["revisions"]] == ["", "re-queued unchanged", "try again"]


def test_run_rules_endpoint_releases_a_held_order():
    make_world()
    admin, operator, viewer = client_for("admin"), client_for("operator"), client_for("viewer")
    rule = post(admin, "/api/v1/automation-rules", {"name": "hold all", "actions": {"hold": True}}).json()
    order = post(operator, "/api/v1/orders", order_data()).json()
    assert (order["held"], order["status"], order["requests"]) == (True, "held", [])
    assert post(viewer, f"/api/v1/orders/{order['id']}/run-rules").status_code == 403
    admin.patch(f"/api/v1/automation-rules/{rule['id']}", data=json.dumps({"enabled": False}),
                content_type="application/json")
    r = post(operator, f"/api/v1/orders/{order['id']}/run-rules")
    body = r.json()
    assert (r.status_code, body["held"], body["status"], [x["state"] for x in body["requests"]]) == (
        200, False, "queued", ["queued"],
    )
    assert [(x["rule_name"], x["field"], x["new_value"]) for x in body["rule_log"]] == [
        ("hold all", "held", "true"), ("(rules re-run: no rule holds it)", "held", "false"),
    ]
    r = post(operator, f"/api/v1/orders/{order['id']}/run-rules")
    assert (r.status_code, r.json()["field"]) == (409, "id")
    # The preview runs a rule's pattern over many orders: operators and admins only.
    assert post(viewer, "/api/v1/automation-rules/preview", {"actions": {"hold": True}}).status_code == 403
    assert post(operator, "/api/v1/automation-rules/preview", {"actions": {"hold": True}}).json() == {
        "would_change": 1, "last_n": 1000,
    }
