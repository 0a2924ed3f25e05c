"""Shopify webhook bodies (REST-shaped Order and Refund resources) -> Ledgerlink intents.

Entry point: ``route(topic, body, options=None) -> Intent`` with the value of ``X-Shopify-Topic`` and
the parsed JSON body (verify the signature over the raw bytes first: ``signatures.verify_shopify``).

    orders/create     -> order    (the order as Shopify gives it)
    orders/updated    -> change   (the full order again; the lifecycle layer diffs it)
    orders/paid       -> payment  (what the order has received)
    orders/cancelled  -> cancel
    refunds/create    -> refund   (refunded line items, refunded shipping, the refund's transactions)
    orders/fulfilled, orders/partially_fulfilled, orders/edited, orders/delete -> ignore (with why)
    anything else     -> MappingError (field "topic")

The version of an order intent is ``"<updated_at>#<digest of the mapped order>"``: equal versions
mean nothing Ledgerlink maps has changed. Amounts are the shop's money by default
(``MappingOptions(money="presentment")`` maps the buyer's currency from the ``*_set`` fields).
"""

from __future__ import annotations

from decimal import Decimal

from ledgerlink.stores._common import array, ident, iso_date, obj, parse_json_body
from ledgerlink.stores.errors import MappingError
from ledgerlink.stores.intents import (
    DEFAULT_OPTIONS,
    Intent,
    MappingOptions,
    address_or_none,
    check_shape,
    check_tax,
    check_total,
    digest,
    ignore,
    order_total,
    text_or_none,
)
from ledgerlink.stores.money import (
    ZERO,
    amount,
    fmt_amount,
    fmt_plain,
    quantity,
    rate_percent_from_fraction,
)

TOPICS = ("orders/create", "orders/updated", "orders/paid", "orders/cancelled", "refunds/create")
IGNORED_TOPICS = {
    "orders/fulfilled": "fulfilment does not change the books",
    "orders/partially_fulfilled": "fulfilment does not change the books",
    "orders/edited": "an order edit also sends orders/updated, which carries the edited order",
    "orders/delete": "Ledgerlink never deletes a posted document because the store deleted its order;"
    " cancel it instead",
}
#: Gateways whose "payment" is the merchant's own liability, not money received (see docs/stores.md).
NON_CASH_GATEWAYS = ("gift_card", "shopify_store_credit")

parse_body = parse_json_body


# --- money in the chosen currency ------------------------------------------------------------------


def _money(
    container: dict,
    key: str,
    field: str,
    options: MappingOptions,
    *,
    default: Decimal | None = None,
    allow_negative: bool = False,
) -> Decimal:
    """``container[key]`` in shop money, or ``container[key + "_set"].presentment_money.amount``."""
    if options.money == "presentment":
        money_set = container.get(f"{key}_set")
        if money_set is None and default is not None and container.get(key) in (None, ""):
            return default
        money_set = obj(money_set, f"{field}_set")
        presentment = obj(money_set.get("presentment_money"), f"{field}_set.presentment_money")
        return amount(
            presentment.get("amount"),
            f"{field}_set.presentment_money.amount",
            default=default,
            allow_negative=allow_negative,
        )
    value = container.get(key)
    if value is None and isinstance(container.get(f"{key}_set"), dict):
        shop = container[f"{key}_set"].get("shop_money") or {}
        value = shop.get("amount")
        field = f"{field}_set.shop_money.amount"
    return amount(value, field, default=default, allow_negative=allow_negative)


def _taxes(tax_lines: list, field: str, options: MappingOptions) -> tuple[Decimal, str | None]:
    """(sum of the tax lines' amounts, sum of their rates as a percent string or None when none)."""
    total, rate = ZERO, None
    for index, tax_line in enumerate(tax_lines):
        where = f"{field}[{index}]"
        tax_line = obj(tax_line, where)
        total += _money(tax_line, "price", f"{where}.price", options)
        percent = rate_percent_from_fraction(tax_line.get("rate"), f"{where}.rate")
        rate = percent if rate is None else rate + percent
    return total, (fmt_plain(rate) if rate is not None else None)


