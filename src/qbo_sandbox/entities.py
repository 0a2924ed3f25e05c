"""Entity semantics: validation, server-filled fields, create/update/delete/void.

Order of validation (matters when a request has several problems; the seed shows the email fault
is reported before the missing CustomerRef):
  2010 unknown property -> 2210 email syntax -> 2020 required fields -> 2050 lengths ->
  2500/610 references -> 6070 amounts -> 6240/6140 duplicates -> 5010 SyncToken.
"""

from __future__ import annotations

import copy
import re
from datetime import date, timedelta
from decimal import Decimal

from . import faults as F
from . import schema
from .store import STATUS_ACTIVE, STATUS_DELETED, STATUS_INACTIVE, STATUS_VOIDED, Realm
from .util import local_date, meta_time, money, now_ts, num, to_decimal

_RO_COMMON = {"Id", "SyncToken", "MetaData", "domain", "sparse", "status"}
READ_ONLY = {
    "Customer": _RO_COMMON | {"FullyQualifiedName", "Balance", "BalanceWithJobs", "Level", "V4IDPseudonym",
                              "ClientEntityId", "OverDueBalance", "TotalRevenue", "TotalExpense"},
    "Vendor": _RO_COMMON | {"FullyQualifiedName", "Balance", "V4IDPseudonym", "ClientEntityId"},
    "Employee": _RO_COMMON | {"FullyQualifiedName", "V4IDPseudonym"},
    "Item": _RO_COMMON | {"FullyQualifiedName", "Level"},
    "Invoice": _RO_COMMON | {"TotalAmt", "Balance", "HomeBalance", "HomeTotalAmt", "InvoiceLink", "DeliveryInfo",
                             "TxnStatus", "ExchangeRate"},
    "SalesReceipt": _RO_COMMON | {"TotalAmt", "Balance", "HomeBalance", "HomeTotalAmt", "DeliveryInfo",
                                  "TxnStatus", "ExchangeRate"},
}

EMAIL_RE = re.compile(r"^[^@\s,;<>()\[\]\\\"]+@[^@\s,;<>()\[\]\\\"]+\.[^@\s,;<>()\[\]\\\".]+$")
DOCNUMBER_MAX = 21
SHIPPING_ITEM_ID = "SHIPPING_ITEM_ID"
# Field lengths from the API reference (facts §2.1, §2.4, §2.5).
NAME_LENGTHS = {"GivenName": 100, "MiddleName": 100, "FamilyName": 100, "Title": 16, "Suffix": 16,
                "CompanyName": 100}
TXN_LENGTHS = {"PrivateNote": 4000, "PaymentRefNum": 21}


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
        "CountrySubDivisionCode", "PostalCode", "OpenBalanceDate", "ServiceDate", "ResaleNum", "AcctNum")
_NUM = ("Amount", "Qty", "UnitPrice", "Deposit", "Balance", "TotalAmt", "PurchaseCost", "QtyOnHand", "ExchangeRate",
        "TotalTax", "DiscountPercent", "LineNum", "TaxInclusiveAmt", "BalanceWithJobs", "HomeBalance", "HomeTotalAmt")
_BOOL = ("Active", "sparse", "Taxable", "Job", "BillWithParent", "IsProject", "TrackQtyOnHand",
         "ApplyTaxAfterDiscount", "AllowIPNPayment", "AllowOnlinePayment", "AllowOnlineCreditCardPayment",
         "AllowOnlineACHPayment", "PercentBased", "FreeFormAddress", "SubItem", "Vendor1099")
