"""Deposits (deposits.py): money from Undeposited Funds (payments, sales receipts, refund receipts) or other accounts
into a bank account; a deposited transaction refuses void, delete and changes with 6540 until its deposit is
deleted."""

from __future__ import annotations

import pytest

from .test_payments import _events, fault, line
from .test_webhooks_state import Receiver

BUSINESS = "A business validation error has occurred while processing your request"


def dep_link(amount, txn, kind):
    return {"Amount": amount, "LinkedTxn": [{"TxnId": txn["Id"], "TxnType": kind}]}


def deposit_body(*lines, account="35"):
    return {"DepositToAccountRef": {"value": account}, "Line": list(lines)}


def status(rc, etype, id_):
    (rec,) = [x for x in rc.entities(etype) if x["Id"] == id_]
    return rec["status"], rec["SyncToken"]


@pytest.fixture
def till(make_realm):
    """A sales receipt of 25.49 and an unapplied payment of 30.26, both in Undeposited Funds."""
    rc = make_realm(customers=[{"DisplayName": "Amy's Bird Sanctuary"}, {"DisplayName": "Other Buyer"}])
    rc.receipt = rc.create("SalesReceipt", {"CustomerRef": {"value": "1"}, "Line": [line(19.99), line("5.50")]})
    rc.payment = rc.create("Payment", {"CustomerRef": {"value": "1"}, "TotalAmt": "30.26"})
    return rc


def test_a_deposit_of_a_sales_receipt_a_payment_and_other_money(till):
    rc = till
    assert (rc.receipt["TotalAmt"], rc.receipt["DepositToAccountRef"]) == (25.49, {"value": "4",
                                                                                   "name": "Undeposited Funds"})
    r = rc.post("deposit", {
        "DepositToAccountRef": {"value": "35"}, "TxnDate": "2026-12-01", "PrivateNote": "Friday's takings",
        "Line": [dep_link("25.49", rc.receipt, "SalesReceipt"), dep_link(30.26, rc.payment, "Payment"),
                 {"Amount": "0.10", "Description": "Interest", "DetailType": "DepositLineDetail",
                  "DepositLineDetail": {"AccountRef": {"value": "79"}, "Entity": {"value": "1", "type": "Customer"},
                                        "PaymentMethodRef": {"value": "1"}}}]})
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"Deposit", "time"}
    dep = r.json()["Deposit"]
    assert {k: v for k, v in dep.items() if k not in ("MetaData", "Id")} == {
        "domain": "QBO", "sparse": False, "SyncToken": "0",
        "DepositToAccountRef": {"value": "35", "name": "Checking"}, "TxnDate": "2026-12-01",
        "PrivateNote": "Friday's takings", "TotalAmt": 55.85,
        "Line": [{"Id": "1", "LineNum": 1, "Amount": 25.49,
                  "LinkedTxn": [{"TxnId": rc.receipt["Id"], "TxnType": "SalesReceipt"}]},
                 {"Id": "2", "LineNum": 2, "Amount": 30.26,
                  "LinkedTxn": [{"TxnId": rc.payment["Id"], "TxnType": "Payment"}]},
                 {"Id": "3", "LineNum": 3, "Description": "Interest", "Amount": 0.1, "DetailType": "DepositLineDetail",
                  "DepositLineDetail": {"AccountRef": {"value": "79", "name": "Sales of Product Income"},
                                        "Entity": {"value": "1", "name": "Amy's Bird Sanctuary", "type": "Customer"},
                                        "PaymentMethodRef": {"value": "1", "name": "Cash"}}}],
        "CurrencyRef": {"value": "USD", "name": "United States Dollar"}}
    assert int(dep["Id"]) == int(rc.payment["Id"]) + 1  # the transactions' Id sequence
    assert rc.get(f"deposit/{dep['Id']}").json()["Deposit"] == dep
    q = rc.query("select * from Deposit").json()["QueryResponse"]
    assert q == {"Deposit": [dep], "startPosition": 1, "maxResults": 1}
    assert rc.query("select * from Deposit where TotalAmt > '55.84'").json()["QueryResponse"]["Deposit"] == [dep]
    # the deposited documents are not touched by the deposit [inferred]
    assert rc.get(f"salesreceipt/{rc.receipt['Id']}").json()["SalesReceipt"] == rc.receipt
    assert rc.get(f"payment/{rc.payment['Id']}").json()["Payment"] == rc.payment


