"""Sales forms: Invoice, SalesReceipt, CreditMemo and RefundReceipt share one code path for lines, discounts,
sales tax (tax.py), currency (currency.py), document numbers and server-filled fields.

Validation order (see entities.py): 2020 required -> 2050 lengths -> 2500/610 references -> 6070 amounts ->
tax codes (6100 US / 6000 non-US) -> GlobalTaxCalculation -> 6240/6140 duplicates.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import Decimal

from . import currency, lists, payments, tax
from . import faults as F
from .store import Realm
from .util import local_date, money, num, to_decimal

DOCNUMBER_MAX = 21
SHIPPING_ITEM_ID = "SHIPPING_ITEM_ID"
TXN_LENGTHS = {"PrivateNote": 4000, "PaymentRefNum": 21}
PAYMENT_TYPES = ("Cash", "Check", "CreditCard", "Other")
LABEL = {"Invoice": "Invoice", "SalesReceipt": "Sales Receipt", "CreditMemo": "Credit Memo",
         "RefundReceipt": "Refund Receipt"}


def _line_ids(lines) -> int:
    m = 0
    for line in lines or []:
        if isinstance(line, dict) and str(line.get("Id", "")).isdigit():
            m = max(m, int(line["Id"]))
    return m


def _due_date(realm: Realm, d: dict, customer: dict | None, td: date) -> str:
    from .entities import _resolve_ref, ref_value

    if ref_value(d.get("SalesTermRef")):
        d["SalesTermRef"] = _resolve_ref(realm, "Term", d["SalesTermRef"], "SalesTermRef", "Name")
        term_id = d["SalesTermRef"]["value"]
    elif customer is not None and ref_value(customer.get("SalesTermRef")):
        term_id = ref_value(customer["SalesTermRef"])
    else:
        prefs = realm.get("Preferences", "1")
        term_id = ref_value((prefs["data"].get("SalesFormsPrefs") or {}).get("DefaultTerms")) if prefs else None
    term = realm.get("Term", term_id) if term_id else None
    if d.get("DueDate"):
        return str(d["DueDate"])
    if term is None:
        return (td + timedelta(days=30)).isoformat()
    return lists.due_days(realm, term["data"], td).isoformat()


def finalize(realm: Realm, etype: str, d: dict, existing: dict | None) -> dict:
    from .entities import _addr, _resolve_ref, ref_value

    cfg = realm.config
    # required fields
    if etype in ("Invoice", "CreditMemo") and not ref_value(d.get("CustomerRef")):
        raise F.required("CustomerRef")
    lines = d.get("Line")
    if not isinstance(lines, list) or not [x for x in lines if x]:
        raise F.required("Line")
    for line in lines:
        if not isinstance(line, dict) or not line.get("DetailType"):
            raise F.required("Line.DetailType")
    if etype == "RefundReceipt" and not ref_value(d.get("DepositToAccountRef")):
        # "A RefundReceipt object must have a DepositToAccountRef" (tcl §3.4); 2020 pattern of the other fields
        raise F.required("DepositToAccountRef")
    doc = d.get("DocNumber")
    if doc is not None:
        doc = str(doc)
        if len(doc) > DOCNUMBER_MAX:
            raise F.string_length("DocNumber", DOCNUMBER_MAX, len(doc))
    for field, limit in TXN_LENGTHS.items():
        if isinstance(d.get(field), str) and len(d[field]) > limit:
            raise F.string_length(field, limit, len(d[field]))
    if d.get("EmailStatus") == "NeedToSend" and not (d.get("BillEmail") or {}).get("Address"):
        raise F.required("BillEmail")  # invoice.md: BillEmail is required if EmailStatus=NeedToSend
    if d.get("PaymentType") is not None and etype in ("SalesReceipt", "RefundReceipt"):
        if d["PaymentType"] not in PAYMENT_TYPES:
            raise F.QBOFault([F.err(2170, "Invalid Enumeration", f"Invalid Enumeration : {d['PaymentType']}",
                                    "PaymentType")])
    # references
    customer = None
    if ref_value(d.get("CustomerRef")):
        d["CustomerRef"] = _resolve_ref(realm, "Customer", d["CustomerRef"], "CustomerRef", "DisplayName")
        customer = realm.get("Customer", d["CustomerRef"]["value"])["data"]
    if etype == "SalesReceipt":
        dep = d.get("DepositToAccountRef")
        if ref_value(dep):
            d["DepositToAccountRef"] = lists.money_account(realm, dep, "DepositToAccountRef")
        else:
            d["DepositToAccountRef"] = {"value": "4", "name": "Undeposited Funds"}
    elif etype == "RefundReceipt":
        d["DepositToAccountRef"] = lists.money_account(realm, d["DepositToAccountRef"], "DepositToAccountRef")
    if ref_value(d.get("PaymentMethodRef")):
        d["PaymentMethodRef"] = _resolve_ref(realm, "PaymentMethod", d["PaymentMethodRef"], "PaymentMethodRef",
                                             "Name")
    code = currency.txn_currency(realm, d, customer, existing)
    next_line_id = _line_ids(existing.get("Line")) if existing else 0
    existing_ids = {str(x.get("Id")) for x in (existing.get("Line") or [])} if existing else set()
    out_lines: list[dict] = []
    discount_lines: list[dict] = []
    amount_errors: list[dict] = []
    specs: list[tax.TaxLineSpec] = []
    other_total = Decimal("0")
    line_num = 0
    default_item = realm.active("Item", "1")
    prefs = realm.get("Preferences", "1")
    allow_shipping = bool(prefs and prefs["data"].get("SalesFormsPrefs", {}).get("AllowShipping"))
    inclusive = tax.model(realm) == "global" and d.get("GlobalTaxCalculation") == "TaxInclusive"
    for raw in lines:
        line = copy.deepcopy(raw)
        dt = line["DetailType"]
        if dt == "SubTotalLineDetail":
            continue  # recomputed
        if dt == "DiscountLineDetail":
            discount_lines.append(line)
            continue
        line_num += 1
        line_id = str(line["Id"]) if line.get("Id") is not None else None
        if existing is None or not line_id or line_id not in existing_ids:
            next_line_id += 1
            line_id = str(next_line_id)
        out = {"Id": line_id, "LineNum": line_num}
        if line.get("Description") is not None:
            out["Description"] = line["Description"]
        if dt == "SalesItemLineDetail":
            detail = dict(line.get("SalesItemLineDetail") or {})
            amount = to_decimal(line.get("Amount"))
            gross = to_decimal(detail.get("TaxInclusiveAmt")) if inclusive else None
            if gross:
                amount = gross  # under TaxInclusive the gross price is what the line is about
            if amount is None:
                raise F.required("Line.Amount")
            if ref_value(detail.get("ItemRef")) == SHIPPING_ITEM_ID:
                # US shipping pseudo-item, accepted only when the company allows shipping (facts §2.2)
                if not allow_shipping:
                    raise F.invalid_ref("Line.SalesItemLineDetail.ItemRef")
                detail["ItemRef"] = {"value": SHIPPING_ITEM_ID}
            elif ref_value(detail.get("ItemRef")):
                detail["ItemRef"] = _resolve_ref(realm, "Item", detail["ItemRef"],
                                                 "Line.SalesItemLineDetail.ItemRef", "Name")
            elif default_item:
                detail["ItemRef"] = {"value": "1", "name": default_item["data"]["Name"]}
            else:
                raise F.required("Line.SalesItemLineDetail.ItemRef")
            item_rec = realm.get("Item", detail["ItemRef"]["value"])
            item = item_rec["data"] if item_rec else {}
            qty, price = to_decimal(detail.get("Qty")), to_decimal(detail.get("UnitPrice"))
            if qty and price and money(qty * price) != money(amount):
                amount_errors.append(F.err(6070, "Amount calculation incorrect in the request.",
                                           f"Amount is not equal to UnitPrice * Qty. Supplied value:{num(amount)}",
                                           "Line.Amount"))
            if qty and not price and amount:
                detail["UnitPrice"] = num(amount / qty)
            for k in ("Qty", "UnitPrice"):
                if k in detail:
                    detail[k] = num(to_decimal(detail[k]))
            line_code = tax.line_code(realm, detail)
            if line_code is None:
                detail.pop("TaxCodeRef", None)
            acct = item.get("IncomeAccountRef")
            if acct:
                detail["ItemAccountRef"] = dict(acct)
            else:
                detail.pop("ItemAccountRef", None)
            if not inclusive or not to_decimal(detail.get("TaxInclusiveAmt")):
                detail.pop("TaxInclusiveAmt", None)
            out["Amount"] = num(money(amount))
            out["DetailType"] = dt
            out["SalesItemLineDetail"] = detail
            specs.append(tax.TaxLineSpec(out, money(amount), line_code))
        elif dt == "DescriptionOnly":
            out["DetailType"] = dt
            out["DescriptionLineDetail"] = dict(line.get("DescriptionLineDetail") or {})
            amount = to_decimal(line.get("Amount"))
            if amount:
                out["Amount"] = num(money(amount))
        else:
            # GroupLineDetail and others: kept as sent, amount counted (not taxed).
            amount = to_decimal(line.get("Amount")) or Decimal("0")
            out.update({k: v for k, v in line.items() if k not in ("Id", "LineNum")})
            out["Amount"] = num(money(amount))
            other_total += money(amount)
        out_lines.append(out)
    if amount_errors:
        raise F.QBOFault(amount_errors)
    if not out_lines and not discount_lines:
        raise F.required("Line")
    groups: dict = {}
    calc = None
    if tax.model(realm) == "global":
        calc = tax.check_global(realm, d, specs)
        if calc == "TaxInclusive":
            groups = tax.split_inclusive(realm, specs)
    subtotal = sum((s.amount for s in specs), Decimal("0")) + other_total
    out_lines.append({"Amount": num(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
    discount_total = Decimal("0")
    for line in discount_lines:
        detail = dict(line.get("DiscountLineDetail") or {})
        pct = to_decimal(detail.get("DiscountPercent"))
        amount = to_decimal(line.get("Amount"))
        if detail.get("PercentBased") and pct is not None:
            amount = money(subtotal * pct / 100)
        if amount is None:
            raise F.QBOFault([F.err(6090, "Discount Line missing required info",
                                    "Discount Line missing required info : Amount or DiscountPercent", "")])
        if ref_value(detail.get("DiscountAccountRef")):
            detail["DiscountAccountRef"] = _resolve_ref(realm, "Account", detail["DiscountAccountRef"],
                                                        "Line.DiscountLineDetail.DiscountAccountRef", "Name")
        else:
            detail["DiscountAccountRef"] = {"value": "86", "name": "Discounts given"}
        discount_total += money(amount)
        out = {"Amount": num(money(amount)), "DetailType": "DiscountLineDetail", "DiscountLineDetail": detail}
        if line.get("Description") is not None:
            out["Description"] = line["Description"]
        out_lines.append(out)
    d["Line"] = out_lines
    # addresses before tax: automated sales tax reads the ship-to address
    if customer:
        for key in ("BillAddr", "ShipAddr"):
            if key not in d and isinstance(customer.get(key), dict):
                d[key] = dict(customer[key])
    for key in ("BillAddr", "ShipAddr"):
        if key in d:
            a = _addr(realm, d[key])
            if a is None:
                d.pop(key)
            else:
                d[key] = a
    if calc is not None:
        tax_detail = tax.compute_global(realm, d, specs, calc, groups, subtotal, discount_total)
    else:
        tax_detail = tax.compute_us(realm, d, specs, subtotal, discount_total)
    d["TxnTaxDetail"] = tax_detail
    total = money(subtotal - discount_total + (to_decimal(tax_detail.get("TotalTax")) or Decimal("0")))
    d["TotalAmt"] = num(total)
    txn_date = d.get("TxnDate") or (existing.get("TxnDate") if existing else None) or local_date()
    try:
        td = date.fromisoformat(str(txn_date)[:10])
    except ValueError:
        raise F.QBOFault([F.err(2170, "Invalid Enumeration", f"Invalid date : TxnDate {txn_date}", "TxnDate")]) from None
    # document numbers
    if doc is None and existing and existing.get("DocNumber"):
        doc = existing["DocNumber"]
    if doc is None and not cfg.get("custom_txn_numbers"):
        while True:  # the next number not already taken by a document of this type
            realm.docnum[etype] = realm.docnum.get(etype, 1000) + 1
            doc = str(realm.docnum[etype])
            if not realm.doc_index[etype].get(doc):
                break
    if doc is not None:
        if cfg.get("enforce_unique_docnumber"):
            for id_ in sorted(realm.doc_index[etype].get(doc, ()), key=lambda x: int(x) if x.isdigit() else 0):
                if existing and id_ == existing["Id"]:
                    continue
                raise F.QBOFault([F.err(
                    6140, "Duplicate Document Number Error",
                    "Duplicate Document Number Error : You must specify a different number. This number has "
                    f"already been used. DocNumber={doc} is assigned to TxnType={LABEL[etype]} with TxnId={id_}", "")])
        d["DocNumber"] = doc
    d["TxnDate"] = td.isoformat()
    d.setdefault("CustomField", [])
    d.setdefault("ApplyTaxAfterDiscount", False)
    d.setdefault("PrintStatus", "NeedToPrint")
    d.setdefault("EmailStatus", "NotSet")
    if etype == "Invoice":
        d["DueDate"] = _due_date(realm, d, customer, td)
        deposit = to_decimal(d.get("Deposit")) or Decimal("0")
        d["Deposit"] = num(deposit) if "Deposit" in d else 0
        applied = payments.applied_to(realm, "Invoice", existing["Id"]) if existing else Decimal("0")
        balance = money(total - deposit - applied)
        if balance < 0:
            raise payments.business("The payments applied to this invoice are more than its new total.")
        d["Balance"] = num(balance)
        for k in ("AllowIPNPayment", "AllowOnlinePayment", "AllowOnlineCreditCardPayment", "AllowOnlineACHPayment"):
            d.setdefault(k, False)
    elif etype == "CreditMemo":
        applied = payments.applied_to(realm, "CreditMemo", existing["Id"]) if existing else Decimal("0")
        balance = money(total - applied)
        if balance < 0:
            raise payments.business("The credit applied through payments is more than this credit memo's new total.")
        d["Balance"] = num(balance)
        d["RemainingCredit"] = num(balance)
    else:
        d["Balance"] = 0
    if etype in ("Invoice", "CreditMemo"):
        kept = [x for x in (d.get("LinkedTxn") or []) if isinstance(x, dict) and x.get("TxnType") != "Payment"]
        d["LinkedTxn"] = kept + (payments.links_to(realm, etype, existing["Id"]) if existing else [])
    else:
        d.setdefault("LinkedTxn", [])
    if etype == "RefundReceipt" and d.get("PrintStatus") == "NeedToPrint" and not d.get("PaymentRefNum"):
        d["PaymentRefNum"] = "To Print"  # RefundReceipt reference sample
    currency.apply_home_amounts(realm, d, code, d.get("ExchangeRate"))
    return d