_OBJ = ("CustomerRef", "ItemRef", "TaxCodeRef", "ItemAccountRef", "IncomeAccountRef", "ExpenseAccountRef",
        "AssetAccountRef", "DepositToAccountRef", "DiscountAccountRef", "CurrencyRef", "DefaultTaxCodeRef",
        "BillAddr", "ShipAddr", "PrimaryAddr", "OtherAddr", "PrimaryEmailAddr", "BillEmail", "BillEmailCc",
        "BillEmailBcc", "PrimaryPhone", "AlternatePhone", "Mobile", "Fax", "WebAddr", "TxnTaxDetail", "MetaData",
        "CustomerMemo", "SalesItemLineDetail", "DiscountLineDetail", "DescriptionLineDetail",
        "SubTotalLineDetail", "GroupLineDetail", "SalesTermRef", "ClassRef", "DepartmentRef", "ParentRef",
        "PaymentMethodRef", "ShipMethodRef", "ProjectRef", "DeliveryInfo")
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
        parts = [p.strip() for p in value.split(",")] if field.startswith("BillEmail") else [value]
        if not all(EMAIL_RE.match(p) for p in parts):
            raise F.invalid_email(value, f"{field}.Address")


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
    d["CurrencyRef"] = d.get("CurrencyRef") or dict(schema.USD)
    for key in ("BillAddr", "ShipAddr", "PrimaryAddr", "OtherAddr"):
        if key in d:
            old = existing.get(key, {}).get("Id") if existing and isinstance(existing.get(key), dict) else None
            a = _addr(realm, d[key], old)
            if a is None:
                d.pop(key)
            else:
                d[key] = a
    if etype == "Customer":
        d.setdefault("Taxable", True)
        if d["Taxable"] and "DefaultTaxCodeRef" not in d:
            d["DefaultTaxCodeRef"] = {"value": "2"}
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

def _line_ids(lines) -> int:
    m = 0
    for line in lines or []:
        if isinstance(line, dict) and str(line.get("Id", "")).isdigit():
            m = max(m, int(line["Id"]))
    return m


def _finalize_txn(realm: Realm, etype: str, d: dict, existing: dict | None) -> dict:
    cfg = realm.config
    # required fields
    if etype == "Invoice" and not ref_value(d.get("CustomerRef")):
        raise F.required("CustomerRef")
    lines = d.get("Line")
    if not isinstance(lines, list) or not [x for x in lines if x]:
        raise F.required("Line")
    for line in lines:
        if not isinstance(line, dict) or not line.get("DetailType"):
            raise F.required("Line.DetailType")
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
    # references
    customer = None
    if ref_value(d.get("CustomerRef")):
        d["CustomerRef"] = _resolve_ref(realm, "Customer", d["CustomerRef"], "CustomerRef", "DisplayName")
        customer = realm.get("Customer", d["CustomerRef"]["value"])["data"]
    if etype == "SalesReceipt":
        dep = d.get("DepositToAccountRef")
        if ref_value(dep):
            d["DepositToAccountRef"] = _resolve_ref(realm, "Account", dep, "DepositToAccountRef", "Name")
        else:
            d["DepositToAccountRef"] = {"value": "4", "name": "Undeposited Funds"}
    next_line_id = _line_ids(existing.get("Line")) if existing else 0
    existing_ids = {str(x.get("Id")) for x in (existing.get("Line") or [])} if existing else set()
    out_lines: list[dict] = []
    discount_lines: list[dict] = []
    amount_errors: list[dict] = []
    subtotal = Decimal("0")
    line_num = 0
    default_item = realm.active("Item", "1")
    prefs = realm.get("Preferences", "1")
    allow_shipping = bool(prefs and prefs["data"].get("SalesFormsPrefs", {}).get("AllowShipping"))
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
            amount = to_decimal(line.get("Amount"))
            if amount is None:
                raise F.required("Line.Amount")
            detail = dict(line.get("SalesItemLineDetail") or {})
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
            tc = ref_value(detail.get("TaxCodeRef")) or "NON"
            if tc not in schema.US_TAX_CODES:
                raise F.QBOFault([F.err(6100, "Invalid Line TaxCode in the request",
                                        "Invalid Line TaxCode in the request : For US, specify TAX or NON",
                                        "Line.SalesItemLineDetail.TaxCodeRef")])
            detail["TaxCodeRef"] = {"value": tc}
            acct = item.get("IncomeAccountRef")
            if acct:
                detail["ItemAccountRef"] = dict(acct)
            else:
                detail.pop("ItemAccountRef", None)
            if not to_decimal(detail.get("TaxInclusiveAmt")):
                detail.pop("TaxInclusiveAmt", None)
            out["Amount"] = num(money(amount))
            out["DetailType"] = dt
            out["SalesItemLineDetail"] = detail
            subtotal += money(amount)
        elif dt == "DescriptionOnly":
            out["DetailType"] = dt
            out["DescriptionLineDetail"] = dict(line.get("DescriptionLineDetail") or {})
            amount = to_decimal(line.get("Amount"))
            if amount:
                out["Amount"] = num(money(amount))
        else:
            # GroupLineDetail and others: kept as sent, amount counted.
            amount = to_decimal(line.get("Amount")) or Decimal("0")
            out.update({k: v for k, v in line.items() if k not in ("Id", "LineNum")})
            out["Amount"] = num(money(amount))
            subtotal += money(amount)
        out_lines.append(out)
    if amount_errors:
        raise F.QBOFault(amount_errors)
    if not out_lines and not discount_lines:
        raise F.required("Line")
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
    tax_detail = dict(d.get("TxnTaxDetail") or {})
    tax = to_decimal(tax_detail.get("TotalTax")) or Decimal("0")
    tax_detail["TotalTax"] = num(money(tax))
    d["TxnTaxDetail"] = tax_detail
    total = money(subtotal - discount_total + tax)
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
                label = "Invoice" if etype == "Invoice" else "Sales Receipt"
                raise F.QBOFault([F.err(
                    6140, "Duplicate Document Number Error",
                    "Duplicate Document Number Error : You must specify a different number. This number has "
                    f"already been used. DocNumber={doc} is assigned to TxnType={label} with TxnId={id_}", "")])
        d["DocNumber"] = doc
    d["TxnDate"] = td.isoformat()
    d["CurrencyRef"] = d.get("CurrencyRef") or dict(schema.USD)
    d.setdefault("LinkedTxn", [])
    d.setdefault("CustomField", [])
    d.setdefault("ApplyTaxAfterDiscount", False)
    d.setdefault("PrintStatus", "NeedToPrint")
    d.setdefault("EmailStatus", "NotSet")
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
    if etype == "Invoice":
        if not d.get("DueDate"):
            d["DueDate"] = (td + timedelta(days=30)).isoformat()  # DefaultTerms Net 30
        deposit = to_decimal(d.get("Deposit")) or Decimal("0")
        d["Deposit"] = num(deposit) if "Deposit" in d else 0
        d["Balance"] = num(money(total - deposit))
        for k in ("AllowIPNPayment", "AllowOnlinePayment", "AllowOnlineCreditCardPayment", "AllowOnlineACHPayment"):
            d.setdefault(k, False)
    else:
        d["Balance"] = 0
    return d


