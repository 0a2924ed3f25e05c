"""Static knowledge: entity names and known properties.

Known-property lists drive the 2010 "Request has invalid or unsupported property" fault. They are the
top-level properties of the QBO v3 schema classes as far as the captures and python-quickbooks 0.9.12
show them (invoice-create-unrecognized-property-2010.json lists 61 of Invoice's 83; the rest come from
the API reference and python-quickbooks' object attributes). Nested objects are not checked.
"""

from __future__ import annotations

# Entities whose records the sandbox stores and serves.
WRITABLE = ("Customer", "Item", "Invoice", "SalesReceipt", "Vendor", "Employee", "Payment", "CreditMemo",
            "RefundReceipt", "Deposit", "Term", "PaymentMethod", "Account", "TaxAgency", "CompanyCurrency")
READ_ONLY = ("TaxCode", "TaxRate", "CompanyInfo", "Preferences", "ExchangeRate")
STORED = WRITABLE + READ_ONLY
NAME_LISTS = ("Customer", "Vendor", "Employee")
# Sales forms share one code path (lines, tax, currency): sales.py
SALES_FORMS = ("Invoice", "SalesReceipt", "CreditMemo", "RefundReceipt")
TRANSACTIONS = SALES_FORMS + ("Payment", "Deposit")
VOIDABLE = ("Invoice", "SalesReceipt", "Payment")
# Simple named lists: created and updated through lists.py / tax.py / currency.py
SIMPLE_LISTS = ("Term", "PaymentMethod", "Account", "TaxAgency", "CompanyCurrency")
# Entities with an Active flag: a query without an Active condition returns active ones only.
ACTIVE_FILTERED = ("Customer", "Vendor", "Employee", "Item", "Account", "TaxCode", "TaxRate", "Term",
                   "PaymentMethod", "CompanyCurrency")
# Query answers of these carry totalCount next to startPosition/maxResults, as Intuit's samples show them
# (TaxCode, TaxRate, TaxAgency, CompanyCurrency and ExchangeRate reference pages).
WITH_TOTAL_COUNT = ("TaxCode", "TaxRate", "TaxAgency", "CompanyCurrency", "ExchangeRate")
# CDC does not support these (facts §6.1).
NO_CDC = ("JournalCode", "TimeActivity", "TaxAgency", "TaxCode", "TaxRate")
# Webhook entity names (QBO's webhooks page names CompanyCurrency changes "Currency"); entities missing
# from QBO's webhook list send none.
WEBHOOK_NAME = {"CompanyCurrency": "Currency"}
NO_WEBHOOK = ("TaxAgency", "TaxCode", "TaxRate", "ExchangeRate", "CompanyInfo")

# Every QBO v3 entity name a query may name. Valid but not stored -> empty QueryResponse.
QUERYABLE = set(STORED) | {
    "Attachable", "Bill", "BillPayment", "Budget", "Class", "CreditCardPayment",
    "CustomerType", "Department", "Estimate", "JournalCode",
    "JournalEntry", "Purchase", "PurchaseOrder", "RecurringTransaction",
    "TimeActivity", "Transfer", "VendorCredit",
}
CANON = {name.lower(): name for name in QUERYABLE}
CANON["taxservice"] = "TaxService"

# Id sequences: QBO numbers name-list entities, transactions, items and accounts separately.
SEQ_GROUP = {
    "Customer": "name", "Vendor": "name", "Employee": "name",
    "Invoice": "txn", "SalesReceipt": "txn", "Payment": "txn", "CreditMemo": "txn", "RefundReceipt": "txn",
    "Deposit": "txn",
    "Item": "item", "Account": "account", "TaxCode": "taxcode", "TaxRate": "taxrate", "TaxAgency": "taxagency",
    "Term": "term", "PaymentMethod": "paymentmethod", "CompanyCurrency": "currency",
}

_COMMON = {"Id", "SyncToken", "MetaData", "domain", "sparse", "status", "CustomField", "AttachableRef"}