def _allocations(entry: dict, field: str, options: MappingOptions) -> Decimal:
    allocations = array(entry.get("discount_allocations"), f"{field}.discount_allocations")
    if not allocations and entry.get("total_discount") not in (None, "", "0.00", 0):
        return _money(entry, "total_discount", f"{field}.total_discount", options)  # older API versions
    total = ZERO
    for index, allocation in enumerate(allocations):
        where = f"{field}.discount_allocations[{index}]"
        total += _money(obj(allocation, where), "amount", f"{where}.amount", options)
    return total


# --- the order --------------------------------------------------------------------------------------


def _address(value, field: str) -> dict | None:
    if value is None:
        return None
    value = obj(value, field)
    return address_or_none(
        {
            "line1": value.get("address1"),
            "line2": value.get("address2"),
            "city": value.get("city"),
            "region": value.get("province_code") or value.get("province"),
            "postal_code": value.get("zip"),
            "country": value.get("country_code") or value.get("country"),
        }
    )


def _person(value: dict | None) -> str | None:
    if not value:
        return None
    name = " ".join(
        part for part in (text_or_none(value.get("first_name")), text_or_none(value.get("last_name"))) if part
    )
    return name or text_or_none(value.get("name"))


def _number(body: dict) -> str:
    name = text_or_none(body.get("name"))
    if name:
        return name[1:].strip() if name.startswith("#") else name
    if body.get("order_number") not in (None, ""):
        return str(body["order_number"])
    raise MappingError("is missing (the order's name, such as #1001, is its number in Ledgerlink)", "name")


def _line(item: dict, field: str, options: MappingOptions) -> tuple[dict, Decimal]:
    """(the Ledgerlink line, the line's discount)."""
    qty = quantity(item.get("quantity"), f"{field}.quantity")
    price = _money(item, "price", f"{field}.price", options)
    tax, rate = _taxes(array(item.get("tax_lines"), f"{field}.tax_lines"), f"{field}.tax_lines", options)
    sku = text_or_none(item.get("sku"))
    if item.get("gift_card") and not sku:
        sku = options.gift_card_sku
    description = text_or_none(item.get("name")) or text_or_none(item.get("title"))
    if not sku and not description:
        raise MappingError("has neither a sku nor a name/title", field)
    taxable = item.get("taxable")
    line = {
        "sku": sku,
        "description": description,
        "quantity": fmt_plain(qty),
        "unit_price": fmt_amount(price),
        "tax": fmt_amount(tax),
        "tax_rate": rate,
        "taxable": bool(taxable) if isinstance(taxable, bool) else None,
    }
    if item.get("gift_card"):
        line["taxable"] = False
    return line, _allocations(item, field, options)


def _duties(items: list, body: dict, options: MappingOptions) -> tuple[Decimal, Decimal]:
    """(duties, tax on duties) from ``line_items[].duties`` (or ``original_total_duties_set``)."""
    total, tax = ZERO, ZERO
    found = False
    for index, item in enumerate(items):
        for d_index, duty in enumerate(array(item.get("duties"), f"line_items[{index}].duties")):
            where = f"line_items[{index}].duties[{d_index}]"
            duty = obj(duty, where)
            found = True
            total += _money(duty, "price", f"{where}.price", options, default=None)
            duty_tax, _ = _taxes(
                array(duty.get("tax_lines"), f"{where}.tax_lines"), f"{where}.tax_lines", options
            )
            tax += duty_tax
    if not found and isinstance(body.get("original_total_duties_set"), dict):
        side = "presentment_money" if options.money == "presentment" else "shop_money"
        money = obj(body["original_total_duties_set"].get(side), f"original_total_duties_set.{side}")
        total = amount(money.get("amount"), f"original_total_duties_set.{side}.amount", default=ZERO)
    return total, tax


