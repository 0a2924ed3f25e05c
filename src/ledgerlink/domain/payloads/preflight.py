"""Pre-flight: what QBO would reject, caught without spending an API call, answered with the same
error kind, message, detail, code and element QBO gives (qbo-api-facts.md §3, qbo-recorded/)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from ledgerlink.core.models import Company, PushRequest
from ledgerlink.domain.mirror.lookups import MirrorLookups
from ledgerlink.domain.payloads.build import SHIPPING_DESCRIPTION, SHIPPING_ITEM_ID
from ledgerlink.domain.tax.lines import find_unmapped
from ledgerlink.quickbooks import wire
from ledgerlink.quickbooks.errors import kind_info

DOC_NUMBER_MAX = 21
# The documents an order becomes, and their QBO entity.
KIND_ENTITY = {kind: wire.ENTITY_FOR_KIND[kind] for kind in wire.DOCUMENT_KINDS}

# QBO's texts for the faults pre-flight reproduces (qbo-api-facts.md §3, qbo-recorded/, qbo_sandbox).
MSG_REQUIRED = "Required param missing, need to supply the required value for the API"
MSG_INVALID_EMAIL = "Invalid Email Address format"
MSG_INVALID_REF = "Invalid Reference Id"
MSG_STRING_LENGTH = "Invalid String Length"
MSG_SHIPPING_ITEM = "No shipping item is set for this site area"  # ours: QBO would accept it, wrongly
DETAIL_INACTIVE = (
    "Invalid Reference Id : Something you're trying to use has been made inactive. "
    "Check the fields with accounts, customers, items, vendors or employees."
)

@dataclass(frozen=True)
class PreflightError:
    """What QBO would answer, caught before sending."""

    kind: str
    message: str
    detail: str
    code: str
    element: str

    @property
    def title(self) -> str:
        return kind_info(self.kind)["title"]

    @property
    def fix(self) -> str:
        return kind_info(self.kind)["fix"]

    def as_dict(self) -> dict:
        return {**asdict(self), "title": self.title, "fix": self.fix}

    def fault_body(self) -> dict:
        """The QBO Fault envelope this corresponds to (kept as the pre-flight Attempt's body)."""
        error = {"Message": self.message, "Detail": self.detail, "code": self.code}
        if self.element:
            error["element"] = self.element
        return {"Fault": {"Error": [error], "type": "ValidationFault"}, "preflight": True}


EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def is_valid_email(email: str) -> bool:
    """RFC 822-ish syntax as QBO applies it: one @, a dotted domain, no empty labels or '..'."""
    email = (email or "").strip()
    if not EMAIL_RE.match(email) or ".." in email:
        return False
    local, _, domain = email.partition("@")
    return not (local.startswith(".") or local.endswith(".") or len(email) > 100)


def refund_account_missing() -> PreflightError:
    """A refund receipt without the account the money is paid back from (QBO: 2020)."""
    return PreflightError(
        kind="refund_account_missing", message=MSG_REQUIRED,
        detail="Required parameter DepositToAccountRef is missing in the request", code="2020",
        element="DepositToAccountRef",
    )


def preflight_payload(
    company: Company, kind: str, payload: dict, *, lookups: MirrorLookups | None = None
) -> PreflightError | None:
    """The first fault QBO would answer for this payload, found without an API call, or None.

    Order of checks follows the seed: a bad email shows first, then a missing customer. Batch
    ingest passes its mirror ``lookups`` (items asked once per batch).
    """
    if kind == PushRequest.Kind.REFUND_RECEIPT:
        ref = payload.get("DepositToAccountRef")
        return None if isinstance(ref, dict) and ref.get("value") else refund_account_missing()
    if kind not in KIND_ENTITY:
        return None
    bill_email = payload.get("BillEmail")
    address = bill_email.get("Address") if isinstance(bill_email, dict) else None
    # BillEmail may carry several addresses separated by commas (QBO accepts that); each must be valid.
    if isinstance(address, str) and address.strip() and not all(
        is_valid_email(part) for part in address.split(",")
    ):
        return PreflightError(
            kind="invalid_email",
            message=MSG_INVALID_EMAIL,
            detail=f"Email Address does not conform to the syntax rules of RFC 822. Supplied value:{address}",
            code="2210",
            element="BillEmail.Address",
        )
    customer_ref = payload.get("CustomerRef")
    has_customer = isinstance(customer_ref, dict) and str(customer_ref.get("value", "") or "").strip() != ""
    if kind == PushRequest.Kind.INVOICE and not has_customer:
        return PreflightError(
            kind="customer_ref_required",
            message=MSG_REQUIRED,
            detail="Required parameter CustomerRef is missing in the request",
            code="2020",
            element="CustomerRef",
        )
    lines = payload.get("Line")
    if not isinstance(lines, list) or not lines:
        return PreflightError(
            kind="validation",
            message=MSG_REQUIRED,
            detail="Required parameter Line is missing in the request",
            code="2020",
            element="Line",
        )
    lookups = lookups or MirrorLookups()
    ref_error = _check_item_refs(company, lines, lookups)
    if ref_error is not None:
        return ref_error
    tax_error = check_tax_and_currency(company, payload, lookups)
    if tax_error is not None:
        return tax_error
    doc_number = payload.get("DocNumber")
    if isinstance(doc_number, str) and len(doc_number) > DOC_NUMBER_MAX:
        return PreflightError(
            kind="doc_number_too_long",
            message=MSG_STRING_LENGTH,
            detail="String length is either shorter or longer than supported by specification. "
            f"Min:0 Max:{DOC_NUMBER_MAX} supplied:{len(doc_number)}",
            code="2050",
            element="DocNumber",
        )
    return None


def is_shipping_line(line: dict) -> bool:
    """The builder's shipping line: Description "Shipping", a SalesItemLineDetail without Qty (an
    order's product lines always carry Qty)."""
    detail = line.get("SalesItemLineDetail")
    return line.get("Description") == SHIPPING_DESCRIPTION and isinstance(detail, dict) and "Qty" not in detail


def _check_item_refs(company: Company, lines: list, lookups: MirrorLookups) -> PreflightError | None:
    element = "Line.SalesItemLineDetail.ItemRef"
    refs = []
    shipping_without_item = None
    for line in lines:
        if not isinstance(line, dict) or line.get("DetailType") != "SalesItemLineDetail":
            continue
        detail = line.get("SalesItemLineDetail")
        ref = detail.get("ItemRef") if isinstance(detail, dict) else None
        value = str(ref.get("value", "") or "").strip() if isinstance(ref, dict) else ""
        if value == "" and is_shipping_line(line):
            shipping_without_item = line
            continue
        refs.append(value)
    if any(value == "" for value in refs):
        # No item for the SKU and no default item: QBO would refuse the line's missing reference.
        return PreflightError(
            kind="invalid_reference", message=MSG_INVALID_REF, detail=f"{MSG_INVALID_REF} : {element}",
            code="2500", element=element,
        )
    if shipping_without_item is not None:
        # QBO would book it on its default item "Services": the shipping would read as a sale.
        return PreflightError(
            kind="shipping_item_missing", message=MSG_SHIPPING_ITEM,
            detail=f"The order charges shipping ({shipping_without_item.get('Amount')}), but its site area has "
            "no shipping item, so the Shipping line has no ItemRef and QuickBooks would book it on its default "
            "item \"Services\".",
            code="", element=element,
        )
    wanted = {value for value in refs if value != SHIPPING_ITEM_ID}
    if not wanted or not lookups.has_items(company):
        return None  # the item mirror has not synced yet: let QBO judge
    lookups.preload(item_ids={company.pk: wanted})
    known = {value: item.active for value in wanted if (item := lookups.item(company, value)) is not None}
    for value in refs:
        if value == SHIPPING_ITEM_ID:
            continue
        if value not in known:
            return PreflightError(
                kind="invalid_reference", message=MSG_INVALID_REF, detail=f"{MSG_INVALID_REF} : {element}",
                code="2500", element=element,
            )
        if not known[value]:
            return PreflightError(
                kind="invalid_reference", message=MSG_INVALID_REF, detail=DETAIL_INACTIVE, code="2500", element=""
            )
    return None


def _ref_value(ref) -> str:
    return str(ref.get("value", "") or "").strip() if isinstance(ref, dict) else ""


def check_tax_and_currency(company: Company, payload: dict, lookups: MirrorLookups) -> PreflightError | None:
    """A tax rate without a QuickBooks tax code; a currency the company cannot book; a customer in
    another currency than the document's (docs/tax.md)."""
    rate = find_unmapped(payload)
    if rate is not None:
        return PreflightError(
            kind="tax_code_unmapped",
            message=f"No QuickBooks tax code for {rate} %",
            detail=f"The Company's tax mapping has no QuickBooks tax code for the rate {rate} %"
            + (" (the code of untaxed lines, the exempt tax code, is not set)" if rate == "0" else ""),
            code="",
            element=f"tax_rate:{rate}",
        )
    home = company.home_currency
    currency = _ref_value(payload.get("CurrencyRef")).upper() or home
    if not home or not currency:
        return None
    if currency != home and not company.multicurrency:
        return PreflightError(
            kind="currency_not_enabled",
            message=f"The order is in {currency}; the company books in {home} and multicurrency is off",
            detail="Multicurrency isn't turned on for this company: QuickBooks would book the amounts as "
            f"{home}",
            code="",
            element="CurrencyRef",
        )
    customer_id = _ref_value(payload.get("CustomerRef"))
    if company.multicurrency and customer_id:
        customer = lookups.customer(company, customer_id)
        if customer is not None and customer.currency and customer.currency != currency:
            return PreflightError(
                kind="customer_currency_mismatch",
                message="Business Validation Error: The transaction needs to be in the same currency as the A/R "
                "and A/P accounts you use.",
                detail=f"Customer {customer.display_name} ({customer.qbo_id}) is in {customer.currency}; "
                f"the document is in {currency}",
                code="6000",
                element="CurrencyRef",
            )
    return None
