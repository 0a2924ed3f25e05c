"""Term, PaymentMethod and Account; Preferences section by section; case-insensitive queries; text QBO cannot
store; comma-separated customer emails; the day-long refresh token; the sample company."""

from __future__ import annotations

import json

import pytest


def fault(r, code):
    assert r.status_code == 400, r.text
    [err] = r.json()["Fault"]["Error"]
    assert err["code"] == code
    return err


def names(resp, entity):
    return [x.get("Name") or x.get("DisplayName") for x in resp.json()["QueryResponse"].get(entity, [])]


# -- Term, PaymentMethod ----------------------------------------------------------------------------------------

def test_term_create_read_update(realm):
    term = realm.create("Term", {"DueDays": "120", "Name": "Term120"})
    assert {k: v for k, v in term.items() if k not in ("MetaData", "Id")} == {
        "domain": "QBO", "sparse": False, "SyncToken": "0", "Name": "Term120", "DueDays": 120, "DiscountPercent": 0,
        "Type": "STANDARD", "Active": True}  # the create sample of MIRROR term.md
    assert term["Id"] == "5"  # after the four default terms
    monthly = realm.create("Term", {"Name": "15th next month", "DayOfMonthDue": 15, "DueNextMonthDays": 5})
    assert (monthly["Type"], monthly["DayOfMonthDue"]) == ("DATE_DRIVEN", 15)
    assert fault(realm.post("term", {"Name": "No days"}), "2020")["Detail"] == (
        "Required parameter DueDays is missing in the request")
    assert fault(realm.post("term", {"DueDays": 3}), "2020")["element"] == "Name"
    assert fault(realm.post("term", {"Name": "N" * 32, "DueDays": 3}), "2050")["element"] == "Name"
    assert fault(realm.post("term", {"Name": "net 30", "DueDays": 30}), "6240")
    assert fault(realm.post("term", {"Name": "Too long", "DueDays": 1000}), "6000")["Detail"] == (
        "Business Validation Error: DueDays must be a whole number from 0 through 999.")
    up = realm.post("term", dict(term, DiscountDays=10, DiscountPercent=2)).json()["Term"]
    assert (up["SyncToken"], up["DiscountDays"], up["DiscountPercent"]) == ("1", 10, 2)
    assert realm.get(f"term/{term['Id']}").json()["Term"] == up
    inv = realm.create("Invoice", {"CustomerRef": {"value": "1"}, "TxnDate": "2026-01-15", "SalesTermRef":
                                   {"value": term["Id"]}, "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 1,
                                                                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]})
    assert (inv["DueDate"], inv["SalesTermRef"]) == ("2026-05-15", {"value": term["Id"], "name": "Term120"})
    realm.post("term", {"Id": term["Id"], "SyncToken": "1", "sparse": True, "Active": False})
    assert names(realm.query("select * from Term"), "Term") == ["Due on receipt", "Net 15", "Net 30", "Net 60",
                                                                "15th next month"]


def test_payment_method_create_read_update(realm):
    assert names(realm.query("select * from PaymentMethod"), "PaymentMethod") == [
        "Cash", "Check", "Visa", "MasterCard", "Discover", "American Express", "Diners Club"]
    pm = realm.create("PaymentMethod", {"Name": "Business Check"})
    assert (pm["Id"], pm["Type"], pm["Active"]) == ("8", "NON_CREDIT_CARD", True)  # MIRROR paymentmethod.md sample
    card = realm.create("PaymentMethod", {"Name": "JCB", "Type": "CREDIT_CARD"})
    assert card["Type"] == "CREDIT_CARD"
    assert fault(realm.post("paymentmethod", {"Name": "Barter", "Type": "GOATS"}), "2170")
    assert fault(realm.post("paymentmethod", {"Name": "visa"}), "6240")
    up = realm.post("paymentmethod", dict(pm, Name="Platinum Check")).json()["PaymentMethod"]
    assert (up["Name"], up["SyncToken"]) == ("Platinum Check", "1")
    assert fault(realm.post("paymentmethod", dict(up, Name="Cash")), "6240")


# -- Account ----------------------------------------------------------------------------------------------------

