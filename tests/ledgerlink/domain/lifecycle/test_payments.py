"""Payments (issue 15, step 2): each a ``payment`` request creating a QBO Payment linked to the
invoice; partial payments add up; idempotent; refused before sending when too much."""

from __future__ import annotations

from ledgerlink.core.models import OrderPayment, PaymentMethod, PushRequest
from tests.ledgerlink.domain.lifecycle.conftest import EMAIL


def test_invoice_paid_in_two_parts_has_balance_0_two_payments_one_invoice(
        invoice_order, api, qbo, company, run_worker_until_idle):
    order, doc = invoice_order
    # The first payment arrives before the invoice is sent: it waits for it.
    r = api.post(f"/orders/{order.pk}/payments", {"external_id": "pay-1", "amount": "12.50", "date": "2026-11-02",
                                                  "method": "Visa", "reference": "AUTH-1"})
    assert r.status_code == 201, r.content
    first = r.json()
    assert (first["amount"], first["method"], first["request"]["kind"]) == ("12.50", "Visa", "payment")
    assert first["request"]["waiting_on"] == f"request:{doc.pk}"
    run_worker_until_idle(timeout=30)
    doc.refresh_from_db()
    r = api.post(f"/orders/{order.pk}/payments", {"external_id": "pay-2", "amount": "7.50", "method": "visa"})
    assert r.status_code == 201, r.content
    second = r.json()
    assert second["request"]["waiting_on"] == ""
    run_worker_until_idle(timeout=30)

    (invoice,) = qbo.entities(company.realm_id, "Invoice")
    assert (invoice["Id"], invoice["TotalAmt"], invoice["Balance"]) == (doc.qbo_id, 20, 0)
    payments = qbo.entities(company.realm_id, "Payment")
    assert [(p["TotalAmt"], p["Line"][0]["LinkedTxn"], p["PaymentMethodRef"]["value"],
             p["DepositToAccountRef"]["value"], p["PrivateNote"]) for p in payments] == [
        (12.5, [{"TxnId": doc.qbo_id, "TxnType": "Invoice"}], "3", "4", f"ledgerlink-order:{order.pk} payment:pay-1"),
        (7.5, [{"TxnId": doc.qbo_id, "TxnType": "Invoice"}], "3", "4", f"ledgerlink-order:{order.pk} payment:pay-2"),
    ]
    assert (payments[0]["TxnDate"], payments[0]["PaymentRefNum"]) == ("2026-11-02", "AUTH-1")
    assert payments[0]["CustomerRef"]["value"] == invoice["CustomerRef"]["value"]
    reqs = PushRequest.objects.filter(order=order, kind="payment").order_by("id")
    assert [(p.state, p.qbo_id, p.revision) for p in reqs] == [
        ("succeeded", payments[0]["Id"], 2), ("succeeded", payments[1]["Id"], 1)]
    # "Visa" was not in the mirror: one payment_method request found QBO's (Id 3), nothing created.
    (method,) = PushRequest.objects.filter(kind="payment_method")
    assert (method.state, method.qbo_id) == ("succeeded", "3")
    assert list(PaymentMethod.objects.values_list("qbo_id", "name")) == [("3", "Visa")]
    assert len(qbo.entities(company.realm_id, "PaymentMethod")) == 7
    # Re-delivery: 200, the first one, nothing new.
    r = api.post(f"/orders/{order.pk}/payments", {"external_id": "pay-1", "amount": "12.50"})
    assert (r.status_code, r.json()["id"]) == (200, first["id"])
    # Fully paid: a third payment is refused before sending.
    r = api.post(f"/orders/{order.pk}/payments", {"external_id": "pay-3", "amount": "0.01"})
    assert (r.status_code, r.json()["field"]) == (422, "amount")
    assert "open balance (0.00" in r.json()["detail"]
    assert OrderPayment.objects.filter(order=order).count() == 2
    assert len(qbo.entities(company.realm_id, "Payment")) == 2


