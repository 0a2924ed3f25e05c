"""WooCommerce webhook bodies (the REST ``/wc/v3/orders/<id>`` resource) -> Ledgerlink intents.

WooCommerce has one topic for everything after creation (``order.updated``: edits, status changes,
payments, refunds) and no delivery id that survives a retry. So the caller keeps, per order, the
**snapshot** the last delivery returned, and passes it back as ``previous``; ``route`` compares:

    first sight (previous None)   -> order, then payment / refunds / cancel already true of it
    same version as previous      -> ignore (a re-delivery: nothing to do)
    older date_modified_gmt       -> ignore (a stale delivery arriving late; keep the stored snapshot)
    mapped order differs          -> change (the full order)
    date_paid newly set           -> payment
    each NEW entry in refunds[]   -> refund (its total is negative in WooCommerce)
    status newly "cancelled"      -> cancel
    anything else                 -> ignore (status moved, nothing Ledgerlink maps changed)

The version is ``"<date_modified_gmt>#<digest of mapped order, status, date_paid, refund ids>"``.

The creation ping is a form body ``webhook_id=N`` (no JSON, no signature, no topic header): see
``ping_webhook_id``; answer it with 200.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
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
    text_or_none,
)
from ledgerlink.stores.money import (
    ZERO,
    amount,
    fmt_amount,
    fmt_plain,
    fmt_unit,
    parse_decimal,
    quantity,
    unit_price_for,
)

TOPICS = ("order.created", "order.updated")
IGNORED_TOPICS = {
    "order.deleted": "the order was trashed in WooCommerce; Ledgerlink never deletes a posted document"
    " by itself (cancel the order instead)",
    "order.restored": "the order was restored from the trash; nothing in it changed",
}
SNAPSHOT_KEYS = ("version", "date_modified_gmt", "status", "date_paid", "refund_ids", "order")

parse_body = parse_json_body
_PING = re.compile(rb"\s*webhook_id=(\d{1,20})\s*")


def ping_webhook_id(raw: bytes) -> int | None:
    """The webhook id of WooCommerce's creation ping (body ``webhook_id=N``), or None for any other body."""
    match = _PING.fullmatch(bytes(raw))
    return int(match.group(1)) if match else None


def is_ping(raw: bytes) -> bool:
    return ping_webhook_id(raw) is not None


@dataclass(frozen=True)
class Delivery:
    """What one WooCommerce delivery asks (``intents``, never empty) and the snapshot to store for the
    order (pass it back as ``previous`` with the next delivery of the same order)."""

    intents: tuple[Intent, ...]
    snapshot: dict | None

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(intent.kind for intent in self.intents)

    @property
    def version(self) -> str | None:
        return self.snapshot["version"] if self.snapshot else None


# --- the order --------------------------------------------------------------------------------------


def _rates(tax_lines: list) -> dict[str, Decimal | None]:
    rates: dict[str, Decimal | None] = {}
    for index, tax_line in enumerate(tax_lines):
        where = f"tax_lines[{index}]"
        tax_line = obj(tax_line, where)
        rate_id = tax_line.get("rate_id")
        if rate_id in (None, ""):
            continue
        percent = tax_line.get("rate_percent")
        rates[str(rate_id)] = (
            None if percent in (None, "") else parse_decimal(percent, f"{where}.rate_percent")
        )
    return rates


def _rate(taxes: list, rates: dict, field: str) -> str | None:
    """Sum of the rates of a line's ``taxes[]`` (each ``id`` is a ``tax_lines[].rate_id``); None when a
    rate is not known (older WooCommerce without ``rate_percent``) or the line has no taxes."""
    total = None
    for index, entry in enumerate(taxes):
        entry = obj(entry, f"{field}[{index}]")
        percent = rates.get(str(entry.get("id")))
        if percent is None:
            return None
        total = percent if total is None else total + percent
    return fmt_plain(total) if total is not None else None


def _unescape(value) -> str | None:
    """WooCommerce's REST answers carry names HTML-escaped (``Ship Your Idea &ndash; Black``)."""
    text = text_or_none(value)
    return html.unescape(text) if text else None


def _address(value: dict) -> dict | None:
    return address_or_none(
        {
            "line1": value.get("address_1"),
            "line2": value.get("address_2"),
            "city": value.get("city"),
            "region": value.get("state"),
            "postal_code": value.get("postcode"),
            "country": value.get("country"),
        }
    )


def _name(value: dict) -> str | None:
    parts = [text_or_none(value.get("first_name")), text_or_none(value.get("last_name"))]
    return " ".join(part for part in parts if part) or None


