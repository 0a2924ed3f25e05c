"""Bad input of payments and refunds (issue 15, step 5): unknown order 404, cancelled order 409,
amounts with more than 2 decimals or not positive 422 naming the field; nothing stored."""

from __future__ import annotations

import pytest

from ledgerlink.core.models import AuditLog, OrderPayment, OrderRefund, PushRequest


def _nothing_stored(order):
    assert not OrderPayment.objects.exists() and not OrderRefund.objects.exists()
    assert list(PushRequest.objects.filter(order=order).values_list("kind", flat=True)) == ["invoice"]
    assert not PushRequest.objects.filter(kind="payment_method").exists()
    assert not AuditLog.objects.filter(action__in=("order.payment", "order.refund")).exists()


@pytest.mark.parametrize("path", ["payments", "refunds"])
def test_unknown_order_is_404(path, api, db):
    r = api.post(f"/orders/424242/{path}", {"external_id": "x", "amount": "1.00"})
    assert (r.status_code, r.json()) == (404, {"detail": "order 424242 does not exist", "field": "id"})


@pytest.mark.parametrize("path", ["payments", "refunds"])
def test_cancelled_order_is_409(path, invoice_order, api):
    order, doc = invoice_order
    assert api.post(f"/orders/{order.pk}/cancel").status_code == 200
    r = api.post(f"/orders/{order.pk}/{path}", {"external_id": "x", "amount": "1.00", "method": "Visa"})
    assert (r.status_code, r.json()["field"]) == (409, "id")
    assert "is cancelled" in r.json()["detail"]
    assert not OrderPayment.objects.exists() and not OrderRefund.objects.exists()
    assert not PushRequest.objects.filter(kind__in=("payment", "payment_method", "credit_memo")).exists()


@pytest.mark.parametrize("path", ["payments", "refunds"])
@pytest.mark.parametrize("body, field, detail", [
    ({"amount": "1.001"}, "amount", "must have at most 2 decimal places"),
    ({"amount": "0"}, "amount", "must be a number greater than 0"),
    ({"amount": "-5.00"}, "amount", "must be a number greater than 0"),
    ({"amount": "ten"}, "amount", "must be a number (got 'ten')"),
    ({"amount": True}, "amount", "must be a number"),
    ({"amount": "1.00", "external_id": ""}, "external_id", "is required"),
])
def test_bad_amounts_are_422_naming_the_field_and_nothing_is_stored(path, body, field, detail, invoice_order, api):
    order, doc = invoice_order
    r = api.post(f"/orders/{order.pk}/{path}", {"external_id": "x", "method": "Visa", **body})
    assert (r.status_code, r.json()) == (422, {"detail": detail, "field": field})
    _nothing_stored(order)


def test_refund_lines_and_shipping_are_checked(invoice_order, api):
    order, doc = invoice_order  # one line "Service" x 2 at 10.00, no shipping
    cases = [
        ({"lines": [{"sku": "NOPE", "quantity": 1}]}, "lines[0].sku"),
        ({"lines": [{"sku": "Service", "quantity": "0.00001"}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "Service", "quantity": 3}]}, "lines[0].quantity"),
        ({"lines": "Service"}, "lines"),
        ({"shipping": "1.00"}, "shipping"),
        ({"shipping": "0.001", "lines": [{"sku": "Service", "quantity": 1}]}, "shipping"),
        ({}, "lines"),
        ({"lines": [{"sku": "Service", "quantity": 1}], "amount": "9.00"}, "amount"),
    ]
    for body, field in cases:
        r = api.post(f"/orders/{order.pk}/refunds", {"external_id": "x", **body})
        assert (r.status_code, r.json()["field"]) == (422, field), body
    _nothing_stored(order)


def test_payment_date_and_texts_are_checked(invoice_order, api):
    order, doc = invoice_order
    for body, field in [({"date": "2026-13-01"}, "date"), ({"method": "M" * 32}, "method"),
                        ({"reference": "R" * 22}, "reference")]:
        r = api.post(f"/orders/{order.pk}/payments", {"external_id": "x", "amount": "1.00", **body})
        assert (r.status_code, r.json()["field"]) == (422, field), body
    _nothing_stored(order)


def test_an_operator_of_other_companies_does_not_see_the_order(invoice_order, db):
    import json

    from django.test import Client

    from ledgerlink.domain.accounts.tokens import create_api_token
    from tests.ledgerlink.factories import make_user

    order, doc = invoice_order
    user = make_user("olaf", "operator")
    user.profile.all_companies = False
    user.profile.save()
    c = Client(HTTP_AUTHORIZATION=f"Bearer {create_api_token(user, 't')}")
    for path, body in (("payments", {"external_id": "x", "amount": "1.00"}), ("refunds", {"external_id": "x",
                                                                                         "amount": "1.00"}),
                       ("cancel", {})):
        r = c.post(f"/api/v1/orders/{order.pk}/{path}", data=json.dumps(body), content_type="application/json")
        assert (r.status_code, r.json()["field"]) == (404, "id"), path
    r = c.patch(f"/api/v1/orders/{order.pk}", data=json.dumps({"email": "x@example.com"}),
                content_type="application/json")
    assert r.status_code == 404
    _nothing_stored(order)
    order.refresh_from_db()
    assert order.status == "queued"