def test_account_create_and_update_with_validation(realm):
    acct = realm.create("Account", {"Name": "MyJobs_test", "AccountType": "Accounts Receivable"})
    assert {k: acct[k] for k in ("Name", "FullyQualifiedName", "Classification", "AccountType", "AccountSubType",
                                 "CurrentBalance", "CurrentBalanceWithSubAccounts", "Active", "SubAccount",
                                 "CurrencyRef")} == {
        "Name": "MyJobs_test", "FullyQualifiedName": "MyJobs_test", "Classification": "Asset",
        "AccountType": "Accounts Receivable", "AccountSubType": "AccountsReceivable", "CurrentBalance": 0,
        "CurrentBalanceWithSubAccounts": 0, "Active": True, "SubAccount": False,
        "CurrencyRef": {"value": "USD", "name": "United States Dollar"}}  # the create sample of MIRROR account.md
    tips = realm.create("Account", {"Name": "Tips", "AccountSubType": "OtherPrimaryIncome"})
    assert (tips["AccountType"], tips["Classification"]) == ("Income", "Revenue")
    err = fault(realm.post("account", {"Name": "Bad", "AccountType": "Bank", "AccountSubType": "Inventory"}), "6000")
    assert err["Detail"] == "Business Validation Error: The account sub type Inventory isn't valid for the account type Bank."
    assert fault(realm.post("account", {"Name": "Bad", "AccountType": "Piggy Bank"}), "2170")["element"] == "AccountType"
    assert fault(realm.post("account", {"Name": "Bad"}), "2020")["element"] == "AccountType"
    assert fault(realm.post("account", {"AccountType": "Bank"}), "2020")["element"] == "Name"
    assert fault(realm.post("account", {"Name": "checking", "AccountType": "Bank"}), "6240")
    assert fault(realm.post("account", {"Name": "A:B", "AccountType": "Bank"}), "6000")["element"] == "Name"
    assert fault(realm.post("account", {"Name": "Long num", "AccountType": "Bank", "AcctNum": "12345678"}),
                 "2050")["element"] == "AcctNum"
    sub = realm.create("Account", {"Name": "Payroll", "AccountType": "Bank", "AccountSubType": "Checking",
                                   "ParentRef": {"value": "35"}})
    assert (sub["FullyQualifiedName"], sub["SubAccount"], sub["ParentRef"]) == ("Checking:Payroll", True,
                                                                               {"value": "35"})
    assert fault(realm.post("account", {"Name": "Odd child", "AccountType": "Income", "ParentRef": {"value": "35"}}),
                 "6000")["element"] == "ParentRef"
    up = realm.post("account", dict(acct, Description="Description added during update.")).json()["Account"]
    assert (up["SyncToken"], up["Description"]) == ("1", "Description added during update.")
    assert fault(realm.post("account", dict(up, Name="Checking")), "6240")
    assert fault(realm.post("account", dict(up, CurrencyRef={"value": "EUR"})), "6000")["element"] == "CurrencyRef"
    off = realm.post("account", {"Id": acct["Id"], "SyncToken": "1", "sparse": True, "Active": False})
    assert off.json()["Account"]["Active"] is False
    assert "MyJobs_test" not in names(realm.query("select * from Account maxresults 1000"), "Account")
    line = {"DetailType": "SalesItemLineDetail", "Amount": 5, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    assert realm.create("SalesReceipt", {"DepositToAccountRef": {"value": sub["Id"]}, "Line": [line]})[
        "DepositToAccountRef"] == {"value": sub["Id"], "name": "Payroll"}


def test_queries_compare_strings_case_insensitively(realm):
    assert names(realm.query("select * from Account where Name = 'checking'"), "Account") == ["Checking"]
    assert names(realm.query("select * from Account where Name in ('CHECKING', 'undeposited funds')"), "Account") == [
        "Undeposited Funds", "Checking"]
    assert names(realm.query("select * from Customer where DisplayName = 'AMY''S BIRD SANCTUARY'"
                             .replace("''", "\\'")), "Customer") == ["Amy's Bird Sanctuary"]
    assert names(realm.query("select * from Item where Name like 'serv%'"), "Item") == ["Services"]
    assert names(realm.query("select * from Term where Name = 'NET 30'"), "Term") == ["Net 30"]


# -- Preferences ------------------------------------------------------------------------------------------------

def test_preferences_every_section_updatable_section_by_section(realm):
    prefs = realm.get("preferences").json()["Preferences"]
    assert set(prefs) - {"Id", "SyncToken", "MetaData", "domain", "sparse"} == {
        "AccountingInfoPrefs", "ProductAndServicesPrefs", "SalesFormsPrefs", "EmailMessagesPrefs",
        "VendorAndPurchasesPrefs", "TimeTrackingPrefs", "TaxPrefs", "CurrencyPrefs", "ReportPrefs", "OtherPrefs"}
    r = realm.post("preferences", {"Id": "1", "SyncToken": "0",
                                   "TimeTrackingPrefs": {"WorkWeekStartDate": "Sunday"},
                                   "EmailMessagesPrefs": {"InvoiceMessage": {"Subject": "Your bill", "Message": "Pay"}},
                                   "SalesFormsPrefs": {"ETransactionEnabledStatus": "Enabled", "AllowShipping": "true"},
                                   "TaxPrefs": {"PartnerTaxEnabled": False, "UsingSalesTax": False},
                                   "ReportPrefs": {"ReportBasis": "Cash", "CalcAgingReportFromTxnDate": True}})
    after = r.json()["Preferences"]
    assert after["SyncToken"] == "1"
    assert after["TimeTrackingPrefs"] == dict(prefs["TimeTrackingPrefs"], WorkWeekStartDate="Sunday")
    assert after["EmailMessagesPrefs"]["InvoiceMessage"] == {"Subject": "Your bill", "Message": "Pay"}
    assert after["EmailMessagesPrefs"]["EstimateMessage"] == prefs["EmailMessagesPrefs"]["EstimateMessage"]
    assert after["SalesFormsPrefs"] == dict(prefs["SalesFormsPrefs"], AllowShipping=True)  # read-only one ignored
    assert after["TaxPrefs"] == prefs["TaxPrefs"]  # the tax model is read only
    assert after["ReportPrefs"] == {"ReportBasis": "Cash", "CalcAgingReportFromTxnDate": False}
    for key in ("AccountingInfoPrefs", "ProductAndServicesPrefs", "VendorAndPurchasesPrefs", "CurrencyPrefs",
                "OtherPrefs"):
        assert after[key] == prefs[key]
    assert fault(realm.post("preferences", {"SyncToken": "1", "TimeTrackingPrefs": {"WorkWeekStartDate": "Funday"}}),
                 "2170")["element"] == "TimeTrackingPrefs.WorkWeekStartDate"
    assert fault(realm.post("preferences", {"SyncToken": "1", "SalesFormsPrefs": {"DefaultTerms": {"value": "99"}}}),
                 "2500")
    assert fault(realm.post("preferences", {"SyncToken": "0", "ReportPrefs": {"ReportBasis": "Accrual"}}), "5010")
    assert realm.get("preferences").json()["Preferences"] == after  # refused updates changed nothing
    assert realm.query("select * from Preferences").json()["QueryResponse"]["Preferences"] == [after]


# -- input QBO cannot store, emails ------------------------------------------------------------------------------

def test_unstorable_text_is_refused_and_never_poisons_the_realm(realm):
    headers = dict(realm.headers, **{"Content-Type": "application/json"})
    raw = b'{"DisplayName": "Bad \\ud800 name"}'
    r = realm.http.post(realm.path("customer"), content=raw, headers=headers)
    err = fault(r, "2010")
    assert err["Detail"] == ("Property Name:Invalid UTF-16 text (an unpaired surrogate escape) in DisplayName specified "
                             "is unsupported or invalid")
    raw = b'{"CustomerRef": {"value": "1"}, "PrivateNote": "\\udc00", "Line": []}'
    assert fault(realm.http.post(realm.path("invoice"), content=raw, headers=headers), "2010")
    raw = b'{"BatchItemRequest": [{"bId": "1", "operation": "create", "Customer": {"DisplayName": "\\ud83d"}}]}'
    assert fault(realm.http.post(realm.path("batch"), content=raw, headers=headers), "2010")
    # upper-case hex, deep in a list, beside a proper pair: still found (the body is walked when it has any
    # surrogate escape at all)
    raw = b'{"BatchItemRequest": [{"bId": "1", "operation": "create", "Customer": {"DisplayName": "ok \\ud83d\\ude00", "Notes": "\\uDFFF"}}]}'
    assert fault(realm.http.post(realm.path("batch"), content=raw, headers=headers), "2010")
    assert fault(realm.http.post(realm.path("customer"), content=b'{"DisplayName": "bad \\x escape"}',
                                 headers=headers), "2010")
    r = realm.http.post("/_sandbox/realms", content=b'{"customers": [{"DisplayName": "\\ud800"}]}',
                        headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]) == (400, "body has text QBO cannot store")
    # a proper pair (an emoji) is stored and read back; the realm answers its queries
    emoji = realm.http.post(realm.path("customer"), content=b'{"DisplayName": "Smile \\ud83d\\ude00"}', headers=headers)
    assert emoji.json()["Customer"]["DisplayName"] == "Smile \U0001F600"
    r = realm.query("select * from Customer")
    assert r.status_code == 200 and names(r, "Customer") == ["Amy's Bird Sanctuary", "Smile \U0001F600"]
    assert json.loads(r.content.decode("utf-8"))["QueryResponse"]["maxResults"] == 2