def map_order(body: dict, options: MappingOptions | None = None) -> tuple[dict, dict]:
    """(the Ledgerlink order, meta) for a WooCommerce order; MappingError when it does not map."""
    options = options or DEFAULT_OPTIONS
    body = obj(body, "body")
    external_id = ident(body.get("id"), "id")
    inclusive = body.get("prices_include_tax")
    if not isinstance(inclusive, bool):
        raise MappingError("must be true or false (whether the prices include tax)", "prices_include_tax")
    rates = _rates(array(body.get("tax_lines"), "tax_lines"))

    items = array(body.get("line_items"), "line_items")
    if not items:
        raise MappingError("is empty: an order needs at least one line item", "line_items")
    lines, discount = [], ZERO
    for index, item in enumerate(items):
        where = f"line_items[{index}]"
        item = obj(item, where)
        qty = quantity(item.get("quantity"), f"{where}.quantity")
        subtotal = amount(item.get("subtotal"), f"{where}.subtotal")
        total = amount(item.get("total"), f"{where}.total")
        subtotal_tax = amount(item.get("subtotal_tax"), f"{where}.subtotal_tax", default=ZERO)
        total_tax = amount(item.get("total_tax"), f"{where}.total_tax", default=ZERO)
        before = subtotal + subtotal_tax if inclusive else subtotal
        after = total + total_tax if inclusive else total
        if after > before:  # a line total raised by hand in the admin: its own price, no discount
            before = after
        unit = unit_price_for(before, qty, f"{where}.subtotal")
        discount += before - after
        taxes = array(item.get("taxes"), f"{where}.taxes")
        sku = text_or_none(item.get("sku"))
        description = _unescape(item.get("name"))
        if not sku and not description:
            raise MappingError("has neither a sku nor a name", where)
        lines.append(
            {
                "sku": sku,
                "description": description,
                "quantity": fmt_plain(qty),
                "unit_price": fmt_unit(unit),
                "tax": fmt_amount(total_tax),
                "tax_rate": _rate(taxes, rates, f"{where}.taxes"),
                "taxable": bool(taxes),
            }
        )
    line_discount = discount

    for index, fee in enumerate(array(body.get("fee_lines"), "fee_lines")):
        where = f"fee_lines[{index}]"
        fee = obj(fee, where)
        total = amount(fee.get("total"), f"{where}.total", allow_negative=True)
        total_tax = amount(fee.get("total_tax"), f"{where}.total_tax", default=ZERO, allow_negative=True)
        gross = total + total_tax if inclusive else total
        if total < 0:
            if total_tax:
                raise MappingError(
                    f"a negative fee with tax ({fmt_amount(total)}, tax {fmt_amount(total_tax)}) has no"
                    " place in Ledgerlink's order: lines cannot be negative and a discount carries no tax",
                    where,
                )
            discount += -gross
            continue
        taxes = array(fee.get("taxes"), f"{where}.taxes")
        lines.append(
            {
                "sku": options.fee_sku,
                "description": _unescape(fee.get("name")) or "Fee",
                "quantity": "1",
                "unit_price": fmt_amount(gross),
                "tax": fmt_amount(total_tax),
                "tax_rate": _rate(taxes, rates, f"{where}.taxes"),
                "taxable": fee.get("tax_status") != "none" and bool(taxes),
            }
        )

    shipping = shipping_tax = ZERO
    shipping_rates: set = set()
    shipping_lines = array(body.get("shipping_lines"), "shipping_lines")
    for index, ship in enumerate(shipping_lines):
        where = f"shipping_lines[{index}]"
        ship = obj(ship, where)
        total = amount(ship.get("total"), f"{where}.total")
        total_tax = amount(ship.get("total_tax"), f"{where}.total_tax", default=ZERO)
        shipping += total + total_tax if inclusive else total
        shipping_tax += total_tax
        shipping_rates.add(_rate(array(ship.get("taxes"), f"{where}.taxes"), rates, f"{where}.taxes"))

    billing = obj(body.get("billing"), "billing", required=False)
    ship_to = obj(body.get("shipping"), "shipping", required=False)
    currency = text_or_none(body.get("currency"))
    if not currency:
        raise MappingError("is missing (the order's 3-letter currency code)", "currency")
    tax = amount(body.get("total_tax"), "total_tax", default=ZERO)
    number = text_or_none(body.get("number")) or external_id
    created = body.get("date_created") or body.get("date_created_gmt")
    order = {
        "external_id": external_id,
        "number": number,
        "email": text_or_none(billing.get("email")),
        "customer_name": _name(billing) or _name(ship_to),
        "customer_company": text_or_none(billing.get("company")) or text_or_none(ship_to.get("company")),
        "bill_address": _address(billing),
        "ship_address": _address(ship_to),
        "currency": currency.upper(),
        "exchange_rate": None,
        "txn_date": iso_date(created, "date_created"),
        "lines": lines,
        "shipping": fmt_amount(shipping),
        "shipping_tax": fmt_amount(shipping_tax),
        "shipping_tax_rate": next(iter(shipping_rates)) if len(shipping_rates) == 1 else None,
        "discount": fmt_amount(discount),
        "tax": fmt_amount(tax),
        "prices_include_tax": inclusive,
    }
    check_total(order, amount(body.get("total"), "total"), "total")
    check_tax(order, tax, "total_tax")
    check_shape("order", order)

    coupons = array(body.get("coupon_lines"), "coupon_lines")
    coupon_total = ZERO
    for index, coupon in enumerate(coupons):
        where = f"coupon_lines[{index}]"
        coupon = obj(coupon, where)
        coupon_total += amount(coupon.get("discount"), f"{where}.discount", default=ZERO)
        if inclusive:
            coupon_total += amount(coupon.get("discount_tax"), f"{where}.discount_tax", default=ZERO)
    meta = {
        "status": body.get("status"),
        "coupon_codes": [str(c.get("code")) for c in coupons if isinstance(c, dict) and c.get("code")],
        "coupon_discount": fmt_amount(coupon_total),
        "line_discount": fmt_amount(line_discount),
        "payment_method": text_or_none(body.get("payment_method")),
        "payment_method_title": text_or_none(body.get("payment_method_title")),
        "transaction_id": text_or_none(body.get("transaction_id")),
        "customer_id": body.get("customer_id"),
    }
    return order, meta


