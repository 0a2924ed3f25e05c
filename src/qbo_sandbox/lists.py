"""Simple named lists: Term, PaymentMethod and Account (create, read, update, deactivate).

Sources: Intuit's Term, PaymentMethod and Account reference pages (MIRROR api-reference/term.md, paymentmethod.md,
account.md). Fault codes and Details without a source are marked [inferred] in docs/sandbox.md.
"""

from __future__ import annotations

from decimal import Decimal

from . import currency
from . import faults as F
from .store import STATUS_DELETED, Realm
from .util import to_decimal

# AccountType -> (Classification, sub types, default sub type) from the v3 AccountTypeEnum / AccountSubTypeEnum.
ACCOUNT_TYPES = {
    "Bank": ("Asset", ("CashOnHand", "Checking", "MoneyMarket", "RentsHeldInTrust", "Savings", "TrustAccounts",
                       "CashManagement", "OtherEarMarkedBankAccounts"), "Checking"),
    "Other Current Asset": ("Asset", (
        "AllowanceForBadDebts", "DevelopmentCosts", "EmployeeCashAdvances", "OtherCurrentAssets", "Inventory",
        "Investment_MortgageRealEstateLoans", "Investment_Other", "Investment_TaxExemptSecurities",
        "Investment_USGovernmentObligations", "LoansToOfficers", "LoansToOthers", "LoansToStockholders",
        "PrepaidExpenses", "Retainage", "UndepositedFunds"), "OtherCurrentAssets"),
    "Fixed Asset": ("Asset", (
        "AccumulatedDepletion", "AccumulatedDepreciation", "DepletableAssets", "FixedAssetComputers",
        "FixedAssetCopiers", "FixedAssetFurniture", "FixedAssetPhone", "FixedAssetPhotoVideo", "FixedAssetSoftware",
        "FixedAssetOtherToolsEquipment", "FurnitureAndFixtures", "Land", "LeaseholdImprovements", "OtherFixedAssets",
        "AccumulatedAmortization", "Buildings", "IntangibleAssets", "MachineryAndEquipment", "Vehicles"),
        "OtherFixedAssets"),
    "Other Asset": ("Asset", ("LeaseBuyout", "OtherLongTermAssets", "SecurityDeposits",
                              "AccumulatedAmortizationOfOtherAssets", "Goodwill", "Licenses", "OrganizationalCosts"),
                    "OtherLongTermAssets"),
    "Accounts Receivable": ("Asset", ("AccountsReceivable",), "AccountsReceivable"),
    "Equity": ("Equity", ("OpeningBalanceEquity", "PartnersEquity", "RetainedEarnings", "AccumulatedAdjustment",
                          "OwnersEquity", "PaidInCapitalOrSurplus", "PartnerContributions", "PartnerDistributions",
                          "PreferredStock", "CommonStock", "TreasuryStock", "EstimatedTaxes", "Healthcare",
                          "PersonalIncome", "PersonalExpense"), "OwnersEquity"),
    "Expense": ("Expense", (
        "AdvertisingPromotional", "BadDebts", "BankCharges", "CharitableContributions", "CommissionsAndFees",
        "Entertainment", "EntertainmentMeals", "EquipmentRental", "FinanceCosts", "GlobalTaxExpense", "Insurance",
        "InterestPaid", "LegalProfessionalFees", "OfficeExpenses", "OfficeGeneralAdministrativeExpenses",
        "OtherBusinessExpenses", "OtherMiscellaneousServiceCost", "PromotionalMeals", "RentOrLeaseOfBuildings",
        "RepairMaintenance", "ShippingFreightDelivery", "SuppliesMaterials", "Travel", "TravelMeals", "Utilities",
        "Auto", "CostOfLabor", "DuesSubscriptions", "PayrollExpenses", "TaxesPaid",
        "UnappliedCashBillPaymentExpense"), "OtherBusinessExpenses"),
    "Other Expense": ("Expense", ("Depreciation", "ExchangeGainOrLoss", "OtherMiscellaneousExpense",
                                  "PenaltiesSettlements", "Amortization"), "OtherMiscellaneousExpense"),
    "Cost of Goods Sold": ("Expense", ("EquipmentRentalCos", "OtherCostsOfServiceCos", "ShippingFreightDeliveryCos",
                                       "SuppliesMaterialsCogs", "CostOfLaborCos"), "SuppliesMaterialsCogs"),
    "Accounts Payable": ("Liability", ("AccountsPayable",), "AccountsPayable"),
    "Credit Card": ("Liability", ("CreditCard",), "CreditCard"),
    "Long Term Liability": ("Liability", ("NotesPayable", "OtherLongTermLiabilities", "ShareholderNotesPayable"),
                            "OtherLongTermLiabilities"),
    "Other Current Liability": ("Liability", (
        "DirectDepositPayable", "LineOfCredit", "LoanPayable", "GlobalTaxPayable", "GlobalTaxSuspense",
        "OtherCurrentLiabilities", "PayrollClearing", "PayrollTaxPayable", "PrepaidExpensesPayable",
        "RentsInTrustLiability", "TrustAccountsLiabilities", "FederalIncomeTaxPayable", "InsurancePayable",
        "SalesTaxPayable", "StateLocalIncomeTaxPayable"), "OtherCurrentLiabilities"),
    "Income": ("Revenue", ("NonProfitIncome", "OtherPrimaryIncome", "SalesOfProductIncome", "ServiceFeeIncome",
                           "DiscountsRefundsGiven", "UnappliedCashPaymentIncome"), "ServiceFeeIncome"),
    "Other Income": ("Revenue", ("DividendIncome", "InterestEarned", "OtherInvestmentIncome",
                                 "OtherMiscellaneousIncome", "TaxExemptInterest"), "OtherMiscellaneousIncome"),
}
SUBTYPE_OWNER = {sub: t for t, (_, subs, _) in ACCOUNT_TYPES.items() for sub in subs}
# "Max: US/UK/IN=7, AU/CA=20 chars" (MIRROR account.md, AcctNum)
ACCTNUM_MAX = {"US": 7, "GB": 7, "CA": 20, "AU": 20}
MONEY_ACCOUNT_TYPES = ("Bank", "Other Current Asset")


