"""Orders straight from the store: Shopify and WooCommerce webhook bodies and Shopify's order export
mapped to Ledgerlink's inputs. Pure Python (no Django, no models): the integration (issue 16) plugs
it into the webhook views and ``import-orders --format shopify``.

    signatures     verify / sign X-Shopify-Hmac-Sha256 and X-WC-Webhook-Signature
    shopify        route(topic, body) -> Intent
    woocommerce    route(topic, body, previous) -> Delivery(intents, snapshot); ping_webhook_id(raw)
    shopify_csv    parse_orders(source) -> (line, order | MappingError) per order, streaming
"""

from ledgerlink.stores import shopify, shopify_csv, signatures, woocommerce
from ledgerlink.stores.errors import MappingError
from ledgerlink.stores.intents import (
    ADDRESS_KEYS,
    CANCEL_KEYS,
    KINDS,
    LINE_KEYS,
    ORDER_KEYS,
    PAYMENT_KEYS,
    REFUND_KEYS,
    REFUND_LINE_KEYS,
    Intent,
    MappingOptions,
    order_total,
)

__all__ = [
    "ADDRESS_KEYS",
    "CANCEL_KEYS",
    "KINDS",
    "LINE_KEYS",
    "ORDER_KEYS",
    "PAYMENT_KEYS",
    "REFUND_KEYS",
    "REFUND_LINE_KEYS",
    "Intent",
    "MappingError",
    "MappingOptions",
    "order_total",
    "shopify",
    "shopify_csv",
    "signatures",
    "woocommerce",
]
