"""Payments: create, update, delete and void; applying them to invoices and credit memos (LinkedTxn), invoice and
credit memo balances, UnappliedAmt, and the refusals around linked transactions.

Facts: ../shared/reference/tax-currency-lifecycle-stores.md §3 (cited as *tcl §3.n*) and Intuit's Payment reference
(MIRROR api-reference/payment.md). Codes and Details without a source are [inferred] (docs/sandbox.md, "Payments").
"""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal

from . import currency, lists
from . import faults as F
from .store import STATUS_ACTIVE, STATUS_DELETED, STATUS_VOIDED, Realm
from .util import local_date, meta_time, money, now_ts, num, to_decimal

LINKABLE = ("Invoice", "CreditMemo")
DETAIL_610_GONE = ("Object Not Found : Something you're trying to use has been deleted. Check the fields with "
                   "accounts, customers, items, vendors or employees.")


def business(detail: str, element: str = "") -> F.QBOFault:
    return F.QBOFault([F.err(6000, "A business validation error has occurred while processing your request",
                             f"Business Validation Error: {detail}", element)])


def links_of(data: dict | None) -> list[tuple[str, str, Decimal]]:
    """(TxnType, TxnId, Amount) of every line of a stored payment."""
    out = []
    for line in (data or {}).get("Line") or []:
        amount = to_decimal(line.get("Amount")) or Decimal("0")
        for link in line.get("LinkedTxn") or []:
            out.append((link["TxnType"], str(link["TxnId"]), amount))
    return out


def _live_payments(realm: Realm):
    for rec in realm.records.get("Payment", {}).values():
        if rec["status"] == STATUS_ACTIVE:
            yield rec["data"]


def applied_to(realm: Realm, etype: str, id_: str, exclude: str | None = None) -> Decimal:
    total = Decimal("0")
    for p in _live_payments(realm):
        if p["Id"] == exclude:
            continue
        for t, tid, amount in links_of(p):
            if t == etype and tid == id_:
                total += amount
    return total


def links_to(realm: Realm, etype: str, id_: str) -> list[dict]:
    out = []
    for p in sorted(_live_payments(realm), key=lambda x: int(x["Id"])):
        if any(t == etype and tid == id_ for t, tid, _ in links_of(p)):
            out.append({"TxnId": p["Id"], "TxnType": "Payment"})
    return out


def resolve_link(realm: Realm, link: dict, allowed) -> tuple[str, str, dict]:
    """(TxnType, TxnId, record) of a line's LinkedTxn: a type in ``allowed`` (2170), an Id (2020), a stored,
    undeleted record (610)."""
    ttype = str(link.get("TxnType") or "")
    tid = str(link.get("TxnId") or "").strip()
    if ttype not in allowed:
        raise F.QBOFault([F.err(2170, "Invalid Enumeration", f"Invalid Enumeration : TxnType {ttype}",
                                "Line.LinkedTxn.TxnType")])
    if not tid:
        raise F.required("Line.LinkedTxn.TxnId")
    rec = realm.get(ttype, tid)
    if rec is None or rec["status"] == STATUS_DELETED:
        # the TxnId must be the transaction's Id, not its DocNumber (ruckus/quickbooks-ruby#277, tcl §3.3)
        raise F.QBOFault([F.err(610, "Object Not Found", DETAIL_610_GONE, "Line.LinkedTxn.TxnId")])
    return ttype, tid, rec


def refuse_if_paid(realm: Realm, etype: str, data: dict, action: str) -> None:
    """Voiding or deleting an invoice (or credit memo) that a payment is applied to is refused: Intuit's Invoice page
    says "You must unlink any linked transactions associated with the invoice object before deleting it", and
    QBO refuses to void an invoice with a payment applied (LanternOps/breeze#5180, a 2026 production report). Intuit's
    linked-transactions page says a void unapplies the payments instead (tcl §5.1); the stricter one is built."""
    if etype in LINKABLE and links_to(realm, etype, data["Id"]):
        label = "invoice" if etype == "Invoice" else "credit memo"
        if action == "void":
            raise business(f"This {label} has payments applied to it and can't be voided. Delete or change the "
                           "payments first.")
        raise business(f"You must unlink any linked transactions associated with the {label} before deleting it.")


