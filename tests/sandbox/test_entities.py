"""Contract tests: entity CRUD, server-filled fields and validation faults (incl. the seed's errors)."""

from __future__ import annotations

import re

MSG_2020 = "Required param missing, need to supply the required value for the API"
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[-+]\d{2}:\d{2}$")
META_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[-+]\d{2}:\d{2}$")

LINE_100 = {"DetailType": "SalesItemLineDetail", "Amount": 100,
            "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": 100}}


def fault(r, status=400):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"Fault", "time"}
    assert body["Fault"]["type"] == "ValidationFault"
    assert TIME_RE.match(body["time"])
    return body["Fault"]["Error"]


# -- Customer ----------------------------------------------------------------------------------------

def test_customer_create_server_fields(realm):
    r = realm.post("customer", {"DisplayName": "Doe5, Jane"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json;charset=utf-8"
    assert re.fullmatch(r"1-[0-9a-f]{8}-[0-9a-f]{24}", r.headers["intuit_tid"])
    body = r.json()
    assert set(body) == {"Customer", "time"}
    c = body["Customer"]
    assert c["Id"] == "2"  # realm fixture seeded customer 1
    assert c["SyncToken"] == "0"
    assert c["domain"] == "QBO" and c["sparse"] is False
    assert META_RE.match(c["MetaData"]["CreateTime"]) and c["MetaData"]["CreateTime"] == c["MetaData"]["LastUpdatedTime"]
    assert c["DisplayName"] == c["FullyQualifiedName"] == c["PrintOnCheckName"] == "Doe5, Jane"
    assert c["Active"] is True and c["Taxable"] is True and c["DefaultTaxCodeRef"] == {"value": "2"}
    assert c["Job"] is False and c["BillWithParent"] is False and c["IsProject"] is False
    assert c["Balance"] == 0 and c["BalanceWithJobs"] == 0
    assert c["CurrencyRef"] == {"value": "USD", "name": "United States Dollar"}
    assert c["PreferredDeliveryMethod"] == "Print"


def test_customer_display_name_derived_and_6080(realm):
    c = realm.create("Customer", {"GivenName": "Jack", "FamilyName": "Moe"})
    assert c["DisplayName"] == "Jack Moe" and c["PrintOnCheckName"] == "Jack Moe"
    errors = fault(realm.post("customer", {"Notes": "nobody"}))
    assert errors[0]["code"] == "6080" and errors[0]["Message"] == "No Name Provided"


def test_duplicate_display_name_6240_across_name_lists(realm):
    errors = fault(realm.post("customer", {"DisplayName": "Amy's Bird Sanctuary"}))
    assert errors == [{"Message": "Duplicate Name Exists Error", "Detail": "The name supplied already exists. : null",
                       "code": "6240"}]
    assert realm.post("vendor", {"DisplayName": "Books by Bessie"}).status_code == 200
    assert fault(realm.post("customer", {"DisplayName": "books by bessie"}))[0]["code"] == "6240"
    # inactive names still count
    c = realm.create("Customer", {"DisplayName": "Gone Co"})
    r = realm.post("customer", {"Id": c["Id"], "SyncToken": c["SyncToken"], "sparse": True, "Active": False})
    assert r.status_code == 200 and r.json()["Customer"]["Active"] is False
    assert fault(realm.post("customer", {"DisplayName": "Gone Co"}))[0]["code"] == "6240"


def test_invalid_email_seed_error(realm):
    errors = fault(realm.post("customer", {"DisplayName": "Bad Mail", "PrimaryEmailAddr": {"Address": "jane.doe@"}}))
    assert errors == [{"Message": "Invalid Email Address format",
                       "Detail": "Email Address does not conform to the syntax rules of RFC 822. Supplied value:jane.doe@",
                       "code": "2210", "element": "PrimaryEmailAddr.Address"}]
    assert realm.entities("Customer")[-1]["DisplayName"] == "Amy's Bird Sanctuary"  # nothing created


def test_customer_full_and_sparse_update_and_stale_5010(realm):
    c = realm.create("Customer", {"DisplayName": "Jack Moe", "Notes": "n1"})
    r = realm.post("customer", {"DisplayName": "Jack Moe", "PrimaryPhone": {"FreeFormNumber": "(415) 444-1234"},
                                "Id": c["Id"], "SyncToken": "0"})
    full = r.json()["Customer"]
    assert full["SyncToken"] == "1" and "Notes" not in full  # full update: omitted fields are cleared
    assert full["MetaData"]["CreateTime"] == c["MetaData"]["CreateTime"]
    r = realm.post("customer", {"Id": c["Id"], "SyncToken": 1, "sparse": True, "Notes": "n2"})  # int SyncToken
    sparse = r.json()["Customer"]
    assert sparse["SyncToken"] == "2" and sparse["Notes"] == "n2"
    assert sparse["PrimaryPhone"] == {"FreeFormNumber": "(415) 444-1234"}
    errors = fault(realm.post("customer", {"Id": c["Id"], "SyncToken": "1", "sparse": True, "Notes": "n3"}))
    assert errors == [{"Message": "Stale Object Error",
                       "Detail": "Stale Object Error : You and Sandbox User were working on this at the same time. "
                                 "Sandbox User finished before you did, so your work was not saved.",
                       "code": "5010", "element": ""}]


def test_read_only_fields_ignored_and_empty_strings_accepted(realm):
    r = realm.post("customer", {"DisplayName": "Lenient", "Balance": 999, "FullyQualifiedName": "x",
                                "OpenBalanceDate": "", "Title": "", "SyncToken": 0, "domain": "QBO", "sparse": False,
                                "MetaData": {"CreateTime": "2001-01-01T00:00:00-08:00"}})
    c = r.json()["Customer"]
    assert c["Balance"] == 0 and c["FullyQualifiedName"] == "Lenient"
    assert "Title" not in c and "OpenBalanceDate" not in c
    assert c["MetaData"]["CreateTime"] == c["MetaData"]["LastUpdatedTime"] and c["MetaData"]["CreateTime"][:4] == "2026"


def test_unknown_property_2010(realm):
    errors = fault(realm.post("invoice", {"BadJson": True}))
    assert len(errors) == 1 and set(errors[0]) == {"Message", "Detail", "code"}
    assert errors[0]["code"] == "2010"
    assert errors[0]["Message"] == "Request has invalid or unsupported property"
    assert errors[0]["Detail"].startswith('Property Name:Unrecognized field "BadJson" '
                                          "(class com.intuit.schema.finance.v3.Invoice), not marked as ignorable (")
    assert errors[0]["Detail"].endswith("[truncated]])\n specified is unsupported or invalid")


def test_wrapped_entity_body_is_an_unknown_property(realm):
    errors = fault(realm.post("customer", {"Customer": {"DisplayName": "Wrapped"}}))
    assert errors[0]["code"] == "2010" and '"Customer"' in errors[0]["Detail"]


def test_intuit_tid_logged(realm):
    r = realm.get("customer/1")
    assert realm.requests_log()[-1]["intuit_tid"] == r.headers["intuit_tid"]


def test_read_customer_and_read_errors(realm):
    r = realm.get("customer/1")
    assert r.status_code == 200 and r.json()["Customer"]["DisplayName"] == "Amy's Bird Sanctuary"
    r = realm.get("customer/1.5")
    assert r.status_code == 400
    assert r.json() == {"Fault": {"Error": [{"Message": "Invalid ID", "Detail": "Id should be a valid number. "
                                             "Supplied value:1.5", "code": "2030", "element": "Id"}],
                                  "type": "ValidationFault"}}
    errors = fault(realm.get("item/999"))
    assert errors[0]["code"] == "610" and errors[0]["Message"] == "Object Not Found"
    errors = fault(realm.get("customer/1/5"))
    assert errors[0]["code"] == "500" and errors[0]["Message"] == "Unsupported Operation"
    assert errors[0]["Detail"] == (f"Operation Could not find resource for relative : /v3/company/{realm.realm_id}/customer/1/5"
                                   f" of full path: {str(realm.http.base_url).rstrip('/')}/v3/company/{realm.realm_id}/customer/1/5 is not supported.")


# -- Item --------------------------------------------------------------------------------------------

def test_item_create_defaults_and_rules(realm):
    r = realm.post("item", {"Name": "Garden Design", "Type": "Service", "IncomeAccountRef": {"value": "79"}})
    it = r.json()["Item"]
    assert it["Id"] == "3"  # Services (1) and Hours (2) are seeded
    assert it["IncomeAccountRef"] == {"value": "79", "name": "Sales of Product Income"}
    assert (it["Active"], it["Taxable"], it["UnitPrice"], it["PurchaseCost"], it["TrackQtyOnHand"]) == (
        True, False, 0, 0, False)
    assert it["FullyQualifiedName"] == "Garden Design"
    errors = fault(realm.post("item", {"Type": "Service", "IncomeAccountRef": {"value": "79"}}))
    assert errors == [{"Message": MSG_2020, "Detail": "Required parameter Name is missing in the request",
                       "code": "2020", "element": "Name"}]
    errors = fault(realm.post("item", {"Name": "No Account", "Type": "Service"}))
    assert errors[0]["Detail"] == "Required parameter ExpenseAccountRef or IncomeAccountRef is missing in the request"
    assert fault(realm.post("item", {"Name": "garden design", "Type": "Service",
                                     "IncomeAccountRef": {"value": "79"}}))[0]["code"] == "6240"
    assert fault(realm.post("item", {"Name": "X", "Type": "Service",
                                     "IncomeAccountRef": {"value": "9999"}}))[0]["code"] == "2500"


def test_item_deactivate_is_not_delete(realm):
    it = realm.create("Item", {"Name": "Old", "Type": "Service", "IncomeAccountRef": {"value": "1"}})
    r = realm.post("item?operation=delete", {"Id": it["Id"], "SyncToken": "0"})
    assert fault(r)[0]["code"] == "500"
    r = realm.post("item", {"Id": it["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert r.json()["Item"]["Active"] is False and r.json()["Item"]["SyncToken"] == "1"
    listing = {i["Id"]: i["status"] for i in realm.entities("Item")}
    assert listing == {"1": "Active", "2": "Active", it["Id"]: "Inactive"}
    line = dict(LINE_100, SalesItemLineDetail={"ItemRef": {"value": it["Id"]}})
    errors = fault(realm.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [line]}))
    assert errors[0]["code"] == "610"


# -- Invoice -----------------------------------------------------------------------------------------

def test_invoice_create_server_filled_fields(realm):
    r = realm.post("invoice", {"CustomerRef": {"value": "1"}, "TxnDate": "2024-01-15", "Line": [LINE_100]})
    assert r.status_code == 200
    inv = r.json()["Invoice"]
    assert inv["DocNumber"] == "1001" and inv["TxnDate"] == "2024-01-15" and inv["DueDate"] == "2024-02-14"
    assert inv["CustomerRef"] == {"value": "1", "name": "Amy's Bird Sanctuary"}
    assert inv["TotalAmt"] == 100 and inv["Balance"] == 100
    assert inv["Line"] == [
        {"Id": "1", "LineNum": 1, "Amount": 100, "DetailType": "SalesItemLineDetail",
         "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Services"}, "Qty": 1, "UnitPrice": 100,
                                 "TaxCodeRef": {"value": "NON"}, "ItemAccountRef": {"value": "1", "name": "Services"}}},
        {"Amount": 100, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}},
    ]
    cust = realm.get("customer/1").json()["Customer"]
    assert inv["BillAddr"] == cust["BillAddr"] and inv["ShipAddr"] == cust["ShipAddr"]
    assert inv["TxnTaxDetail"] == {"TotalTax": 0}
    assert (inv["PrintStatus"], inv["EmailStatus"], inv["ApplyTaxAfterDiscount"]) == ("NeedToPrint", "NotSet", False)
    assert inv["LinkedTxn"] == [] and inv["CustomField"] == []
    assert cust["Balance"] == 100  # open invoice balance shows on the customer
    second = realm.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [LINE_100]})
    assert second["DocNumber"] == "1002" and int(second["Id"]) == int(inv["Id"]) + 1


