"""Currencies: CurrencyPrefs, CompanyCurrency, ExchangeRate, and the CurrencyRef rules of customers and
transactions (one currency per customer, ExchangeRate and HomeTotalAmt on foreign transactions)."""

from __future__ import annotations

import pytest

LINE = {"DetailType": "SalesItemLineDetail", "Amount": 100,
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "TaxCodeRef": {"value": "NON"}}}


def fault(r, code):
    assert r.status_code == 400, r.text
    [err] = r.json()["Fault"]["Error"]
    assert err["code"] == code
    return err


@pytest.fixture
def multi(make_realm):
    rc = make_realm(multicurrency=True, customers=[{"DisplayName": "Home Buyer"}])
    rc.create("CompanyCurrency", {"Code": "EUR"})
    rc.euro = rc.create("Customer", {"DisplayName": "Euro Buyer", "CurrencyRef": {"value": "EUR"}})
    return rc


def test_company_currency_needs_multicurrency(make_realm):
    rc = make_realm()
    err = fault(rc.post("companycurrency", {"Code": "EUR"}), "6000")
    assert err["Detail"] == ("Business Validation Error: Multicurrency isn't turned on for this company. Turn it on in "
                             "Preferences.CurrencyPrefs before adding currencies.")
    err = fault(rc.post("customer", {"DisplayName": "Euro", "CurrencyRef": {"value": "EUR"}}), "2220")
    assert err == {"Message": "Invalid Currency Type", "code": "2220", "element": "CurrencyRef",
                   "Detail": "The specified currency type isn't valid. Supplied value:EUR"}
    fault(rc.post("salesreceipt", {"Line": [LINE], "CurrencyRef": {"value": "EUR"}}), "2220")
    assert rc.entities("CompanyCurrency") == [] and rc.entities("Customer") == []
    # turning multicurrency on (POST /preferences); it can't be turned off again
    prefs = rc.post("preferences", {"SyncToken": "0", "sparse": True,
                                    "CurrencyPrefs": {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": "EUR"}}})
    assert prefs.json()["Preferences"]["CurrencyPrefs"] == {"MultiCurrencyEnabled": True,
                                                            "HomeCurrency": {"value": "USD"}}  # home is read only
    assert rc.post("companycurrency", {"Code": "EUR"}).status_code == 200
    err = fault(rc.post("preferences", {"SyncToken": "1", "sparse": True,
                                        "CurrencyPrefs": {"MultiCurrencyEnabled": False}}), "6000")
    assert err["Detail"] == "Business Validation Error: Multicurrency can't be turned off once it is on."


def test_company_currency_create_read_query_deactivate(multi):
    rc = multi
    gbp = rc.create("CompanyCurrency", {"Code": "gbp"})
    assert {k: gbp[k] for k in ("Code", "Name", "Active", "SyncToken", "domain", "sparse")} == {
        "Code": "GBP", "Name": "British Pound Sterling", "Active": True, "SyncToken": "0", "domain": "QBO",
        "sparse": False}
    assert rc.get(f"companycurrency/{gbp['Id']}").json()["CompanyCurrency"]["Name"] == "British Pound Sterling"
    assert fault(rc.post("companycurrency", {"Code": "GBP"}), "6240")
    assert fault(rc.post("companycurrency", {"Code": "XYZ"}), "2220")["element"] == "Code"
    assert fault(rc.post("companycurrency", {"Code": "USD"}), "6000")["Detail"] == (
        "Business Validation Error: USD is the home currency of this company; it can't be added again.")
    assert fault(rc.post("companycurrency", {}), "2020")["Detail"] == "Required parameter Code is missing in the request"
    resp = rc.query("select * from CompanyCurrency").json()["QueryResponse"]
    assert [(c["Code"], c["Name"]) for c in resp["CompanyCurrency"]] == [("EUR", "Euro"),
                                                                         ("GBP", "British Pound Sterling")]
    assert (resp["totalCount"], resp["maxResults"]) == (2, 2)
    off = rc.post("companycurrency", {"Id": gbp["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert off.json()["CompanyCurrency"]["Active"] is False
    assert [c["Code"] for c in rc.query("select * from CompanyCurrency").json()["QueryResponse"][
        "CompanyCurrency"]] == ["EUR"]
    # an inactive currency can't be used
    assert fault(rc.post("customer", {"DisplayName": "Pound Buyer", "CurrencyRef": {"value": "GBP"}}), "2220")


def test_customer_has_one_currency(multi):
    rc = multi
    assert rc.euro["CurrencyRef"] == {"value": "EUR", "name": "Euro"}
    home = rc.get("customer/1").json()["Customer"]
    assert home["CurrencyRef"] == {"value": "USD", "name": "United States Dollar"}
    full = rc.post("customer", {"Id": rc.euro["Id"], "SyncToken": "0", "DisplayName": "Euro Buyer", "Notes": "n"})
    assert full.json()["Customer"]["CurrencyRef"]["value"] == "EUR"  # omitted: kept, not reset to home
    err = fault(rc.post("customer", {"Id": rc.euro["Id"], "SyncToken": "1", "sparse": True,
                                     "CurrencyRef": {"value": "USD"}}), "6000")
    assert err["Detail"] == ("Business Validation Error: You can't change the currency of a customer or vendor once it "
                             "has been saved.")


def test_foreign_transactions_carry_exchange_rate_and_home_amounts(multi):
    rc = multi
    # the stored rate effective on the transaction date is used
    assert rc.post("exchangerate", {"SourceCurrencyCode": "EUR", "Rate": 1.1, "AsOfDate": "2026-01-05",
                                    "SyncToken": "0"}).status_code == 200
    inv = rc.create("Invoice", {"CustomerRef": {"value": rc.euro["Id"]}, "CurrencyRef": {"value": "EUR"},
                                "TxnDate": "2026-01-10", "Line": [dict(LINE, Amount=99.99)]})
    assert {k: inv[k] for k in ("CurrencyRef", "ExchangeRate", "TotalAmt", "HomeTotalAmt", "Balance", "HomeBalance")} == {
        "CurrencyRef": {"value": "EUR", "name": "Euro"}, "ExchangeRate": 1.1, "TotalAmt": 99.99,
        "HomeTotalAmt": 109.99, "Balance": 99.99, "HomeBalance": 109.99}  # 109.989 -> 109.99
    # a rate set on the transaction wins; without CurrencyRef the customer's currency is not assumed
    sr = rc.create("SalesReceipt", {"CustomerRef": {"value": rc.euro["Id"]}, "CurrencyRef": {"value": "EUR"},
                                    "ExchangeRate": 1.25, "Line": [LINE]})
    assert (sr["ExchangeRate"], sr["HomeTotalAmt"]) == (1.25, 125)
    err = fault(rc.post("invoice", {"CustomerRef": {"value": rc.euro["Id"]}, "Line": [LINE]}), "6000")
    assert err["Detail"] == ("Business Validation Error: The transaction needs to be in the same currency as the A/R "
                             "and A/P accounts you use.")
    fault(rc.post("invoice", {"CustomerRef": {"value": "1"}, "CurrencyRef": {"value": "EUR"}, "Line": [LINE]}), "6000")
    assert fault(rc.post("invoice", {"CustomerRef": {"value": "1"}, "CurrencyRef": {"value": "JPY"},
                                     "Line": [LINE]}), "2220")
    home = rc.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [LINE]})
    assert home["CurrencyRef"]["value"] == "USD" and "ExchangeRate" not in home and "HomeTotalAmt" not in home
    assert rc.get(f"customer/{rc.euro['Id']}").json()["Customer"]["Balance"] == 99.99


def test_exchange_rate_read_query_and_update(multi):
    rc = multi
    today = rc.http.get("/_sandbox/clock").json()["now"][:10]
    r = rc.get("exchangerate", params={"sourcecurrencycode": "EUR"})
    assert r.json()["ExchangeRate"] == {"SyncToken": "0", "domain": "QBO", "AsOfDate": today,
                                        "SourceCurrencyCode": "EUR", "Rate": 1.08, "TargetCurrencyCode": "USD",
                                        "MetaData": r.json()["ExchangeRate"]["MetaData"], "sparse": False}
    first = rc.post("exchangerate", {"SourceCurrencyCode": "EUR", "Rate": 1.09, "AsOfDate": "2026-03-01",
                                     "SyncToken": "0"}).json()["ExchangeRate"]
    assert (first["SyncToken"], first["Rate"], first["AsOfDate"]) == ("0", 1.09, "2026-03-01")
    assert fault(rc.post("exchangerate", {"SourceCurrencyCode": "EUR", "Rate": 1.2, "AsOfDate": "2026-03-01",
                                          "SyncToken": "5"}), "5010")
    second = rc.post("exchangerate", {"SourceCurrencyCode": "EUR", "Rate": 1.1, "AsOfDate": "2026-03-01",
                                      "SyncToken": "0"}).json()["ExchangeRate"]
    assert (second["SyncToken"], second["Rate"]) == ("1", 1.1)
    # the query answers the rate effective on AsOfDate (the newest on or before it), one row per currency
    resp = rc.query("select * from ExchangeRate where SourceCurrencyCode in ('EUR', 'GBP') "
                    "and AsOfDate = '2026-03-20'").json()["QueryResponse"]
    assert [(x["SourceCurrencyCode"], x["AsOfDate"], x["Rate"], x["SyncToken"]) for x in resp["ExchangeRate"]] == [
        ("EUR", "2026-03-01", 1.1, "1"), ("GBP", "2026-03-20", 1.27, "0")]
    assert (resp["totalCount"], resp["maxResults"]) == (2, 2)
    assert rc.get("exchangerate", params={"sourcecurrencycode": "EUR", "asofdate": "2026-02-28"}).json()[
        "ExchangeRate"]["Rate"] == 1.08
    for body, code, detail in (
            ({"Rate": 1, "AsOfDate": "2026-03-01"}, "2020", "Required parameter SourceCurrencyCode is missing in the request"),
            ({"SourceCurrencyCode": "EUR", "AsOfDate": "2026-03-01"}, "2020",
             "Required parameter Rate is missing in the request"),
            ({"SourceCurrencyCode": "EUR", "Rate": 1}, "2020", "Required parameter AsOfDate is missing in the request"),
            ({"SourceCurrencyCode": "USD", "Rate": 1, "AsOfDate": "2026-03-01"}, "6000",
             "Business Validation Error: You can't set an exchange rate for the home currency.")):
        assert fault(rc.post("exchangerate", body), code)["Detail"] == detail
    assert fault(rc.get("exchangerate", params={"sourcecurrencycode": "XYZ"}), "2220")