def test_payment_method_missing_in_qbo_is_created_and_deposit_account_used(
        wholesale, order_factory, api, qbo, company, run_worker_until_idle):
    area = wholesale.site_area
    area.deposit_account = "35"
    area.save()
    order, doc = order_factory(wholesale, email=EMAIL)
    run_worker_until_idle(timeout=30)
    r = api.post(f"/orders/{order.pk}/payments", {"external_id": "p1", "amount": 20, "method": "Store Credit"})
    assert r.status_code == 201, r.content
    run_worker_until_idle(timeout=30)
    methods = [m for m in qbo.entities(company.realm_id, "PaymentMethod") if m["Name"] == "Store Credit"]
    assert len(methods) == 1
    (payment,) = qbo.entities(company.realm_id, "Payment")
    assert (payment["PaymentMethodRef"]["value"], payment["DepositToAccountRef"]["value"], payment["TotalAmt"]) == (
        methods[0]["Id"], "35", 20)
    (invoice,) = qbo.entities(company.realm_id, "Invoice")
    assert invoice["Balance"] == 0


def test_more_than_the_balance_is_refused_before_sending(invoice_order, api, qbo, company):
    order, doc = invoice_order
    r = api.post(f"/orders/{order.pk}/payments", {"external_id": "big", "amount": "20.01"})
    assert (r.status_code, r.json()["field"]) == (422, "amount")
    assert r.json()["detail"].startswith("is more than the invoice's open balance (20.00")
    assert not OrderPayment.objects.exists()
    assert not PushRequest.objects.filter(kind__in=("payment", "payment_method")).exists()


def test_a_sales_receipt_is_paid_already_409(webstore, order_factory, api):
    order, doc = order_factory(webstore, email="")
    r = api.post(f"/orders/{order.pk}/payments", {"external_id": "p", "amount": "1.00"})
    assert r.status_code == 409
    assert r.json()["detail"].startswith(f"order {order.pk} is posted as a sales receipt, which records the payment")
    assert not OrderPayment.objects.exists()


def test_payment_whose_answer_is_lost_is_found_by_its_marker_and_not_paid_twice(
        invoice_order, api, qbo, company, fast_retries, run_worker_until_idle):
    order, doc = invoice_order
    run_worker_until_idle(timeout=20)
    qbo.add_fault(company.realm_id, "drop_after_commit", entity="Payment", operation="create", count=1)
    r = api.post(f"/orders/{order.pk}/payments", {"external_id": "p-lost", "amount": "20.00"})
    run_worker_until_idle(timeout=20)
    pr = PushRequest.objects.get(pk=r.json()["request"]["id"])
    (payment,) = qbo.entities(company.realm_id, "Payment")
    assert (pr.state, pr.qbo_id, pr.outcome_unknown) == ("succeeded", payment["Id"], False)
    assert [(a.outcome, a.error_kind) for a in pr.attempts.order_by("id")] == [("unknown", "network"),
                                                                                ("succeeded", "")]
    assert '"foundBy":"look-up"' in pr.attempts.order_by("id").last().response_body
    assert qbo.entities(company.realm_id, "Invoice")[0]["Balance"] == 0


def test_the_workers_sweep_releases_a_follow_up_whose_request_succeeded(invoice_order, api):
    """The safety net when a process dies between a document's delivery and the release: the worker's
    periodic ``release_follow_ups()`` finds what waits on a succeeded request (here the document is
    marked succeeded by hand, without the delivery's release)."""
    from ledgerlink.domain.outbox.follow_ups import release_follow_ups
    from ledgerlink.domain.outbox.selectors import current_payload

    order, doc = invoice_order
    pay = api.post(f"/orders/{order.pk}/payments", {"external_id": "p", "amount": "5.00"}).json()["request"]["id"]
    assert release_follow_ups() == 0  # the invoice has not succeeded yet
    PushRequest.objects.filter(pk=doc.pk).update(state="succeeded", qbo_id="999", qbo_sync_token="0")
    assert release_follow_ups() == 1
    pr = PushRequest.objects.get(pk=pay)
    assert (pr.state, pr.waiting_on, pr.revision) == ("queued", "", 2)
    payload = current_payload(pr)
    assert payload["Line"][0]["LinkedTxn"] == [{"TxnId": "999", "TxnType": "Invoice"}] and "_fill" not in payload
    assert payload["CustomerRef"]["name"] == "Acme Tools"
    assert release_follow_ups() == 0