def test_invoice_without_customer_ref_is_the_seed_error(realm):
    errors = fault(realm.post("invoice", {"Line": [LINE_100]}))
    assert errors == [{"Message": MSG_2020, "Detail": "Required parameter CustomerRef is missing in the request",
                       "code": "2020", "element": "CustomerRef"}]
    assert realm.entities("Invoice") == []


def test_email_fault_comes_before_customer_ref_fault(realm):
    """The seed: fixing the email 'in most cases results in' the CustomerRef error, so email is checked first."""
    body = {"Line": [LINE_100], "BillEmail": {"Address": "name2@example"}}
    assert fault(realm.post("invoice", body))[0]["code"] == "2210"
    body["BillEmail"] = {"Address": "name2@example.com"}
    assert fault(realm.post("invoice", body))[0]["code"] == "2020"


def test_invoice_missing_line_and_detail_type(realm):
    errors = fault(realm.post("invoice", {"CustomerRef": {"value": "1"}}))
    assert errors[0]["Detail"] == "Required parameter Line is missing in the request"
    assert errors[0]["element"] == "Line"
    errors = fault(realm.post("salesreceipt", {"Line": [{"Amount": 5}]}))
    assert errors == [{"Message": MSG_2020, "Detail": "Required parameter Line.DetailType is missing in the request",
                       "code": "2020", "element": "Line.DetailType"}]


