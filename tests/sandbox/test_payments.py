"""Payments applied to invoices and credit memos, credit memos, refund receipts, voids and deletes around linked
transactions; webhooks and CDC of the new entities."""

from __future__ import annotations

import json
import time

import pytest

from .test_webhooks_state import Receiver


def line(amount, code="NON"):
    return {"DetailType": "SalesItemLineDetail", "Amount": amount,
            "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "TaxCodeRef": {"value": code}}}


def link(amount, txn, kind="Invoice"):
    return {"Amount": amount, "LinkedTxn": [{"TxnId": txn["Id"], "TxnType": kind}]}


def fault(r, code):
    assert r.status_code == 400, r.text
    [err] = r.json()["Fault"]["Error"]
    assert err["code"] == code
    return err


@pytest.fixture
def shop(make_realm):
    rc = make_realm(customers=[{"DisplayName": "Amy's Bird Sanctuary"}, {"DisplayName": "Other Buyer"}])
    rc.inv1 = rc.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [line(100)]})
    rc.inv2 = rc.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [line(50)]})
    return rc


def balance(rc, etype, txn):
    return rc.get(f"{etype.lower()}/{txn['Id']}").json()[etype]["Balance"]


def test_payment_applied_to_invoices(shop):
    rc = shop
    r = rc.post("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 120, "PaymentMethodRef": {"value": "2"},
                            "PaymentRefNum": "1042", "Line": [link(100, rc.inv1), link(20, rc.inv2)]})
    assert r.status_code == 200 and set(r.json()) == {"Payment", "time"}
    pay = r.json()["Payment"]
    assert {k: v for k, v in pay.items() if k not in ("MetaData", "TxnDate", "Id")} == {
        "domain": "QBO", "sparse": False, "SyncToken": "0", "CustomerRef": {"value": "1", "name": "Amy's Bird Sanctuary"},
        "TotalAmt": 120, "PaymentMethodRef": {"value": "2", "name": "Check"}, "PaymentRefNum": "1042",
        "Line": [{"Amount": 100, "LinkedTxn": [{"TxnId": rc.inv1["Id"], "TxnType": "Invoice"}]},
                 {"Amount": 20, "LinkedTxn": [{"TxnId": rc.inv2["Id"], "TxnType": "Invoice"}]}],
        "DepositToAccountRef": {"value": "4", "name": "Undeposited Funds"}, "UnappliedAmt": 0,
        "ProcessPayment": False, "CurrencyRef": {"value": "USD", "name": "United States Dollar"}}
    inv1 = rc.get(f"invoice/{rc.inv1['Id']}").json()["Invoice"]
    assert (inv1["Balance"], inv1["SyncToken"], inv1["LinkedTxn"]) == (0, "1", [
        {"TxnId": pay["Id"], "TxnType": "Payment"}])
    assert balance(rc, "Invoice", rc.inv2) == 30
    assert rc.get("customer/1").json()["Customer"]["Balance"] == 30
    assert rc.get(f"payment/{pay['Id']}").json()["Payment"] == pay
    assert [p["Id"] for p in rc.query("select * from Payment where CustomerRef = '1'").json()["QueryResponse"][
        "Payment"]] == [pay["Id"]]
    # an unapplied remainder stays on the payment and lowers the customer's balance
    extra = rc.create("Payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 80, "Line": [link(30, rc.inv2)]})
    assert extra["UnappliedAmt"] == 50
    assert rc.get("customer/1").json()["Customer"]["Balance"] == -50
    assert rc.create("Payment", {"CustomerRef": {"value": "2"}, "TotalAmt": 5})["UnappliedAmt"] == 5


def test_payment_refusals_store_nothing(shop):
    rc = shop
    base = {"CustomerRef": {"value": "1"}, "TotalAmt": 150}
    err = fault(rc.post("payment", dict(base, Line=[link(150, rc.inv1)])), "6000")
    assert err["Detail"] == ("Business Validation Error: The amount applied to invoice 1001 (150) is more than its open "
                             "balance (100).")
    assert err["element"] == "Line.Amount"
    err = fault(rc.post("payment", dict(base, TotalAmt=90, Line=[link(100, rc.inv1)])), "6000")
    assert err["Detail"] == "Business Validation Error: The amounts applied (100) are more than the payment's total (90)."
    assert fault(rc.post("payment", {"TotalAmt": 1}), "2020")["Detail"] == (
        "Required parameter CustomerRef is missing in the request")
    assert fault(rc.post("payment", {"CustomerRef": {"value": "1"}}), "2020")["Detail"] == (
        "Required parameter TotalAmt is missing in the request")
    gone = dict(base, Line=[{"Amount": 1, "LinkedTxn": [{"TxnId": "1001", "TxnType": "Invoice"}]}])  # a DocNumber
    assert fault(rc.post("payment", gone), "610")["element"] == "Line.LinkedTxn.TxnId"
    err = fault(rc.post("payment", {"CustomerRef": {"value": "2"}, "TotalAmt": 1, "Line": [link(1, rc.inv1)]}), "6000")
    assert err["Detail"] == "Business Validation Error: Invoice 1001 belongs to another customer."
    err = fault(rc.post("payment", dict(base, DepositToAccountRef={"value": "79"})), "6000")
    assert err["Detail"] == ("Business Validation Error: DepositToAccountRef must be a bank or other current asset "
                             "account. Account Sales of Product Income is of type Income.")
    assert fault(rc.post("payment", dict(base, Line=[{"Amount": 1, "LinkedTxn": [{"TxnId": rc.inv1["Id"],
                                                                                  "TxnType": "Bill"}]}])), "2170")
    assert fault(rc.post("payment", dict(base, Line=[{"Amount": -1, "LinkedTxn": [
        {"TxnId": rc.inv1["Id"], "TxnType": "Invoice"}]}])), "2290")
    assert rc.entities("Payment") == []
    assert (balance(rc, "Invoice", rc.inv1), rc.get(f"invoice/{rc.inv1['Id']}").json()["Invoice"]["SyncToken"]) == (
        100, "0")


def test_payment_update_delete_and_void(shop):
    rc = shop
    pay = rc.create("Payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 100, "Line": [link(100, rc.inv1)]})
    # full update moves the money to the other invoice
    moved = rc.post("payment", {"Id": pay["Id"], "SyncToken": "0", "CustomerRef": {"value": "1"}, "TotalAmt": 100,
                                "Line": [link(40, rc.inv1), link(50, rc.inv2)]}).json()["Payment"]
    assert (moved["SyncToken"], moved["UnappliedAmt"]) == ("1", 10)
    assert (balance(rc, "Invoice", rc.inv1), balance(rc, "Invoice", rc.inv2)) == (60, 0)
    sparse = rc.post("payment", {"Id": pay["Id"], "SyncToken": "1", "sparse": True, "PrivateNote": "kept lines"})
    assert len(sparse.json()["Payment"]["Line"]) == 2
    # the invoices can't be voided or deleted while the payment is applied
    inv1 = rc.get(f"invoice/{rc.inv1['Id']}").json()["Invoice"]
    err = fault(rc.post("invoice?operation=void", {"Id": inv1["Id"], "SyncToken": inv1["SyncToken"]}), "6000")
    assert err["Detail"] == ("Business Validation Error: This invoice has payments applied to it and can't be voided. "
                             "Delete or change the payments first.")
    err = fault(rc.post("invoice?operation=delete", {"Id": inv1["Id"], "SyncToken": inv1["SyncToken"]}), "6000")
    assert err["Detail"] == ("Business Validation Error: You must unlink any linked transactions associated with the "
                             "invoice before deleting it.")
    # void as python-quickbooks sends it (operation=update&include=void, sparse)
    r = rc.post("payment", {"Id": pay["Id"], "SyncToken": "2", "sparse": True},
                params={"operation": "update", "include": "void"})
    voided = r.json()["Payment"]
    assert (voided["TotalAmt"], voided["UnappliedAmt"], voided["Line"], voided["SyncToken"]) == (0, 0, [], "3")
    assert voided["PrivateNote"] == "Voided - kept lines"
    assert (balance(rc, "Invoice", rc.inv1), balance(rc, "Invoice", rc.inv2)) == (100, 50)
    assert rc.get(f"invoice/{rc.inv1['Id']}").json()["Invoice"]["LinkedTxn"] == []
    assert rc.get("customer/1").json()["Customer"]["Balance"] == 150
    assert [p["status"] for p in rc.entities("Payment")] == ["Voided"]
    # now the invoice can be voided; operation=void (Intuit's Payment page) voids a payment too
    other = rc.create("Payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 50, "Line": [link(50, rc.inv2)]})
    out = rc.post("payment?operation=void", {"Id": other["Id"], "SyncToken": "0"}).json()["Payment"]
    assert (out["TotalAmt"], out["PrivateNote"]) == (0, "Voided")
    third = rc.create("Payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 25, "Line": [link(25, rc.inv2)]})
    assert balance(rc, "Invoice", rc.inv2) == 25
    r = rc.post("payment?operation=delete", {"Id": third["Id"], "SyncToken": "0"})
    assert r.json()["Payment"] == {"domain": "QBO", "status": "Deleted", "Id": third["Id"]}
    assert balance(rc, "Invoice", rc.inv2) == 50
    assert fault(rc.get(f"payment/{third['Id']}"), "610")
    inv1 = rc.get(f"invoice/{rc.inv1['Id']}").json()["Invoice"]
    assert rc.post("invoice?operation=void", {"Id": inv1["Id"], "SyncToken": inv1["SyncToken"]}).status_code == 200


def test_credit_memo_applied_through_a_payment(shop):
    rc = shop
    assert fault(rc.post("creditmemo", {"Line": [line(30)]}), "2020")["element"] == "CustomerRef"
    memo = rc.create("CreditMemo", {"CustomerRef": {"value": "1"}, "Line": [line(30)]})
    assert (memo["TotalAmt"], memo["Balance"], memo["RemainingCredit"], memo["DocNumber"]) == (30, 30, 30, "1001")
    assert rc.get("customer/1").json()["Customer"]["Balance"] == 120  # 150 open - 30 credit
    pay = rc.create("Payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 70,
                                "Line": [link(100, rc.inv1), link(30, memo, "CreditMemo")]})
    assert pay["UnappliedAmt"] == 0
    memo = rc.get(f"creditmemo/{memo['Id']}").json()["CreditMemo"]
    assert (memo["Balance"], memo["RemainingCredit"], memo["LinkedTxn"]) == (0, 0, [
        {"TxnId": pay["Id"], "TxnType": "Payment"}])
    assert balance(rc, "Invoice", rc.inv1) == 0
    assert rc.get("customer/1").json()["Customer"]["Balance"] == 50
    err = fault(rc.post("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 0,
                                    "Line": [link(1, rc.inv2), link(1, memo, "CreditMemo")]}), "6000")
    assert err["Detail"] == ("Business Validation Error: The amount applied from credit memo 1001 (1) is more than its "
                             "remaining credit (0).")
    err = fault(rc.post("creditmemo?operation=delete", {"Id": memo["Id"], "SyncToken": memo["SyncToken"]}), "6000")
    assert "credit memo before deleting it" in err["Detail"]
    assert fault(rc.post("creditmemo?operation=void", {"Id": memo["Id"], "SyncToken": memo["SyncToken"]}), "500")


def test_refund_receipt(make_realm):
    rc = make_realm(customers=[{"DisplayName": "Amy", "ShipAddr": {"City": "Bayshore", "CountrySubDivisionCode": "CA",
                                                                   "PostalCode": "94326"}}])
    body = {"Line": [line(420)]}
    err = fault(rc.post("refundreceipt", body), "2020")
    assert (err["Detail"], err["element"]) == ("Required parameter DepositToAccountRef is missing in the request",
                                               "DepositToAccountRef")
    err = fault(rc.post("refundreceipt", dict(body, DepositToAccountRef={"value": "84"})), "6000")
    assert err["Detail"] == ("Business Validation Error: DepositToAccountRef must be a bank or other current asset "
                             "account. Account Accounts Receivable (A/R) is of type Accounts Receivable.")
    fault(rc.post("refundreceipt", dict(body, DepositToAccountRef={"value": "35"}, PaymentType="Barter")), "2170")
    rr = rc.create("RefundReceipt", dict(body, DepositToAccountRef={"name": "Checking", "value": "35"}))
    assert {k: rr[k] for k in ("DocNumber", "SyncToken", "Balance", "TotalAmt", "PrintStatus", "PaymentRefNum",
                               "ApplyTaxAfterDiscount", "DepositToAccountRef")} == {
        "DocNumber": "1001", "SyncToken": "0", "Balance": 0, "TotalAmt": 420, "PrintStatus": "NeedToPrint",
        "PaymentRefNum": "To Print", "ApplyTaxAfterDiscount": False,
        "DepositToAccountRef": {"value": "35", "name": "Checking"}}
    assert "CustomerRef" not in rr  # not required (tcl §3.4)
    taxed = rc.create("RefundReceipt", {"CustomerRef": {"value": "1"}, "DepositToAccountRef": {"value": "35"},
                                        "PaymentType": "Check", "PaymentMethodRef": {"value": "2"},
                                        "CheckPayment": {"CheckNum": "7001", "Status": "NotSet"},
                                        "PrintStatus": "NotSet", "Line": [line(100, "TAX")]})
    assert (taxed["TxnTaxDetail"]["TotalTax"], taxed["TotalAmt"], taxed["PaymentType"]) == (7.25, 107.25, "Check")
    assert taxed["CheckPayment"] == {"CheckNum": "7001", "Status": "NotSet"} and "PaymentRefNum" not in taxed
    assert rc.post("refundreceipt?operation=delete", {"Id": rr["Id"], "SyncToken": "0"}).json()["RefundReceipt"] == {
        "domain": "QBO", "status": "Deleted", "Id": rr["Id"]}


def test_sales_receipt_void_clears_its_tax(make_realm):
    rc = make_realm()
    sr = rc.create("SalesReceipt", {"Line": [line(100, "TAX")]})
    assert sr["TxnTaxDetail"]["TotalTax"] == 7.25  # the company address, San Pablo CA
    r = rc.post("salesreceipt", {"Id": sr["Id"], "SyncToken": "0", "sparse": True},
                params={"operation": "update", "include": "void"})
    v = r.json()["SalesReceipt"]
    assert (v["TotalAmt"], v["TxnTaxDetail"], v["PrivateNote"], v["SyncToken"]) == (0, {"TotalTax": 0}, "Voided", "1")


def test_foreign_payment(make_realm):
    rc = make_realm(multicurrency=True, company_currencies=[{"Code": "EUR"}],
                    customers=[{"DisplayName": "Euro Buyer", "CurrencyRef": {"value": "EUR"}}])
    inv = rc.create("Invoice", {"CustomerRef": {"value": "1"}, "CurrencyRef": {"value": "EUR"}, "ExchangeRate": 1.1,
                                "Line": [line(100)]})
    err = fault(rc.post("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 100, "Line": [link(100, inv)]}), "6000")
    assert "same currency" in err["Detail"]
    pay = rc.create("Payment", {"CustomerRef": {"value": "1"}, "CurrencyRef": {"value": "EUR"}, "ExchangeRate": 1.2,
                                "TotalAmt": 100, "Line": [link(100, inv)]})
    assert (pay["CurrencyRef"]["value"], pay["ExchangeRate"], pay["HomeTotalAmt"]) == ("EUR", 1.2, 120)
    inv = rc.get(f"invoice/{inv['Id']}").json()["Invoice"]
    assert (inv["Balance"], inv["HomeBalance"], inv["HomeTotalAmt"]) == (0, 0, 110)


def _events(receiver, n, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        events = [e for call in receiver.calls
                  for e in json.loads(call["body"])["eventNotifications"][0]["dataChangeEvent"]["entities"]]
        if len(events) >= n or time.monotonic() > deadline:
            return events
        time.sleep(0.02)


def test_webhooks_and_cdc_of_the_new_entities(make_realm):
    receiver = Receiver()
    rc = make_realm(multicurrency=True, customers=[{"DisplayName": "Hooked"}],
                    config={"webhook_url": receiver.url, "webhook_verifier": "v", "webhook_batch_ms": 0})
    rc.http.put("/_sandbox/clock", json={"offset_seconds": 2})  # past the seeded records' second
    try:
        since = rc.http.get("/_sandbox/clock").json()["now"]
        inv = rc.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [line(10)]})
        pay = rc.create("Payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 10, "Line": [link(10, inv)]})
        rc.post("payment?operation=void", {"Id": pay["Id"], "SyncToken": "0"})
        memo = rc.create("CreditMemo", {"CustomerRef": {"value": "1"}, "Line": [line(5)]})
        rr = rc.create("RefundReceipt", {"DepositToAccountRef": {"value": "35"}, "Line": [line(5)]})
        term = rc.create("Term", {"Name": "Net 45", "DueDays": 45})
        method = rc.create("PaymentMethod", {"Name": "Bitcoin"})
        acct = rc.create("Account", {"Name": "Petty Cash", "AccountType": "Bank"})
        rc.create("TaxAgency", {"DisplayName": "Quiet Agency"})  # not in QBO's webhook list: no event
        cur = rc.create("CompanyCurrency", {"Code": "EUR"})
        events = _events(receiver, 9)
        assert [(e["name"], e["id"], e["operation"]) for e in events] == [
            ("Invoice", inv["Id"], "Create"), ("Payment", pay["Id"], "Create"), ("Payment", pay["Id"], "Void"),
            ("CreditMemo", memo["Id"], "Create"), ("RefundReceipt", rr["Id"], "Create"),
            ("Term", term["Id"], "Create"), ("PaymentMethod", method["Id"], "Create"),
            ("Account", acct["Id"], "Create"), ("Currency", cur["Id"], "Create")]
        cdc = rc.get("cdc", params={"changedSince": since, "entities":
                                    "Payment,CreditMemo,RefundReceipt,Term,PaymentMethod,Account,CompanyCurrency"})
        groups = cdc.json()["CDCResponse"][0]["QueryResponse"]
        assert [(list(g)[0], [x["Id"] for x in g[list(g)[0]]]) for g in groups] == [
            ("Payment", [pay["Id"]]), ("CreditMemo", [memo["Id"]]), ("RefundReceipt", [rr["Id"]]),
            ("Term", [term["Id"]]), ("PaymentMethod", [method["Id"]]), ("Account", [acct["Id"]]),
            ("CompanyCurrency", [cur["Id"]])]
    finally:
        rc.http.put("/_sandbox/clock", json={"offset_seconds": 0})
        receiver.close()
