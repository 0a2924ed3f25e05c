"""Entity semantics: validation, server-filled fields, create/update/delete/void.

Order of validation (matters when a request has several problems; the seed shows the email fault
is reported before the missing CustomerRef):
  2010 unknown property -> 2210 email syntax -> 2020 required fields -> 2050 lengths ->
  2500/610 references -> 6070 amounts -> 6240/6140 duplicates -> 5010 SyncToken.

Sales forms live in sales.py (with tax.py and currency.py), payments in payments.py, deposits in deposits.py, simple
lists in lists.py.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal

from . import currency, deposits, lists, payments, sales, schema, tax
from . import faults as F
from .store import STATUS_ACTIVE, STATUS_DELETED, STATUS_INACTIVE, STATUS_VOIDED, Realm
from .util import meta_time, money, now_ts, num, to_decimal

_RO_COMMON = {"Id", "SyncToken", "MetaData", "domain", "sparse", "status"}
_RO_SALES = _RO_COMMON | {"TotalAmt", "Balance", "HomeBalance", "HomeTotalAmt", "DeliveryInfo", "TxnStatus"}
READ_ONLY = {
    "Customer": _RO_COMMON | {"FullyQualifiedName", "Balance", "BalanceWithJobs", "Level", "V4IDPseudonym",
                              "ClientEntityId", "OverDueBalance", "TotalRevenue", "TotalExpense"},
    "Vendor": _RO_COMMON | {"FullyQualifiedName", "Balance", "V4IDPseudonym", "ClientEntityId"},
    "Employee": _RO_COMMON | {"FullyQualifiedName", "V4IDPseudonym"},
    "Item": _RO_COMMON | {"FullyQualifiedName", "Level"},
    "Invoice": _RO_SALES | {"InvoiceLink"},
    "SalesReceipt": _RO_SALES,
    "CreditMemo": _RO_SALES | {"RemainingCredit"},
    "RefundReceipt": _RO_SALES,
    "Payment": _RO_COMMON | {"UnappliedAmt", "HomeTotalAmt"},
    "Deposit": _RO_COMMON | {"TotalAmt", "HomeTotalAmt"},
    "Term": _RO_COMMON | {"Type"},
    "PaymentMethod": _RO_COMMON,
    "Account": _RO_COMMON | {"FullyQualifiedName", "Classification", "SubAccount", "CurrentBalance",
                             "CurrentBalanceWithSubAccounts"},
    "TaxAgency": _RO_COMMON | {"TaxAgencyConfig", "LastFileDate"},
    "CompanyCurrency": _RO_COMMON | {"Name"},
}

EMAIL_RE = re.compile(r"^[^@\s,;<>()\[\]\\\"]+@[^@\s,;<>()\[\]\\\"]+\.[^@\s,;<>()\[\]\\\".]+$")
DOCNUMBER_MAX = sales.DOCNUMBER_MAX
SHIPPING_ITEM_ID = sales.SHIPPING_ITEM_ID
# QBO keeps a customer's email list in a field of 100 characters (help-qbo.breadwinner.com 44001693083)
PRIMARY_EMAIL_MAX = 100
# Field lengths from the API reference (facts §2.1, §2.4, §2.5).
NAME_LENGTHS = {"GivenName": 100, "MiddleName": 100, "FamilyName": 100, "Title": 16, "Suffix": 16,
                "CompanyName": 100}
TXN_LENGTHS = sales.TXN_LENGTHS


class Event:
    __slots__ = ("entity", "id", "operation", "ts")

    def __init__(self, entity: str, id_: str, operation: str, ts: float):
        self.entity, self.id, self.operation, self.ts = entity, id_, operation, ts


# -- helpers ---------------------------------------------------------------------------------------

def clean(value):
    """Treat python-quickbooks' empty strings (and nulls, and all-empty refs) as absent."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            cv = clean(v)
            if cv is None or cv == "" or (isinstance(v, dict) and v and cv == {}):
                continue
            if isinstance(cv, list) and not cv:
                continue
            out[k] = cv
        return out
    if isinstance(value, list):
        return [clean(v) for v in value if v is not None and v != ""]
    return value


def ref_value(ref) -> str | None:
    if isinstance(ref, dict):
        v = ref.get("value")
    else:
        v = ref
    if v is None or v == "":
        return None
    return str(v)