def _txn_date(d: dict) -> str:
    value = d.get("TxnDate") or local_date()
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError:
        raise F.QBOFault([F.err(2170, "Invalid Enumeration", f"Invalid date : TxnDate {value}", "TxnDate")]) from None


def finalize_payment(realm: Realm, d: dict, existing: dict | None) -> dict:
    from .entities import _resolve_ref, ref_value

    if not ref_value(d.get("CustomerRef")):
        raise F.required("CustomerRef")  # captured on /payment (facts §3.3)
    total = to_decimal(d.get("TotalAmt"))
    if total is None:
        raise F.required("TotalAmt")
    for field, limit in (("PrivateNote", 4000), ("PaymentRefNum", 21)):
        if isinstance(d.get(field), str) and len(d[field]) > limit:
            raise F.string_length(field, limit, len(d[field]))
    if total < 0:
        raise business("The total amount of a payment can't be negative.", "TotalAmt")
    d["CustomerRef"] = _resolve_ref(realm, "Customer", d["CustomerRef"], "CustomerRef", "DisplayName")
    customer = realm.get("Customer", d["CustomerRef"]["value"])["data"]
    code = currency.txn_currency(realm, d, customer, existing)
    if ref_value(d.get("DepositToAccountRef")):
        d["DepositToAccountRef"] = lists.money_account(realm, d["DepositToAccountRef"], "DepositToAccountRef")
    else:
        d["DepositToAccountRef"] = {"value": "4", "name": "Undeposited Funds"}  # tcl §3.3
    if ref_value(d.get("PaymentMethodRef")):
        d["PaymentMethodRef"] = _resolve_ref(realm, "PaymentMethod", d["PaymentMethodRef"], "PaymentMethodRef",
                                             "Name")
    if ref_value(d.get("ARAccountRef")):
        d["ARAccountRef"] = _resolve_ref(realm, "Account", d["ARAccountRef"], "ARAccountRef", "Name")
        if realm.get("Account", d["ARAccountRef"]["value"])["data"].get("AccountType") != "Accounts Receivable":
            raise business("ARAccountRef must be an Accounts Receivable account.", "ARAccountRef")
    d["TxnDate"] = _txn_date(d)
    me = existing["Id"] if existing else None
    sums: dict[tuple[str, str], Decimal] = {}
    out_lines = []
    for line in d.get("Line") or []:
        if not isinstance(line, dict):
            continue
        amount = to_decimal(line.get("Amount"))
        if amount is None:
            raise F.required("Line.Amount")
        if amount < 0:
            raise F.QBOFault([F.err(2290, "Negative amounts aren't supported on transaction lines.",
                                    "Negative amounts aren't supported on transaction lines.", "Line.Amount")])
        links = [x for x in line.get("LinkedTxn") or [] if isinstance(x, dict)]
        if not links:
            raise F.required("Line.LinkedTxn")
        out_links = []
        for link in links:
            ttype, tid, rec = resolve_link(realm, link, LINKABLE)
            target = rec["data"]
            if rec["status"] == STATUS_VOIDED:
                raise business(f"{ttype} {target.get('DocNumber') or tid} is voided; a payment can't be applied to "
                               "it.", "Line.LinkedTxn")
            if ref_value(target.get("CustomerRef")) != d["CustomerRef"]["value"]:
                raise business(f"{ttype} {target.get('DocNumber') or tid} belongs to another customer.",
                               "Line.LinkedTxn")
            if (currency.code_of(target.get("CurrencyRef")) or currency.home(realm)) != code:
                raise business(currency.MISMATCH, "Line.LinkedTxn")
            sums[(ttype, tid)] = sums.get((ttype, tid), Decimal("0")) + money(amount)
            out_links.append({"TxnId": tid, "TxnType": ttype})
        out_lines.append({"Amount": num(money(amount)), "LinkedTxn": out_links})
    invoices = credits = Decimal("0")
    for (ttype, tid), amount in sums.items():
        target = realm.get(ttype, tid)["data"]
        tot = to_decimal(target.get("TotalAmt")) or Decimal("0")
        if ttype == "Invoice":
            open_ = money(tot - (to_decimal(target.get("Deposit")) or Decimal("0")) - applied_to(realm, ttype, tid, me))
            if amount > open_:
                raise business(f"The amount applied to invoice {target.get('DocNumber') or tid} ({num(amount)}) is "
                               f"more than its open balance ({num(open_)}).", "Line.Amount")
            invoices += amount
        else:
            left = money(tot - applied_to(realm, ttype, tid, me))
            if amount > left:
                raise business(f"The amount applied from credit memo {target.get('DocNumber') or tid} "
                               f"({num(amount)}) is more than its remaining credit ({num(left)}).", "Line.Amount")
            credits += amount
    applied = invoices - credits
    if applied < 0:
        raise business("The credits applied are more than the invoices they are applied to.", "Line")
    if applied > money(total):
        raise business(f"The amounts applied ({num(applied)}) are more than the payment's total ({num(total)}).",
                       "TotalAmt")
    d["Line"] = out_lines
    d["TotalAmt"] = num(money(total))
    d["UnappliedAmt"] = num(money(total) - applied)
    d.setdefault("ProcessPayment", False)
    currency.apply_home_amounts(realm, d, code, d.get("ExchangeRate"))
    d.pop("HomeBalance", None)
    return d