def test_comma_separated_primary_email(realm):
    # QBO's customer Email field takes several addresses separated by commas, up to 100 characters
    # (help-qbo.breadwinner.com 44001693083; help.noviams.com 573816): kept as sent, every address checked
    c = realm.create("Customer", {"DisplayName": "Two Inboxes", "PrimaryEmailAddr": {"Address": "ap@acme.com, "
                                                                                                "boss@acme.com"}})
    assert c["PrimaryEmailAddr"] == {"Address": "ap@acme.com, boss@acme.com"}
    err = fault(realm.post("customer", {"DisplayName": "Half Bad", "PrimaryEmailAddr": {"Address": "ok@acme.com,nope"}}),
                "2210")
    assert err["Detail"] == ("Email Address does not conform to the syntax rules of RFC 822. Supplied value:"
                             "ok@acme.com,nope")
    long = ",".join(f"person{i}@example.com" for i in range(6))
    assert fault(realm.post("customer", {"DisplayName": "Crowd", "PrimaryEmailAddr": {"Address": long}}),
                 "2050")["element"] == "PrimaryEmailAddr.Address"
    assert names(realm.query("select * from Customer where PrimaryEmailAddr like '%boss@acme.com%'"), "Customer") == [
        "Two Inboxes"]


# -- OAuth refresh: one value for a day --------------------------------------------------------------------------