def test_invoice_refs_2500_and_inactive_customer_610(realm):
    errors = fault(realm.post("invoice", {"CustomerRef": {"value": "77"}, "Line": [LINE_100]}))
    assert errors[0]["code"] == "2500" and errors[0]["element"] == "CustomerRef"
    bad_item = dict(LINE_100, SalesItemLineDetail={"ItemRef": {"value": "20"}})
    errors = fault(realm.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [bad_item]}))
    assert errors == [{"Message": "Invalid Reference Id", "Detail": "Invalid Reference Id : Line.SalesItemLineDetail.ItemRef",
                       "code": "2500", "element": "Line.SalesItemLineDetail.ItemRef"}]
    c = realm.create("Customer", {"DisplayName": "Inactive Inc"})
    realm.post("customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    errors = fault(realm.post("invoice", {"CustomerRef": {"value": c["Id"]}, "Line": [LINE_100]}))
    assert errors[0]["code"] == "610"
    assert errors[0]["Detail"] == ("Object Not Found : Something you're trying to use has been made inactive. "
                                   "Check the fields with accounts, customers, items, vendors or employees.")


def test_amount_mismatch_6070_and_python_quickbooks_zeros(realm):
    line = {"DetailType": "SalesItemLineDetail", "Amount": 58,
            "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 3, "UnitPrice": 20}}
    errors = fault(realm.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [line]}))
    assert errors == [{"Message": "Amount calculation incorrect in the request.",
                       "Detail": "Amount is not equal to UnitPrice * Qty. Supplied value:58",
                       "code": "6070", "element": "Line.Amount"}]
    # Qty 0 / UnitPrice 0 (what python-quickbooks sends) is not checked
    line["SalesItemLineDetail"] = {"ItemRef": {"value": "1"}, "Qty": 0, "UnitPrice": 0}
    assert realm.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [line]}).status_code == 200
    # 4.5 x 75 = 337.50
    line = {"DetailType": "SalesItemLineDetail", "Amount": 337.5,
            "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 4.5, "UnitPrice": 75}}
    assert realm.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [line]})["TotalAmt"] == 337.5