def map_order(body: dict, options: MappingOptions | None = None) -> tuple[dict, dict]:
    """(the Ledgerlink order, meta) for a Shopify Order resource; MappingError when it does not map."""
    options = options or DEFAULT_OPTIONS
    body = obj(body, "body")
    external_id = ident(body.get("id"), "id")
    items = array(body.get("line_items"), "line_items")
    if not items:
        raise MappingError("is empty: an order needs at least one line item", "line_items")

    lines, discount = [], ZERO
    for index, item in enumerate(items):
        line, line_discount = _line(obj(item, f"line_items[{index}]"), f"line_items[{index}]", options)
        lines.append(line)
        discount += line_discount

    shipping = shipping_tax = ZERO
    shipping_rates: set = set()
    shipping_lines = array(body.get("shipping_lines"), "shipping_lines")
    for index, ship in enumerate(shipping_lines):
        where = f"shipping_lines[{index}]"
        ship = obj(ship, where)
        price = _money(ship, "price", f"{where}.price", options)
        ship_discount = _allocations(ship, where, options)
        shipping += price - ship_discount
        tax, rate = _taxes(array(ship.get("tax_lines"), f"{where}.tax_lines"), f"{where}.tax_lines", options)
        shipping_tax += tax
        shipping_rates.add(rate)
    if shipping < 0:
        raise MappingError(
            f"shipping discounts exceed the shipping price ({fmt_amount(shipping)})", "shipping_lines"
        )
    shipping_rate = next(iter(shipping_rates)) if len(shipping_rates) == 1 else None

    duties, duties_tax = _duties(items, body, options)
    if duties:
        lines.append(
            {
                "sku": options.duty_sku,
                "description": "Duties",
                "quantity": "1",
                "unit_price": fmt_amount(duties),
                "tax": fmt_amount(duties_tax),
                "tax_rate": None,
                "taxable": bool(duties_tax),
            }
        )

    if options.money == "presentment":
        currency = text_or_none(body.get("presentment_currency"))
        if not currency:
            raise MappingError(
                "is missing: presentment mapping needs the buyer's currency", "presentment_currency"
            )
    else:
        currency = text_or_none(body.get("currency"))
        if not currency:
            raise MappingError("is missing (the shop's 3-letter currency code)", "currency")

    customer = body.get("customer") if isinstance(body.get("customer"), dict) else {}
    billing = body.get("billing_address") if isinstance(body.get("billing_address"), dict) else {}
    shipping_address = body.get("shipping_address") if isinstance(body.get("shipping_address"), dict) else {}
    default_address = (
        customer.get("default_address") if isinstance(customer.get("default_address"), dict) else {}
    )
    taxes_included = body.get("taxes_included")
    if not isinstance(taxes_included, bool):
        raise MappingError("must be true or false (whether the prices include tax)", "taxes_included")

    tax = _money(body, "total_tax", "total_tax", options, default=ZERO)
    order = {
        "external_id": external_id,
        "number": _number(body),
        "email": text_or_none(body.get("email"))
        or text_or_none(body.get("contact_email"))
        or text_or_none(customer.get("email")),
        "customer_name": _person(customer) or _person(billing) or _person(shipping_address),
        "customer_company": text_or_none(billing.get("company"))
        or text_or_none(shipping_address.get("company"))
        or text_or_none(default_address.get("company")),
        "bill_address": _address(body.get("billing_address"), "billing_address"),
        "ship_address": _address(body.get("shipping_address"), "shipping_address"),
        "currency": currency.upper(),
        "exchange_rate": None,
        "txn_date": iso_date(
            body.get("processed_at") or body.get("created_at"),
            "processed_at" if body.get("processed_at") else "created_at",
        ),
        "lines": lines,
        "shipping": fmt_amount(shipping),
        "shipping_tax": fmt_amount(shipping_tax),
        "shipping_tax_rate": shipping_rate if shipping_lines else None,
        "discount": fmt_amount(discount),
        "tax": fmt_amount(tax),
        "prices_include_tax": taxes_included,
    }

    store_total = _money(body, "total_price", "total_price", options)
    tip = _money(body, "total_tip_received", "total_tip_received", DEFAULT_OPTIONS, default=ZERO)
    meta: dict = {}
    if tip:
        residual = store_total - order_total(order)
        if residual == 0:
            meta["tip_in_line_items"] = fmt_amount(tip)  # the tip already is one of the line items
        elif residual > 0 and (residual == tip or options.money == "presentment"):
            lines.append(
                {
                    "sku": options.tip_sku,
                    "description": "Tip",
                    "quantity": "1",
                    "unit_price": fmt_amount(residual),
                    "tax": "0.00",
                    "tax_rate": None,
                    "taxable": False,
                }
            )
    check_total(order, store_total, "total_price")
    check_tax(order, tax, "total_tax")
    check_shape("order", order)

    gateways = [str(name) for name in array(body.get("payment_gateway_names"), "payment_gateway_names")]
    meta.update(
        {
            "discount_codes": [
                str(code.get("code"))
                for code in array(body.get("discount_codes"), "discount_codes")
                if isinstance(code, dict) and code.get("code")
            ],
            "financial_status": body.get("financial_status"),
            "payment_gateways": gateways,
            "shop_currency": text_or_none(body.get("currency")),
            "presentment_currency": text_or_none(body.get("presentment_currency")),
            "test": bool(body.get("test")),
            "cancelled_at": body.get("cancelled_at"),
        }
    )
    return order, meta