def test_refresh_token_value_kept_for_a_day_then_replaced(make_realm, http):
    rc = make_realm(config={"refresh_token_rotation_s": 86400})
    rt = rc.refresh_token

    def refresh(token):
        return http.post("/oauth2/v1/tokens/bearer", auth=("sandbox-client", "s"),
                         data={"grant_type": "refresh_token", "refresh_token": token})

    try:
        first = refresh(rt).json()
        assert first["refresh_token"] == rt and first["access_token"] != rc.token
        assert first["x_refresh_token_expires_in"] in (8640000, 8639999)
        http.put("/_sandbox/clock", json={"offset_seconds": 23 * 3600})
        later = refresh(rt).json()
        assert later["refresh_token"] == rt
        assert http.get(rc.path(f"companyinfo/{rc.realm_id}"),
                        headers={"Authorization": f"Bearer {later['access_token']}"}).status_code == 200
        http.put("/_sandbox/clock", json={"offset_seconds": 25 * 3600})
        rotated = refresh(rt).json()
        assert rotated["refresh_token"] != rt
        assert (refresh(rt).status_code, refresh(rt).json()) == (400, {"error": "invalid_grant"})
        assert refresh(rotated["refresh_token"]).json()["refresh_token"] == rotated["refresh_token"]
    finally:
        http.put("/_sandbox/clock", json={"offset_seconds": 0})


# -- sample company -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample(http):
    from .conftest import RealmClient

    r = http.post("/_sandbox/realms", json={"limits": None, "sample_company": True})
    assert r.status_code == 201 and r.json()["sample_company"] is True
    return RealmClient(http, r.json())


