"""Cancel (issue 15, step 1): before sending nothing reaches QBO; after posting a ``void`` request
voids the document the way QBO voids that entity; QBO's refusal is explained."""

from __future__ import annotations

from ledgerlink.core.models import AuditLog, Order, PushRequest
from tests.ledgerlink.domain.lifecycle.conftest import EMAIL


def _writes(qbo, realm):
    return [(e["method"], e["operation"], e["entities"]) for e in qbo.requests(realm) if e["method"] == "POST"]


def test_cancel_before_sending_cancels_the_request_and_nothing_reaches_qbo(
        invoice_order, api, qbo, company, run_worker_until_idle):
    order, pr = invoice_order
    qbo.clear_requests(company.realm_id)  # the fixture's customer
    r = api.post(f"/orders/{order.pk}/cancel", {"reason": "customer changed their mind"})
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["order"]["status"], body["void_request"]) == ("cancelled", None)
    assert [(q["id"], q["kind"], q["state"]) for q in body["order"]["requests"]] == [(pr.pk, "invoice", "cancelled")]
    run_worker_until_idle(timeout=10)
    assert qbo.entities(company.realm_id, "Invoice") == []
    assert _writes(qbo, company.realm_id) == []
    assert AuditLog.objects.filter(action="order.cancel").count() == 1
    # Twice: 409, nothing more written.
    r = api.post(f"/orders/{order.pk}/cancel")
    assert (r.status_code, r.json()["field"]) == (409, "id")
    assert PushRequest.objects.filter(order=order).count() == 1


def test_cancel_after_posting_voids_the_invoice(invoice_order, api, qbo, company, run_worker_until_idle):
    order, pr = invoice_order
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert pr.state == "succeeded"
    r = api.post(f"/orders/{order.pk}/cancel")
    assert r.status_code == 200, r.content
    void_ref = r.json()["void_request"]
    assert (void_ref["kind"], void_ref["state"], void_ref["waiting_on"]) == ("void", "queued", "")
    run_worker_until_idle(timeout=20)
    void = PushRequest.objects.get(pk=void_ref["id"])
    assert (void.state, void.qbo_id, void.qbo_sync_token, void.get_kind_display()) == ("succeeded", pr.qbo_id, "1",
                                                                                       "Void")
    (invoice,) = qbo.entities(company.realm_id, "Invoice")
    assert (invoice["Id"], invoice["status"], invoice["TotalAmt"], invoice["Balance"]) == (pr.qbo_id, "Voided", 0, 0)
    assert invoice["PrivateNote"].startswith("Voided")
    log = [e for e in qbo.requests(company.realm_id) if e["method"] == "POST" and e["entities"] == ["Invoice"]]
    assert [(e["operation"], e["requestid"]) for e in log] == [("create", f"ll-{pr.pk}-r1"),
                                                               ("void", f"ll-{void.pk}-r1")]
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED


def test_cancel_after_posting_voids_a_sales_receipt_with_update_include_void(
        webstore, order_factory, api, qbo, company, run_worker_until_idle):
    order, pr = order_factory(webstore, email="")
    run_worker_until_idle(timeout=20)
    r = api.post(f"/orders/{order.pk}/cancel")
    assert r.status_code == 200, r.content
    run_worker_until_idle(timeout=20)
    void = PushRequest.objects.get(pk=r.json()["void_request"]["id"])
    assert void.state == "succeeded"
    (receipt,) = qbo.entities(company.realm_id, "SalesReceipt")
    assert (receipt["status"], receipt["TotalAmt"]) == ("Voided", 0)
    (entry,) = [e for e in qbo.requests(company.realm_id)
                if e["method"] == "POST" and e.get("requestid") == f"ll-{void.pk}-r1"]
    assert "operation=update" in entry["query"] and "include=void" in entry["query"]


def test_void_of_a_paid_invoice_is_refused_by_qbo_and_explained(invoice_order, api, qbo, company,
                                                                 run_worker_until_idle):
    order, pr = invoice_order
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    customer_id = qbo.entities(company.realm_id, "Invoice")[0]["CustomerRef"]["value"]
    # Paid inside QBO (by a person), so Ledgerlink does not know.
    r = qbo.api(company.realm_id, "POST", "payment", json={
        "CustomerRef": {"value": customer_id}, "TotalAmt": 20,
        "Line": [{"Amount": 20, "LinkedTxn": [{"TxnId": pr.qbo_id, "TxnType": "Invoice"}]}]})
    assert r.status_code == 200, r.text
    r = api.post(f"/orders/{order.pk}/cancel")
    run_worker_until_idle(timeout=20)
    void = PushRequest.objects.get(pk=r.json()["void_request"]["id"])
    assert (void.state, void.error_kind, void.error_code) == ("failed", "void_refused_payments", "6000")
    assert void.error_title == "Invoice has payments applied and can't be voided"
    detail = api.get(f"/requests/{void.pk}").json()
    assert "refund the order instead" in detail["error"]["fix"]
    (invoice,) = qbo.entities(company.realm_id, "Invoice")
    assert (invoice["status"], invoice["TotalAmt"], invoice["Balance"]) == ("Active", 20, 0)


def test_cancel_an_unknown_order_is_404(api, db):
    r = api.post("/orders/999999/cancel")
    assert (r.status_code, r.json()["field"]) == (404, "id")


def test_an_order_of_a_viewer_cannot_be_cancelled(invoice_order, db):
    import json as _json

    from django.test import Client

    from ledgerlink.domain.accounts.tokens import create_api_token
    from tests.ledgerlink.factories import make_user

    order, pr = invoice_order
    c = Client(HTTP_AUTHORIZATION=f"Bearer {create_api_token(make_user('vic', 'viewer'), 't')}")
    r = c.post(f"/api/v1/orders/{order.pk}/cancel", data=_json.dumps({}), content_type="application/json")
    assert r.status_code == 403
    pr.refresh_from_db()
    assert (pr.state, EMAIL) == ("queued", EMAIL)


def test_a_void_claimed_into_a_batch_unit_is_sent_alone_and_recorded_as_not_batched(
        wholesale, order_factory, api, qbo, company, run_worker_until_idle):
    from ledgerlink.core.models import Attempt, Company

    Company.objects.filter(pk=company.pk).update(use_batch=True, batch_size=10)
    first, doc = order_factory(wholesale, email=EMAIL)
    run_worker_until_idle(timeout=20)
    void_id = api.post(f"/orders/{first.pk}/cancel").json()["void_request"]["id"]
    second, doc2 = order_factory(wholesale, email=EMAIL)
    third, doc3 = order_factory(wholesale, email=EMAIL)
    run_worker_until_idle(timeout=20)
    attempts = {a.push_request_id: a for a in Attempt.objects.filter(push_request_id__in=[void_id, doc2.pk, doc3.pk])}
    assert (attempts[void_id].outcome, attempts[void_id].batched) == ("succeeded", False)
    assert (attempts[doc2.pk].batched, attempts[doc3.pk].batched) == (True, True)
    statuses = sorted(d["status"] for d in qbo.entities(company.realm_id, "Invoice"))
    assert statuses == ["Active", "Active", "Voided"]