_TXN_COMMON = _COMMON | {
    "DocNumber", "TxnDate", "DepartmentRef", "CurrencyRef", "ExchangeRate", "PrivateNote", "TxnStatus",
    "LinkedTxn", "TxnTaxDetail", "TxnSource", "TransactionLocationType", "Tag", "TxnApprovalInfo",
    "RecurDataRef", "TaxFormType", "TaxFormNum", "Line", "CustomerRef", "CustomerMemo", "BillAddr",
    "ShipAddr", "FreeFormAddress", "ShipFromAddr", "RemitToRef", "ClassRef", "SalesTermRef", "DueDate",
    "SalesRepRef", "PONumber", "FOB", "ShipMethodRef", "ShipDate", "TrackingNum", "GlobalTaxCalculation",
    "TotalAmt", "HomeTotalAmt", "ApplyTaxAfterDiscount", "TemplateRef", "PrintStatus", "EmailStatus",
    "BillEmail", "BillEmailCc", "BillEmailBcc", "ARAccountRef", "Balance", "HomeBalance", "FinanceCharge",
    "PaymentMethodRef", "PaymentRefNum", "PaymentType", "DepositToAccountRef", "DeliveryInfo",
    "DiscountRate", "DiscountAmt", "GovtTxnRefIdentifier", "TaxExemptionRef", "ProjectRef",
    "AllowIPNPayment", "AllowOnlinePayment", "AllowOnlineCreditCardPayment", "AllowOnlineACHPayment",
    "EInvoiceStatus", "ECloudStatusTimeStamp", "CfdiUse", "Exportation", "GlobalInfo", "LessCIS",
    "InvoiceLink", "callToAction", "InvoiceEx", "AutoDocNumber", "ConvenienceFeeDetail",
    "PaymentDetailsMessage", "invoiceStatusLog", "RecurringInfo", "TotalCostAmount", "HomeAmtTotal",
}

KNOWN_PROPERTIES = {
    "Invoice": _TXN_COMMON | {"Deposit", "ShippingAmt"},
    "SalesReceipt": _TXN_COMMON | {"CreditCardPayment", "CheckPayment", "SalesReceiptEx"},
    "Customer": _COMMON | {
        "Title", "GivenName", "MiddleName", "FamilyName", "Suffix", "FullyQualifiedName", "CompanyName",
        "DisplayName", "PrintOnCheckName", "UserId", "Active", "V4IDPseudonym", "PrimaryPhone",
        "AlternatePhone", "Mobile", "Fax", "PrimaryEmailAddr", "WebAddr", "OtherContactInfo",
        "DefaultTaxCodeRef", "Taxable", "BillAddr", "ShipAddr", "OtherAddr", "ContactName",
        "AltContactName", "Notes", "Job", "BillWithParent", "RootCustomerRef", "ParentRef", "Level",
        "CustomerTypeRef", "SalesTermRef", "SalesRepRef", "PaymentMethodRef", "CCDetail", "PriceLevelRef",
        "Balance", "OpenBalanceDate", "BalanceWithJobs", "CreditLimit", "AcctNum", "CurrencyRef",
        "OverDueBalance", "TotalRevenue", "TotalExpense", "PreferredDeliveryMethod", "ResaleNum", "JobInfo",
        "TaxExemptionReasonId", "PrimaryTaxIdentifier", "SecondaryTaxIdentifier", "ARAccountRef",
        "GSTIN", "GSTRegistrationType", "BusinessNumber", "IsProject", "ClientEntityId",
        "TaxRegistrationNumber", "Organization", "CustomerEx", "Source", "IsCISContractor",
    },
    "Vendor": _COMMON | {
        "Title", "GivenName", "MiddleName", "FamilyName", "Suffix", "FullyQualifiedName", "CompanyName",
        "DisplayName", "PrintOnCheckName", "UserId", "Active", "V4IDPseudonym", "PrimaryPhone",
        "AlternatePhone", "Mobile", "Fax", "PrimaryEmailAddr", "WebAddr", "OtherContactInfo", "BillAddr",
        "OtherAddr", "ContactName", "AltContactName", "Notes", "TaxCountry", "TaxIdentifier",
        "BusinessNumber", "ParentRef", "VendorTypeRef", "TermRef", "PrefillAccountRef", "Balance",
        "BillRate", "CostRate", "OpenBalanceDate", "CreditLimit", "AcctNum", "Vendor1099", "T4AEligible",
        "T5018Eligible", "CurrencyRef", "TaxReportingBasis", "APAccountRef", "VendorPaymentBankDetail",
        "GSTIN", "GSTRegistrationType", "IsSubContractor", "HasTPAR", "Source", "Organization",
        "VendorEx", "ClientEntityId",
    },
    "Employee": _COMMON | {
        "Title", "GivenName", "MiddleName", "FamilyName", "Suffix", "FullyQualifiedName", "CompanyName",
        "DisplayName", "PrintOnCheckName", "UserId", "Active", "V4IDPseudonym", "PrimaryPhone",
        "AlternatePhone", "Mobile", "Fax", "PrimaryEmailAddr", "EmailAddress", "WebAddr",
        "OtherContactInfo", "EmployeeType", "EmployeeNumber", "SSN", "PrimaryAddr", "OtherAddr",
        "BillableTime", "BillRate", "CostRate", "BirthDate", "Gender", "HiredDate", "ReleasedDate",
        "UseTimeEntry", "Organization", "EmployeeEx", "Source",
    },
    "Item": _COMMON | {
        "Name", "Sku", "Description", "Active", "SubItem", "ParentRef", "Level", "FullyQualifiedName",
        "Taxable", "SalesTaxIncluded", "PercentBased", "UnitPrice", "RatePercent", "Type", "PaymentMethodRef",
        "UOMSetRef", "IncomeAccountRef", "PurchaseDesc", "PurchaseTaxIncluded", "PurchaseCost",
        "ExpenseAccountRef", "COGSAccountRef", "AssetAccountRef", "PrefVendorRef", "AvgCost",
        "TrackQtyOnHand", "QtyOnHand", "QtyOnPurchaseOrder", "QtyOnSalesOrder", "ReorderPoint",
        "ManPartNum", "DepositToAccountRef", "SalesTaxCodeRef", "PurchaseTaxCodeRef", "InvStartDate",
        "BuildPoint", "PrintGroupedItems", "SpecialItem", "SpecialItemType", "ItemGroupDetail",
        "ItemAssemblyDetail", "AbatementRate", "ReverseChargeRate", "ServiceType", "ItemCategoryType",
        "ItemEx", "TaxClassificationRef", "UQCDisplayText", "UQCId", "ClassRef", "Source",
        "DeferredRevenue",
    },
}


