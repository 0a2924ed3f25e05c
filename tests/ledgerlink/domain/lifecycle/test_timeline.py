"""The order's page is its timeline (issue 15, step 7): document, changes, payments, refunds, void,
each with its request."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from ledgerlink.core.models import PushRequest
from ledgerlink.domain.lifecycle.timeline import order_timeline
from tests.ledgerlink.factories import make_login_user


def test_order_page_shows_document_change_payment_refund_and_void_with_their_requests(
        invoice_order, api, qbo, company, run_worker_until_idle):
    order, doc = invoice_order
    run_worker_until_idle(timeout=20)
    change = api.patch(f"/orders/{order.pk}", {"shipping": "5.00"}).json()["request"]["id"]
    payment = api.post(f"/orders/{order.pk}/payments", {"external_id": "pay-1", "amount": "5.00",
                                                        "method": "Cash"}).json()["request"]["id"]
    refund = api.post(f"/orders/{order.pk}/refunds", {"external_id": "ref-1", "amount": "3.00",
                                                      "reason": "late <b>delivery</b>"}).json()
    run_worker_until_idle(timeout=30)
    void = api.post(f"/orders/{order.pk}/cancel", {"reason": "customer request"}).json()["void_request"]["id"]
    run_worker_until_idle(timeout=20)

    events = order_timeline(order)
    assert [(e.what, e.request.pk if e.request else None) for e in events] == [
        ("Document", doc.pk), ("Change", change), ("Payment", payment), ("Refund", refund["request"]["id"]),
        ("Void", void), ("Cancel", None)]
    assert events[1].detail == "shipping: 0.00 → 5.00"
    assert events[3].extra_request.pk == refund["apply_request"]["id"]
    assert [PushRequest.objects.get(pk=i).state for i in (change, payment, refund["request"]["id"])] == [
        "succeeded"] * 3

    client = Client()
    client.force_login(make_login_user("vera", "viewer"))
    html = client.get(reverse("web:order_detail", args=[order.pk])).content.decode()
    assert "<h2>Timeline</h2>" in html
    for pk, label in [(doc.pk, "Invoice"), (change, "Update"), (payment, "Payment"),
                      (refund["request"]["id"], "Credit Memo"), (refund["apply_request"]["id"], "Payment"),
                      (void, "Void")]:
        assert re.search(rf'<a href="/requests/{pk}/">#{pk}</a> {label} · ', html), label
    assert "late &lt;b&gt;delivery&lt;/b&gt;" in html and "<b>delivery" not in html
    assert "Version 1" in html


def test_an_operator_cancels_from_the_order_page_and_a_viewer_cannot(invoice_order, qbo, company):
    order, doc = invoice_order
    viewer, operator = Client(), Client()
    viewer.force_login(make_login_user("vic", "viewer"))
    operator.force_login(make_login_user("otto", "operator"))
    url = reverse("web:order_cancel", args=[order.pk])
    assert "Cancel order</button>" not in viewer.get(reverse("web:order_detail", args=[order.pk])).content.decode()
    assert viewer.post(url).status_code == 403
    assert "Cancel order</button>" in operator.get(reverse("web:order_detail", args=[order.pk])).content.decode()
    resp = operator.post(url, {"reason": "duplicate order"})
    assert resp.status_code == 302
    html = operator.get(resp["Location"]).content.decode()
    assert "cancelled; nothing had reached QuickBooks." in html and "Cancel order</button>" not in html
    order.refresh_from_db()
    doc.refresh_from_db()
    assert (order.status, doc.state) == ("cancelled", "cancelled")