def test_docnumber_length_custom_numbers_and_duplicates(make_realm):
    rc = make_realm(customers=[{"DisplayName": "C"}], config={"custom_txn_numbers": True,
                                                               "enforce_unique_docnumber": True})
    body = {"CustomerRef": {"value": "1"}, "Line": [LINE_100]}
    inv = rc.create("Invoice", body)
    assert "DocNumber" not in inv  # custom transaction numbers: none assigned
    prefs = rc.get("preferences").json()["Preferences"]
    assert prefs["SalesFormsPrefs"]["CustomTxnNumbers"] is True
    errors = fault(rc.post("invoice", dict(body, DocNumber="X" * 22)))
    assert errors[0]["code"] == "2050" and errors[0]["element"] == "DocNumber"
    first = rc.create("Invoice", dict(body, DocNumber="SO-1001"))
    errors = fault(rc.post("invoice", dict(body, DocNumber="SO-1001")))
    assert errors == [{"Message": "Duplicate Document Number Error",
                       "Detail": "Duplicate Document Number Error : You must specify a different number. This number "
                                 f"has already been used. DocNumber=SO-1001 is assigned to TxnType=Invoice with TxnId={first['Id']}",
                       "code": "6140", "element": ""}]


def test_duplicate_docnumber_allowed_by_default(realm):
    body = {"CustomerRef": {"value": "1"}, "Line": [LINE_100], "DocNumber": "A-1"}
    assert realm.create("Invoice", body)["DocNumber"] == realm.create("Invoice", body)["DocNumber"] == "A-1"


