"""The company a realm models: country, tax model, currencies; its CompanyInfo, Preferences and default lists.

How a client reads a company's tax world (what Ledgerlink does at connect), per
../shared/reference/tax-currency-lifecycle-stores.md §1.1 and §2.1:

* ``CompanyInfo.Country``: ``US``, ``CA``, ``GB`` or ``AU``.
* US only, ``Preferences.TaxPrefs``: ``UsingSalesTax: false`` -> no sales tax; ``PartnerTaxEnabled: true`` ->
  automated sales tax; otherwise (``false`` or absent) -> legacy sales tax with ``TaxGroupCodeRef``.
* Everything else: the global model (``GlobalTaxCalculation`` + a TaxCode per line).
* ``Preferences.CurrencyPrefs.HomeCurrency.value`` and ``.MultiCurrencyEnabled``.
"""

from __future__ import annotations

import copy

from . import currency, tax
from .store import STATUS_ACTIVE, Realm
from .util import meta_time

COUNTRIES = ("US", "CA", "GB", "AU")
TAX_MODELS = ("ast", "legacy", "none")
HOME_CURRENCY = {"US": "USD", "CA": "CAD", "GB": "GBP", "AU": "AUD"}

# Company addresses and time zones per country [inferred; the US one is the sandbox's existing address].
PROFILE = {
    "US": {"addr": {"Line1": "123 Sierra Way", "City": "San Pablo", "CountrySubDivisionCode": "CA",
                    "PostalCode": "87999"}, "tz": "America/Los_Angeles", "fiscal": "January"},
    "CA": {"addr": {"Line1": "100 Queen St W", "City": "Toronto", "CountrySubDivisionCode": "ON",
                    "PostalCode": "M5H 2N2", "Country": "CA"}, "tz": "America/Toronto", "fiscal": "January"},
    "GB": {"addr": {"Line1": "1 Example Road", "City": "London", "PostalCode": "SW1A 1AA", "Country": "GB"},
           "tz": "Europe/London", "fiscal": "April"},
    "AU": {"addr": {"Line1": "1 George Street", "City": "Sydney", "CountrySubDivisionCode": "NSW",
                    "PostalCode": "2000", "Country": "AU"}, "tz": "Australia/Sydney", "fiscal": "July"},
}

# Tax liability account QBO keeps for the country's tax agency [inferred names].
TAX_ACCOUNT = {"US": None, "CA": "GST/HST Payable", "GB": "VAT Control", "AU": "GST Liabilities Payable"}


def validate(spec: dict) -> dict:
    """The company keys of POST /_sandbox/realms -> realm.company; raises ValueError with what to fix."""
    country = str(spec.get("country") or "US").upper()
    if country not in COUNTRIES:
        raise ValueError(f"country must be one of {list(COUNTRIES)}")
    tax_model = spec.get("tax_model")
    if country == "US":
        tax_model = str(tax_model or "ast").lower()
        if tax_model not in TAX_MODELS:
            raise ValueError(f"tax_model must be one of {list(TAX_MODELS)}")
    elif tax_model is not None:
        raise ValueError("tax_model applies to US companies only (CA, GB and AU use the global tax model)")
    multi = spec.get("multicurrency", False)
    sample = spec.get("sample_company", False)
    for key, value in (("multicurrency", multi), ("sample_company", sample)):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
    home = str(spec.get("home_currency") or HOME_CURRENCY[country]).upper()
    if home not in currency.NAMES:
        raise ValueError(f"home_currency must be an ISO 4217 code QBO knows, one of {sorted(currency.NAMES)}")
    return {"country": country, "tax_model": tax_model, "multicurrency": multi, "home_currency": home,
            "sample_company": sample}


def company_name(realm: Realm) -> str:
    return f"Sandbox Company_{realm.company['country']}_{realm.realm_id[-4:]}"