def _refund_ids(body: dict) -> list[str]:
    return [
        ident(obj(r, f"refunds[{i}]").get("id"), f"refunds[{i}].id")
        for i, r in enumerate(array(body.get("refunds"), "refunds"))
    ]


def snapshot_of(body: dict, order: dict) -> dict:
    """The state ``route`` compares the next delivery with (JSON-able: store it as it is)."""
    state = {
        "status": text_or_none(body.get("status")),
        "date_paid": text_or_none(body.get("date_paid_gmt")) or text_or_none(body.get("date_paid")),
        "refund_ids": sorted(_refund_ids(body), key=lambda rid: (len(rid), rid)),
        "order": order,
    }
    modified = text_or_none(body.get("date_modified_gmt")) or text_or_none(body.get("date_modified")) or ""
    return {"version": f"{modified}#{digest(state)}", "date_modified_gmt": modified, **state}


# --- lifecycle ---------------------------------------------------------------------------------------


def map_payment(body: dict) -> dict | None:
    """The payment of a paid order (``date_paid`` set): the order's total, once per order."""
    external_id = ident(body.get("id"), "id")
    paid = body.get("date_paid") or body.get("date_paid_gmt")
    if not paid:
        return None
    total = amount(body.get("total"), "total")
    if total <= 0:
        return None
    payment = {
        "external_id": f"{external_id}:paid",
        "amount": fmt_amount(total),
        "date": iso_date(paid, "date_paid"),
        "method": text_or_none(body.get("payment_method_title")) or text_or_none(body.get("payment_method")),
        "reference": text_or_none(body.get("transaction_id")),
    }
    check_shape("payment", payment)
    return payment


def map_refund_entry(entry: dict, field: str) -> dict | None:
    """A ``refunds[]`` entry of the order (``{id, reason, total}``, total negative) as an amount-only
    refund (the order body does not say which lines; ``map_refund_detail`` does). None for a 0 refund."""
    entry = obj(entry, field)
    refund_id = ident(entry.get("id"), f"{field}.id")
    total = amount(entry.get("total"), f"{field}.total", allow_negative=True)
    if total > 0:
        raise MappingError(
            f"must be negative or 0 as WooCommerce writes refunds (got {entry.get('total')!r})",
            f"{field}.total",
        )
    if total == 0:
        return None
    refund = {
        "external_id": refund_id,
        "lines": [],
        "shipping": None,
        "amount": fmt_amount(-total),
        "reason": text_or_none(entry.get("reason")),
    }
    check_shape("refund", refund)
    return refund


