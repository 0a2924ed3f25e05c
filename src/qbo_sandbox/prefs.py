"""POST /preferences: an update section by section, checked against the SyncToken.

"Update operations are supported for a limited subset of preferences, which are not marked as readonly"; the writable
fields are those Intuit's Preferences page lists (MIRROR api-reference/preferences.md, "Writable Fields"), plus
CurrencyPrefs.MultiCurrencyEnabled, which can be turned on and never off (tcl §2.1). Values sent for read-only fields
are ignored, as for every entity ("Values supplied for read-only attributes are silently ignored").
"""

from __future__ import annotations

import copy

from . import faults as F
from .store import Realm
from .util import now_ts

WRITABLE = {
    "AccountingInfoPrefs": {"FirstMonthOfFiscalYear", "TaxYearMonth", "ClassTrackingPerTxn", "ClassTrackingPerTxnLine",
                            "TrackDepartments", "DepartmentTerminology", "BookCloseDate", "CustomerTerminology"},
    "ProductAndServicesPrefs": {"ForSales", "ForPurchase", "QuantityWithPriceAndRate", "QuantityOnHand"},
    "SalesFormsPrefs": {"CustomField", "AllowDeposit", "AllowDiscount", "AllowEstimates", "AllowServiceDate",
                        "AllowShipping", "DefaultTerms", "DefaultCustomerMessage", "CustomTxnNumbers",
                        "ETransactionAttachPDF", "ETransactionPaymentEnabled"},
    "VendorAndPurchasesPrefs": {"BillableExpenseTracking", "DefaultTerms", "DefaultMarkup", "TrackingByCustomer",
                                "POCustomField", "MsgToVendors"},
    "TimeTrackingPrefs": {"UseServices", "BillCustomers", "ShowBillRateToAll", "WorkWeekStartDate",
                          "MarkTimeEntriesBillable"},
    "TaxPrefs": {"TaxGroupCodeRef"},
    "EmailMessagesPrefs": {"InvoiceMessage", "EstimateMessage", "SalesReceiptMessage", "StatementMessage"},
    "CurrencyPrefs": {"MultiCurrencyEnabled"},
    "ReportPrefs": {"ReportBasis"},
    "OtherPrefs": {"NameValue"},
}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ENUMS = {("AccountingInfoPrefs", "FirstMonthOfFiscalYear"): MONTHS, ("AccountingInfoPrefs", "TaxYearMonth"): MONTHS,
         ("TimeTrackingPrefs", "WorkWeekStartDate"): DAYS, ("ReportPrefs", "ReportBasis"): ("Accrual", "Cash")}
BOOLEAN = {
    ("AccountingInfoPrefs", f) for f in ("ClassTrackingPerTxn", "ClassTrackingPerTxnLine", "TrackDepartments")
} | {("ProductAndServicesPrefs", f) for f in WRITABLE["ProductAndServicesPrefs"]} | {
    ("SalesFormsPrefs", f) for f in ("AllowDeposit", "AllowDiscount", "AllowEstimates", "AllowServiceDate",
                                     "AllowShipping", "CustomTxnNumbers", "ETransactionAttachPDF",
                                     "ETransactionPaymentEnabled")
} | {("VendorAndPurchasesPrefs", f) for f in ("BillableExpenseTracking", "TrackingByCustomer")} | {
    ("TimeTrackingPrefs", f) for f in ("UseServices", "BillCustomers", "ShowBillRateToAll", "MarkTimeEntriesBillable")
} | {("CurrencyPrefs", "MultiCurrencyEnabled")}


def _fault(detail: str, element: str) -> F.QBOFault:
    return F.QBOFault([F.err(6000, "A business validation error has occurred while processing your request",
                             f"Business Validation Error: {detail}", element)])


def update_preferences(realm: Realm, body):
    """Returns (data, Event). SalesFormsPrefs.CustomTxnNumbers also switches the realm's automatic DocNumbers."""
    from .entities import Event, _existing_for_write, _stamp, clean, normalize_types, ref_value

    if not isinstance(body, dict):
        raise F.required("Preferences")
    body = clean(normalize_types(body))
    if body.get("Id") is None:
        body["Id"] = "1"
    rec, existing = _existing_for_write(realm, "Preferences", body)
    data = copy.deepcopy(existing)
    for section, fields in WRITABLE.items():
        patch = body.get(section)
        if not isinstance(patch, dict):
            continue
        target = data.setdefault(section, {})
        for key, value in patch.items():
            if key not in fields:
                continue  # read only: ignored
            enum = ENUMS.get((section, key))
            if enum and value not in enum:
                raise F.QBOFault([F.err(2170, "Invalid Enumeration", f"Invalid Enumeration : {value}",
                                        f"{section}.{key}")])
            if (section, key) in BOOLEAN and isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"  # Jackson binds "true"/"false" to booleans
            if (section, key) in BOOLEAN and not isinstance(value, bool):
                raise F.QBOFault([F.err(2010, "Request has invalid or unsupported property",
                                        f"Property Name:Can not deserialize instance of java.lang.Boolean out of "
                                        f"VALUE_STRING token (through reference chain: {section}.{key}) specified is "
                                        "unsupported or invalid")])
            if key in ("DefaultTerms",):
                tid = ref_value(value)
                if tid is None or realm.get("Term", tid) is None:
                    raise F.invalid_ref(f"{section}.{key}")
                value = {"value": tid}
            if section == "TaxPrefs" and key == "TaxGroupCodeRef":
                cid = ref_value(value)
                if cid is None or realm.get("TaxCode", cid) is None:
                    raise F.invalid_ref("TaxPrefs.TaxGroupCodeRef")
                value = {"value": cid}
            if section == "CurrencyPrefs" and key == "MultiCurrencyEnabled":
                if target.get(key) is True and value is False:
                    # "Once enabled cannot be disabled" (tcl §2.1)
                    raise _fault("Multicurrency can't be turned off once it is on.",
                                 "CurrencyPrefs.MultiCurrencyEnabled")
            target[key] = copy.deepcopy(value)
    ctn = data.get("SalesFormsPrefs", {}).get("CustomTxnNumbers")
    if isinstance(ctn, bool):
        realm.config["custom_txn_numbers"] = ctn
    realm.company["multicurrency"] = bool(data.get("CurrencyPrefs", {}).get("MultiCurrencyEnabled"))
    ts = now_ts()
    data["SyncToken"] = str(int(existing["SyncToken"]) + 1)
    _stamp(data, ts, existing["MetaData"]["CreateTime"])
    realm.put("Preferences", data, rec["status"], ts)
    return data, Event("Preferences", "1", "Update", ts)