def company_info(realm: Realm) -> dict:
    country = realm.company["country"]
    addr = dict(PROFILE[country]["addr"], Id="1")
    name = company_name(realm)
    return {
        "CompanyName": name, "LegalName": name,
        "CompanyAddr": dict(addr), "CustomerCommunicationAddr": dict(addr), "LegalAddr": dict(addr),
        "PrimaryPhone": {}, "CompanyStartDate": "2026-01-01", "FiscalYearStartMonth": PROFILE[country]["fiscal"],
        "Country": country, "Email": {"Address": "noreply@quickbooks.com"}, "WebAddr": {},
        "SupportedLanguages": "en", "DefaultTimeZone": PROFILE[country]["tz"],
        "NameValue": [{"Name": "NeoEnabled", "Value": "true"}, {"Name": "IndustryType", "Value": "Sandbox"},
                      {"Name": "SubscriptionStatus", "Value": "SUBSCRIBED"},
                      {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"}],
    }


def tax_prefs(realm: Realm) -> dict:
    mdl = tax.model(realm)
    if mdl == "ast":
        return {"UsingSalesTax": True, "PartnerTaxEnabled": True, "TaxGroupCodeRef": {"value": "2"}}
    if mdl == "legacy":
        return {"UsingSalesTax": True, "PartnerTaxEnabled": False, "TaxGroupCodeRef": {"value": "2"}}
    if mdl == "none":
        return {"UsingSalesTax": False, "PartnerTaxEnabled": False}
    return {"UsingSalesTax": True}


def _custom_fields(prefix: str, used: tuple[bool, bool, bool], names: list[str]) -> list[dict]:
    return [
        {"CustomField": [{"Name": f"{prefix}.Use{'Sales' if prefix == 'SalesFormsPrefs' else 'Purchase'}Custom{i}",
                          "Type": "BooleanType", "BooleanValue": used[i - 1]} for i in (3, 2, 1)]},
        {"CustomField": [{"Name": f"{prefix}.{'Sales' if prefix == 'SalesFormsPrefs' else 'Purchase'}CustomName{i}",
                          "Type": "StringType", "StringValue": n} for i, n in reversed(list(enumerate(names, 1)))]},
    ]


def preferences(realm: Realm, custom_txn_numbers: bool = False) -> dict:
    """Every section a US sandbox company answers, as in preferences-read.json (a real 2017 US sandbox) plus the
    AccountingInfoPrefs fields of Intuit's Preferences sample (MIRROR preferences.md)."""
    name = company_name(realm)
    country = realm.company["country"]
    thanks = "Thank you for your business and have a great day!"
    return {
        "AccountingInfoPrefs": {"FirstMonthOfFiscalYear": PROFILE[country]["fiscal"], "UseAccountNumbers": False,
                                "TaxYearMonth": PROFILE[country]["fiscal"], "TrackDepartments": False,
                                "ClassTrackingPerTxn": False, "ClassTrackingPerTxnLine": False,
                                "CustomerTerminology": "Customers"},
        "ProductAndServicesPrefs": {"ForSales": True, "ForPurchase": True,
                                    "QuantityWithPriceAndRate": True, "QuantityOnHand": True},
        "SalesFormsPrefs": {"CustomField": _custom_fields("SalesFormsPrefs", (False, False, True), ["Crew #"]),
                            "CustomTxnNumbers": custom_txn_numbers, "AllowDeposit": False,
                            "AllowDiscount": True, "DefaultDiscountAccount": "86", "AllowEstimates": True,
                            "ETransactionEnabledStatus": "NotApplicable", "ETransactionAttachPDF": False,
                            "ETransactionPaymentEnabled": False, "IPNSupportEnabled": False,
                            "AllowServiceDate": False, "AllowShipping": False,
                            "DefaultTerms": {"value": "3"}, "UsingPriceLevels": False,
                            "DefaultCustomerMessage": thanks},
        "EmailMessagesPrefs": {
            "InvoiceMessage": {"Subject": f"Invoice from {name}",
                               "Message": "Your invoice is attached.  Please remit payment at your earliest "
                                          "convenience.\nThank you for your business - we appreciate it very much."
                                          f"\n\nSincerely,\n{name}"},
            "EstimateMessage": {"Subject": f"Estimate from {name}",
                                "Message": "Please review the estimate below.  Feel free to contact us if you have "
                                           "any questions.\nWe look forward to working with you.\n\nSincerely,\n"
                                           f"{name}"},
            "SalesReceiptMessage": {"Subject": f"Sales Receipt from {name}",
                                    "Message": "Your sales receipt is attached.\nThank you for your business - we "
                                               f"appreciate it very much.\n\nSincerely,\n{name}"},
            "StatementMessage": {"Subject": f"Statement from {name}",
                                 "Message": "Your statement is attached.  Please remit payment at your earliest "
                                            "convenience.\nThank you for your business - we appreciate it very "
                                            f"much.\n\nSincerely,\n{name}"},
        },
        "VendorAndPurchasesPrefs": {"TrackingByCustomer": True, "BillableExpenseTracking": True,
                                    "POCustomField": _custom_fields("PurchasePrefs", (False, True, True),
                                                                    ["Crew #", "Sales Rep"])},
        "TimeTrackingPrefs": {"UseServices": True, "BillCustomers": True, "ShowBillRateToAll": False,
                              "WorkWeekStartDate": "Monday", "MarkTimeEntriesBillable": True},
        "TaxPrefs": tax_prefs(realm),
        "CurrencyPrefs": {"MultiCurrencyEnabled": bool(realm.company.get("multicurrency")),
                          "HomeCurrency": {"value": currency.home(realm)}},
        "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
        "OtherPrefs": {"NameValue": [{"Name": "SalesFormsPrefs.DefaultCustomerMessage", "Value": thanks},
                                     {"Name": "SalesFormsPrefs.DefaultItem", "Value": "1"},
                                     {"Name": "DTXCopyMemo", "Value": "true"},
                                     {"Name": "SFCEnabled", "Value": "true"},
                                     {"Name": "DataPartner", "Value": "false"},
                                     {"Name": "Vendor1099Enabled", "Value": "true"},
                                     {"Name": "TimeTrackingFeatureEnabled", "Value": "true"}]},
    }


def account(id_, name, classification, type_, subtype, home: str) -> dict:
    return {"Id": id_, "Name": name, "SubAccount": False, "FullyQualifiedName": name, "Active": True,
            "Classification": classification, "AccountType": type_, "AccountSubType": subtype,
            "CurrentBalance": 0, "CurrentBalanceWithSubAccounts": 0, "CurrencyRef": currency.ref(home)}


def default_accounts(realm: Realm) -> list[dict]:
    """Chart of accounts of every new realm (Ids as in Intuit's US sample company)."""
    home = currency.home(realm)
    out = [account(*a, home) for a in (
        ("1", "Services", "Revenue", "Income", "ServiceFeeIncome"),
        ("4", "Undeposited Funds", "Asset", "Other Current Asset", "UndepositedFunds"),
        ("35", "Checking", "Asset", "Bank", "Checking"),
        ("79", "Sales of Product Income", "Revenue", "Income", "SalesOfProductIncome"),
        ("80", "Cost of Goods Sold", "Expense", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
        ("81", "Inventory Asset", "Asset", "Other Current Asset", "Inventory"),
        ("84", "Accounts Receivable (A/R)", "Asset", "Accounts Receivable", "AccountsReceivable"),
        ("86", "Discounts given", "Revenue", "Income", "DiscountsRefundsGiven"),
    )]
    tax_account = TAX_ACCOUNT[realm.company["country"]]
    if tax_account:
        out.append(account("90", tax_account, "Liability", "Other Current Liability", "GlobalTaxPayable", home))
    return out


def default_items() -> list[dict]:
    """New QBO companies come with the 'Services' and 'Hours' service items."""
    base = {"Active": True, "Taxable": False, "UnitPrice": 0, "Type": "Service",
            "IncomeAccountRef": {"value": "1", "name": "Services"}, "PurchaseCost": 0,
            "TrackQtyOnHand": False}
    return [dict(base, Id="1", Name="Services", FullyQualifiedName="Services"),
            dict(base, Id="2", Name="Hours", FullyQualifiedName="Hours")]


def default_terms() -> list[dict]:
    """Terms of a new company, with Intuit's sample Ids (MIRROR term.md); Net 30 is Preferences' DefaultTerms 3."""
    def term(id_, name, days):
        return {"Id": id_, "Name": name, "Active": True, "Type": "STANDARD", "DueDays": days,
                "DiscountPercent": 0, "DiscountDays": 0}

    return [term("1", "Due on receipt", 0), term("2", "Net 15", 15), term("3", "Net 30", 30),
            term("4", "Net 60", 60)]


def default_payment_methods() -> list[dict]:
    """'QuickBooks Online comes with several pre-configured payment methods' (MIRROR paymentmethod.md, sample Ids)."""
    methods = [("1", "Cash", "NON_CREDIT_CARD"), ("2", "Check", "NON_CREDIT_CARD"), ("3", "Visa", "CREDIT_CARD"),
               ("4", "MasterCard", "CREDIT_CARD"), ("5", "Discover", "CREDIT_CARD"),
               ("6", "American Express", "CREDIT_CARD"), ("7", "Diners Club", "CREDIT_CARD")]
    return [{"Id": i, "Name": n, "Active": True, "Type": t} for i, n, t in methods]


def seed_company(realm: Realm) -> None:
    """Default company data for a new realm, then the sample company when asked for."""
    ts = realm.created_ts
    stamp = meta_time(ts)

    def add(etype, data):
        data = copy.deepcopy(data)
        data.update({"domain": "QBO", "sparse": False, "SyncToken": "0",
                     "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp}})
        realm.put(etype, data, STATUS_ACTIVE, ts)
        realm.bump_seq(etype, data["Id"])

    for a in default_accounts(realm):
        add("Account", a)
    for i in default_items():
        add("Item", i)
    for t in default_terms():
        add("Term", t)
    for m in default_payment_methods():
        add("PaymentMethod", m)
    add("CompanyInfo", dict(company_info(realm), Id="1"))
    add("Preferences", dict(preferences(realm, realm.config.get("custom_txn_numbers", False)), Id="1"))
    tax.seed(realm, ts, sample=bool(realm.company.get("sample_company")))
    realm.seq["addr"] = max(realm.seq.get("addr", 0), 1)
    realm.touched.clear()
    if realm.company.get("sample_company"):
        from .sample import build_sample

        build_sample(realm)
        realm.touched.clear()