def parse_sync_token(v) -> int | None:
    if v is None or v == "":
        return None
    try:
        return int(str(v).strip())
    except ValueError:
        return None


def _stamp(data: dict, ts: float, created: str | None = None) -> None:
    t = meta_time(ts)
    data["MetaData"] = {"CreateTime": created or t, "LastUpdatedTime": t}


def check_unknown(etype: str, body: dict) -> None:
    known = schema.KNOWN_PROPERTIES.get(etype)
    if not known:
        return
    for key in body:
        if key not in known:
            names = ", ".join(f'"{k}"' for k in sorted(known)[:60])
            raise F.QBOFault([F.err(
                2010, "Request has invalid or unsupported property",
                f'Property Name:Unrecognized field "{key}" (class {schema.SCHEMA_CLASS[etype]}), not marked as '
                f"ignorable ({len(known)} known properties: {names} [truncated]])\n specified is unsupported or invalid")])


_STR = ("DisplayName", "GivenName", "FamilyName", "MiddleName", "Title", "Suffix", "CompanyName",
        "PrintOnCheckName", "Notes", "Name", "Type", "Description", "Sku", "DocNumber", "TxnDate", "DueDate",
        "PrivateNote", "Id", "PaymentRefNum", "ShipDate", "TrackingNum", "PrintStatus", "EmailStatus",
        "GlobalTaxCalculation", "PreferredDeliveryMethod", "InvStartDate", "DetailType", "Address",
        "FreeFormNumber", "URI", "value", "name", "Line1", "Line2", "Line3", "Line4", "Line5", "City", "Country",
        "CountrySubDivisionCode", "PostalCode", "OpenBalanceDate", "ServiceDate", "ResaleNum", "AcctNum", "Code",
        "TxnId", "TxnType", "TxnLineId", "AccountType", "AccountSubType", "Classification", "PaymentType",
        "TaxRegistrationNumber", "CheckNum", "NameOnAcct", "BankName")
_NUM = ("Amount", "Qty", "UnitPrice", "Deposit", "Balance", "TotalAmt", "PurchaseCost", "QtyOnHand", "ExchangeRate",
        "TotalTax", "DiscountPercent", "LineNum", "TaxInclusiveAmt", "BalanceWithJobs", "HomeBalance", "HomeTotalAmt",
        "UnappliedAmt", "RemainingCredit", "DueDays", "DiscountDays", "DayOfMonthDue", "DueNextMonthDays",
        "DiscountDayOfMonth", "CurrentBalance", "CurrentBalanceWithSubAccounts", "OverrideDeltaAmount",
        "NetAmountTaxable", "TaxPercent")
_BOOL = ("Active", "sparse", "Taxable", "Job", "BillWithParent", "IsProject", "TrackQtyOnHand",
         "ApplyTaxAfterDiscount", "AllowIPNPayment", "AllowOnlinePayment", "AllowOnlineCreditCardPayment",
         "AllowOnlineACHPayment", "PercentBased", "FreeFormAddress", "SubItem", "Vendor1099", "ProcessPayment",
         "SubAccount", "TaxTrackedOnSales", "TaxTrackedOnPurchases", "UseAutomatedSalesTax", "Hidden")
_OBJ = ("CustomerRef", "ItemRef", "TaxCodeRef", "ItemAccountRef", "IncomeAccountRef", "ExpenseAccountRef",
        "AssetAccountRef", "DepositToAccountRef", "DiscountAccountRef", "CurrencyRef", "DefaultTaxCodeRef",
        "BillAddr", "ShipAddr", "PrimaryAddr", "OtherAddr", "PrimaryEmailAddr", "BillEmail", "BillEmailCc",
        "BillEmailBcc", "PrimaryPhone", "AlternatePhone", "Mobile", "Fax", "WebAddr", "TxnTaxDetail", "MetaData",
        "CustomerMemo", "SalesItemLineDetail", "DiscountLineDetail", "DescriptionLineDetail",
        "SubTotalLineDetail", "GroupLineDetail", "SalesTermRef", "ClassRef", "DepartmentRef", "ParentRef",
        "PaymentMethodRef", "ShipMethodRef", "ProjectRef", "DeliveryInfo", "ARAccountRef", "CheckPayment",
        "CreditCardPayment", "TxnTaxCodeRef", "TaxRateRef", "TaxLineDetail", "InvoiceRef", "TaxExemptionRef")
