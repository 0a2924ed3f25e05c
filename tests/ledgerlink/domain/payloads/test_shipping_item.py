"""Shipping goes on the site area's shipping item; without one it is refused before sending (issue 18)."""

from __future__ import annotations

import pytest

from ledgerlink.core.models import Attempt, Order, PushRequest
from ledgerlink.domain.ingest.orders import ingest_order
from ledgerlink.domain.payloads.build import build_payload
from ledgerlink.domain.payloads.preflight import preflight_payload
from ledgerlink.quickbooks.errors import ERROR_KINDS
from tests.ledgerlink.factories import make_world, order_data

pytestmark = pytest.mark.django_db


def test_shipping_line_uses_the_site_areas_shipping_item_never_the_default_item():
    w = make_world()
    w.wholesale.shipping_item = "3"  # the mirror's Gadget, as a stand-in for any item of the company
    w.wholesale.save()
    order, _ = ingest_order(order_data(shipping="5"))
    kind, payload = build_payload(order)
    assert payload["Line"][-1] == {
        "DetailType": "SalesItemLineDetail", "Amount": 5, "Description": "Shipping",
        "SalesItemLineDetail": {"ItemRef": {"value": "3", "name": "Gadget"}},
    }
    assert preflight_payload(w.company, kind, payload) is None


def test_shipping_without_a_shipping_item_is_refused_before_sending_with_the_fix():
    w = make_world()
    w.wholesale.shipping_item = ""  # default item "1" (Services) stays set
    w.wholesale.save()
    order, _ = ingest_order(order_data(shipping="9.60"))
    order.refresh_from_db()
    pr = order.push_requests.get()
    # Not booked on "Services": the Shipping line has no ItemRef, and pre-flight stops the request.
    assert pr.revisions.get(number=1).payload["Line"][-1] == {
        "DetailType": "SalesItemLineDetail", "Amount": 9.6, "Description": "Shipping", "SalesItemLineDetail": {},
    }
    assert (order.status, pr.state, pr.error_kind, pr.attempt_count) == (
        Order.Status.FAILED, PushRequest.State.FAILED, "shipping_item_missing", 0)
    assert pr.error_title == "No shipping item for this site area"
    assert pr.error_message == "No shipping item is set for this site area"
    assert pr.error_element == "Line.SalesItemLineDetail.ItemRef"
    assert "Site Areas and Order Sources > the site area > Shipping item (QBO Id)" in ERROR_KINDS["shipping_item_missing"]["fix"]
    assert list(pr.attempts.values_list("outcome", "worker")) == [(Attempt.Outcome.PREFLIGHT, "preflight")]


def test_a_product_line_without_an_item_is_still_an_invalid_reference():
    w = make_world()
    w.wholesale.shipping_item = ""
    w.wholesale.default_item = ""
    w.wholesale.save()
    order, _ = ingest_order(order_data(
        shipping="2", lines=[{"sku": "NOPE", "description": "Shipping", "quantity": 1, "unit_price": "3"}]))
    assert order.push_requests.get().error_kind == "invalid_reference"


def test_nothing_reaches_qbo_when_the_shipping_item_is_missing(company, qbo, site_area_factory,
                                                               order_source_factory, run_worker_until_idle):
    source = order_source_factory(site_area_factory(company, name="Web", push_method="sales_receipt"))
    order, _ = ingest_order({
        "order_source": source.pk, "external_id": "WEB-9", "number": "WEB-9", "email": "",
        "lines": [{"sku": "W-100", "description": "Widget", "quantity": 1, "unit_price": "12.50"}],
        "shipping": "4.00",
    })
    run_worker_until_idle(timeout=10)
    pr = order.push_requests.get()
    assert (pr.state, pr.error_kind) == ("failed", "shipping_item_missing")
    assert qbo.entities(company.realm_id, "SalesReceipt") == []
    assert not pr.attempts.exclude(outcome=Attempt.Outcome.PREFLIGHT).exists()
