"""The payload builder: ``build_payload(order)`` turns an Order into the bare QBO entity body (no
``{"Invoice": ...}`` wrapper) that ``POST /v3/company/{realm}/invoice`` or ``/salesreceipt`` expects
(reference/qbo-api-facts.md §2). Money is exact (Decimal), rounded half-up to cents as QBO checks it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from ledgerlink.core.models import Company, Order, OrderLine, SiteArea
from ledgerlink.domain.mirror.lookups import MirrorLookups
from ledgerlink.domain.tax.lines import TaxableLine, apply_tax
from ledgerlink.domain.tax.world import TaxWorld, world_of
from ledgerlink.quickbooks import wire

CENT = Decimal("0.01")
SHIPPING_ITEM_ID = "SHIPPING_ITEM_ID"  # QBO's special shipping item (needs AllowShipping on)
SHIPPING_DESCRIPTION = "Shipping"  # the shipping line's Description (its detail has no Qty)


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


def _item_ref(company: Company, qbo_id: str, lookups: MirrorLookups) -> dict:
    ref = {"value": qbo_id}
    item = lookups.item(company, qbo_id)
    if item is not None:
        ref["name"] = item.name
    return ref


def _customer_ref(company: Company, qbo_id: str, lookups: MirrorLookups) -> dict:
    ref = {"value": qbo_id}
    customer = lookups.customer(company, qbo_id)
    if customer is not None:
        ref["name"] = customer.display_name
    return ref


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


def resolve_customer_ref(order: Order, lookups: MirrorLookups | None = None) -> dict | None:
    site_area: SiteArea = order.order_source.site_area
    company = site_area.company
    lookups = lookups or MirrorLookups()
    if order.qbo_customer_id:
        return _customer_ref(company, order.qbo_customer_id, lookups)
    if site_area.customer_policy == SiteArea.CustomerPolicy.DEFAULT and site_area.default_customer:
        return _customer_ref(company, site_area.default_customer, lookups)
    customers = lookups.customers_for_email(company, order.email)
    if company.multicurrency and customers:
        # A customer has one currency: prefer the one in the order's currency (docs/tax.md).
        currency = (order.currency or company.home_currency).upper()
        same = [c for c in customers if (c.currency or company.home_currency) == currency]
        if not same and site_area.customer_policy == SiteArea.CustomerPolicy.CREATE:
            return None  # the create policy makes the customer in this currency ("Acme Tools (EUR)")
        customers = same or customers
    if customers:
        return {"value": customers[0].qbo_id, "name": customers[0].display_name}
    return None


def needs_tax_codes(order: Order, company: Company) -> bool:
    """Whether the order's payload looks at the Company's TaxCodes (read once per batch)."""
    return company.tax_model == "global" or (company.tax_model in ("ast", "legacy") and order.itemized_tax)


def tax_world(order: Order, company: Company, lookups: MirrorLookups) -> TaxWorld:
    """The Company's tax world as the order's payload needs it."""
    if not needs_tax_codes(order, company):
        return world_of(company)
    return world_of(company, lookups.tax_codes(company))


def build_payload(
    order: Order, *, order_lines: list[OrderLine] | None = None, lookups: MirrorLookups | None = None
) -> tuple[str, dict]:
    """(kind, body) for an order: ``kind`` is "invoice" or "sales_receipt"; ``body`` the bare entity.

    Batch ingest passes the order's ``order_lines`` (not written yet) and the batch's mirror ``lookups``;
    an order not written yet has no id, so its body gets the PrivateNote marker from
    ``mark_order`` once it is."""
    lookups = lookups or MirrorLookups()
    site_area: SiteArea = order.order_source.site_area
    company = site_area.company
    kind = push_kind(order)
    fallback_item = order.default_item or site_area.default_item
    refs: dict[str, dict] = {}

    def item_ref(qbo_id: str) -> dict:
        # One look-up per item for the whole order (the default item usually serves every line).
        if qbo_id not in refs:
            refs[qbo_id] = _item_ref(company, qbo_id, lookups)
        return dict(refs[qbo_id])

    lines = []
    taxed: list[TaxableLine] = []
    for line in order.lines.all().order_by("position", "id") if order_lines is None else order_lines:
        detail: dict = {}
        item = lookups.item_for_sku(company, line.sku)
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
        taxed.append(TaxableLine(entry, line_amount(line.quantity, line.unit_price), line.tax, line.tax_rate,
                                 line.taxable))

    if order.shipping and order.shipping > 0:
        # The site area's shipping item (an item of the company, or QBO's special SHIPPING_ITEM_ID, which
        # QBO accepts only when the company's AllowShipping preference is on). Never the default item:
        # shipping is not a product sale. Without one the line has no ItemRef, which QBO would book on
        # its default item "Services"; pre-flight refuses it (``shipping_item_missing``) before sending.
        shipping_item = site_area.shipping_item
        detail = {}
        if shipping_item:
            detail["ItemRef"] = {"value": SHIPPING_ITEM_ID} if shipping_item == SHIPPING_ITEM_ID else item_ref(
                shipping_item
            )
        entry = {
            "DetailType": "SalesItemLineDetail",
            "Amount": json_number(money(order.shipping)),
            "Description": SHIPPING_DESCRIPTION,
            "SalesItemLineDetail": detail,
        }
        lines.append(entry)
        shipping_tax = money(order.shipping_tax or 0)
        shipping_rate = order.shipping_tax_rate
        taxed.append(TaxableLine(
            entry, money(order.shipping), shipping_tax if (shipping_tax or shipping_rate is not None) else None,
            shipping_rate, bool(shipping_tax > 0 or (shipping_rate or 0) > 0),
        ))
    tax = apply_tax(
        tax_world(order, company, lookups), taxed, order_tax=money(order.tax or 0), discount=money(order.discount or 0),
        prices_include_tax=order.prices_include_tax, itemized=order.itemized_tax,
    )
    if order.discount and order.discount > 0:
        lines.append(
            {
                "DetailType": "DiscountLineDetail",
                "Amount": json_number(money(order.discount) if tax.discount is None else tax.discount),
                "Description": "Discount",
                "DiscountLineDetail": {"PercentBased": False},
            }
        )

    body: dict = {"Line": lines}
    customer_ref = resolve_customer_ref(order, lookups)
    if customer_ref is not None:
        body["CustomerRef"] = customer_ref
    email = (order.email or "").strip()
    if email:
        body["BillEmail"] = {"Address": email}
    if order.number:
        body["DocNumber"] = order.number
    if order.txn_date:
        body["TxnDate"] = order.txn_date.isoformat()
    body.update(tax.fields)
    currency = (order.currency or "USD").upper()
    if currency != (company.home_currency or "USD"):
        body["CurrencyRef"] = {"value": currency}
        if order.exchange_rate:
            body["ExchangeRate"] = json_number(order.exchange_rate)
    bill = qbo_address(order.bill_address)
    if bill:
        body["BillAddr"] = bill
    ship = qbo_address(order.ship_address)
    if ship:
        body["ShipAddr"] = ship
    if order.pk is not None:
        mark_order(body, order)
    return kind, body


def mark_order(body: dict, order: Order) -> None:
    """The PrivateNote marker that finds the order's document in QBO (needs the order's id)."""
    body["PrivateNote"] = wire.order_marker(order.pk)