def test_sample_company_is_like_intuits(sample):
    counts = sample.http.get(f"/_sandbox/realms/{sample.realm_id}").json()["counts"]
    assert {k: counts[k] for k in ("Customer", "Item", "Invoice", "SalesReceipt", "Payment", "CreditMemo",
                                   "RefundReceipt", "Term", "PaymentMethod", "Account")} == {
        "Customer": 29, "Item": 20, "Invoice": 30, "SalesReceipt": 10, "Payment": 15, "CreditMemo": 4,
        "RefundReceipt": 3, "Term": 5, "PaymentMethod": 7, "Account": 37}
    accounts = names(sample.query("select * from Account maxresults 1000"), "Account")
    for name in ("Checking", "Savings", "Undeposited Funds", "Accounts Receivable (A/R)", "Accounts Payable (A/P)",
                 "Sales of Product Income", "Cost of Goods Sold", "Advertising", "Board of Equalization Payable"):
        assert name in accounts
    pages = [names(sample.query(f"select * from Customer orderby DisplayName startposition {s} maxresults 10"),
                   "Customer") for s in (1, 11, 21, 31)]
    assert [len(p) for p in pages] == [10, 10, 9, 0] and pages[0][0] == "Amy's Bird Sanctuary"
    paid = sample.query("select * from Invoice where Balance = '0'").json()["QueryResponse"]["Invoice"]
    assert len(paid) == 10 and all(i["LinkedTxn"][0]["TxnType"] == "Payment" for i in paid)
    taxed = [i for i in sample.query("select * from Invoice maxresults 100").json()["QueryResponse"]["Invoice"]
             if i["TxnTaxDetail"]["TotalTax"]]
    assert taxed and all(i["TxnTaxDetail"]["TxnTaxCodeRef"] for i in taxed)
    memos = sample.query("select * from CreditMemo").json()["QueryResponse"]["CreditMemo"]
    assert sorted(m["Balance"] < m["TotalAmt"] for m in memos) == [False, False, True, True]
    assert names(sample.query("select * from TaxAgency"), "TaxAgency")[:2] == ["Board of Equalization",
                                                                               "Arizona Dept. of Revenue"]


def test_sample_company_in_canada(http):
    r = http.post("/_sandbox/realms", json={"limits": None, "sample_company": True, "country": "CA", "tokens": False})
    realm_id = r.json()["realm_id"]
    invoices = http.get(f"/_sandbox/realms/{realm_id}/entities/Invoice").json()["Invoice"]
    assert len(invoices) == 30
    assert all(i["GlobalTaxCalculation"] == "TaxExcluded" and i["TxnTaxDetail"]["TaxLine"] for i in invoices)
    assert {i["CurrencyRef"]["value"] for i in invoices} == {"CAD"}


def test_company_tax_and_payments_survive_a_restart(tmp_path):
    import httpx

    from qbo_sandbox.testing import SandboxServer

    path = str(tmp_path / "state.sqlite3")
    line = {"DetailType": "SalesItemLineDetail", "Amount": 100,
            "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "TaxCodeRef": {"value": "TAX"}}}
    with SandboxServer(state_path=path) as sb:
        c = httpx.Client(base_url=sb.base_url)
        info = c.post("/_sandbox/realms", json={"realm_id": "4620816399", "multicurrency": True, "limits": None,
                                               "company_currencies": [{"Code": "EUR"}],
                                               "customers": [{"DisplayName": "Kept"}]}).json()
        h = {"Authorization": f"Bearer {info['access_token']}"}
        api = "/v3/company/4620816399"
        inv = c.post(f"{api}/invoice", json={"CustomerRef": {"value": "1"}, "Line": [line]}, headers=h).json()["Invoice"]
        c.post(f"{api}/payment", headers=h, json={"CustomerRef": {"value": "1"}, "TotalAmt": 50, "Line": [
            {"Amount": 50, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]})
        c.post(f"{api}/exchangerate", headers=h, json={"SourceCurrencyCode": "EUR", "Rate": 1.3,
                                                        "AsOfDate": "2026-02-02", "SyncToken": "0"})
    with SandboxServer(state_path=path) as sb:
        c = httpx.Client(base_url=sb.base_url)
        summary = c.get("/_sandbox/realms/4620816399").json()
        assert (summary["country"], summary["tax_model"], summary["multicurrency"]) == ("US", "ast", True)
        kept = c.get(f"{api}/invoice/{inv['Id']}", headers=h).json()["Invoice"]
        assert (kept["Balance"], kept["TotalAmt"]) == (57.25, 107.25)
        code = c.get(f"{api}/taxcode/{kept['TxnTaxDetail']['TxnTaxCodeRef']['value']}", headers=h).json()["TaxCode"]
        assert code["TaxCodeConfigType"] == "SYSTEM_GENERATED"
        rate = c.get(f"{api}/exchangerate", params={"sourcecurrencycode": "EUR", "asofdate": "2026-02-03"},
                     headers=h).json()["ExchangeRate"]
        assert (rate["Rate"], rate["AsOfDate"]) == (1.3, "2026-02-02")
        assert c.get(f"{api}/customer/1", headers=h).json()["Customer"]["Balance"] == 57.25
