"""Store order sources in the API and the admin area: kind, write-only webhook_secret, webhook_url,
the deliveries list and re-processing a failed delivery (button and API)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from ledgerlink.core.models import OrderSource, StoreDelivery
from ledgerlink.domain.accounts.tokens import create_api_token
from ledgerlink.domain.routing.order_sources import update_order_source
from ledgerlink.stores import signatures
from tests.ledgerlink.factories import make_login_user, make_user, make_web_world
from tests.ledgerlink.stores.conftest import load

pytestmark = pytest.mark.django_db

SECRET = "whsec-api-test"


def client_for(role: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {create_api_token(make_user(role, role), 'test')}")


def post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def patch(client, path, body):
    return client.patch(path, data=json.dumps(body), content_type="application/json")


def test_order_sources_have_a_kind_a_write_only_secret_and_a_webhook_url(settings):
    settings.LEDGERLINK_BASE_URL = "https://ledgerlink.example.com"
    world = make_web_world()
    admin = client_for("admin")
    r = post(admin, "/api/v1/order-sources", {"name": "My Shopify", "site_area": world["retail"].pk,
                                              "kind": "shopify", "webhook_secret": SECRET})
    assert r.status_code == 201
    src = r.json()
    assert src == {"id": src["id"], "name": "My Shopify", "site_area": world["retail"].pk, "kind": "shopify",
                   "webhook_url": f"https://ledgerlink.example.com/webhooks/shopify/{src['id']}",
                   "has_webhook_secret": True, "previous_secret_until": None, "store_money": "shop"}
    assert SECRET not in r.content.decode()
    listed = {s["id"]: s for s in client_for("viewer").get("/api/v1/order-sources").json()}
    assert listed[src["id"]]["webhook_url"] == f"https://ledgerlink.example.com/webhooks/shopify/{src['id']}"
    assert listed[world["portal"].pk]["webhook_url"] is None and listed[world["portal"].pk]["kind"] == "api"
    assert SECRET not in json.dumps(listed)

    r = patch(admin, f"/api/v1/order-sources/{src['id']}", {"webhook_secret": "rotated"})
    assert r.status_code == 200 and r.json()["previous_secret_until"] is not None
    r = patch(admin, f"/api/v1/order-sources/{src['id']}", {"kind": "woocommerce"})
    assert r.json()["webhook_url"] == f"https://ledgerlink.example.com/webhooks/woocommerce/{src['id']}"

    # Bad input: 422 naming the field, nothing stored.
    before = OrderSource.objects.count()
    r = post(admin, "/api/v1/order-sources", {"name": "X", "site_area": world["retail"].pk, "kind": "ebay"})
    assert (r.status_code, r.json()) == (422, {"detail": "must be one of api, shopify, woocommerce", "field": "kind"})
    r = post(admin, "/api/v1/order-sources", {"name": "X", "site_area": world["retail"].pk,
                                              "webhook_secret": "s"})
    assert (r.status_code, r.json()["field"]) == (422, "webhook_secret")
    r = post(admin, "/api/v1/order-sources", {"name": "X", "site_area": world["retail"].pk, "kind": "shopify",
                                              "webhook_secret": " padded "})
    assert (r.status_code, r.json()["field"]) == (422, "webhook_secret")
    assert OrderSource.objects.count() == before
    assert post(client_for("operator"), "/api/v1/order-sources", {"name": "Y", "site_area": 1}).status_code == 403


def _failed_delivery(world) -> tuple[OrderSource, StoreDelivery]:
    source = OrderSource.objects.create(name="Shop", site_area=world["retail"], kind="shopify")
    update_order_source(source.pk, webhook_secret=SECRET)
    body = json.dumps(load("shopify_order_us.json")).encode()
    headers = signatures.shopify_headers(body, SECRET, topic="orders/unknown", webhook_id="u-1")
    headers.pop("Content-Type")
    r = Client().post(f"/webhooks/shopify/{source.pk}", data=body, content_type="application/json", headers=headers)
    return source, StoreDelivery.objects.get(pk=r.json()["delivery"])


def test_deliveries_are_listed_and_a_failed_one_reprocessed_through_the_api():
    world = make_web_world()
    source, delivery = _failed_delivery(world)
    viewer = client_for("viewer")
    page = viewer.get(f"/api/v1/store-deliveries?order_source={source.pk}&outcome=failed").json()
    assert [d["id"] for d in page["deliveries"]] == [delivery.pk]
    assert page["deliveries"][0]["field"] == "topic" and page["next_after"] is None
    detail = viewer.get(f"/api/v1/store-deliveries/{delivery.pk}").json()
    assert detail["body_encoding"] == "utf-8" and json.loads(detail["body"])["id"] == 5678901234
    assert viewer.get("/api/v1/store-deliveries?outcome=lost").status_code == 422
    assert viewer.post(f"/api/v1/store-deliveries/{delivery.pk}/reprocess").status_code == 403
    operator = client_for("operator")
    r = operator.post(f"/api/v1/store-deliveries/{delivery.pk}/reprocess")
    assert r.status_code == 200
    assert (r.json()["outcome"], r.json()["reprocessed"]) == ("failed", 1)
    assert operator.post("/api/v1/store-deliveries/999999/reprocess").status_code == 404


def test_the_source_page_shows_the_url_and_failed_deliveries_with_a_reprocess_button():
    world = make_web_world()
    source, delivery = _failed_delivery(world)
    client = Client()
    client.force_login(make_login_user("ada", "admin"))
    page = client.get(f"/setup/order-sources/{source.pk}/").content.decode()
    assert f"/webhooks/shopify/{source.pk}</code>" in page
    assert SECRET not in page
    assert 'type="password"' in page
    assert f"/setup/deliveries/{delivery.pk}/reprocess" in page
    assert "is not a topic Ledgerlink handles" in page
    r = client.post(f"/setup/deliveries/{delivery.pk}/reprocess")
    assert r.status_code == 302 and r["Location"] == f"/setup/order-sources/{source.pk}/"
    delivery.refresh_from_db()
    assert delivery.reprocessed == 1
    # Setting a new secret through the form keeps the old one for 24 hours; an empty field keeps it.
    r = client.post(f"/setup/order-sources/{source.pk}/", {"name": "Shop", "site_area": world["retail"].pk,
                                                            "kind": "shopify", "store_money": "shop",
                                                            "webhook_secret": ""})
    assert r.status_code == 302
    source.refresh_from_db()
    assert source.previous_secret_until is None and source.webhook_secret_enc
    client.post(f"/setup/order-sources/{source.pk}/", {"name": "Shop", "site_area": world["retail"].pk,
                                                       "kind": "shopify", "store_money": "shop",
                                                       "webhook_secret": "brand-new"})
    source.refresh_from_db()
    assert source.previous_secret_until is not None
    assert "the previous secret is accepted until" in client.get(f"/setup/order-sources/{source.pk}/").content.decode()