def _deposited(rc):
    return rc.create("Deposit", deposit_body(dep_link("25.49", rc.receipt, "SalesReceipt"),
                                             dep_link("30.26", rc.payment, "Payment")))


def _assert_6540(r, label, name, dep):
    assert r.status_code == 400, r.text
    assert r.json()["Fault"] == {"Error": [{
        "Message": "Deposited Transaction cannot be changed",
        "Detail": f"Deposited Transaction cannot be changed : {label} {name} is part of Deposit {dep['Id']}. Delete "
                  "the deposit, or remove this transaction from it, first.",
        "code": "6540", "element": ""}], "type": "ValidationFault"}


def test_a_deposited_sales_receipt_refuses_void_delete_and_changes_with_6540(till):
    rc = till
    dep = _deposited(rc)
    sr = rc.receipt
    key = {"Id": sr["Id"], "SyncToken": "0"}
    _assert_6540(rc.post("salesreceipt", dict(key, sparse=True), params={"operation": "update", "include": "void"}),
                 "Sales Receipt", sr["DocNumber"], dep)
    _assert_6540(rc.post("salesreceipt", key, params={"operation": "delete"}), "Sales Receipt", sr["DocNumber"], dep)
    _assert_6540(rc.post("salesreceipt", dict(key, sparse=True, Line=[line("25.48")])), "Sales Receipt",
                 sr["DocNumber"], dep)
    _assert_6540(rc.post("salesreceipt", dict(key, sparse=True, DepositToAccountRef={"value": "35"})),
                 "Sales Receipt", sr["DocNumber"], dep)
    _assert_6540(rc.post("salesreceipt", dict(key, sparse=True, CustomerRef={"value": "2"})), "Sales Receipt",
                 sr["DocNumber"], dep)
    # nothing changed
    assert rc.get(f"salesreceipt/{sr['Id']}").json()["SalesReceipt"] == sr
    assert status(rc, "SalesReceipt", sr["Id"]) == ("Active", "0")
    # a memo is not what the deposit holds: allowed [inferred]
    r = rc.post("salesreceipt", dict(key, sparse=True, PrivateNote="left at the bank"))
    assert r.status_code == 200, r.text
    after = r.json()["SalesReceipt"]
    assert (after["SyncToken"], after["PrivateNote"], after["TotalAmt"], after["Line"]) == (
        "1", "left at the bank", 25.49, sr["Line"])


def test_a_deposited_payment_refuses_void_delete_and_changes_with_6540(till):
    rc = till
    dep = _deposited(rc)
    pay = rc.payment
    key = {"Id": pay["Id"], "SyncToken": "0"}
    _assert_6540(rc.post("payment", dict(key, sparse=True), params={"operation": "update", "include": "void"}),
                 "Payment", pay["Id"], dep)
    _assert_6540(rc.post("payment", key, params={"operation": "void"}), "Payment", pay["Id"], dep)
    _assert_6540(rc.post("payment", key, params={"operation": "delete"}), "Payment", pay["Id"], dep)
    _assert_6540(rc.post("payment", dict(key, sparse=True, TotalAmt="30.25")), "Payment", pay["Id"], dep)
    _assert_6540(rc.post("payment", dict(key, CustomerRef={"value": "1"}, TotalAmt="30.26",
                                         DepositToAccountRef={"value": "35"})), "Payment", pay["Id"], dep)
    assert rc.get(f"payment/{pay['Id']}").json()["Payment"] == pay
    assert status(rc, "Payment", pay["Id"]) == ("Active", "0")