def map_refund_detail(refund: dict, *, prices_include_tax: bool = False) -> dict:
    """A refund as ``GET /wp-json/wc/v3/orders/<id>/refunds/<refund_id>`` gives it (line items with
    negative quantities, shipping lines with negative totals, ``amount`` positive) -> a refund with
    its lines: for the integration, which may fetch it to replace an amount-only refund."""
    refund = obj(refund, "body")
    refund_id = ident(refund.get("id"), "id")
    lines = []
    for index, item in enumerate(array(refund.get("line_items"), "line_items")):
        where = f"line_items[{index}]"
        item = obj(item, where)
        qty = abs(parse_decimal(item.get("quantity"), f"{where}.quantity"))
        if qty == 0:
            continue
        lines.append(
            {"sku": text_or_none(item.get("sku")), "quantity": fmt_plain(quantity(qty, f"{where}.quantity"))}
        )
    shipping = ZERO
    for index, ship in enumerate(array(refund.get("shipping_lines"), "shipping_lines")):
        where = f"shipping_lines[{index}]"
        ship = obj(ship, where)
        shipping += abs(amount(ship.get("total"), f"{where}.total", allow_negative=True))
        if prices_include_tax:
            shipping += abs(
                amount(ship.get("total_tax"), f"{where}.total_tax", default=ZERO, allow_negative=True)
            )
    out = {
        "external_id": refund_id,
        "lines": lines,
        "shipping": fmt_amount(shipping),
        "amount": fmt_amount(abs(amount(refund.get("amount"), "amount", allow_negative=True))),
        "reason": text_or_none(refund.get("reason")),
    }
    check_shape("refund", out)
    return out


def map_cancel(body: dict) -> dict:
    """WooCommerce gives no cancel reason."""
    return {"reason": None}


def _check_previous(previous, order_id: str) -> dict:
    if not isinstance(previous, dict) or any(key not in previous for key in SNAPSHOT_KEYS):
        raise MappingError(
            f"must be the snapshot an earlier delivery returned (keys: {', '.join(SNAPSHOT_KEYS)})",
            "previous",
        )
    previous_id = (previous.get("order") or {}).get("external_id")
    if previous_id != order_id:
        raise MappingError(f"is the snapshot of order {previous_id!r}, not of order {order_id!r}", "previous")
    return previous


# --- the entry point ---------------------------------------------------------------------------------


def route(
    topic: str, body: dict, previous: dict | None = None, options: MappingOptions | None = None
) -> Delivery:
    """What one WooCommerce delivery asks of Ledgerlink (see the module docstring)."""
    topic = (topic or "").strip().lower()
    if topic in IGNORED_TOPICS:
        order_id = text_or_none(obj(body, "body").get("id"))
        return Delivery((ignore(order_id, f"{topic}: {IGNORED_TOPICS[topic]}"),), previous)
    if topic not in TOPICS:
        raise MappingError(
            f"{topic or '(none)'!r} is not a topic Ledgerlink handles (known: {', '.join(TOPICS)})", "topic"
        )
    body = obj(body, "body")
    order_id = ident(body.get("id"), "id")
    order, meta = map_order(body, options)
    snap = snapshot_of(body, order)
    version = snap["version"]
    if previous is not None:
        previous = _check_previous(previous, order_id)
        if previous["version"] == version:
            return Delivery(
                (
                    ignore(
                        order_id,
                        "unchanged version: a re-delivery of what was already applied",
                        version=version,
                    ),
                ),
                previous,
            )
        if (
            snap["date_modified_gmt"]
            and previous["date_modified_gmt"]
            and (snap["date_modified_gmt"] < previous["date_modified_gmt"])
        ):
            return Delivery(
                (
                    ignore(
                        order_id,
                        f"stale: modified {snap['date_modified_gmt']}, older than the stored"
                        f" version ({previous['date_modified_gmt']})",
                        version=version,
                    ),
                ),
                previous,
            )

    intents: list[Intent] = []
    if previous is None:
        intents.append(Intent("order", order, order_id, version=version, meta=meta))
    elif order != previous["order"]:
        intents.append(Intent("change", order, order_id, version=version, meta=meta))
    if snap["date_paid"] and not (previous and previous["date_paid"]):
        payment = map_payment(body)
        if payment is not None:
            intents.append(
                Intent(
                    "payment",
                    payment,
                    order_id,
                    version=version,
                    meta={"payment_method": meta["payment_method"]},
                )
            )
    known = set(previous["refund_ids"]) if previous else set()
    for index, entry in enumerate(array(body.get("refunds"), "refunds")):
        refund = map_refund_entry(entry, f"refunds[{index}]")
        if refund is not None and refund["external_id"] not in known:
            intents.append(
                Intent(
                    "refund",
                    refund,
                    order_id,
                    version=version,
                    meta={"detail": f"/wp-json/wc/v3/orders/{order_id}/refunds/{refund['external_id']}"},
                )
            )
    if snap["status"] == "cancelled" and not (previous and previous["status"] == "cancelled"):
        intents.append(Intent("cancel", map_cancel(body), order_id, version=version))
    if not intents:
        before = previous["status"] if previous else None
        intents.append(
            ignore(
                order_id,
                f"nothing Ledgerlink maps changed (status {before} -> {snap['status']})",
                version=version,
            )
        )
    return Delivery(tuple(intents), snap)