def _zero_for_void(d: dict) -> dict:
    for line in d.get("Line", []):
        line["Amount"] = 0
        detail = line.get("SalesItemLineDetail")
        if isinstance(detail, dict):
            for k in ("Qty", "UnitPrice"):
                if k in detail:
                    detail[k] = 0
    d["TotalAmt"] = 0
    d["Balance"] = 0
    if isinstance(d.get("TxnTaxDetail"), dict):
        d["TxnTaxDetail"] = {"TotalTax": 0}
    note = d.get("PrivateNote")
    d["PrivateNote"] = "Voided" if not note or note.startswith("Voided") else f"Voided - {note}"
    return d


def adjust_customer_balance(realm: Realm, old: dict | None, new: dict | None) -> None:
    """Move an invoice's open balance between customers: subtract the old version, add the new one."""
    for data, sign in ((old, -1), (new, 1)):
        if not data:
            continue
        cid = ref_value(data.get("CustomerRef"))
        rec = realm.get("Customer", cid) if cid else None
        if rec is None:
            continue
        delta = (to_decimal(data.get("Balance")) or Decimal("0")) * sign
        bal = money((to_decimal(rec["data"].get("Balance")) or Decimal("0")) + delta)
        rec["data"]["Balance"] = num(bal)
        rec["data"]["BalanceWithJobs"] = num(bal)
        realm.touched.add(("Customer", cid))


# -- public operations -----------------------------------------------------------------------------

def _finalize(realm: Realm, etype: str, d: dict, existing: dict | None) -> dict:
    if etype in schema.NAME_LISTS:
        return _finalize_name(realm, etype, d, existing)
    if etype == "Item":
        return _finalize_item(realm, d, existing)
    if etype in schema.TRANSACTIONS:
        return _finalize_txn(realm, etype, d, existing)
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


def create(realm: Realm, etype: str, body) -> tuple[dict, Event]:
    d = _strip_ro(etype, _input(etype, body))
    d = _finalize(realm, etype, d, None)
    ts = now_ts()
    id_ = realm.next_id(etype)
    data = _envelope_fields(d, id_, 0, ts, None)
    status = STATUS_ACTIVE if data.get("Active", True) is not False else STATUS_INACTIVE
    realm.put(etype, data, status, ts)
    if etype == "Invoice":
        adjust_customer_balance(realm, None, data)
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


