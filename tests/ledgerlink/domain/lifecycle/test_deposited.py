"""A sales receipt whose money the merchant deposited in QBO: the cancel's void is refused with 6540 and explained
(``deposited_transaction``); once the deposit is deleted in QBO, the re-queued void goes through."""

from __future__ import annotations

from ledgerlink.core.models import Order, PushRequest
from ledgerlink.domain.outbox.actions import requeue_request
from ledgerlink.quickbooks.errors import ERROR_KINDS
from tests.ledgerlink.factories import make_user


def _receipt(qbo, company):
    (receipt,) = qbo.entities(company.realm_id, "SalesReceipt")
    return receipt


def test_void_of_a_deposited_sales_receipt_is_refused_explained_and_goes_through_after_the_deposit_is_deleted(
        webstore, order_factory, api, qbo, company, run_worker_until_idle):
    order, pr = order_factory(webstore, email="", lines=[
        {"sku": "", "description": "Seed packets", "quantity": 3, "unit_price": "8.33"}])
    run_worker_until_idle(timeout=20)
    pr.refresh_from_db()
    assert (pr.kind, pr.state) == ("sales_receipt", "succeeded")
    receipt = _receipt(qbo, company)
    assert (receipt["Id"], receipt["status"], receipt["TotalAmt"], receipt["SyncToken"]) == (pr.qbo_id, "Active",
                                                                                             24.99, "0")
    assert receipt["DepositToAccountRef"] == {"value": "4", "name": "Undeposited Funds"}

    # The merchant deposits the day's takings into Checking, inside QBO (Ledgerlink does not know).
    r = qbo.api(company.realm_id, "POST", "deposit", json={
        "DepositToAccountRef": {"value": "35"},
        "Line": [{"Amount": "24.99", "LinkedTxn": [{"TxnId": pr.qbo_id, "TxnType": "SalesReceipt"}]}]})
    assert r.status_code == 200, r.text
    deposit = r.json()["Deposit"]
    assert (deposit["TotalAmt"], deposit["DepositToAccountRef"]) == (24.99, {"value": "35", "name": "Checking"})

    r = api.post(f"/orders/{order.pk}/cancel", {"reason": "never shipped"})
    assert r.status_code == 200, r.content
    void_id = r.json()["void_request"]["id"]
    run_worker_until_idle(timeout=20)
    void = PushRequest.objects.get(pk=void_id)
    assert (void.kind, void.state, void.error_kind, void.error_code) == ("void", "failed", "deposited_transaction",
                                                                         "6540")
    assert (void.error_title, void.error_message) == ("Deposited Transaction cannot be changed",
                                                      "Deposited Transaction cannot be changed")
    assert void.error_detail == (f"Deposited Transaction cannot be changed : Sales Receipt {receipt['DocNumber']} "
                                 f"is part of Deposit {deposit['Id']}. Delete the deposit, or remove this transaction "
                                 "from it, first.")
    error = api.get(f"/requests/{void.pk}").json()["error"]
    assert error == {"kind": "deposited_transaction", "title": "Deposited Transaction cannot be changed",
                     "message": "Deposited Transaction cannot be changed", "detail": void.error_detail,
                     "code": "6540", "element": "", "fix": ERROR_KINDS["deposited_transaction"]["fix"]}
    assert error["fix"].startswith("The sales receipt's money has been deposited in QuickBooks Online")
    # Negative check: QBO changed nothing.
    after = _receipt(qbo, company)
    assert (after["status"], after["TotalAmt"], after["SyncToken"]) == ("Active", 24.99, "0")
    assert after == receipt

    # The merchant deletes the deposit in QBO; an operator re-queues the void unchanged.
    r = qbo.api(company.realm_id, "POST", "deposit", params={"operation": "delete"},
                json={"Id": deposit["Id"], "SyncToken": deposit["SyncToken"]})
    assert r.status_code == 200, r.text
    assert r.json()["Deposit"] == {"domain": "QBO", "status": "Deleted", "Id": deposit["Id"]}
    requeued = requeue_request(void.pk, actor=make_user("otto", "operator"))
    assert (requeued.state, requeued.revision) == ("queued", 2)
    run_worker_until_idle(timeout=20)
    void.refresh_from_db()
    assert (void.state, void.error_kind, void.qbo_id, void.qbo_sync_token) == ("succeeded", "", pr.qbo_id, "1")
    voided = _receipt(qbo, company)
    assert (voided["status"], voided["TotalAmt"], voided["SyncToken"], voided["PrivateNote"][:6]) == (
        "Voided", 0, "1", "Voided")
    log = [(e["operation"], e["requestid"]) for e in qbo.requests(company.realm_id)
           if e["method"] == "POST" and e["entities"] == ["SalesReceipt"]]
    assert log == [("create", f"ll-{pr.pk}-r1"), ("void", f"ll-{void.pk}-r1"), ("void", f"ll-{void.pk}-r2")]
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