def test_auto_docnumber_skips_numbers_in_use(realm):
    body = {"CustomerRef": {"value": "1"}, "Line": [LINE_100]}
    assert realm.create("Invoice", dict(body, DocNumber="1002"))["DocNumber"] == "1002"
    assert [realm.create("Invoice", body)["DocNumber"] for _ in range(2)] == ["1001", "1003"]
    assert realm.create("SalesReceipt", {"Line": [LINE_100]})["DocNumber"] == "1001"  # own sequence


def test_invoice_sparse_update_delete_and_void(realm):
    inv = realm.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [LINE_100], "PrivateNote": "keep"})
    r = realm.post("invoice", {"Id": inv["Id"], "SyncToken": "0", "sparse": True, "DueDate": "2030-09-30"})
    up = r.json()["Invoice"]
    assert up["SyncToken"] == "1" and up["DueDate"] == "2030-09-30" and up["TotalAmt"] == 100
    assert up["Line"][0]["Id"] == "1" and up["DocNumber"] == inv["DocNumber"]
    r = realm.post("invoice?operation=void", {"Id": inv["Id"], "SyncToken": "1"})
    voided = r.json()["Invoice"]
    assert voided["SyncToken"] == "2" and voided["TotalAmt"] == 0 and voided["Balance"] == 0
    assert voided["PrivateNote"] == "Voided - keep"
    assert voided["Line"][0]["Amount"] == 0 and voided["Line"][-1]["Amount"] == 0
    assert realm.get("customer/1").json()["Customer"]["Balance"] == 0
    r = realm.post("invoice?operation=delete", {"Id": inv["Id"], "SyncToken": "2"})
    assert r.status_code == 200
    assert r.json()["Invoice"] == {"domain": "QBO", "status": "Deleted", "Id": inv["Id"]}
    assert fault(realm.get(f"invoice/{inv['Id']}"))[0]["code"] == "610"
    errors = fault(realm.post("invoice?operation=delete", {"Id": inv["Id"], "SyncToken": "2"}))
    assert errors[0] == {"Message": "Object Not Found", "Detail": "Object Not Found : Another user has deleted this transaction.",
                         "code": "610", "element": ""}
    assert [(i["Id"], i["status"]) for i in realm.entities("Invoice")] == [(inv["Id"], "Deleted")]


