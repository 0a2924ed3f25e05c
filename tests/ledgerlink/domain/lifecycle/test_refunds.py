"""Refunds (issue 15, step 4): a credit memo for an invoice order (applied to what it still owes), a
refund receipt from the refund account for a sales-receipt order; never more than the order."""

from __future__ import annotations

from ledgerlink.core.models import OrderRefund, PushRequest
from tests.ledgerlink.domain.lifecycle.conftest import EMAIL

LINES = [
    {"sku": "WIDGET", "description": "Widget", "quantity": 3, "unit_price": "10.00"},
    {"sku": "GADGET", "description": "Gadget", "quantity": 1, "unit_price": "25.00"},
]


def test_partial_refund_of_an_invoice_is_a_credit_memo_with_the_refunded_lines_and_tax(
        wholesale, order_factory, api, qbo, company, run_worker_until_idle):
    # 3 x 10 + 25 = 55, shipping 5, tax 4.40: 64.40
    order, doc = order_factory(wholesale, email=EMAIL, lines=LINES, shipping="5.00", tax="4.40", number="WP-3001")
    run_worker_until_idle(timeout=20)
    doc.refresh_from_db()
    assert api.post(f"/orders/{order.pk}/payments", {"external_id": "p1", "amount": "30.00"}).status_code == 201
    # Two widgets and the shipping back: 20 + 5 + tax 4.40 x 20/55 = 1.60 -> 26.60
    r = api.post(f"/orders/{order.pk}/refunds", {"external_id": "r1", "lines": [{"sku": "WIDGET", "quantity": 2}],
                                                 "shipping": "5.00", "reason": "damaged"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["kind"], body["amount"], body["applied_amount"], body["request"]["kind"]) == (
        "credit_memo", "26.60", "26.60", "credit_memo")
    assert body["apply_request"]["kind"] == "payment"
    assert body["apply_request"]["waiting_on"] == f"request:{body['request']['id']}"
    run_worker_until_idle(timeout=30)
    memo_pr = PushRequest.objects.get(pk=body["request"]["id"])
    assert (memo_pr.state, memo_pr.error_kind, memo_pr.error_message, memo_pr.waiting_on) == ("succeeded", "", "", "")
    (memo,) = qbo.entities(company.realm_id, "CreditMemo")
    sales = [ln for ln in memo["Line"] if ln["DetailType"] == "SalesItemLineDetail"]
    assert [(ln["Description"], ln["Amount"], ln["SalesItemLineDetail"].get("Qty")) for ln in sales] == [
        ("Widget", 20, 2), ("Shipping", 5, None)]
    assert (memo["TotalAmt"], memo["TxnTaxDetail"]["TotalTax"], memo["PrivateNote"]) == (
        26.6, 1.6, f"ledgerlink-order:{order.pk} refund:r1")
    (invoice,) = qbo.entities(company.realm_id, "Invoice")
    assert memo["CustomerRef"]["value"] == invoice["CustomerRef"]["value"]
    # Invoice 64.40, paid 30.00, credited 26.60: 7.80 still owed.
    assert (invoice["TotalAmt"], invoice["Balance"]) == (64.4, 7.8)
    assert memo["Balance"] == 0
    payments = qbo.entities(company.realm_id, "Payment")
    assert [p["TotalAmt"] for p in payments] == [30, 0]
    assert PushRequest.objects.get(pk=body["request"]["id"]).get_kind_display() == "Credit Memo"
    # Idempotent; and never more than what is left (64.40 - 26.60 = 37.80).
    again = api.post(f"/orders/{order.pk}/refunds", {"external_id": "r1", "amount": "1.00"})
    assert (again.status_code, again.json()["id"]) == (200, body["id"])
    r = api.post(f"/orders/{order.pk}/refunds", {"external_id": "r2", "amount": "37.81"})
    assert (r.status_code, r.json()["field"]) == (422, "amount")
    r = api.post(f"/orders/{order.pk}/refunds", {"external_id": "r3", "lines": [{"sku": "WIDGET", "quantity": 2}]})
    assert (r.status_code, r.json()["field"]) == (422, "lines[0].quantity")
    assert "more than is left to refund of WIDGET (1 of 3)" in r.json()["detail"]
    assert OrderRefund.objects.count() == 1
    assert len(qbo.entities(company.realm_id, "CreditMemo")) == 1


def test_refund_of_a_sales_receipt_is_a_refund_receipt_from_the_refund_account(
        webstore, order_factory, api, qbo, company, run_worker_until_idle):
    order, doc = order_factory(webstore, email="", lines=LINES)
    r = api.post(f"/orders/{order.pk}/refunds", {"external_id": "r1", "lines": [{"sku": "GADGET", "quantity": 1}],
                                                 "reason": "returned"})
    assert r.status_code == 201, r.content
    assert r.json()["request"]["waiting_on"] == ""  # a refund receipt needs no customer from the document
    run_worker_until_idle(timeout=30)
    (receipt,) = qbo.entities(company.realm_id, "RefundReceipt")
    assert (receipt["TotalAmt"], receipt["DepositToAccountRef"]["value"], receipt["PrivateNote"]) == (
        25, "35", f"ledgerlink-order:{order.pk} refund:r1")
    assert [(ln["Description"], ln["Amount"]) for ln in receipt["Line"] if ln["DetailType"] == "SalesItemLineDetail"
            ] == [("Gadget", 25)]
    pr = PushRequest.objects.get(pk=r.json()["request"]["id"])
    assert (pr.state, pr.qbo_id, pr.get_kind_display()) == ("succeeded", receipt["Id"], "Refund Receipt")
    # An amount-only refund: one line, the reason as its description.
    r = api.post(f"/orders/{order.pk}/refunds", {"external_id": "r2", "amount": "5.00", "reason": "goodwill"})
    run_worker_until_idle(timeout=30)
    receipts = qbo.entities(company.realm_id, "RefundReceipt")
    assert [(x["TotalAmt"], x["Line"][0]["Description"]) for x in receipts] == [(25, "Gadget"), (5, "goodwill")]


def test_missing_refund_account_is_caught_before_sending_with_the_fix(
        company, site_area_factory, order_source_factory, order_factory, api, qbo, run_worker_until_idle):
    source = order_source_factory(site_area_factory(company, "Shop", "sales_receipt"), "Shop 1")
    order, doc = order_factory(source, email="")
    run_worker_until_idle(timeout=20)
    r = api.post(f"/orders/{order.pk}/refunds", {"external_id": "r1", "amount": "5.00"})
    assert r.status_code == 201
    pr = PushRequest.objects.get(pk=r.json()["request"]["id"])
    assert (pr.state, pr.error_kind, pr.error_code, pr.error_element) == (
        "failed", "refund_account_missing", "2020", "DepositToAccountRef")
    assert pr.attempts.get().outcome == "preflight"
    detail = api.get(f"/requests/{pr.pk}").json()
    assert "refund_account" in detail["error"]["fix"]
    run_worker_until_idle(timeout=10)
    assert qbo.entities(company.realm_id, "RefundReceipt") == []


def test_re_queue_or_cancel_of_a_refund_leaves_the_order_status_alone(
        company, site_area_factory, order_source_factory, order_factory, api, run_worker_until_idle):
    from ledgerlink.core.models import Order

    source = order_source_factory(site_area_factory(company, "Shop", "sales_receipt"), "Shop 1")
    order, doc = order_factory(source, email="")
    run_worker_until_idle(timeout=20)
    pr_id = api.post(f"/orders/{order.pk}/refunds", {"external_id": "r1", "amount": "5.00"}).json()["request"]["id"]
    r = api.post(f"/requests/{pr_id}/requeue")
    assert r.status_code == 200, r.content
    assert PushRequest.objects.get(pk=pr_id).error_kind == "refund_account_missing"
    order.refresh_from_db()
    assert order.status == Order.Status.PUSHED
    assert api.post(f"/requests/{pr_id}/cancel").status_code == 200
    order.refresh_from_db()
    assert order.status == Order.Status.PUSHED