_ARR = ("Line", "CustomField", "LinkedTxn", "TaxLine")
_JAVA = {"str": "java.lang.String", "num": "java.math.BigDecimal", "bool": "java.lang.Boolean"}


def _type_fault(field: str, value) -> F.QBOFault:
    token = {dict: "START_OBJECT", list: "START_ARRAY"}.get(type(value), "VALUE_STRING")
    target = ("java.util.List" if field in _ARR else
              f"com.intuit.schema.finance.v3 type of {field}" if field in _OBJ else
              _JAVA["num" if field in _NUM else "bool" if field in _BOOL else "str"])
    return F.QBOFault([F.err(2010, "Request has invalid or unsupported property",
                             f"Property Name:Can not deserialize instance of {target} out of {token} token "
                             f"(through reference chain: {field}) specified is unsupported or invalid")])


def normalize_types(value):
    """Jackson-like binding: scalars coerce to strings, numeric strings to numbers, 'true'/'false' to booleans;
    an object or array where a scalar belongs (or the reverse) is a 2010 fault."""
    if isinstance(value, list):
        return [normalize_types(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for k, v in value.items():
        if v is None or v == "":
            out[k] = v
        elif k == "SyncToken":
            if isinstance(v, dict | list) or isinstance(v, bool):
                raise _type_fault(k, v)
            out[k] = v
        elif k in _STR:
            if isinstance(v, dict | list):
                raise _type_fault(k, v)
            out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v) if not isinstance(v, str) else v
        elif k in _NUM:
            if isinstance(v, dict | list | bool) or to_decimal(v) is None:
                raise _type_fault(k, v)
            out[k] = v
        elif k in _BOOL:
            if isinstance(v, str) and v.lower() in ("true", "false"):
                out[k] = v.lower() == "true"
            elif isinstance(v, bool):
                out[k] = v
            else:
                raise _type_fault(k, v)
        elif k in _OBJ:
            if not isinstance(v, dict):
                raise _type_fault(k, v)
            out[k] = normalize_types(v)
        elif k in _ARR:
            if not isinstance(v, list):
                raise _type_fault(k, v)
            if k == "Line" and not all(isinstance(x, dict) for x in v if x is not None):
                raise _type_fault(k, v)
            out[k] = normalize_types(v)
        else:
            out[k] = normalize_types(v)
    return out


def check_emails(etype: str, body: dict) -> None:
    fields = ["PrimaryEmailAddr"] if etype in schema.NAME_LISTS else ["BillEmail", "BillEmailCc", "BillEmailBcc"]
    for field in fields:
        addr = body.get(field)
        if not isinstance(addr, dict):
            continue
        value = addr.get("Address")
        if value is None or value == "":
            continue
        value = str(value)
        # Several addresses separated by commas, in BillEmail* and (as QBO's customer Email field takes them, up to
        # 100 characters) in PrimaryEmailAddr: every one must be valid.
        parts = [p.strip() for p in value.split(",")]
        if not all(EMAIL_RE.match(p) for p in parts):
            raise F.invalid_email(value, f"{field}.Address")
        if field == "PrimaryEmailAddr" and len(value) > PRIMARY_EMAIL_MAX:
            raise F.string_length("PrimaryEmailAddr.Address", PRIMARY_EMAIL_MAX, len(value))


def _name_taken(realm: Realm, name: str, types, exclude: tuple[str, str] | None, field="DisplayName") -> bool:
    owners = realm.name_index.get((field, name.strip().lower()), set())
    return any(owner != exclude for owner in owners if owner[0] in types)


def _addr(realm: Realm, addr, existing_id: str | None = None):
    if not isinstance(addr, dict) or not addr:
        return None
    a = dict(addr)
    if not a.get("Id"):
        a["Id"] = existing_id or realm.next_addr_id()
    else:
        a["Id"] = str(a["Id"])
    return a


def _resolve_ref(realm: Realm, etype: str, ref, element: str, name_field: str) -> dict:
    value = ref_value(ref)
    rec = realm.get(etype, value) if value else None
    if rec is None or rec["status"] == STATUS_DELETED:
        raise F.invalid_ref(element)
    if rec["status"] == STATUS_INACTIVE or rec["data"].get("Active") is False:
        raise F.not_found()
    out = {"value": value}
    name = rec["data"].get(name_field)
    if name:
        out["name"] = name
    return out


# -- name lists ------------------------------------------------------------------------------------

def _finalize_name(realm: Realm, etype: str, d: dict, existing: dict | None) -> dict:
    dn = d.get("DisplayName")
    if isinstance(dn, str):
        dn = dn.strip()
    if not dn:
        parts = [str(d[k]).strip() for k in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix") if d.get(k)]
        if not parts:
            raise F.QBOFault([F.err(6080, "No Name Provided",
                                    "No Name Provided : Please provide a name (DisplayName or a name part).", "")])
        dn = " ".join(parts)
    if len(dn) > 500:
        raise F.string_length("DisplayName", 500, len(dn))
    for field, limit in NAME_LENGTHS.items():
        if isinstance(d.get(field), str) and len(d[field]) > limit:
            raise F.string_length(field, limit, len(d[field]))
    exclude = (etype, existing["Id"]) if existing else None
    if _name_taken(realm, dn, schema.NAME_LISTS, exclude):
        raise F.duplicate_name()
    d["DisplayName"] = dn
    d["FullyQualifiedName"] = dn
    if not d.get("PrintOnCheckName"):
        person = " ".join(str(d[k]).strip() for k in ("GivenName", "MiddleName", "FamilyName") if d.get(k))
        d["PrintOnCheckName"] = d.get("CompanyName") or person or dn
    d.setdefault("Active", True)
    if etype in ("Customer", "Vendor"):
        d["CurrencyRef"] = currency.name_list_currency(realm, d, existing)
    else:
        d["CurrencyRef"] = currency.ref(currency.home(realm))
    for key in ("BillAddr", "ShipAddr", "PrimaryAddr", "OtherAddr"):
        if key in d:
            old = existing.get(key, {}).get("Id") if existing and isinstance(existing.get(key), dict) else None
            a = _addr(realm, d[key], old)
            if a is None:
                d.pop(key)
            else:
                d[key] = a
    if etype == "Customer":
        us = tax.model(realm) != "global"
        if us:
            d.setdefault("Taxable", True)
        if d.get("Taxable") and "DefaultTaxCodeRef" not in d and realm.get("TaxCode", "2") and us:
            d["DefaultTaxCodeRef"] = {"value": "2"}  # the company default code (customer-create.json)
        if ref_value(d.get("DefaultTaxCodeRef")):
            d["DefaultTaxCodeRef"] = {"value": ref_value(d["DefaultTaxCodeRef"])}
            if realm.get("TaxCode", d["DefaultTaxCodeRef"]["value"]) is None:
                raise F.invalid_ref("DefaultTaxCodeRef")
        if ref_value(d.get("SalesTermRef")):
            d["SalesTermRef"] = _resolve_ref(realm, "Term", d["SalesTermRef"], "SalesTermRef", "Name")
        if ref_value(d.get("PaymentMethodRef")):
            d["PaymentMethodRef"] = _resolve_ref(realm, "PaymentMethod", d["PaymentMethodRef"], "PaymentMethodRef",
                                                 "Name")
        d.setdefault("Job", False)
        d.setdefault("BillWithParent", False)
        bal = existing.get("Balance", 0) if existing else 0
        d["Balance"] = bal
        d["BalanceWithJobs"] = bal
        d.setdefault("PreferredDeliveryMethod", "Print")
        d.setdefault("IsProject", False)
    elif etype == "Vendor":
        d["Balance"] = existing.get("Balance", 0) if existing else 0
        d.setdefault("Vendor1099", False)
    return d


# -- items -----------------------------------------------------------------------------------------

def _finalize_item(realm: Realm, d: dict, existing: dict | None) -> dict:
    name = d.get("Name")
    if isinstance(name, str):
        name = name.strip()
    if not name:
        raise F.required("Name")
    if len(name) > 100:
        raise F.string_length("Name", 100, len(name))
    type_ = d.get("Type")
    if not type_:
        raise F.required("Type")
    if type_ not in ("Service", "NonInventory", "Inventory", "Category", "Group"):
        raise F.QBOFault([F.err(2170, "Invalid Enumeration", f"Invalid Enumeration : {type_}", "Type")])
    if type_ in ("Service", "NonInventory") and not (ref_value(d.get("IncomeAccountRef"))
                                                     or ref_value(d.get("ExpenseAccountRef"))):
        raise F.QBOFault([F.err(2020, F.MSG_REQUIRED,
                                "Required parameter ExpenseAccountRef or IncomeAccountRef is missing in the request",
                                "IncomeAccountRef")])
    if type_ == "Inventory":
        for field in ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef"):
            if not ref_value(d.get(field)):
                raise F.required(field)
        if not d.get("InvStartDate"):
            raise F.required("InvStartDate")
        if d.get("QtyOnHand") is None:
            raise F.required("QtyOnHand")
    for field in ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef"):
        if field in d:
            d[field] = _resolve_ref(realm, "Account", d[field], field, "Name")
    exclude = ("Item", existing["Id"]) if existing else None
    if _name_taken(realm, name, ("Item",), exclude, field="Name"):
        raise F.duplicate_name()
    d["Name"] = name
    d["FullyQualifiedName"] = name
    d.setdefault("Active", True)
    d.setdefault("Taxable", False)
    d.setdefault("UnitPrice", 0)
    d.setdefault("PurchaseCost", 0)
    d.setdefault("TrackQtyOnHand", type_ == "Inventory")
    if type_ in ("Service", "NonInventory"):
        d.setdefault("DeferredRevenue", False)
    return d


# -- transactions ----------------------------------------------------------------------------------

def _zero_for_void(d: dict) -> dict:
    for line in d.get("Line", []):
        line["Amount"] = 0
        detail = line.get("SalesItemLineDetail")
        if isinstance(detail, dict):
            for k in ("Qty", "UnitPrice"):
                if k in detail:
                    detail[k] = 0
            if "TaxInclusiveAmt" in detail:
                detail["TaxInclusiveAmt"] = 0
    d["TotalAmt"] = 0
    d["Balance"] = 0
    for k in ("HomeTotalAmt", "HomeBalance"):
        if k in d:
            d[k] = 0
    if isinstance(d.get("TxnTaxDetail"), dict):
        d["TxnTaxDetail"] = {"TotalTax": 0}
    note = d.get("PrivateNote")
    d["PrivateNote"] = "Voided" if not note or note.startswith("Voided") else f"Voided - {note}"
    return d


def customer_effect(etype: str, data: dict | None) -> Decimal:
    """What a document adds to its customer's Balance: open invoices, less open credits and unapplied payments."""
    if not data:
        return Decimal("0")
    if etype == "Invoice":
        return to_decimal(data.get("Balance")) or Decimal("0")
    if etype == "CreditMemo":
        return -(to_decimal(data.get("Balance")) or Decimal("0"))
    if etype == "Payment":
        return -(to_decimal(data.get("UnappliedAmt")) or Decimal("0"))
    return Decimal("0")


def adjust_customer_balance(realm: Realm, old: dict | None, new: dict | None, etype: str = "Invoice") -> None:
    """Move a document's effect on customer balances: subtract the old version, add the new one."""
    for data, sign in ((old, -1), (new, 1)):
        if not data:
            continue
        cid = ref_value(data.get("CustomerRef"))
        rec = realm.get("Customer", cid) if cid else None
        if rec is None:
            continue
        delta = customer_effect(etype, data) * sign
        if not delta:
            continue
        bal = money((to_decimal(rec["data"].get("Balance")) or Decimal("0")) + delta)
        rec["data"]["Balance"] = num(bal)
        rec["data"]["BalanceWithJobs"] = num(bal)
        realm.touched.add(("Customer", cid))


# -- public operations -----------------------------------------------------------------------------

FINALIZERS = {
    "Item": lambda realm, d, existing: _finalize_item(realm, d, existing),
    "Payment": payments.finalize_payment,
    "Deposit": deposits.finalize_deposit,
    "Term": lists.finalize_term,
    "PaymentMethod": lists.finalize_payment_method,
    "Account": lists.finalize_account,
    "TaxAgency": tax.finalize_agency,
    "CompanyCurrency": currency.finalize_company_currency,
}


def _finalize(realm: Realm, etype: str, d: dict, existing: dict | None) -> dict:
    if etype in schema.NAME_LISTS:
        return _finalize_name(realm, etype, d, existing)
    if etype in schema.SALES_FORMS:
        return sales.finalize(realm, etype, d, existing)
    if etype in FINALIZERS:
        return FINALIZERS[etype](realm, d, existing)
    raise F.unsupported_operation(f"Operation Create/Update is not supported for {etype}.")


def _input(etype: str, body) -> dict:
    if not isinstance(body, dict):
        raise F.QBOFault([F.err(2010, "Request has invalid or unsupported property",
                                "Property Name:request body must be a JSON object specified is unsupported or invalid")])
    check_unknown(etype, body)
    cleaned = clean(normalize_types(body))
    check_emails(etype, cleaned)
    return cleaned


def _strip_ro(etype: str, d: dict) -> dict:
    ro = READ_ONLY.get(etype, _RO_COMMON)
    return {k: v for k, v in d.items() if k not in ro}


def _envelope_fields(data: dict, id_: str, sync: int, ts: float, created: str | None) -> dict:
    out = {"domain": "QBO", "sparse": False, "Id": id_, "SyncToken": str(sync)}
    _stamp(out, ts, created)
    out.update({k: v for k, v in data.items() if k not in ("domain", "sparse", "Id", "SyncToken", "MetaData")})
    return out


def _list_status(data: dict) -> str:
    return STATUS_ACTIVE if data.get("Active", True) is not False else STATUS_INACTIVE


def create(realm: Realm, etype: str, body) -> tuple[dict, Event]:
    d = _strip_ro(etype, _input(etype, body))
    d = _finalize(realm, etype, d, None)
    ts = now_ts()
    id_ = realm.next_id(etype)
    data = _envelope_fields(d, id_, 0, ts, None)
    realm.put(etype, data, _list_status(data) if etype not in schema.TRANSACTIONS else STATUS_ACTIVE, ts)
    adjust_customer_balance(realm, None, data, etype)
    if etype == "Payment":
        payments.refresh(realm, payments.targets(data))
    return data, Event(etype, id_, "Create", ts)


def _existing_for_write(realm: Realm, etype: str, body: dict) -> tuple[dict, dict]:
    id_ = body.get("Id")
    if id_ is None or str(id_).strip() == "":
        raise F.required("Id")
    id_ = str(id_).strip()
    rec = realm.get(etype, id_)
    if rec is None:
        raise F.not_found()
    if rec["status"] == STATUS_DELETED:
        raise F.not_found(deleted=True)
    token = parse_sync_token(body.get("SyncToken"))
    if body.get("SyncToken") is None or body.get("SyncToken") == "":
        raise F.required("SyncToken")
    if token != int(rec["data"]["SyncToken"]):
        raise F.stale(realm.config.get("user_name", "Sandbox User"))
    return rec, rec["data"]


def _kept_tax_override(realm: Realm, existing: dict) -> dict | None:
    """A sparse update keeps a stored tax override (and a legacy company's chosen TxnTaxCodeRef); otherwise the tax
    is computed again from the lines."""
    detail = existing.get("TxnTaxDetail") or {}
    if detail.get("TaxReviewStatus") == "AST_TAX_OVERRIDE" or any(
            "OverrideDeltaAmount" in (tl.get("TaxLineDetail") or {}) for tl in detail.get("TaxLine") or []):
        return copy.deepcopy(detail)
    if tax.model(realm) == "legacy" and detail.get("TxnTaxCodeRef"):
        return {"TxnTaxCodeRef": dict(detail["TxnTaxCodeRef"])}
    return None


def update(realm: Realm, etype: str, body) -> tuple[dict, Event]:
    cleaned = _input(etype, body)
    sparse = cleaned.get("sparse") in (True, "true", "True")
    rec, existing = _existing_for_write(realm, etype, cleaned)
    incoming = _strip_ro(etype, cleaned)
    if sparse:
        base = _strip_ro(etype, copy.deepcopy(existing))
        if etype in schema.SALES_FORMS:
            for k in ("TotalAmt", "Balance"):
                base.pop(k, None)
            base.pop("TxnTaxDetail", None)
            kept = _kept_tax_override(realm, existing)
            if kept is not None:
                base["TxnTaxDetail"] = kept
        base.update(incoming)
        d = base
    else:
        d = incoming
        if etype in schema.SALES_FORMS and "DocNumber" not in d and existing.get("DocNumber"):
            d["DocNumber"] = existing["DocNumber"]
    was_active = existing.get("Active", True) is not False
    old_status = rec["status"]
    if etype == "Payment" and old_status == STATUS_VOIDED:
        d = payments.void_data(dict(existing, **{k: v for k, v in d.items() if k in ("PrivateNote", "TxnDate")}))
        d = _strip_ro(etype, d)
        d["UnappliedAmt"] = 0
    else:
        d = _finalize(realm, etype, d, existing)
        deposits.refuse_deposited_change(realm, etype, existing, d)
    ts = now_ts()
    data = _envelope_fields(d, existing["Id"], int(existing["SyncToken"]) + 1, ts,
                            existing["MetaData"]["CreateTime"])
    if etype in schema.TRANSACTIONS:
        status = old_status
        if old_status == STATUS_VOIDED and etype in schema.SALES_FORMS:
            data = _zero_for_void(data)
    else:
        status = _list_status(data)
    realm.put(etype, data, status, ts)
    op = "Update"
    if (etype not in schema.TRANSACTIONS and etype != "CompanyCurrency" and was_active
            and status == STATUS_INACTIVE):
        op = "Delete"  # deactivation is how name lists, items and other lists are deleted
    adjust_customer_balance(realm, existing, data, etype)
    if etype == "Payment":
        payments.refresh(realm, payments.targets(existing, data))
    return data, Event(etype, existing["Id"], op, ts)


def delete(realm: Realm, etype: str, body) -> tuple[dict, Event]:
    if etype not in schema.TRANSACTIONS:
        raise F.unsupported_operation("Operation Delete is not supported.")
    cleaned = clean(normalize_types(body)) if isinstance(body, dict) else {}
    rec, existing = _existing_for_write(realm, etype, cleaned)
    payments.refuse_if_paid(realm, etype, existing, "delete")
    deposits.refuse_if_deposited(realm, etype, existing)
    ts = now_ts()
    realm.put(etype, existing, STATUS_DELETED, ts)["deleted_time"] = meta_time(ts)
    adjust_customer_balance(realm, existing, None, etype)
    if etype == "Payment":
        payments.refresh(realm, payments.targets(existing))
    return {"domain": "QBO", "status": "Deleted", "Id": existing["Id"]}, Event(etype, existing["Id"], "Delete", ts)


def void(realm: Realm, etype: str, body) -> tuple[dict, Event]:
    if etype not in schema.VOIDABLE:
        raise F.unsupported_operation("Operation Void is not supported.")
    cleaned = clean(normalize_types(body)) if isinstance(body, dict) else {}
    rec, existing = _existing_for_write(realm, etype, cleaned)
    payments.refuse_if_paid(realm, etype, existing, "void")
    deposits.refuse_if_deposited(realm, etype, existing)
    ts = now_ts()
    data = copy.deepcopy(existing)
    data = payments.void_data(data) if etype == "Payment" else _zero_for_void(data)
    data["SyncToken"] = str(int(existing["SyncToken"]) + 1)
    _stamp(data, ts, existing["MetaData"]["CreateTime"])
    realm.put(etype, data, STATUS_VOIDED, ts)
    adjust_customer_balance(realm, existing, data, etype)
    if etype == "Payment":
        payments.refresh(realm, payments.targets(existing))
    return data, Event(etype, existing["Id"], "Void", ts)


def read(realm: Realm, etype: str, id_: str) -> dict:
    rec = realm.get(etype, id_)
    if rec is None or rec["status"] == STATUS_DELETED:
        raise F.not_found()
    return rec["data"]


def send_invoice(realm: Realm, id_: str, send_to: str | None) -> tuple[dict, Event]:
    rec = realm.get("Invoice", id_)
    if rec is None or rec["status"] == STATUS_DELETED:
        raise F.not_found()
    data = copy.deepcopy(rec["data"])
    if send_to is not None:
        if not EMAIL_RE.match(send_to):
            raise F.QBOFault([F.err(2210, "Invalid Email Address format",
                                    f"Email Address does not conform to the syntax rules of RFC 822. "
                                    f"Supplied value: {send_to}", "")])
        data["BillEmail"] = {"Address": send_to}
    elif not (data.get("BillEmail") or {}).get("Address"):
        raise F.required("BillEmail")
    ts = now_ts()
    data["EmailStatus"] = "EmailSent"
    data["DeliveryInfo"] = {"DeliveryType": "Email", "DeliveryTime": meta_time(ts)}
    data["SyncToken"] = str(int(data["SyncToken"]) + 1)
    _stamp(data, ts, data["MetaData"]["CreateTime"])
    realm.put("Invoice", data, rec["status"], ts)
    return data, Event("Invoice", id_, "Emailed", ts)