def _version(body: dict, mapped) -> str:
    return f"{body.get('updated_at') or ''}#{digest(mapped)}"


# --- lifecycle ---------------------------------------------------------------------------------------


def map_payment(body: dict, options: MappingOptions | None = None) -> dict | None:
    """The payment an ``orders/paid`` body stands for, or None when nothing has been received.

    Amount: ``total_price - total_outstanding`` (what the order has received). The Order resource does
    not say how much each gateway took, so an order paid partly by gift card or store credit is one
    payment whose ``method`` names every gateway (``"gift_card, shopify_payments"``)."""
    options = options or DEFAULT_OPTIONS
    external_id = ident(body.get("id"), "id")
    total = _money(body, "total_price", "total_price", options)
    outstanding = ZERO
    if amount(body.get("total_outstanding"), "total_outstanding", default=ZERO):  # shop money
        outstanding = _money(body, "total_outstanding", "total_outstanding", options)
    received = total - outstanding
    if received <= 0:
        return None
    gateways = [
        str(name) for name in array(body.get("payment_gateway_names"), "payment_gateway_names") if name
    ]
    payment = {
        "external_id": f"{external_id}:paid",
        "amount": fmt_amount(received),
        "date": iso_date(
            body.get("updated_at") or body.get("processed_at") or body.get("created_at"), "updated_at"
        ),
        "method": ", ".join(gateways) or None,
        "reference": text_or_none(body.get("confirmation_number")),
    }
    check_shape("payment", payment)
    return payment


def map_cancel(body: dict) -> dict:
    return {"reason": text_or_none(body.get("cancel_reason"))}


def map_refund(body: dict, options: MappingOptions | None = None) -> tuple[dict | None, dict]:
    """(the refund, meta) for a Shopify Refund resource; the refund is None when it returns nothing
    (no line, no shipping, no money: e.g. a restock-only refund).

    lines     ``refund_line_items``: the refunded line's SKU and quantity
    shipping  ``refund_shipping_lines[].subtotal_amount_set`` (API 2024-10 on) plus the older
              ``order_adjustments`` of kind ``shipping_refund`` (their amount is negative)
    amount    the sum of the refund's successful ``refund`` transactions (all gateways: a refund to a
              gift card or store credit is a refund); without transactions, the refund's own parts
              (lines + their tax + shipping + its tax + discrepancy adjustments)
    """
    options = options or DEFAULT_OPTIONS
    body = obj(body, "body")
    refund_id = ident(body.get("id"), "id")
    lines, parts = [], ZERO
    for index, item in enumerate(array(body.get("refund_line_items"), "refund_line_items")):
        where = f"refund_line_items[{index}]"
        item = obj(item, where)
        qty = quantity(item.get("quantity"), f"{where}.quantity")
        line_item = obj(item.get("line_item"), f"{where}.line_item", required=False)
        sku = text_or_none(line_item.get("sku"))
        if line_item.get("gift_card") and not sku:
            sku = options.gift_card_sku
        lines.append({"sku": sku, "quantity": fmt_plain(qty)})
        parts += _money(item, "subtotal", f"{where}.subtotal", options, default=ZERO)
        parts += _money(item, "total_tax", f"{where}.total_tax", options, default=ZERO)

    shipping = ZERO
    for index, ship in enumerate(array(body.get("refund_shipping_lines"), "refund_shipping_lines")):
        where = f"refund_shipping_lines[{index}]"
        ship = obj(ship, where)
        side = "presentment_money" if options.money == "presentment" else "shop_money"
        subtotal_set = obj(ship.get("subtotal_amount_set"), f"{where}.subtotal_amount_set")
        money = obj(subtotal_set.get(side), f"{where}.subtotal_amount_set.{side}")
        value = amount(money.get("amount"), f"{where}.subtotal_amount_set.{side}.amount", allow_negative=True)
        shipping += abs(value)
        parts += abs(value)
        if isinstance(ship.get("tax_amount_set"), dict):
            tax_money = obj(ship["tax_amount_set"].get(side), f"{where}.tax_amount_set.{side}")
            parts += abs(
                amount(
                    tax_money.get("amount"),
                    f"{where}.tax_amount_set.{side}.amount",
                    default=ZERO,
                    allow_negative=True,
                )
            )
    for index, adjustment in enumerate(array(body.get("order_adjustments"), "order_adjustments")):
        where = f"order_adjustments[{index}]"
        adjustment = obj(adjustment, where)
        value = _money(adjustment, "amount", f"{where}.amount", options, allow_negative=True)
        tax = _money(
            adjustment, "tax_amount", f"{where}.tax_amount", options, default=ZERO, allow_negative=True
        )
        if adjustment.get("kind") == "shipping_refund":
            shipping += abs(value)
            parts += abs(value) + abs(tax)
        else:  # refund_discrepancy: refunded less (negative) or more than calculated
            parts -= value + tax

    by_gateway: dict[str, Decimal] = {}
    refunded = ZERO
    for index, txn in enumerate(array(body.get("transactions"), "transactions")):
        where = f"transactions[{index}]"
        txn = obj(txn, where)
        if txn.get("kind") != "refund" or txn.get("status") not in ("success", None):
            continue
        value = amount(txn.get("amount"), f"{where}.amount")
        refunded += value
        gateway = str(txn.get("gateway") or "")
        by_gateway[gateway] = by_gateway.get(gateway, ZERO) + value
    money_back = refunded if by_gateway else parts
    meta = {
        "order_id": text_or_none(body.get("order_id")),
        "amount_by_gateway": {gateway: fmt_amount(value) for gateway, value in by_gateway.items()},
        "non_cash_amount": fmt_amount(
            sum((v for g, v in by_gateway.items() if g in NON_CASH_GATEWAYS), ZERO)
        ),
        "restock": body.get("restock"),
    }
    if not lines and not shipping and money_back <= 0:
        return None, meta
    refund = {
        "external_id": refund_id,
        "lines": lines,
        "shipping": fmt_amount(shipping),
        "amount": fmt_amount(money_back),
        "reason": text_or_none(body.get("note")),
    }
    check_shape("refund", refund)
    return refund, meta