def test_deleting_the_deposit_releases_its_transactions(till):
    rc = till
    dep = _deposited(rc)
    r = rc.post("deposit", {"Id": dep["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    assert r.status_code == 200, r.text
    assert r.json()["Deposit"] == {"domain": "QBO", "status": "Deleted", "Id": dep["Id"]}
    assert rc.query("select * from Deposit").json()["QueryResponse"] == {}
    fault(rc.get(f"deposit/{dep['Id']}"), "610")
    r = rc.post("salesreceipt", {"Id": rc.receipt["Id"], "SyncToken": "0", "sparse": True},
                params={"operation": "update", "include": "void"})
    assert r.status_code == 200, r.text
    assert (r.json()["SalesReceipt"]["TotalAmt"], r.json()["SalesReceipt"]["SyncToken"]) == (0, "1")
    assert status(rc, "SalesReceipt", rc.receipt["Id"]) == ("Voided", "1")
    r = rc.post("payment", {"Id": rc.payment["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    assert r.json()["Payment"] == {"domain": "QBO", "status": "Deleted", "Id": rc.payment["Id"]}


def test_updating_a_deposit(till):
    rc = till
    dep = _deposited(rc)
    r = rc.post("deposit", {"Id": dep["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "counted twice"})
    assert r.status_code == 200, r.text
    sparse = r.json()["Deposit"]
    assert (sparse["SyncToken"], sparse["PrivateNote"], sparse["TotalAmt"], sparse["Line"]) == (
        "1", "counted twice", 55.75, dep["Line"])
    # a full update without the payment's line releases the payment; the receipt's line keeps its Id
    r = rc.post("deposit", {"Id": dep["Id"], "SyncToken": "1", "DepositToAccountRef": {"value": "35"},
                            "Line": [dict(dep["Line"][0])]})
    assert r.status_code == 200, r.text
    full = r.json()["Deposit"]
    assert (full["SyncToken"], full["TotalAmt"], full["Line"], "PrivateNote" in full) == (
        "2", 25.49, [dep["Line"][0]], False)
    r = rc.post("payment", {"Id": rc.payment["Id"], "SyncToken": "0", "sparse": True},
                params={"operation": "update", "include": "void"})
    assert r.status_code == 200, r.text
    # a stale SyncToken is 5010 as everywhere
    fault(rc.post("deposit", {"Id": dep["Id"], "SyncToken": "1", "sparse": True, "PrivateNote": "x"}), "5010")
    # a deposit is not voided: deleted
    fault(rc.post("deposit", {"Id": dep["Id"], "SyncToken": "2"}, params={"operation": "void"}), "500")


def test_bad_deposits_are_refused_and_nothing_is_stored(till):
    rc = till
    sr, pay = rc.receipt, rc.payment
    ok = dep_link("25.49", sr, "SalesReceipt")
    err = fault(rc.post("deposit", {"Line": [ok]}), "2020")
    assert err == {"Message": "Required param missing, need to supply the required value for the API",
                   "Detail": "Required parameter DepositToAccountRef is missing in the request", "code": "2020",
                   "element": "DepositToAccountRef"}
    assert fault(rc.post("deposit", {"DepositToAccountRef": {"value": "35"}}), "2020")["Detail"] == (
        "Required parameter Line is missing in the request")
    assert fault(rc.post("deposit", deposit_body(ok, account="1")), "6000") == {
        "Message": BUSINESS, "Detail": "Business Validation Error: DepositToAccountRef must be a bank or other current "
                                       "asset account. Account Services is of type Income.",
        "code": "6000", "element": "DepositToAccountRef"}
    assert fault(rc.post("deposit", deposit_body(ok, account="4")), "6000")["Detail"] == (
        "Business Validation Error: A deposit can't be made into Undeposited Funds; choose a bank account.")
    assert fault(rc.post("deposit", deposit_body(ok, account="999")), "2500")["element"] == "DepositToAccountRef"
    assert fault(rc.post("deposit", deposit_body(dep_link("25.50", sr, "SalesReceipt"))), "6000") == {
        "Message": BUSINESS, "Detail": f"Business Validation Error: The amount deposited for Sales Receipt "
                                       f"{sr['DocNumber']} (25.5) must be its total (25.49).",
        "code": "6000", "element": "Line.Amount"}
    assert fault(rc.post("deposit", deposit_body(ok, ok)), "6000")["Detail"] == (
        f"Business Validation Error: Sales Receipt {sr['DocNumber']} is linked twice in this deposit.")
    banked = rc.create("SalesReceipt", {"CustomerRef": {"value": "1"}, "DepositToAccountRef": {"value": "35"},
                                        "Line": [line(12)]})
    assert fault(rc.post("deposit", deposit_body(dep_link(12, banked, "SalesReceipt"))), "6000") == {
        "Message": BUSINESS, "Detail": f"Business Validation Error: Sales Receipt {banked['DocNumber']} isn't in "
                                       "Undeposited Funds, so it can't be deposited.",
        "code": "6000", "element": "Line.LinkedTxn"}
    inv = rc.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [line(5)]})
    assert fault(rc.post("deposit", deposit_body(dep_link(5, inv, "Invoice"))), "2170")["Detail"] == (
        "Invalid Enumeration : TxnType Invoice")
    assert fault(rc.post("deposit", deposit_body({"Amount": 5, "LinkedTxn": [{"TxnId": "999",
                                                                                "TxnType": "Payment"}]})),
                 "610")["element"] == "Line.LinkedTxn.TxnId"
    assert fault(rc.post("deposit", deposit_body({"Amount": 5, "DetailType": "DepositLineDetail",
                                                  "DepositLineDetail": {}})), "2020")["Detail"] == (
        "Required parameter Line.DepositLineDetail.AccountRef is missing in the request")
    assert fault(rc.post("deposit", deposit_body({"Amount": -5, "DetailType": "DepositLineDetail",
                                                  "DepositLineDetail": {"AccountRef": {"value": "79"}}})),
                 "2290")["element"] == "Line.Amount"
    voided = rc.create("Payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 7})
    rc.post("payment", {"Id": voided["Id"], "SyncToken": "0"}, params={"operation": "void"})
    assert fault(rc.post("deposit", deposit_body(dep_link(0, voided, "Payment"))), "6000")["Detail"] == (
        f"Business Validation Error: Payment {voided['Id']} is voided; it can't be deposited.")
    assert rc.entities("Deposit") == []
    # already deposited
    first = rc.create("Deposit", deposit_body(ok))
    assert fault(rc.post("deposit", deposit_body(dep_link("30.26", pay, "Payment"), ok)), "6000") == {
        "Message": BUSINESS, "Detail": f"Business Validation Error: Sales Receipt {sr['DocNumber']} has already been "
                                       f"deposited (Deposit {first['Id']}).",
        "code": "6000", "element": "Line.LinkedTxn"}
    assert [d["Id"] for d in rc.entities("Deposit")] == [first["Id"]]
    assert fault(rc.post("deposit", dict(deposit_body(ok), CashBack={"Amount": 1})), "2010")


def test_a_refund_receipt_paid_from_undeposited_funds_lowers_the_deposit(till):
    rc = till
    rr = rc.create("RefundReceipt", {"DepositToAccountRef": {"value": "4"}, "Line": [line("5.49")]})
    dep = rc.create("Deposit", deposit_body(dep_link("25.49", rc.receipt, "SalesReceipt"),
                                            dep_link("5.49", rr, "RefundReceipt")))
    assert (dep["TotalAmt"], [x["Amount"] for x in dep["Line"]]) == (20, [25.49, 5.49])
    _assert_6540(rc.post("refundreceipt", {"Id": rr["Id"], "SyncToken": "0"}, params={"operation": "delete"}),
                 "Refund Receipt", rr["DocNumber"], dep)
    assert status(rc, "RefundReceipt", rr["Id"]) == ("Active", "0")
    assert fault(rc.post("deposit", deposit_body(dep_link("5.49", rc.create(
        "RefundReceipt", {"DepositToAccountRef": {"value": "4"}, "Line": [line("5.49")]}), "RefundReceipt"))),
        "6000")["Detail"] == "Business Validation Error: The deposit's total (-5.49) can't be negative."


def test_webhooks_and_cdc_of_deposits(make_realm):
    receiver = Receiver()
    rc = make_realm(customers=[{"DisplayName": "Hooked"}],
                    config={"webhook_url": receiver.url, "webhook_verifier": "v", "webhook_batch_ms": 0})
    rc.http.put("/_sandbox/clock", json={"offset_seconds": 2})  # past the seeded records' second
    try:
        since = rc.http.get("/_sandbox/clock").json()["now"]
        pay = rc.create("Payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 10})
        dep = rc.create("Deposit", deposit_body(dep_link(10, pay, "Payment")))
        rc.post("deposit", {"Id": dep["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "n"})
        rc.post("deposit", {"Id": dep["Id"], "SyncToken": "1"}, params={"operation": "delete"})
        events = _events(receiver, 4)
        assert [(e["name"], e["id"], e["operation"]) for e in events] == [
            ("Payment", pay["Id"], "Create"), ("Deposit", dep["Id"], "Create"), ("Deposit", dep["Id"], "Update"),
            ("Deposit", dep["Id"], "Delete")]
        groups = rc.get("cdc", params={"changedSince": since, "entities": "Deposit"}).json()["CDCResponse"][0][
            "QueryResponse"]
        assert [(g["Deposit"][0]["Id"], g["Deposit"][0]["status"]) for g in groups] == [(dep["Id"], "Deleted")]
    finally:
        rc.http.put("/_sandbox/clock", json={"offset_seconds": 0})
        receiver.close()
