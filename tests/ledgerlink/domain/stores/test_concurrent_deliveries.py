"""Copies of one Shopify delivery arriving at the same time make one order and one push request
(the unique index on (order source, webhook id)), in both modes, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from django.db import connections
from django.test import Client

from ledgerlink.core.models import Order, PushRequest, StoreDelivery
from ledgerlink.domain.routing.order_sources import create_order_source
from ledgerlink.domain.stores.deliveries import apply_received_deliveries
from ledgerlink.stores import signatures
from tests.ledgerlink.stores.conftest import raw

SECRET = "concurrent-secret"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["inline", "queued"])
def test_concurrent_copies_of_one_delivery_make_one_order(mode, settings, company, site_area_factory):
    settings.LEDGERLINK_STORE_WEBHOOKS = mode
    area = site_area_factory(company, "Web Store", push_method="sales_receipt")
    source = create_order_source(name="Shop", site_area=area.pk, kind="shopify", webhook_secret=SECRET)
    body = raw("shopify_order_us.json")
    headers = signatures.shopify_headers(body, SECRET, topic="orders/create", webhook_id="same-id")
    headers.pop("Content-Type")
    answers: list = []
    barrier = threading.Barrier(6)

    def post():
        try:
            barrier.wait()
            r = Client().post(f"/webhooks/shopify/{source.pk}", data=body, content_type="application/json",
                              headers=headers)
            answers.append((r.status_code, r.json()["outcome"]))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = "received" if mode == "queued" else "applied"
    assert sorted(answers) == sorted([(200, first)] + [(200, "duplicate")] * 5)
    if mode == "queued":
        assert apply_received_deliveries() == 1
    assert Order.objects.count() == 1 and PushRequest.objects.count() == 1
    assert sorted(StoreDelivery.objects.values_list("outcome", flat=True)) == ["applied"] + ["duplicate"] * 5
