"""Payload builder, pre-flight checks and validation of edited payloads.

``build_payload(order)`` turns an Order into the bare QBO entity body (no ``{"Invoice": ...}``
wrapper) that ``POST /v3/company/{realm}/invoice`` or ``/salesreceipt`` expects
(reference/qbo-api-facts.md §2). ``preflight_payload`` catches what QBO would reject without spending
an API call and answers with the same error kind, message, detail, code and element QBO gives.
``validate_edited_payload`` guards the "Edit for Re-Queue" form and the API's re-queue body.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal

from ledgerlink.core.models import Company, Customer, Item, Order, PushRequest, SiteArea
from ledgerlink.core.services.errors import ServiceError
from ledgerlink.quickbooks import wire
from ledgerlink.quickbooks.errors import kind_info

CENT = Decimal("0.01")
DOC_NUMBER_MAX = 21
SHIPPING_ITEM_ID = "SHIPPING_ITEM_ID"
MAX_EDIT_BYTES = 1_000_000

# The documents an order becomes, and their QBO entity.
KIND_ENTITY = {kind: wire.ENTITY_FOR_KIND[kind] for kind in wire.DOCUMENT_KINDS}

# QBO's texts for the faults pre-flight reproduces (qbo-api-facts.md §3, qbo-recorded/, qbo_sandbox).
MSG_REQUIRED = "Required param missing, need to supply the required value for the API"
MSG_INVALID_EMAIL = "Invalid Email Address format"
MSG_INVALID_REF = "Invalid Reference Id"
MSG_STRING_LENGTH = "Invalid String Length"
DETAIL_INACTIVE = (
    "Invalid Reference Id : Something you're trying to use has been made inactive. "
    "Check the fields with accounts, customers, items, vendors or employees."
)

def error_kind_info(kind: str) -> dict:
    """Title and fix for an error kind (``ERROR_KINDS`` of ledgerlink.quickbooks.errors)."""
    return kind_info(kind)


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
        return error_kind_info(self.kind)["title"]

    @property
    def fix(self) -> str:
        return error_kind_info(self.kind)["fix"]

    def as_dict(self) -> dict:
        return {**asdict(self), "title": self.title, "fix": self.fix}

    def fault_body(self) -> dict:
        """The QBO Fault envelope this corresponds to (kept as the pre-flight Attempt's body)."""
        error = {"Message": self.message, "Detail": self.detail, "code": self.code}
        if self.element:
            error["element"] = self.element
        return {"Fault": {"Error": [error], "type": "ValidationFault"}, "preflight": True}


# --- numbers --------------------------------------------------------------------------------------


def money(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def json_number(value: Decimal) -> int | float:
    """A Decimal as a JSON number: integral values as ints, others as the shortest float."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return int(value)
    return float(value.normalize())


def line_amount(quantity, unit_price) -> Decimal:
    """Qty x UnitPrice rounded half-up to cents: what QBO checks Amount against (6070)."""
    return money(Decimal(quantity) * Decimal(unit_price))


# --- email ----------------------------------------------------------------------------------------

EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def normalise_email(email: str) -> str:
    return (email or "").strip().casefold()


def is_valid_email(email: str) -> bool:
    """RFC 822-ish syntax as QBO applies it: one @, a dotted domain, no empty labels or '..'."""
    email = (email or "").strip()
    if not EMAIL_RE.match(email) or ".." in email:
        return False
    local, _, domain = email.partition("@")
    return not (local.startswith(".") or local.endswith(".") or len(email) > 100)


# --- look-ups against the mirror -----------------------------------------------------------------


def find_customer_by_email(company: Company, email: str) -> Customer | None:
    """The mirror's customer for an email (``services.mirror.match_customer_by_email``: normalised
    email, active customers only, the most recently updated first)."""
    from ledgerlink.core.services.mirror import match_customer_by_email  # noqa: PLC0415 - mirror imports payloads' users

    return match_customer_by_email(company, email)


def find_item_for_sku(company: Company, sku: str) -> Item | None:
    """Active item whose Sku is ``sku``, else whose Name is ``sku``."""
    sku = (sku or "").strip()
    if not sku:
        return None
    items = Item.objects.filter(company=company, active=True)
    return items.filter(sku=sku).order_by("id").first() or items.filter(name=sku).order_by("id").first()


def _item_ref(company: Company, qbo_id: str) -> dict:
    ref = {"value": qbo_id}
    item = Item.objects.filter(company=company, qbo_id=qbo_id).only("name").first()
    if item is not None:
        ref["name"] = item.name
    return ref


def _customer_ref(company: Company, qbo_id: str) -> dict:
    ref = {"value": qbo_id}
    customer = Customer.objects.filter(company=company, qbo_id=qbo_id).only("display_name").first()
    if customer is not None:
        ref["name"] = customer.display_name
    return ref


# --- builder ----------------------------------------------------------------------------------------

_ADDRESS_MAP = (
    ("line1", "Line1"),
    ("line2", "Line2"),
    ("city", "City"),
    ("region", "CountrySubDivisionCode"),
    ("postal_code", "PostalCode"),
    ("country", "Country"),
)


def qbo_address(address: dict | None) -> dict:
    out = {}
    for ours, theirs in _ADDRESS_MAP:
        value = str((address or {}).get(ours, "") or "").strip()
        if value:
            out[theirs] = value
    return out


def push_kind(order: Order) -> str:
    return order.push_method or order.order_source.site_area.push_method


def resolve_customer_ref(order: Order) -> dict | None:
    site_area: SiteArea = order.order_source.site_area
    company = site_area.company
    if order.qbo_customer_id:
        return _customer_ref(company, order.qbo_customer_id)
    if site_area.customer_policy == SiteArea.CustomerPolicy.DEFAULT and site_area.default_customer:
        return _customer_ref(company, site_area.default_customer)
    customer = find_customer_by_email(company, order.email)
    if customer is not None:
        return {"value": customer.qbo_id, "name": customer.display_name}
    return None


def build_payload(order: Order) -> tuple[str, dict]:
    """(kind, body) for an order: ``kind`` is "invoice" or "sales_receipt"; ``body`` the bare entity."""
    site_area: SiteArea = order.order_source.site_area
    company = site_area.company
    kind = push_kind(order)
    fallback_item = order.default_item or site_area.default_item
    refs: dict[str, dict] = {}

    def item_ref(qbo_id: str) -> dict:
        # One look-up per item for the whole order (the default item usually serves every line).
        if qbo_id not in refs:
            refs[qbo_id] = _item_ref(company, qbo_id)
        return dict(refs[qbo_id])

    lines = []
    for line in order.lines.all().order_by("position", "id"):
        detail: dict = {}
        item = find_item_for_sku(company, line.sku)
        if item is not None:
            detail["ItemRef"] = {"value": item.qbo_id, "name": item.name}
        elif fallback_item:
            detail["ItemRef"] = item_ref(fallback_item)
        detail["Qty"] = json_number(line.quantity)
        detail["UnitPrice"] = json_number(line.unit_price)
        entry = {
            "DetailType": "SalesItemLineDetail",
            "Amount": json_number(line_amount(line.quantity, line.unit_price)),
        }
        description = line.description or line.sku
        if description:
            entry["Description"] = description
        entry["SalesItemLineDetail"] = detail
        lines.append(entry)

    if order.shipping and order.shipping > 0:
        # The site area's shipping item; else the default item (works in every company); QBO's special
        # SHIPPING_ITEM_ID only when chosen explicitly or nothing else is set, because QBO accepts it
        # only when the company's AllowShipping preference is on.
        shipping_item = site_area.shipping_item or fallback_item or SHIPPING_ITEM_ID
        ref = {"value": SHIPPING_ITEM_ID} if shipping_item == SHIPPING_ITEM_ID else item_ref(shipping_item)
        lines.append(
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": json_number(money(order.shipping)),
                "Description": "Shipping",
                "SalesItemLineDetail": {"ItemRef": ref},
            }
        )
    if order.discount and order.discount > 0:
        lines.append(
            {
                "DetailType": "DiscountLineDetail",
                "Amount": json_number(money(order.discount)),
                "Description": "Discount",
                "DiscountLineDetail": {"PercentBased": False},
            }
        )

    body: dict = {"Line": lines}
    customer_ref = resolve_customer_ref(order)
    if customer_ref is not None:
        body["CustomerRef"] = customer_ref
    email = (order.email or "").strip()
    if email:
        body["BillEmail"] = {"Address": email}
    if order.number:
        body["DocNumber"] = order.number
    if order.txn_date:
        body["TxnDate"] = order.txn_date.isoformat()
    if order.tax and order.tax > 0:
        body["TxnTaxDetail"] = {"TotalTax": json_number(money(order.tax))}
    currency = (order.currency or "USD").upper()
    if currency != "USD":
        body["CurrencyRef"] = {"value": currency}
    bill = qbo_address(order.bill_address)
    if bill:
        body["BillAddr"] = bill
    ship = qbo_address(order.ship_address)
    if ship:
        body["ShipAddr"] = ship
    body["PrivateNote"] = wire.order_marker(order.pk)
    return kind, body


# --- pre-flight -------------------------------------------------------------------------------------


def preflight_payload(company: Company, kind: str, payload: dict) -> PreflightError | None:
    """The first fault QBO would answer for this payload, found without an API call, or None.

    Order of checks follows the seed: a bad email shows first, then a missing customer.
    """
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
    ref_error = _check_item_refs(company, lines)
    if ref_error is not None:
        return ref_error
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


def _check_item_refs(company: Company, lines: list) -> PreflightError | None:
    element = "Line.SalesItemLineDetail.ItemRef"
    refs = []
    for line in lines:
        if not isinstance(line, dict) or line.get("DetailType") != "SalesItemLineDetail":
            continue
        detail = line.get("SalesItemLineDetail")
        ref = detail.get("ItemRef") if isinstance(detail, dict) else None
        value = str(ref.get("value", "") or "").strip() if isinstance(ref, dict) else ""
        refs.append(value)
    if any(value == "" for value in refs):
        # No item for the SKU and no default item: QBO would refuse the line's missing reference.
        return PreflightError(
            kind="invalid_reference", message=MSG_INVALID_REF, detail=f"{MSG_INVALID_REF} : {element}",
            code="2500", element=element,
        )
    wanted = {value for value in refs if value != SHIPPING_ITEM_ID}
    if not wanted or not Item.objects.filter(company=company).exists():
        return None  # the item mirror has not synced yet: let QBO judge
    known = dict(Item.objects.filter(company=company, qbo_id__in=wanted).values_list("qbo_id", "active"))
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


# --- validation of edits --------------------------------------------------------------------------

_WRAPPERS = {
    "Invoice", "SalesReceipt", "Customer", "Item", "Payment", "Estimate", "CreditMemo", "RefundReceipt",
    "Bill", "JournalEntry", "BatchItemRequest", "IntuitResponse", "QueryResponse",
}
_UPDATE_KEYS = ("Id", "SyncToken")


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _require_number(value, field: str) -> None:
    if not _is_number(value):
        raise ServiceError("must be a number", field=field)


def _check_finite(value, path: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ServiceError("must be a finite number (NaN and Infinity are not JSON)", field=path)
    if isinstance(value, dict):
        for key, inner in value.items():
            _check_finite(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _check_finite(inner, f"{path}[{index}]")


def _check_no_nul(value, path: str) -> None:
    """QuickBooks refuses the NUL character and PostgreSQL's jsonb cannot store it."""
    if isinstance(value, str) and "\x00" in value:
        raise ServiceError("must not contain the NUL character (\\u0000)", field=path)
    if isinstance(value, dict):
        for key, inner in value.items():
            if "\x00" in key:
                raise ServiceError("has a key with the NUL character (\\u0000)", field=path)
            _check_no_nul(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _check_no_nul(inner, f"{path}[{index}]")


def validate_edited_payload(kind: str, payload, current: dict | None = None) -> dict:
    """Check an edited payload before it becomes a new revision. Returns it (a dict) or raises
    ServiceError naming the field (``payload.Line[0].Amount``). The edit may change the JSON body
    only: never the kind of document, the target document or the company. A create stays a create
    (no ``Id``/``SyncToken``/``sparse``); an update (``current`` has an ``Id``) keeps its ``Id`` and
    may change ``SyncToken`` (the fix for a stale object)."""
    if not isinstance(payload, dict):
        raise ServiceError("must be a JSON object (the bare document body)", field="payload")
    try:
        text = json.dumps(payload, allow_nan=False)
        size = len(text.encode())
        if "\\u0000" in text:
            _check_no_nul(payload, "payload")
    except ValueError as exc:
        _check_finite(payload, "payload")
        raise ServiceError(f"is not valid JSON: {exc}", field="payload") from exc
    except RecursionError as exc:
        raise ServiceError("is nested too deeply: a QuickBooks document is a few levels deep", field="payload") from exc
    if size > MAX_EDIT_BYTES:
        raise ServiceError(
            f"is {size:,} bytes; an edited payload may be at most {MAX_EDIT_BYTES:,} bytes",
            field="payload",
            status=413,
        )
    if not payload:
        raise ServiceError("must not be empty", field="payload")
    entity = KIND_ENTITY.get(kind, kind)
    for key in payload:
        if key in _WRAPPERS:
            raise ServiceError(
                f"must be the bare {entity} body, not wrapped in {key!r}; the kind of document cannot change",
                field=f"payload.{key}",
            )
    if "domain" in payload and payload["domain"] != "QBO":
        raise ServiceError('must be "QBO" if given', field="payload.domain")
    target = (current or {}).get("Id") if isinstance(current, dict) else None
    if target is None:
        for key in _UPDATE_KEYS:
            if key in payload:
                raise ServiceError(
                    "cannot be set: a re-queue creates the document, it never targets another one",
                    field=f"payload.{key}",
                )
        if payload.get("sparse") not in (None, False):
            raise ServiceError("cannot be true: a re-queue creates the document", field="payload.sparse")
    else:
        if str(payload.get("Id", "")) != str(target):
            raise ServiceError(f'must stay "{target}": an edit never targets another document', field="payload.Id")
        if not isinstance(payload.get("SyncToken"), str | int) or isinstance(payload.get("SyncToken"), bool):
            raise ServiceError("is required to update a document", field="payload.SyncToken")

    if "Line" in payload:
        lines = payload["Line"]
        if not isinstance(lines, list):
            raise ServiceError("must be a list of lines", field="payload.Line")
        for index, line in enumerate(lines):
            path = f"payload.Line[{index}]"
            if not isinstance(line, dict):
                raise ServiceError("must be an object", field=path)
            if "Amount" in line:
                _require_number(line["Amount"], f"{path}.Amount")
            if "DetailType" in line and not isinstance(line["DetailType"], str):
                raise ServiceError("must be a string", field=f"{path}.DetailType")
            for detail_key in ("SalesItemLineDetail", "DiscountLineDetail"):
                if detail_key not in line:
                    continue
                detail = line[detail_key]
                if not isinstance(detail, dict):
                    raise ServiceError("must be an object", field=f"{path}.{detail_key}")
                for number_key in ("Qty", "UnitPrice", "DiscountPercent"):
                    if number_key in detail:
                        _require_number(detail[number_key], f"{path}.{detail_key}.{number_key}")
                if "ItemRef" in detail and not (
                    isinstance(detail["ItemRef"], dict) and "value" in detail["ItemRef"]
                ):
                    raise ServiceError('must be an object with a "value"', field=f"{path}.{detail_key}.ItemRef")
    for ref_key in ("CustomerRef", "CurrencyRef"):
        if ref_key in payload:
            ref = payload[ref_key]
            if not isinstance(ref, dict) or not isinstance(ref.get("value"), str | int) or ref.get("value") in ("",):
                raise ServiceError('must be an object with a non-empty "value"', field=f"payload.{ref_key}")
    if "BillEmail" in payload:
        bill = payload["BillEmail"]
        if not isinstance(bill, dict) or not isinstance(bill.get("Address"), str):
            raise ServiceError('must be an object with an "Address" string', field="payload.BillEmail")
    if "TxnTaxDetail" in payload:
        tax = payload["TxnTaxDetail"]
        if not isinstance(tax, dict):
            raise ServiceError("must be an object", field="payload.TxnTaxDetail")
        if "TotalTax" in tax:
            _require_number(tax["TotalTax"], "payload.TxnTaxDetail.TotalTax")
    for text_key in ("DocNumber", "PrivateNote", "TxnDate"):
        if text_key in payload and not isinstance(payload[text_key], str):
            raise ServiceError("must be a string", field=f"payload.{text_key}")
    return payload