def business(detail: str, element: str = "") -> F.QBOFault:
    return F.QBOFault([F.err(6000, "A business validation error has occurred while processing your request",
                             f"Business Validation Error: {detail}", element)])


def enum_fault(field: str, value) -> F.QBOFault:
    return F.QBOFault([F.err(2170, "Invalid Enumeration", f"Invalid Enumeration : {value}", field)])


def _taken(realm: Realm, etype: str, field: str, value: str, existing: dict | None, scope=None) -> bool:
    low = value.strip().lower()
    for rec in realm.records.get(etype, {}).values():
        data = rec["data"]
        if rec["status"] == STATUS_DELETED or (existing is not None and data["Id"] == existing["Id"]):
            continue
        if scope is not None and not scope(data):
            continue
        if str(data.get(field, "")).strip().lower() == low:
            return True
    return False


def _name(d: dict, limit: int) -> str:
    name = d.get("Name")
    name = name.strip() if isinstance(name, str) else name
    if not name:
        raise F.required("Name")
    if len(name) > limit:
        raise F.string_length("Name", limit, len(name))
    return name


def _int_field(d: dict, field: str, low: int, high: int):
    if d.get(field) is None:
        return None
    v = to_decimal(d[field])
    if v is None or v != v.to_integral_value() or not low <= v <= high:
        raise business(f"{field} must be a whole number from {low} through {high}.", field)
    d[field] = int(v)
    return int(v)


# -- Term --------------------------------------------------------------------------------------------------

def finalize_term(realm: Realm, d: dict, existing: dict | None) -> dict:
    name = _name(d, 31)
    if _taken(realm, "Term", "Name", name, existing):
        raise F.duplicate_name()
    d["Name"] = name
    due = _int_field(d, "DueDays", 0, 999)
    _int_field(d, "DiscountDays", 0, 999)
    dom = _int_field(d, "DayOfMonthDue", 1, 31)
    _int_field(d, "DueNextMonthDays", 0, 999)
    _int_field(d, "DiscountDayOfMonth", 0, 31)
    if due is None and dom is None:
        raise F.required("DueDays")  # "Required if DayOfMonthDue not present" (term.md)
    pct = to_decimal(d.get("DiscountPercent")) if d.get("DiscountPercent") is not None else Decimal("0")
    if pct is None or not 0 <= pct <= 100:
        raise business("DiscountPercent must be from 0 through 100.", "DiscountPercent")
    d["DiscountPercent"] = float(pct) if pct != pct.to_integral_value() else int(pct)
    if due is not None:
        d["Type"] = "STANDARD"
        for k in ("DayOfMonthDue", "DueNextMonthDays", "DiscountDayOfMonth"):
            d.pop(k, None)
    else:
        d["Type"] = "DATE_DRIVEN"
    d.setdefault("Active", True)
    return d


