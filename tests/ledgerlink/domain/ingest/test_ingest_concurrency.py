"""Concurrent deliveries of the same order: one order, one push request, every caller gets it."""

import threading

import pytest
from django.db import connection

from ledgerlink.core.models import Order, PushRequest
from ledgerlink.domain.ingest.orders import ingest_order
from tests.ledgerlink.factories import make_world, order_data


@pytest.mark.django_db(transaction=True)
def test_simultaneous_redeliveries_create_exactly_one_order_and_request():
    make_world()
    n = 6
    barrier = threading.Barrier(n)
    results, errors = [], []

    def deliver():
        try:
            barrier.wait(timeout=10)
            order, created = ingest_order(order_data(external_id="RACE-1"))
            results.append((order.pk, created))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(results) == n
    assert len({pk for pk, _ in results}) == 1
    assert sum(1 for _, created in results if created) == 1
    assert Order.objects.count() == 1
    assert PushRequest.objects.count() == 1
