"""Queued store deliveries during a burst: the worker applies nothing while at least
LEDGERLINK_STORE_BURST_RATE arrive a second, until the oldest has waited LEDGERLINK_STORE_BURST_MAX_WAIT."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test.utils import override_settings
from django.utils import timezone

from ledgerlink.core.models import OrderSource, StoreDelivery
from ledgerlink.domain.stores.deliveries import applying_can_wait
from ledgerlink.worker.loop import Worker
from tests.ledgerlink.factories import make_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(company):
    s = make_source(company, "Burst Shop")
    OrderSource.objects.filter(pk=s.pk).update(kind="shopify")
    return s


def _received(source, n: int, at, *, start: int = 0) -> None:
    StoreDelivery.objects.bulk_create(
        StoreDelivery(order_source=source, topic="orders/create", delivery_id=f"b-{start + i}", received_at=at,
                      body=b"{}", outcome="received") for i in range(n))


@override_settings(LEDGERLINK_STORE_BURST_RATE=5, LEDGERLINK_STORE_BURST_MAX_WAIT=120)
def test_a_burst_is_five_received_within_a_second_and_waits_at_most_the_max_wait(source):
    now = timezone.now()
    assert applying_can_wait(now) is False  # nothing received
    _received(source, 4, now - timedelta(milliseconds=200))
    assert applying_can_wait(now) is False  # 4 a second: below the rate
    _received(source, 1, now - timedelta(milliseconds=100), start=4)
    assert applying_can_wait(now) is True
    assert applying_can_wait(now + timedelta(seconds=2)) is False  # the burst stopped a second ago
    StoreDelivery.objects.filter(delivery_id="b-0").update(received_at=now - timedelta(seconds=121))
    assert applying_can_wait(now) is False  # the oldest has waited past the max wait
    with override_settings(LEDGERLINK_STORE_BURST_RATE=0):
        StoreDelivery.objects.filter(delivery_id="b-0").update(received_at=now)
        assert applying_can_wait(now) is False  # turned off


@override_settings(LEDGERLINK_STORE_WEBHOOKS="queued", LEDGERLINK_STORE_BURST_RATE=5,
                   LEDGERLINK_STORE_BURST_MAX_WAIT=120)
def test_the_worker_applies_nothing_during_a_burst_and_everything_after_it(source):
    _received(source, 6, timezone.now())
    worker = Worker("burst-test", concurrency=0)
    assert worker.apply_store_deliveries() == 0
    assert StoreDelivery.objects.filter(outcome="received").count() == 6  # nothing applied
    StoreDelivery.objects.update(received_at=timezone.now() - timedelta(seconds=5))  # the burst is over
    worker._next_store_apply = 0.0
    assert worker.apply_store_deliveries() == 6
    assert StoreDelivery.objects.filter(outcome="received").count() == 0
