"""core.fastsql: the written-out INSERT and SELECT store and read exactly what the ORM does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.fernet import InvalidToken
from django.db import IntegrityError, transaction
from django.test.utils import override_settings

from ledgerlink.core import crypto, fastsql
from ledgerlink.core.models import Company, OrderSource, StoreDelivery
from tests.ledgerlink.factories import make_source

pytestmark = pytest.mark.django_db


def _company() -> Company:
    return Company.objects.create(name="Fast", realm_id="9130", api_base_url="http://127.0.0.1:1")


def test_insert_stores_every_field_as_save_would():
    source = make_source(_company())
    at = datetime(2026, 12, 3, 14, 30, 5, 123456, tzinfo=UTC)
    delivery = StoreDelivery(order_source=source, topic="orders/create", delivery_id="wh-9", received_at=at,
                             body=b"{\"id\": 1}\x00\xff", outcome="failed", reason="r\u00e9ason",
                             intents=[{"kind": "order", "outcome": "failed", "order": None}],
                             previous_snapshot={"version": "2", "lines": [1.5, "x"]})
    fastsql.insert(delivery)
    assert delivery.pk is not None and delivery._state.adding is False
    row = StoreDelivery.objects.get(pk=delivery.pk)
    assert (row.order_source_id, row.topic, row.delivery_id, row.received_at) == (source.pk, "orders/create", "wh-9", at)
    assert bytes(row.body) == b"{\"id\": 1}\x00\xff"
    assert (row.outcome, row.reason, row.field, row.external_id) == ("failed", "r\u00e9ason", "", "")
    assert row.intents == [{"kind": "order", "outcome": "failed", "order": None}]
    assert row.previous_snapshot == {"version": "2", "lines": [1.5, "x"]}
    assert (row.order_id, row.processed_at, row.reprocessed) == (None, None, 0)


def test_insert_raises_integrity_error_on_the_unique_webhook_id_and_stores_nothing_more():
    source = make_source(_company())
    fastsql.insert(StoreDelivery(order_source=source, topic="t", delivery_id="same", body=b"1", outcome="received"))
    with pytest.raises(IntegrityError), transaction.atomic():
        fastsql.insert(StoreDelivery(order_source=source, topic="t", delivery_id="same", body=b"2", outcome="received"))
    assert list(StoreDelivery.objects.values_list("body", flat=True)) == [b"1"]


def test_get_one_loads_the_named_fields_converted_and_the_rest_on_use():
    source = make_source(_company())
    until = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    OrderSource.objects.filter(pk=source.pk).update(kind="shopify", previous_secret_until=until,
                                                     webhook_secret_enc=crypto.encrypt("s1"))
    got = fastsql.get_one(OrderSource, ("id", "kind", "previous_secret_until", "site_area"), id=source.pk,
                          kind="shopify")
    assert (got.pk, got.kind, got.previous_secret_until, got.site_area_id) == (source.pk, "shopify", until,
                                                                               source.site_area_id)
    assert got.get_deferred_fields() >= {"name", "webhook_secret_enc"}
    assert got.name == source.name  # loaded on first use
    assert fastsql.get_one(OrderSource, ("id",), id=source.pk, kind="woocommerce") is None


def test_decrypt_cached_follows_the_keys():
    key_a, key_b = "A" * 43 + "=", "B" * 43 + "="
    with override_settings(LEDGERLINK_ENCRYPTION_KEYS=[key_a]):
        token = crypto.encrypt("the secret")
        assert crypto.decrypt_cached(token) == "the secret"
    with override_settings(LEDGERLINK_ENCRYPTION_KEYS=[key_b]), pytest.raises(InvalidToken):
        crypto.decrypt_cached(token)  # another key set is another cache entry: it cannot read it
    assert crypto.decrypt_cached("") == ""
