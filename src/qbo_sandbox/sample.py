"""`sample_company: true`: a company like Intuit's sandbox company (Craig's Design and Landscaping Services): a full
chart of accounts, terms, payment methods, the tax agency, rates and codes of the company's model, a few dozen
customers and items, and invoices, sales receipts, payments, credit memos and refund receipts, all made through the
same validation as the API. Names follow Intuit's sample company (MIRROR api-reference samples); amounts, dates and
addresses are [inferred] and deterministic.
"""

from __future__ import annotations

from datetime import date, timedelta

from . import tax
from .store import Realm
from .util import local_date

ACCOUNTS = [
    ("Savings", "Bank", "Savings"), ("Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable"),
    ("Mastercard", "Credit Card", "CreditCard"), ("Visa", "Credit Card", "CreditCard"),
    ("Loan Payable", "Other Current Liability", "LoanPayable"),
    ("Notes Payable", "Long Term Liability", "NotesPayable"),
    ("Opening Balance Equity", "Equity", "OpeningBalanceEquity"), ("Retained Earnings", "Equity", "RetainedEarnings"),
    ("Truck", "Fixed Asset", "Vehicles"), ("Prepaid Expenses", "Other Current Asset", "PrepaidExpenses"),
    ("Landscaping Services", "Income", "ServiceFeeIncome"), ("Pest Control Services", "Income", "OtherPrimaryIncome"),
    ("Refunds-Allowances", "Income", "DiscountsRefundsGiven"), ("Interest Earned", "Other Income", "InterestEarned"),
    ("Advertising", "Expense", "AdvertisingPromotional"), ("Automobile", "Expense", "Auto"),
    ("Bank Charges", "Expense", "BankCharges"), ("Insurance", "Expense", "Insurance"),
    ("Legal & Professional Fees", "Expense", "LegalProfessionalFees"),
    ("Meals and Entertainment", "Expense", "EntertainmentMeals"), ("Office Expenses", "Expense", "OfficeExpenses"),
    ("Rent or Lease", "Expense", "RentOrLeaseOfBuildings"), ("Repair & Maintenance", "Expense", "RepairMaintenance"),
    ("Supplies", "Expense", "SuppliesMaterials"), ("Travel", "Expense", "Travel"), ("Utilities", "Expense", "Utilities"),
    ("Cost of Labor", "Cost of Goods Sold", "CostOfLaborCos"), ("Miscellaneous", "Other Expense",
                                                               "OtherMiscellaneousExpense"),
]
US_TAX_ACCOUNT = ("Board of Equalization Payable", "Other Current Liability", "SalesTaxPayable")

# (name, unit price, product?) - product items carry sales tax in the US
ITEMS = [
    ("Design", 75, False), ("Gardening", 25, False), ("Installation", 50, False), ("Lighting", 45, True),
    ("Maintenance & Repair", 60, False), ("Pest Control", 35, False), ("Rocks", 12.5, True),
    ("Sod", 10, True), ("Soil", 8.25, True), ("Sprinklers", 4.5, True), ("Sprinkler Heads", 2.75, True),
    ("Sprinkler Pipes", 3.25, True), ("Trimming", 35, False), ("Concrete", 15, True), ("Pump", 120, True),
    ("Fountain Pump", 15, True), ("Rock Fountain", 275, True), ("Plants", 18.99, True),
]

CUSTOMERS = [
    "Amy's Bird Sanctuary", "Bill's Windsurf Shop", "Cool Cars", "Diego Rodriguez", "Dukes Basketball Camp",
    "Dylan Sollfrank", "Freeman Sporting Goods", "Geeta Kalapatapu", "Gevelber Photography", "Jeff's Jalopies",
    "John Melton", "Kate Whelan", "Kookies by Kathy", "Mark Cho", "Paulsen Medical Supplies", "Pye's Cakes",
    "Rago Travel Agency", "Red Rock Diner", "Rondonuwu Fruit and Vegi", "Shara Barnett", "Sonnenschein Family Store",
    "Sushi by Katsuyuki", "Travis Waldron", "Video Games by Dan", "Wedding Planning by Whitney",
    "Weiskopf Consulting", "Leeds Bistro", "Ocean View Road", "Twin Lane Garden",
]