KNOWN_PROPERTIES["CreditMemo"] = _TXN_COMMON | {"RemainingCredit", "InvoiceRef"}
KNOWN_PROPERTIES["RefundReceipt"] = _TXN_COMMON | {"CheckPayment", "CreditCardPayment", "RefundReceiptEx"}
KNOWN_PROPERTIES["Payment"] = _COMMON | {
    "TotalAmt", "UnappliedAmt", "CustomerRef", "CurrencyRef", "ExchangeRate", "TxnDate", "TxnSource", "PrivateNote",
    "TxnStatus", "ProcessPayment", "PaymentRefNum", "PaymentMethodRef", "DepositToAccountRef", "ARAccountRef",
    "CreditCardPayment", "TaxExemptionRef", "Line", "LinkedTxn", "TransactionLocationType", "DepartmentRef",
    "ProjectRef", "PaymentEx", "DocNumber", "HomeTotalAmt",
}
# MIRROR api-reference/deposit.md's attributes and python-quickbooks' Deposit object; CashBack and TxnTaxDetail are
# not implemented (2010), see docs/sandbox.md "Deposits".
KNOWN_PROPERTIES["Deposit"] = _COMMON | {
    "DepositToAccountRef", "Line", "TxnDate", "PrivateNote", "TotalAmt", "HomeTotalAmt", "CurrencyRef", "ExchangeRate",
    "DepartmentRef", "GlobalTaxCalculation", "DocNumber", "TxnStatus", "TxnSource", "TransactionLocationType",
}
KNOWN_PROPERTIES["Term"] = _COMMON | {"Name", "Active", "Type", "DiscountPercent", "DueDays", "DiscountDays",
                                      "DayOfMonthDue", "DueNextMonthDays", "DiscountDayOfMonth", "AttachableRef"}
KNOWN_PROPERTIES["PaymentMethod"] = _COMMON | {"Name", "Active", "Type"}
KNOWN_PROPERTIES["Account"] = _COMMON | {
    "Name", "SubAccount", "ParentRef", "Description", "FullyQualifiedName", "Active", "Classification",
    "AccountType", "AccountSubType", "AcctNum", "AccountAlias", "TxnLocationType", "BankNum", "OpeningBalance",
    "OpeningBalanceDate", "CurrentBalance", "CurrentBalanceWithSubAccounts", "CurrencyRef", "TaxAccount",
    "TaxCodeRef", "OnlineBankingEnabled", "FIName", "JournalCodeRef", "AccountEx",
}
KNOWN_PROPERTIES["TaxAgency"] = _COMMON | {"DisplayName", "TaxRegistrationNumber", "TaxTrackedOnSales",
                                           "TaxTrackedOnPurchases", "LastFileDate", "TaxAgencyConfig",
                                           "SalesTaxCodeRef", "SalesTaxCountry", "TaxAgencyExt"}
KNOWN_PROPERTIES["CompanyCurrency"] = _COMMON | {"Code", "Name", "Active"}

# Schema class names used in the 2010 Detail ("class com.intuit.schema.finance.v3.Invoice").
SCHEMA_CLASS = {name: f"com.intuit.schema.finance.v3.{name}" for name in WRITABLE}

# Default company data (accounts, items, terms, payment methods, CompanyInfo, Preferences) lives in company.py;
# tax codes, rates and agencies in tax.py.
