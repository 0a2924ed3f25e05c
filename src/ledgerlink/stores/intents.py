"""What a store delivery means to Ledgerlink: the Intent, the exact dict shapes, and the checks.

The dict shapes are the inputs Ledgerlink's API accepts once the tax issue (14) and the lifecycle
issue (15) are built; the mappers produce exactly these keys, amounts as strings with 2 decimal
places, quantities and percents as plain decimal strings, and ``None`` where the store does not say.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ledgerlink.stores.errors import MappingError
from ledgerlink.stores.money import ZERO, fmt_amount, line_amount

KINDS = ("order", "change", "payment", "cancel", "refund", "ignore")

ORDER_KEYS = (
    "external_id", "number", "email", "customer_name", "customer_company", "bill_address",
    "ship_address", "currency", "exchange_rate", "txn_date", "lines", "shipping", "shipping_tax",
    "shipping_tax_rate", "discount", "tax", "prices_include_tax",
)  # fmt: skip
LINE_KEYS = ("sku", "description", "quantity", "unit_price", "tax", "tax_rate", "taxable")
ADDRESS_KEYS = ("line1", "line2", "city", "region", "postal_code", "country")
PAYMENT_KEYS = ("external_id", "amount", "date", "method", "reference")
REFUND_KEYS = ("external_id", "lines", "shipping", "amount", "reason")
REFUND_LINE_KEYS = ("sku", "quantity")
CANCEL_KEYS = ("reason",)

DATA_KEYS = {
    "order": ORDER_KEYS,
    "change": ORDER_KEYS,
    "payment": PAYMENT_KEYS,
    "refund": REFUND_KEYS,
    "cancel": CANCEL_KEYS,
}


@dataclass(frozen=True)
class MappingOptions:
    """Choices a merchant (or the integration) makes about things Ledgerlink's order has no field for.

    tip_sku        SKU of the line a tip becomes (Shopify ``total_tip_received``).
    duty_sku       SKU of the line import duties become (Shopify ``line_items[].duties``).
    gift_card_sku  SKU for a gift-card purchase line that has no SKU of its own.
    fee_sku        SKU of WooCommerce fee lines (None: the fee's name is the description, no SKU).
    money          Shopify only: ``"shop"`` (default: the shop's currency, what the payouts and the
                   books are in) or ``"presentment"`` (the buyer's currency, from the ``*_set`` fields).
    """

    tip_sku: str = "TIP"
    duty_sku: str = "DUTIES"
    gift_card_sku: str = "GIFT-CARD"
    fee_sku: str | None = None
    money: str = "shop"

    def __post_init__(self):
        if self.money not in ("shop", "presentment"):
            raise ValueError("MappingOptions.money must be 'shop' or 'presentment'")


DEFAULT_OPTIONS = MappingOptions()


@dataclass(frozen=True)
class Intent:
    """One thing a delivery asks of Ledgerlink.

    kind               one of KINDS
    data               the mapped dict (order/change: ORDER_KEYS; payment: PAYMENT_KEYS; refund:
                       REFUND_KEYS; cancel: CANCEL_KEYS); None for ``ignore``
    order_external_id  the store's order id (Ledgerlink's ``external_id``) the intent is about
    version            a stable key of the order's state (see each store module); None when the
                       body does not carry the order
    reason             for ``ignore``: why nothing is to be done
    meta               what the store said that Ledgerlink's input has no field for (discount codes,
                       gateways, presentment currency, ...), for notes and for the person
    """

    kind: str
    data: dict | None
    order_external_id: str | None
    version: str | None = None
    reason: str | None = None
    meta: Any = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown intent kind {self.kind!r}")
        if not isinstance(self.meta, MappingProxyType):
            object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))


def ignore(order_external_id: str | None, reason: str, *, version: str | None = None, **meta) -> Intent:
    return Intent("ignore", None, order_external_id, version=version, reason=reason, meta=meta)


def empty_address() -> dict:
    return dict.fromkeys(ADDRESS_KEYS)


def address_or_none(values: dict) -> dict | None:
    """An address dict with every key, or None when the store gave no part of it."""
    out = {key: (values.get(key) or None) for key in ADDRESS_KEYS}
    for key, value in out.items():
        if isinstance(value, str):
            out[key] = value.strip() or None
    return out if any(out.values()) else None


def text_or_none(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def order_total(order: dict) -> Decimal:
    """The total the order stands for, as Ledgerlink computes it:
    sum(round(qty x unit_price, 2)) + shipping - discount + (tax unless prices_include_tax)."""
    subtotal = sum(
        (line_amount(Decimal(line["quantity"]), Decimal(line["unit_price"])) for line in order["lines"]), ZERO
    )
    total = subtotal + Decimal(order["shipping"]) - Decimal(order["discount"])
    if not order["prices_include_tax"]:
        total += Decimal(order["tax"])
    return total.quantize(Decimal("0.01"))


def check_total(order: dict, store_total: Decimal, field: str) -> None:
    """Refuse a mapping whose total is not the store's total to the cent (something in the body was
    not mapped, or the store's own numbers do not add up)."""
    mapped = order_total(order)
    if mapped != store_total:
        raise MappingError(
            f"the store's total is {fmt_amount(store_total)} but the mapped order comes to"
            f" {fmt_amount(mapped)} (lines + shipping - discount"
            f"{'' if order['prices_include_tax'] else ' + tax'}); the body has an amount Ledgerlink"
            " does not map, or its totals do not add up",
            field,
        )


def check_tax(order: dict, store_tax: Decimal, field: str) -> None:
    """When lines carry tax, their sum plus the shipping tax must be the order's tax (issue 14's rule)."""
    lines_tax = sum((Decimal(line["tax"]) for line in order["lines"] if line["tax"] is not None), ZERO)
    if all(line["tax"] is None for line in order["lines"]):
        return
    shipping_tax = Decimal(order["shipping_tax"] or "0")
    if lines_tax + shipping_tax != store_tax:
        raise MappingError(
            f"the store's total tax is {fmt_amount(store_tax)} but the lines' tax ({fmt_amount(lines_tax)})"
            f" plus the shipping tax ({fmt_amount(shipping_tax)}) is {fmt_amount(lines_tax + shipping_tax)}",
            field,
        )


def check_shape(kind: str, data: dict) -> None:
    """Assert the exact keys of a mapped dict (a programming error if it fails, hence AssertionError)."""
    keys = DATA_KEYS[kind]
    assert tuple(data) == keys, f"{kind} keys {tuple(data)} != {keys}"
    if kind in ("order", "change"):
        for line in data["lines"]:
            assert tuple(line) == LINE_KEYS, f"line keys {tuple(line)}"
        for key in ("bill_address", "ship_address"):
            assert data[key] is None or tuple(data[key]) == ADDRESS_KEYS, f"{key} keys"
    if kind == "refund":
        for line in data["lines"]:
            assert tuple(line) == REFUND_LINE_KEYS, f"refund line keys {tuple(line)}"


def digest(value) -> str:
    """A short stable digest of a JSON-able value (sorted keys, no whitespace)."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