CITIES = {
    "US": [("Bayshore", "CA", "94326"), ("Half Moon Bay", "CA", "94213"), ("Middlefield", "CA", "94303"),
           ("Sunnyvale", "CA", "94086"), ("Austin", "TX", "78701"), ("New York", "NY", "10001"),
           ("Seattle", "WA", "98101"), ("Portland", "OR", "97201")],
    "CA": [("Toronto", "ON", "M5H 2N2"), ("Ottawa", "ON", "K1A 0B1"), ("Montreal", "QC", "H2Y 1C6"),
           ("Vancouver", "BC", "V6B 1A1"), ("Moncton", "NB", "E1C 1A1")],
    "GB": [("London", None, "SW1A 1AA"), ("Manchester", None, "M1 1AE"), ("Leeds", None, "LS1 1UR")],
    "AU": [("Sydney", "NSW", "2000"), ("Melbourne", "VIC", "3000"), ("Brisbane", "QLD", "4000")],
}
# Global tax codes per province / default (names of tax.TAX_DATA)
PROVINCE_CODE = {"ON": "HST ON", "QC": "GST/QST QC - 9.975", "BC": "GST/PST BC", "NB": "HST NB 2016"}
DEFAULT_CODE = {"CA": "GST", "GB": "20.0% S", "AU": "GST"}
EXEMPT_CODE = {"CA": "Zero-rated", "GB": "0.0% Z", "AU": "GST free"}


def _create(realm: Realm, etype: str, body: dict) -> dict:
    from .entities import create

    data, _ = create(realm, etype, body)
    return data


def _code_id(realm: Realm, name: str) -> str:
    for rec in realm.records["TaxCode"].values():
        if rec["data"]["Name"] == name:
            return rec["data"]["Id"]
    raise KeyError(name)


