"""Unmodified third-party clients against the sandbox: python-quickbooks 0.9.12 and intuit-oauth 1.2.6.

Only public hooks are used: intuit-oauth's discovery URL table (intuitlib.config.DISCOVERY_URL) and
python-quickbooks' ``sandbox_api_url_v3`` attribute. requests-oauthlib refuses http:// unless
OAUTHLIB_INSECURE_TRANSPORT is set, so the tests set it (loopback only).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import intuitlib.config
import pytest
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.batch import batch_create, batch_delete
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import AuthorizationException, QuickbooksException, ValidationException
from quickbooks.objects.account import Account
from quickbooks.objects.base import Address, EmailAddress, Ref
from quickbooks.objects.companycurrency import CompanyCurrency
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.customer import Customer
from quickbooks.objects.deposit import Deposit, DepositLine
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.exchangerate import ExchangeRate
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.payment import Payment, PaymentLine
from quickbooks.objects.paymentmethod import PaymentMethod
from quickbooks.objects.preferences import Preferences
from quickbooks.objects.refundreceipt import RefundReceipt, RefundReceiptCheckPayment
from quickbooks.objects.salesreceipt import SalesReceipt
from quickbooks.objects.taxagency import TaxAgency
from quickbooks.objects.taxcode import TaxCode
from quickbooks.objects.taxrate import TaxRate
from quickbooks.objects.taxservice import TaxRateDetails, TaxService
from quickbooks.objects.term import Term

REDIRECT = "https://app.example/callback"


@pytest.fixture
def intuit(sandbox, monkeypatch):
    """intuit-oauth with environment='sandbox', its discovery URL pointed at the emulator."""
    monkeypatch.setitem(intuitlib.config.DISCOVERY_URL, "sandbox",
                        f"{sandbox.base_url}/.well-known/openid_sandbox_configuration/")
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    return AuthClient("pqb-client-id", "pqb-secret", REDIRECT, "sandbox")


def consent(auth: AuthClient, state="st-1", **extra) -> dict:
    url = auth.get_authorization_url([Scopes.ACCOUNTING], state_token=state)
    if extra:
        url += "&" + "&".join(f"{k}={v}" for k, v in extra.items())
    r = httpx.get(url)
    assert r.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(r.headers["location"]).query).items()}


def test_intuit_oauth_code_exchange_refresh_rotation_revoke(intuit, sandbox):
    assert intuit.token_endpoint == f"{sandbox.base_url}/oauth2/v1/tokens/bearer"
    params = consent(intuit)
    assert params["state"] == "st-1"
    intuit.get_bearer_token(params["code"], realm_id=params["realmId"])
    assert intuit.realm_id == params["realmId"]
    assert intuit.expires_in == 3600 and intuit.x_refresh_token_expires_in == 8640000
    first_refresh = intuit.refresh_token
    intuit.refresh()
    assert intuit.refresh_token != first_refresh
    with pytest.raises(AuthClientError) as exc:
        intuit.refresh(refresh_token=first_refresh)  # rotated away
    assert exc.value.status_code == 400 and exc.value.content == b'{"error":"invalid_grant"}'
    assert exc.value.intuit_tid
    with pytest.raises(AuthClientError):
        intuit.get_bearer_token(params["code"], realm_id=params["realmId"])  # code is single use
    params = consent(intuit, realm_id=params["realmId"])
    intuit.get_bearer_token(params["code"], realm_id=params["realmId"])
    info = intuit.get_user_info()
    assert info.json()["realmid"] == params["realmId"]
    assert intuit.revoke(token=intuit.refresh_token) is True
    with pytest.raises(AuthClientError):
        intuit.refresh()


@pytest.fixture
def qb(intuit, sandbox, make_realm):
    """A python-quickbooks client on a fresh realm (limits off), authorised through intuit-oauth."""
    rc = make_realm(tokens=False)
    params = consent(intuit, realm_id=rc.realm_id)
    intuit.get_bearer_token(params["code"], realm_id=rc.realm_id)
    client = QuickBooks(auth_client=intuit, refresh_token=intuit.refresh_token, company_id=rc.realm_id,
                        minorversion=75)
    assert client.sandbox is True
    client.sandbox_api_url_v3 = f"{sandbox.base_url}/v3"
    client.rc = rc
    return client


def _customer(qb, name, email=None):
    c = Customer()
    c.DisplayName = name
    c.BillAddr = Address()
    c.BillAddr.Line1 = "4581 Finch St."
    c.BillAddr.City = "Bayshore"
    if email:
        c.PrimaryEmailAddr = EmailAddress()
        c.PrimaryEmailAddr.Address = email
    return c.save(qb=qb)


def _item(qb, name):
    it = Item()
    it.Name = name
    it.Type = "Service"
    it.IncomeAccountRef = Ref()
    it.IncomeAccountRef.value = "79"
    it.Sku = "SKU-" + name
    return it.save(qb=qb)


def _line(item, amount, qty=None, price=None):
    line = SalesItemLine()
    line.Amount = amount
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = item.to_ref()
    if qty is not None:
        line.SalesItemLineDetail.Qty = qty
        line.SalesItemLineDetail.UnitPrice = price
    return line


def test_python_quickbooks_create_customer_item_invoice_sales_receipt(qb):
    customer = _customer(qb, "Amy's Bird Sanctuary", "Birds@Intuit.com")
    assert customer.Id == "1" and customer.SyncToken == "0" and customer.Active is True
    item = _item(qb, "Design")
    assert item.Id == "3" and item.IncomeAccountRef.name == "Sales of Product Income"

    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    invoice.Line.append(_line(item, 337.5, 4.5, 75))
    invoice.Line.append(_line(item, 100))  # python-quickbooks sends Qty 0 / UnitPrice 0 here
    saved = invoice.save(qb=qb)
    assert saved.Id and saved.DocNumber == "1001" and saved.TotalAmt == 437.5 and saved.Balance == 437.5
    assert saved.CustomerRef.name == "Amy's Bird Sanctuary"
    assert saved.BillAddr.Line1 == "4581 Finch St."
    assert saved.Line[-1].DetailType == "SubTotalLineDetail"

    fetched = Invoice.get(saved.Id, qb=qb)
    assert fetched.TotalAmt == 437.5
    fetched.PrivateNote = "updated"
    updated = fetched.save(qb=qb)
    assert updated.SyncToken == "1" and updated.PrivateNote == "updated"

    receipt = SalesReceipt()
    receipt.Line.append(_line(item, 35, 1, 35))
    sr = receipt.save(qb=qb)
    assert sr.TotalAmt == 35 and sr.Balance == 0 and sr.DepositToAccountRef.name == "Undeposited Funds"
    voided = sr.void(qb=qb)
    assert voided["SalesReceipt"]["TotalAmt"] == 0 and voided["SalesReceipt"]["PrivateNote"] == "Voided"

    inv_void = Invoice.get(saved.Id, qb=qb).void(qb=qb)
    assert inv_void["Invoice"]["Balance"] == 0
    Invoice.get(saved.Id, qb=qb).delete(qb=qb)
    assert [(i["Id"], i["status"]) for i in qb.rc.entities("Invoice")] == [(saved.Id, "Deleted")]


def test_python_quickbooks_faults(qb):
    invoice = Invoice()
    invoice.Line.append(_line(Item.get("1", qb=qb), 10))
    with pytest.raises(ValidationException) as exc:
        invoice.save(qb=qb)
    assert exc.value.error_code == 2020
    assert exc.value.detail == "Required parameter CustomerRef is missing in the request"
    with pytest.raises(ValidationException) as exc:
        _customer(qb, "Bad Email", "not-an-email")
    assert exc.value.error_code == 2210 and exc.value.message == "Invalid Email Address format"
    _customer(qb, "Once")
    with pytest.raises(QuickbooksException) as exc:
        _customer(qb, "Once")
    assert exc.value.error_code == 6240
    qb.rc.control("POST", "expire-tokens")
    with pytest.raises(AuthorizationException):
        Customer.all(qb=qb)


def test_python_quickbooks_query_and_paging(qb):
    for i in range(7):
        _customer(qb, f"Customer {i}")
    _item(qb, "Widget")
    assert Customer.count(qb=qb) == 7
    page1 = Customer.all(qb=qb, max_results=3, start_position=1, order_by="DisplayName")
    page3 = Customer.where("Active = True", order_by="DisplayName DESC", start_position=7, max_results=3, qb=qb)
    assert [c.DisplayName for c in page1] == ["Customer 0", "Customer 1", "Customer 2"]
    assert [c.DisplayName for c in page3] == ["Customer 0"]
    assert [c.DisplayName for c in Customer.filter(DisplayName="Customer 4", qb=qb)] == ["Customer 4"]
    assert [c.Id for c in Customer.choose(["2", "3"], qb=qb)] == ["2", "3"]
    items = Item.all(qb=qb)  # SELECT *, Sku FROM Item
    assert [(i.Name, i.Sku) for i in items if i.Name == "Widget"] == [("Widget", "SKU-Widget")]
    assert Customer.where("DisplayName = 'Nobody'", qb=qb) == []


def test_python_quickbooks_batch(qb):
    customers = []
    for i in range(35):
        c = Customer()
        c.DisplayName = f"Batch {i}"
        customers.append(c)
    dup = Customer()
    dup.DisplayName = "Batch 3"
    customers.append(dup)
    results = batch_create(customers, qb=qb)  # two chunks of at most 30
    assert len(results.successes) == 35 and len(results.faults) == 1
    assert results.faults[0].Error[0].code == "6240"
    assert Customer.count(qb=qb) == 35
    item = _item(qb, "Thing")
    invoices = []
    for i in range(2):
        inv = Invoice()
        inv.CustomerRef = results.successes[i].to_ref()
        inv.Line.append(_line(item, 10))
        invoices.append(inv.save(qb=qb))
    deleted = batch_delete(invoices, qb=qb)
    assert len(deleted.successes) == 2 and deleted.faults == []
    assert {i["status"] for i in qb.rc.entities("Invoice")} == {"Deleted"}


def test_python_quickbooks_cdc(qb):
    item = _item(qb, "Cdc Item")
    # python-quickbooks formats datetimes without an offset, which QBO reads as company time (Pacific);
    # pass an explicit offset instead.
    since = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    customer = _customer(qb, "Cdc Customer")
    inv = Invoice()
    inv.CustomerRef = customer.to_ref()
    inv.Line.append(_line(item, 10))
    inv = inv.save(qb=qb)
    other = Invoice()
    other.CustomerRef = customer.to_ref()
    other.Line.append(_line(item, 20))
    other = other.save(qb=qb)
    other.delete(qb=qb)
    cdc = change_data_capture([Invoice, Customer], since, qb=qb)
    assert [c.DisplayName for c in cdc.Customer] == ["Cdc Customer"]
    assert [i.Id for i in cdc.Invoice] == [inv.Id, other.Id]
    assert cdc.Invoice[1].status == "Deleted"


def test_python_quickbooks_requestid_replay(qb):
    customer = _customer(qb, "Idem")
    item = _item(qb, "Idem Item")

    def new_invoice():
        inv = Invoice()
        inv.CustomerRef = customer.to_ref()
        inv.Line.append(_line(item, 42))
        return inv

    first = new_invoice().save(qb=qb, request_id="order-1001-rev1")
    second = new_invoice().save(qb=qb, request_id="order-1001-rev1")
    assert first.Id == second.Id and first.DocNumber == second.DocNumber
    assert len(qb.rc.entities("Invoice")) == 1
    third = new_invoice().save(qb=qb, request_id="order-1001-rev2")
    assert third.Id != first.Id


# -- issue 13: the new entities, driven by the unmodified clients ------------------------------------------------

def _qb_for(intuit, sandbox, rc):
    params = consent(intuit, realm_id=rc.realm_id)
    intuit.get_bearer_token(params["code"], realm_id=rc.realm_id)
    client = QuickBooks(auth_client=intuit, refresh_token=intuit.refresh_token, company_id=rc.realm_id,
                        minorversion=75)
    client.sandbox_api_url_v3 = f"{sandbox.base_url}/v3"
    client.rc = rc
    return client


def _invoice(qb, customer, item, amount):
    inv = Invoice()
    inv.CustomerRef = customer.to_ref()
    inv.Line.append(_line(item, amount))
    return inv.save(qb=qb)


def test_python_quickbooks_payment_apply_and_void(qb):
    customer = _customer(qb, "Payer")
    item = _item(qb, "Payable")
    invoice = _invoice(qb, customer, item, 100)
    payment = Payment()
    payment.CustomerRef = customer.to_ref()
    payment.TotalAmt = 100
    payment.PaymentMethodRef = Ref()
    payment.PaymentMethodRef.value = "2"
    pline = PaymentLine()
    pline.Amount = 100
    pline.LinkedTxn.append(invoice.to_linked_txn())
    payment.Line.append(pline)
    saved = payment.save(qb=qb)
    assert (saved.TotalAmt, saved.UnappliedAmt, saved.DepositToAccountRef.name) == (100, 0, "Undeposited Funds")
    assert saved.Line[0].LinkedTxn[0].TxnId == invoice.Id and saved.PaymentMethodRef.name == "Check"
    assert Invoice.get(invoice.Id, qb=qb).Balance == 0
    assert [p.Id for p in Payment.filter(CustomerRef=customer.Id, qb=qb)] == [saved.Id]
    voided = saved.void(qb=qb)  # operation=update&include=void, sparse
    assert (voided["Payment"]["TotalAmt"], voided["Payment"]["PrivateNote"]) == (0, "Voided")
    assert Invoice.get(invoice.Id, qb=qb).Balance == 100
    assert Payment.get(saved.Id, qb=qb).TotalAmt == 0


def test_python_quickbooks_deposit_blocks_the_void_until_deleted(qb):
    item = _item(qb, "Takings")
    receipt = SalesReceipt()
    receipt.Line.append(_line(item, 35.5, 1, 35.5))
    sr = receipt.save(qb=qb)
    deposit = Deposit()
    deposit.DepositToAccountRef = Ref()
    deposit.DepositToAccountRef.value = "35"
    dline = DepositLine()  # python-quickbooks sends DetailType "DepositLineDetail" next to LinkedTxn
    dline.Amount = 35.5
    dline.LinkedTxn.append(sr.to_linked_txn())
    deposit.Line.append(dline)
    saved = deposit.save(qb=qb)
    assert (saved.TotalAmt, saved.DepositToAccountRef.name, saved.Line[0].LinkedTxn[0].TxnId) == (35.5, "Checking",
                                                                                                sr.Id)
    with pytest.raises(QuickbooksException) as exc:
        sr.void(qb=qb)
    assert (exc.value.error_code, exc.value.message) == (6540, "Deposited Transaction cannot be changed")
    assert SalesReceipt.get(sr.Id, qb=qb).TotalAmt == 35.5
    Deposit.get(saved.Id, qb=qb).delete(qb=qb)
    assert SalesReceipt.get(sr.Id, qb=qb).void(qb=qb)["SalesReceipt"]["TotalAmt"] == 0


def test_python_quickbooks_credit_memo_and_refund_receipt(qb):
    customer = _customer(qb, "Refunded")
    item = _item(qb, "Returnable")
    invoice = _invoice(qb, customer, item, 80)
    memo = CreditMemo()
    memo.CustomerRef = customer.to_ref()
    memo.Line.append(_line(item, 30))
    memo = memo.save(qb=qb)
    assert (memo.TotalAmt, memo.Balance, memo.RemainingCredit) == (30, 30, 30)
    payment = Payment()
    payment.CustomerRef = customer.to_ref()
    payment.TotalAmt = 50
    for txn, amount in ((invoice, 80), (memo, 30)):
        pline = PaymentLine()
        pline.Amount = amount
        pline.LinkedTxn.append(txn.to_linked_txn())
        payment.Line.append(pline)
    payment.save(qb=qb)
    assert (CreditMemo.get(memo.Id, qb=qb).Balance, Invoice.get(invoice.Id, qb=qb).Balance) == (0, 0)
    refund = RefundReceipt()
    refund.DepositToAccountRef = Ref()
    refund.DepositToAccountRef.value = "35"
    refund.PaymentType = "Check"
    refund.CheckPayment = RefundReceiptCheckPayment()
    refund.CheckPayment.CheckNum = "7001"
    refund.Line.append(_line(item, 42))
    refund = refund.save(qb=qb)  # python-quickbooks sends GlobalTaxCalculation TaxExcluded and ExchangeRate 1
    assert (refund.TotalAmt, refund.Balance, refund.DepositToAccountRef.name) == (42, 0, "Checking")
    assert (refund.PaymentType, refund.CheckPayment.CheckNum) == ("Check", "7001")
    refund.delete(qb=qb)
    assert [r["status"] for r in qb.rc.entities("RefundReceipt")] == ["Deleted"]


def test_python_quickbooks_tax_entities_and_tax_service(qb):
    agency = TaxAgency()
    agency.DisplayName = "Pqb Agency"
    agency = agency.save(qb=qb)
    assert (agency.TaxTrackedOnSales, agency.TaxTrackedOnPurchases) == (True, False)
    assert [a.DisplayName for a in TaxAgency.all(qb=qb)] == ["Board of Equalization", "Pqb Agency"]
    assert [(r.Name, r.RateValue) for r in TaxRate.all(qb=qb)] == [("California", 8)]
    california = TaxCode.get("2", qb=qb)
    assert california.SalesTaxRateList.TaxRateDetail[0].TaxRateRef.value == "1"
    assert [c.Id for c in TaxCode.all(qb=qb)] == ["2", "NON", "TAX"]
    service = TaxService()
    service.TaxCode = "Pqb Code"
    detail = TaxRateDetails()
    detail.TaxRateName = "Pqb Rate"
    detail.RateValue = "6.5"
    detail.TaxAgencyId = agency.Id
    service.TaxRateDetails.append(detail)
    created = service.save(qb=qb)
    assert created.TaxCode == "Pqb Code" and created.TaxRateDetails[0].RateValue == "6.5"
    code = TaxCode.get(created.TaxCodeId, qb=qb)
    assert code.Name == "Pqb Code"
    assert TaxRate.get(code.SalesTaxRateList.TaxRateDetail[0].TaxRateRef.value, qb=qb).RateValue == 6.5


def test_python_quickbooks_currencies(intuit, sandbox, make_realm):
    qb = _qb_for(intuit, sandbox, make_realm(tokens=False, multicurrency=True))
    currency = CompanyCurrency()
    currency.Code = "EUR"
    currency = currency.save(qb=qb)
    assert (currency.Name, currency.Active) == ("Euro", True)
    assert [c.Code for c in CompanyCurrency.all(qb=qb)] == ["EUR"]
    [rate] = ExchangeRate.where("SourceCurrencyCode = 'EUR'", qb=qb)
    assert (rate.Rate, rate.TargetCurrencyCode) == (1.08, "USD")
    rate.Rate = 1.1
    assert rate.save(qb=qb).Rate == 1.1
    buyer = Customer()
    buyer.DisplayName = "Euro Buyer"
    buyer.CurrencyRef = Ref()
    buyer.CurrencyRef.value = "EUR"
    buyer = buyer.save(qb=qb)
    assert buyer.CurrencyRef.name == "Euro"
    invoice = Invoice()
    invoice.CustomerRef = buyer.to_ref()
    invoice.CurrencyRef = Ref()
    invoice.CurrencyRef.value = "EUR"
    invoice.ExchangeRate = None  # python-quickbooks sends ExchangeRate 1 unless told otherwise, and 1 is honoured
    invoice.Line.append(_line(Item.get("1", qb=qb), 50))
    invoice = invoice.save(qb=qb)
    assert (invoice.ExchangeRate, invoice.HomeTotalAmt) == (1.1, 55)


def test_python_quickbooks_term_payment_method_account(qb):
    term = Term()
    term.Name = "Net 45"
    term.DueDays = 45
    term = term.save(qb=qb)
    assert (term.Type, term.DueDays) == ("STANDARD", 45)
    term.DueDays = 40
    assert term.save(qb=qb).DueDays == 40
    method = PaymentMethod()
    method.Name = "Wire"
    method = method.save(qb=qb)
    assert method.Type == "NON_CREDIT_CARD"
    method.Name = "Bank Wire"
    assert method.save(qb=qb).Name == "Bank Wire"
    account = Account()
    account.Name = "Reserve"
    account.AccountType = "Bank"
    account.AccountSubType = "Savings"
    account = account.save(qb=qb)
    assert (account.Classification, account.FullyQualifiedName) == ("Asset", "Reserve")
    fetched = Account.get(account.Id, qb=qb)
    fetched.Description = "rainy days"
    updated = fetched.save(qb=qb)
    assert (updated.SyncToken, updated.Description) == ("1", "rainy days")
    dup = Account()
    dup.Name = "reserve"
    dup.AccountType = "Bank"
    with pytest.raises(QuickbooksException) as exc:
        dup.save(qb=qb)
    assert exc.value.error_code == 6240


def test_python_quickbooks_preferences_read_update(qb):
    prefs = Preferences.get(qb=qb)
    assert (prefs.TaxPrefs.PartnerTaxEnabled, prefs.CurrencyPrefs.HomeCurrency.value) == (True, "USD")
    assert prefs.TimeTrackingPrefs.WorkWeekStartDate == "Monday"
    prefs.SalesFormsPrefs.AllowShipping = True
    prefs.TimeTrackingPrefs.WorkWeekStartDate = "Sunday"
    saved = prefs.save(qb=qb)  # the whole object back, as python-quickbooks sends it
    assert (saved.SyncToken, saved.SalesFormsPrefs.AllowShipping, saved.TimeTrackingPrefs.WorkWeekStartDate) == (
        "1", True, "Sunday")
    assert Preferences.get(qb=qb).SalesFormsPrefs.AllowShipping is True


def test_python_quickbooks_one_refresh_token_serves_many_clients_for_a_day(intuit, sandbox, make_realm):
    rc = make_realm(tokens=False, config={"refresh_token_rotation_s": 86400})
    params = consent(intuit, realm_id=rc.realm_id)
    intuit.get_bearer_token(params["code"], realm_id=rc.realm_id)
    refresh_token = intuit.refresh_token

    def client(token):
        auth = AuthClient("pqb-client-id", "pqb-secret", REDIRECT, "sandbox")
        qb = QuickBooks(auth_client=auth, refresh_token=token, company_id=rc.realm_id, minorversion=75)
        qb.sandbox_api_url_v3 = f"{sandbox.base_url}/v3"
        return auth, qb

    try:
        for hours in (0, 1, 8, 16, 23):
            sandbox.control("PUT", "/_sandbox/clock", {"offset_seconds": hours * 3600})
            auth, qb = client(refresh_token)  # each construction refreshes with the same stored token
            assert auth.refresh_token == refresh_token
            assert Customer.count(qb=qb) == 0
        sandbox.control("PUT", "/_sandbox/clock", {"offset_seconds": 25 * 3600})
        auth, qb = client(refresh_token)
        assert auth.refresh_token != refresh_token  # a day old: replaced
        assert Customer.count(qb=qb) == 0
        with pytest.raises(AuthClientError) as exc:
            client(refresh_token)
        assert exc.value.content == b'{"error":"invalid_grant"}'
    finally:
        sandbox.control("PUT", "/_sandbox/clock", {"offset_seconds": 0})