def due_days(realm: Realm, term: dict, txn_date):
    """The due date a term gives a transaction dated txn_date (a date)."""
    from datetime import date, timedelta

    if term.get("DueDays") is not None:
        return txn_date + timedelta(days=int(term["DueDays"]))
    dom = int(term.get("DayOfMonthDue") or 1)
    within = int(term.get("DueNextMonthDays") or 0)
    year, month = txn_date.year, txn_date.month
    if (date(year, month, min(dom, 28)) - txn_date).days < within or txn_date.day > dom:
        month += 1
        if month == 13:
            year, month = year + 1, 1
    for day in (dom, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    return txn_date


# -- PaymentMethod --------------------------------------------------------------------------------------------

def finalize_payment_method(realm: Realm, d: dict, existing: dict | None) -> dict:
    name = _name(d, 31)
    if _taken(realm, "PaymentMethod", "Name", name, existing):
        raise F.duplicate_name()
    d["Name"] = name
    type_ = d.get("Type") or "NON_CREDIT_CARD"
    if type_ not in ("CREDIT_CARD", "NON_CREDIT_CARD"):
        raise enum_fault("Type", type_)
    d["Type"] = type_
    d.setdefault("Active", True)
    return d


# -- Account ---------------------------------------------------------------------------------------------------

def finalize_account(realm: Realm, d: dict, existing: dict | None) -> dict:
    from .entities import ref_value

    name = _name(d, 100)
    if '"' in name or ":" in name:
        raise business("The account name can't contain double quotes (\") or colons (:).", "Name")
    type_, sub = d.get("AccountType"), d.get("AccountSubType")
    if not type_ and not sub:
        raise F.required("AccountType")
    if type_ and type_ not in ACCOUNT_TYPES:
        raise enum_fault("AccountType", type_)
    if sub and sub not in SUBTYPE_OWNER:
        raise enum_fault("AccountSubType", sub)
    if not type_:
        type_ = SUBTYPE_OWNER[sub]
    if not sub:
        sub = ACCOUNT_TYPES[type_][2]
    if SUBTYPE_OWNER[sub] != type_:
        raise business(f"The account sub type {sub} isn't valid for the account type {type_}.", "AccountSubType")
    parent = None
    if ref_value(d.get("ParentRef")):
        pid = ref_value(d["ParentRef"])
        rec = realm.get("Account", pid)
        if rec is None or rec["status"] == STATUS_DELETED or (existing is not None and pid == existing["Id"]):
            raise F.invalid_ref("ParentRef")
        parent = rec["data"]
        if parent["AccountType"] != type_:
            raise business("A sub-account must have the same account type as its parent.", "ParentRef")
    parent_id = parent["Id"] if parent else None
    if _taken(realm, "Account", "Name", name, existing,
              scope=lambda a: (ref_value(a.get("ParentRef")) or None) == parent_id):
        raise F.duplicate_name()
    acct_num = d.get("AcctNum")
    limit = ACCTNUM_MAX.get(realm.company.get("country", "US"), 7)
    if isinstance(acct_num, str) and len(acct_num) > limit:
        raise F.string_length("AcctNum", limit, len(acct_num))
    if isinstance(d.get("Description"), str) and len(d["Description"]) > 100:
        raise F.string_length("Description", 100, len(d["Description"]))
    d["Name"] = name
    d["AccountType"], d["AccountSubType"] = type_, sub
    d["Classification"] = ACCOUNT_TYPES[type_][0]
    d["SubAccount"] = parent is not None
    if parent is not None:
        d["ParentRef"] = {"value": parent["Id"]}
        d["FullyQualifiedName"] = f"{parent['FullyQualifiedName']}:{name}"
    else:
        d.pop("ParentRef", None)
        d["FullyQualifiedName"] = name
    d.setdefault("Active", True)
    keep = existing or {}
    d["CurrentBalance"] = keep.get("CurrentBalance", 0)
    d["CurrentBalanceWithSubAccounts"] = keep.get("CurrentBalanceWithSubAccounts", 0)
    code = currency.code_of(d.get("CurrencyRef")) or currency.code_of(keep.get("CurrencyRef")) or currency.home(realm)
    if existing is None:
        currency.check_usable(realm, code)
    elif code != currency.code_of(keep.get("CurrencyRef")):
        raise business("The currency of an account can't be changed.", "CurrencyRef")
    d["CurrencyRef"] = currency.ref(code)
    return d


def money_account(realm: Realm, ref, element: str) -> dict:
    """A deposit / refund-from account: must exist and be a Bank or Other Current Asset account (RefundReceipt
    reference: "where Account.AccountType is Other Current Asset or Bank")."""
    from .entities import _resolve_ref

    out = _resolve_ref(realm, "Account", ref, element, "Name")
    acct = realm.get("Account", out["value"])["data"]
    if acct.get("AccountType") not in MONEY_ACCOUNT_TYPES:
        raise business(f"{element} must be a bank or other current asset account. Account {acct['Name']} is of "
                       f"type {acct.get('AccountType')}.", element)
    return out