def void_data(data: dict) -> dict:
    """A voided payment: "TotalAmt 0, UnappliedAmt 0, PrivateNote Voided, Line []" (Payment reference sample)."""
    out = copy.deepcopy(data)
    out["TotalAmt"] = 0
    out["UnappliedAmt"] = 0
    out["Line"] = []
    if "HomeTotalAmt" in out:
        out["HomeTotalAmt"] = 0
    note = out.get("PrivateNote")
    out["PrivateNote"] = "Voided" if not note or note.startswith("Voided") else f"Voided - {note}"
    return out


def targets(*datas) -> set[tuple[str, str]]:
    out = set()
    for data in datas:
        for t, tid, _ in links_of(data):
            out.add((t, tid))
    return out


def refresh(realm: Realm, pairs: set[tuple[str, str]]) -> None:
    """Recompute the balance and LinkedTxn of invoices / credit memos after a payment changed. A changed document
    gets a new SyncToken and LastUpdatedTime (so CDC reports it) [inferred]."""
    from .entities import adjust_customer_balance

    for etype, id_ in sorted(pairs):
        rec = realm.get(etype, id_)
        if rec is None or rec["status"] != STATUS_ACTIVE:
            continue
        old = rec["data"]
        new = copy.deepcopy(old)
        applied = applied_to(realm, etype, id_)
        tot = to_decimal(new.get("TotalAmt")) or Decimal("0")
        if etype == "Invoice":
            balance = money(tot - (to_decimal(new.get("Deposit")) or Decimal("0")) - applied)
        else:
            balance = money(tot - applied)
            new["RemainingCredit"] = num(balance)
        new["Balance"] = num(balance)
        rate = to_decimal(new.get("ExchangeRate"))
        if "HomeBalance" in new and rate:
            new["HomeBalance"] = num(money(balance * rate))
        kept = [x for x in new.get("LinkedTxn") or [] if x.get("TxnType") != "Payment"]
        new["LinkedTxn"] = kept + links_to(realm, etype, id_)
        if new == old:
            continue
        ts = now_ts()
        new["SyncToken"] = str(int(old["SyncToken"]) + 1)
        new["MetaData"] = {"CreateTime": old["MetaData"]["CreateTime"], "LastUpdatedTime": meta_time(ts)}
        realm.put(etype, new, rec["status"], ts)
        realm.touched.add((etype, id_))
        adjust_customer_balance(realm, old, new, etype)