def test_invoice_full_update_replaces_lines(realm):
    inv = realm.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [LINE_100, LINE_100]})
    assert [ln.get("Id") for ln in inv["Line"]] == ["1", "2", None]
    keep = dict(inv["Line"][1])
    new = {"DetailType": "SalesItemLineDetail", "Amount": 50, "SalesItemLineDetail": {"ItemRef": {"value": "2"}}}
    r = realm.post("invoice", {"Id": inv["Id"], "SyncToken": "0", "CustomerRef": {"value": "1"}, "Line": [keep, new]})
    up = r.json()["Invoice"]
    assert [ln.get("Id") for ln in up["Line"]] == ["2", "3", None]
    assert up["TotalAmt"] == 150 and up["Line"][1]["SalesItemLineDetail"]["ItemRef"] == {"value": "2", "name": "Hours"}


def test_discount_tax_and_deposit(realm):
    inv = realm.create("Invoice", {
        "CustomerRef": {"value": "1"}, "Deposit": 10, "TxnTaxDetail": {"TotalTax": 8},
        "Line": [LINE_100, {"DetailType": "DiscountLineDetail", "Amount": 10,
                            "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": 10}}]})
    assert inv["TotalAmt"] == 98 and inv["Balance"] == 88
    assert [ln["DetailType"] for ln in inv["Line"]] == ["SalesItemLineDetail", "SubTotalLineDetail", "DiscountLineDetail"]
    assert inv["Line"][2]["DiscountLineDetail"]["DiscountAccountRef"] == {"value": "86", "name": "Discounts given"}


def test_invoice_send_and_pdf(realm):
    inv = realm.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [LINE_100]})
    r = realm.http.post(realm.path(f"invoice/{inv['Id']}/send"), params={"sendTo": "abc.xyz 01@gmail.com"},
                        headers=dict(realm.headers, **{"Content-Type": "application/octet-stream"}))
    assert fault(r)[0]["Detail"] == ("Email Address does not conform to the syntax rules of RFC 822. "
                                     "Supplied value: abc.xyz 01@gmail.com")
    r = realm.http.post(realm.path(f"invoice/{inv['Id']}/send"), params={"sendTo": "a@b.com"}, headers=realm.headers)
    sent = r.json()["Invoice"]
    assert sent["EmailStatus"] == "EmailSent" and sent["BillEmail"] == {"Address": "a@b.com"}
    assert sent["DeliveryInfo"]["DeliveryType"] == "Email" and sent["SyncToken"] == "1"
    r = realm.get(f"invoice/{inv['Id']}/pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")


# -- SalesReceipt --------------------------------------------------------------------------------------

def test_sales_receipt_without_customer_and_void_delete(realm):
    body = {"Line": [{"Description": "Pest Control Services", "DetailType": "SalesItemLineDetail", "Amount": 35.0,
                      "SalesItemLineDetail": {"TaxCodeRef": {"value": "NON"}, "Qty": 1, "UnitPrice": 35,
                                              "ItemRef": {"value": "1"}}}]}
    sr = realm.create("SalesReceipt", body)
    assert "CustomerRef" not in sr
    assert sr["DepositToAccountRef"] == {"value": "4", "name": "Undeposited Funds"}
    assert sr["Balance"] == 0 and sr["TotalAmt"] == 35 and sr["DocNumber"] == "1001"
    assert "DueDate" not in sr
    assert sr["Line"][0]["Description"] == "Pest Control Services"
    r = realm.post("salesreceipt?operation=update&include=void", {"Id": sr["Id"], "SyncToken": "0", "sparse": True})
    v = r.json()["SalesReceipt"]
    assert v["TotalAmt"] == 0 and v["PrivateNote"] == "Voided" and v["SyncToken"] == "1"
    assert v["Line"][0]["SalesItemLineDetail"]["Qty"] == 0 and v["Line"][0]["SalesItemLineDetail"]["UnitPrice"] == 0
    r = realm.post("salesreceipt?operation=delete", {"Id": sr["Id"], "SyncToken": "1"})
    assert r.json()["SalesReceipt"] == {"domain": "QBO", "status": "Deleted", "Id": sr["Id"]}