# --- the entry point ---------------------------------------------------------------------------------


def route(topic: str, body: dict, options: MappingOptions | None = None) -> Intent:
    """What one Shopify delivery asks of Ledgerlink (see the module docstring)."""
    options = options or DEFAULT_OPTIONS
    topic = (topic or "").strip().lower()
    if topic in IGNORED_TOPICS:
        order_id = text_or_none(obj(body, "body").get("id"))
        return ignore(order_id, f"{topic}: {IGNORED_TOPICS[topic]}")
    if topic not in TOPICS:
        raise MappingError(
            f"{topic or '(none)'!r} is not a topic Ledgerlink handles (known: {', '.join(TOPICS)})", "topic"
        )
    body = obj(body, "body")
    if topic == "refunds/create":
        refund, meta = map_refund(body, options)
        order_id = ident(body.get("order_id"), "order_id")
        if refund is None:
            return ignore(order_id, "the refund returns no line, no shipping and no money", **meta)
        return Intent("refund", refund, order_id, version=f"refund:{refund['external_id']}", meta=meta)

    order_id = ident(body.get("id"), "id")
    if topic == "orders/create":
        order, meta = map_order(body, options)
        return Intent("order", order, order_id, version=_version(body, order), meta=meta)
    if topic == "orders/updated":
        order, meta = map_order(body, options)
        return Intent("change", order, order_id, version=_version(body, order), meta=meta)
    if topic == "orders/paid":
        payment = map_payment(body, options)
        gateways = [str(name) for name in array(body.get("payment_gateway_names"), "payment_gateway_names")]
        meta = {
            "payment_gateways": gateways,
            "non_cash_gateways": [g for g in gateways if g in NON_CASH_GATEWAYS],
        }
        if payment is None:
            return ignore(
                order_id, "orders/paid with nothing received (total_outstanding is the total)", **meta
            )
        return Intent("payment", payment, order_id, version=_version(body, payment), meta=meta)
    # orders/cancelled
    cancel = map_cancel(body)
    return Intent(
        "cancel",
        cancel,
        order_id,
        version=_version(body, cancel),
        meta={"cancelled_at": body.get("cancelled_at")},
    )