def build_sample(realm: Realm) -> None:
    country = realm.company["country"]
    mdl = tax.model(realm)
    for name, type_, sub in ACCOUNTS + ([US_TAX_ACCOUNT] if country == "US" and mdl != "none" else []):
        _create(realm, "Account", {"Name": name, "AccountType": type_, "AccountSubType": sub})
    _create(realm, "Term", {"Name": "Net 10", "DueDays": 10})
    items = []
    for name, price, product in ITEMS:
        body = {"Name": name, "Type": "NonInventory" if product else "Service", "UnitPrice": price,
                "IncomeAccountRef": {"value": "79" if product else "1"}, "Taxable": product and country == "US"}
        if name == "Rock Fountain":
            body.update({"Type": "Inventory", "AssetAccountRef": {"value": "81"}, "ExpenseAccountRef": {"value": "80"},
                         "TrackQtyOnHand": True, "QtyOnHand": 12, "InvStartDate": "2026-01-01"})
        items.append((_create(realm, "Item", body), product))
    cities = CITIES[country]
    customers = []
    for i, name in enumerate(CUSTOMERS):
        city, region, postal = cities[i % len(cities)]
        addr = {"Line1": f"{100 + 7 * i} Main St.", "City": city, "PostalCode": postal}
        if region:
            addr["CountrySubDivisionCode"] = region
        if country != "US":
            addr["Country"] = country
        given, _, family = name.partition(" ")
        email = "".join(ch for ch in name.lower() if ch.isalnum())[:20] + "@example.com"
        customers.append((_create(realm, "Customer", {
            "DisplayName": name, "CompanyName": name, "GivenName": given, "FamilyName": family or given,
            "PrimaryEmailAddr": {"Address": email}, "BillAddr": dict(addr), "ShipAddr": dict(addr)}), region))
    today = date.fromisoformat(local_date())

    def lines(n: int, region) -> list[dict]:
        out = []
        for k in range(1 + n % 3):
            item, product = items[(n * 5 + k * 3) % len(items)]
            qty = 1 + (n + k) % 4
            price = item["UnitPrice"]
            detail = {"ItemRef": {"value": item["Id"]}, "Qty": qty, "UnitPrice": price}
            if mdl == "global":
                if not product and k == 1:
                    code = EXEMPT_CODE[country]
                elif country == "CA" and region in PROVINCE_CODE:
                    code = PROVINCE_CODE[region]
                else:
                    code = DEFAULT_CODE[country]
                detail["TaxCodeRef"] = {"value": _code_id(realm, code)}
            else:
                detail["TaxCodeRef"] = {"value": "TAX" if product and mdl != "none" else "NON"}
            out.append({"DetailType": "SalesItemLineDetail", "Amount": round(qty * price, 2),
                        "Description": item["Name"], "SalesItemLineDetail": detail})
        return out

    def form(n: int, customer: dict | None, region) -> dict:
        body = {"Line": lines(n, region), "TxnDate": (today - timedelta(days=60 - n * 2)).isoformat()}
        if customer is not None:
            body["CustomerRef"] = {"value": customer["Id"]}
        if mdl == "global":
            body["GlobalTaxCalculation"] = "TaxExcluded"
        elif mdl == "legacy" and any(ln["SalesItemLineDetail"]["TaxCodeRef"]["value"] == "TAX"
                                     for ln in body["Line"]):
            body["TxnTaxDetail"] = {"TxnTaxCodeRef": {"value": "2"}}
        return body

    invoices = []
    for n in range(30):
        customer, region = customers[n % len(customers)]
        invoices.append(_create(realm, "Invoice", form(n, customer, region)))
    for n in range(10):
        customer, region = customers[(n * 3) % len(customers)]
        body = form(n + 30, customer if n % 2 else None, region)
        body["PaymentMethodRef"] = {"value": str(1 + n % 7)}
        _create(realm, "SalesReceipt", body)
    memos = []
    for n in range(4):
        customer, region = customers[n % len(customers)]
        memos.append(_create(realm, "CreditMemo", form(n + 40, customer, region)))
    for n in range(3):
        customer, region = customers[(n + 5) % len(customers)]
        body = form(n + 44, customer, region)
        body.update({"DepositToAccountRef": {"value": "35"}, "PaymentType": "Check" if n % 2 else "Cash"})
        if n % 2:
            body["CheckPayment"] = {"CheckNum": str(7000 + n), "Status": "NotSet"}
        _create(realm, "RefundReceipt", body)
    # payments: full, partial and unapplied; two credit memos applied with their invoice
    for n, inv in enumerate(invoices[:14]):
        balance = inv["Balance"]
        amount = balance if n % 3 or n < 2 else round(balance / 2, 2)
        line = [{"Amount": amount, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]
        total = amount
        if n < 2:  # the first two credit memos are used (in part) against their customer's first invoices
            memo = memos[n]
            credit = min(memo["Balance"], round(amount / 2, 2))
            line.append({"Amount": credit, "LinkedTxn": [{"TxnId": memo["Id"], "TxnType": "CreditMemo"}]})
            total = round(amount - credit, 2)
        _create(realm, "Payment", {"CustomerRef": inv["CustomerRef"], "TotalAmt": total, "Line": line,
                                   "PaymentMethodRef": {"value": str(1 + n % 7)},
                                   "TxnDate": inv["TxnDate"]})
    _create(realm, "Payment", {"CustomerRef": {"value": customers[-1][0]["Id"]}, "TotalAmt": 50})
    if realm.company.get("multicurrency"):
        for code in ("EUR", "GBP", "CAD", "USD"):
            if code != realm.company["home_currency"]:
                _create(realm, "CompanyCurrency", {"Code": code})
        foreign = "EUR" if realm.company["home_currency"] != "EUR" else "GBP"
        city, region, postal = cities[0]
        addr = {"Line1": "1 Foreign St.", "City": city, "PostalCode": postal}
        if region:
            addr["CountrySubDivisionCode"] = region
        buyer = _create(realm, "Customer", {"DisplayName": f"Overseas Buyer ({foreign})", "CurrencyRef":
                                            {"value": foreign}, "BillAddr": addr, "ShipAddr": addr})
        _create(realm, "Invoice", dict(form(50, buyer, region), CurrencyRef={"value": foreign}))