def test_reference_entities_readable(realm):
    acct = realm.get("account/79").json()["Account"]
    assert acct["Name"] == "Sales of Product Income" and acct["AccountType"] == "Income"
    info = realm.get(f"companyinfo/{realm.realm_id}").json()["CompanyInfo"]
    assert info["Country"] == "US" and info["Id"] == "1"
    prefs = realm.get("preferences").json()["Preferences"]
    assert prefs["SalesFormsPrefs"]["CustomTxnNumbers"] is False
    codes = realm.query("select * from TaxCode").json()["QueryResponse"]["TaxCode"]
    assert [c["Id"] for c in codes] == ["2", "NON", "TAX"]


def test_jackson_like_type_binding(realm):
    errors = fault(realm.post("customer", {"DisplayName": ["x"]}))
    assert errors[0]["code"] == "2010" and errors[0]["Detail"].startswith(
        "Property Name:Can not deserialize instance of java.lang.String out of START_ARRAY token")
    assert fault(realm.post("invoice", {"CustomerRef": "1", "Line": [LINE_100]}))[0]["code"] == "2010"
    assert fault(realm.post("invoice", {"CustomerRef": {"value": "1"}, "Line": ["x"]}))[0]["code"] == "2010"
    c = realm.create("Customer", {"DisplayName": 12345, "Active": "false"})
    assert c["DisplayName"] == "12345" and c["Active"] is False
    line = dict(LINE_100, Amount="100.00")
    assert realm.create("Invoice", {"CustomerRef": {"value": 1}, "Line": [line]})["TotalAmt"] == 100


def test_preferences_sparse_update_switches_custom_numbers(realm):
    r = realm.post("preferences", {"SyncToken": "0", "sparse": True,
                                   "SalesFormsPrefs": {"CustomTxnNumbers": True}})
    prefs = r.json()["Preferences"]
    assert r.status_code == 200 and prefs["SyncToken"] == "1"
    assert prefs["SalesFormsPrefs"]["CustomTxnNumbers"] is True
    assert prefs["SalesFormsPrefs"]["AllowDiscount"] is True  # untouched
    assert "DocNumber" not in realm.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [LINE_100]})
    assert realm.control("GET", "config").json()["config"]["custom_txn_numbers"] is True
    assert fault(realm.post("preferences", {"SyncToken": "0", "sparse": True}))[0]["code"] == "5010"


def test_shipping_item_needs_allow_shipping(realm, make_realm):
    ship = {"DetailType": "SalesItemLineDetail", "Amount": 7.5,
            "SalesItemLineDetail": {"ItemRef": {"value": "SHIPPING_ITEM_ID"}}}
    errors = fault(realm.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [LINE_100, ship]}))
    assert errors[0]["code"] == "2500" and errors[0]["element"] == "Line.SalesItemLineDetail.ItemRef"
    rc = make_realm(customers=[{"DisplayName": "S"}], preferences={"SalesFormsPrefs": {"AllowShipping": True}})
    inv = rc.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [LINE_100, ship]})
    assert inv["TotalAmt"] == 107.5
    assert inv["Line"][1]["SalesItemLineDetail"]["ItemRef"] == {"value": "SHIPPING_ITEM_ID"}
    discount = {"DetailType": "DiscountLineDetail", "Amount": 5, "Description": "Discount",
                "DiscountLineDetail": {"PercentBased": False}}
    inv = rc.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [LINE_100, discount]})
    assert inv["TotalAmt"] == 95 and inv["Line"][-1]["Description"] == "Discount"


def test_field_lengths_and_need_to_send(realm):
    errors = fault(realm.post("customer", {"DisplayName": "Long", "Title": "T" * 17}))
    assert (errors[0]["code"], errors[0]["element"]) == ("2050", "Title")
    assert fault(realm.post("customer", {"DisplayName": "X" * 501}))[0]["element"] == "DisplayName"
    assert realm.post("customer", {"DisplayName": "X" * 500}).status_code == 200
    errors = fault(realm.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [LINE_100], "PrivateNote": "n" * 4001}))
    assert errors[0]["element"] == "PrivateNote"
    errors = fault(realm.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [LINE_100], "EmailStatus": "NeedToSend"}))
    assert errors[0]["Detail"] == "Required parameter BillEmail is missing in the request"