def update(realm: Realm, etype: str, body) -> tuple[dict, Event]:
    cleaned = _input(etype, body)
    sparse = cleaned.get("sparse") in (True, "true", "True")
    rec, existing = _existing_for_write(realm, etype, cleaned)
    incoming = _strip_ro(etype, cleaned)
    if sparse:
        base = _strip_ro(etype, copy.deepcopy(existing))
        if etype in schema.TRANSACTIONS:
            for k in ("TotalAmt", "Balance"):
                base.pop(k, None)
        base.update(incoming)
        d = base
    else:
        d = incoming
        if etype in schema.TRANSACTIONS and "DocNumber" not in d and existing.get("DocNumber"):
            d["DocNumber"] = existing["DocNumber"]
    was_active = existing.get("Active", True) is not False
    d = _finalize(realm, etype, d, existing)
    ts = now_ts()
    data = _envelope_fields(d, existing["Id"], int(existing["SyncToken"]) + 1, ts,
                            existing["MetaData"]["CreateTime"])
    old_status = rec["status"]
    if etype in schema.TRANSACTIONS:
        status = old_status
        if old_status == STATUS_VOIDED:
            data = _zero_for_void(data)
    else:
        status = STATUS_ACTIVE if data.get("Active", True) is not False else STATUS_INACTIVE
    realm.put(etype, data, status, ts)
    op = "Update"
    if etype not in schema.TRANSACTIONS and was_active and status == STATUS_INACTIVE:
        op = "Delete"  # deactivation is how name lists and items are deleted
    if etype == "Invoice":
        adjust_customer_balance(realm, existing, data)
    return data, Event(etype, existing["Id"], op, ts)


def delete(realm: Realm, etype: str, body) -> tuple[dict, Event]:
    if etype not in schema.TRANSACTIONS:
        raise F.unsupported_operation("Operation Delete is not supported.")
    cleaned = clean(normalize_types(body)) if isinstance(body, dict) else {}
    rec, existing = _existing_for_write(realm, etype, cleaned)
    ts = now_ts()
    realm.put(etype, existing, STATUS_DELETED, ts)["deleted_time"] = meta_time(ts)
    if etype == "Invoice":
        adjust_customer_balance(realm, existing, None)
    return {"domain": "QBO", "status": "Deleted", "Id": existing["Id"]}, Event(etype, existing["Id"], "Delete", ts)


def void(realm: Realm, etype: str, body) -> tuple[dict, Event]:
    if etype not in schema.TRANSACTIONS:
        raise F.unsupported_operation("Operation Void is not supported.")
    cleaned = clean(normalize_types(body)) if isinstance(body, dict) else {}
    rec, existing = _existing_for_write(realm, etype, cleaned)
    ts = now_ts()
    data = copy.deepcopy(existing)
    data = _zero_for_void(data)
    data["SyncToken"] = str(int(existing["SyncToken"]) + 1)
    _stamp(data, ts, existing["MetaData"]["CreateTime"])
    realm.put(etype, data, STATUS_VOIDED, ts)
    if etype == "Invoice":
        adjust_customer_balance(realm, existing, data)
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


def update_preferences(realm: Realm, body) -> tuple[dict, Event]:
    """POST /preferences: a sparse update of the Preferences object (Id 1, with SyncToken).
    SalesFormsPrefs.CustomTxnNumbers also switches the realm's automatic DocNumbers."""
    if not isinstance(body, dict):
        raise F.required("Preferences")
    body = clean(normalize_types(body))
    if body.get("Id") is None:
        body["Id"] = "1"
    rec, existing = _existing_for_write(realm, "Preferences", body)
    data = copy.deepcopy(existing)

    def merge(base, patch):
        for k, v in patch.items():
            if isinstance(v, dict) and isinstance(base.get(k), dict):
                merge(base[k], v)
            else:
                base[k] = copy.deepcopy(v)

    merge(data, {k: v for k, v in body.items() if k not in _RO_COMMON})
    ctn = data.get("SalesFormsPrefs", {}).get("CustomTxnNumbers")
    if isinstance(ctn, bool):
        realm.config["custom_txn_numbers"] = ctn
    ts = now_ts()
    data["SyncToken"] = str(int(existing["SyncToken"]) + 1)
    _stamp(data, ts, existing["MetaData"]["CreateTime"])
    realm.put("Preferences", data, rec["status"], ts)
    return data, Event("Preferences", "1", "Update", ts)
