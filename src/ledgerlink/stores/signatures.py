"""Webhook signatures: Shopify ``X-Shopify-Hmac-Sha256`` and WooCommerce ``X-WC-Webhook-Signature``.

Both stores send base64(HMAC-SHA256(secret, raw body bytes)). Verify over the raw bytes exactly as
received, before any JSON parsing, in constant time. Several secrets may be accepted at once (the
current one and, during a rotation, the previous one): the caller passes every secret still valid.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping

SHOPIFY_HMAC_HEADER = "X-Shopify-Hmac-Sha256"
SHOPIFY_EVENTS_HMAC_HEADER = "shopify-hmac-sha256"  # Shopify "Events" deliveries: unprefixed names
SHOPIFY_TOPIC_HEADER = "X-Shopify-Topic"
SHOPIFY_WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
WC_SIGNATURE_HEADER = "X-WC-Webhook-Signature"
WC_TOPIC_HEADER = "X-WC-Webhook-Topic"
WC_WEBHOOK_ID_HEADER = "X-WC-Webhook-ID"
WC_DELIVERY_ID_HEADER = "X-WC-Webhook-Delivery-ID"

_WP_ENTITIES = (
    ("&lt;", "<"),
    ("&gt;", ">"),
    ("&quot;", '"'),
    ("&#039;", "'"),
    ("&#39;", "'"),
    ("&amp;", "&"),
)


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    if isinstance(secret, str):
        return secret.encode("utf-8")
    raise TypeError("a webhook secret must be str or bytes")


def _body(body: bytes | bytearray | memoryview) -> bytes:
    if isinstance(body, str):
        raise TypeError("sign and verify the raw body bytes, not decoded text")
    return bytes(body)


def sign(body: bytes, secret: str | bytes) -> str:
    """base64(HMAC-SHA256(secret, body)): the header value either store sends."""
    digest = hmac.new(_key(secret), _body(body), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def matching_secret(body: bytes, signature: str | bytes | None, secrets: Iterable[str | bytes]) -> int | None:
    """The index in ``secrets`` of the secret that signed ``body``, or None.

    Every secret is tried (no early exit) and each comparison is ``hmac.compare_digest``; a missing,
    empty or non-ASCII signature never matches."""
    if signature is None:
        return None
    if isinstance(signature, str):
        try:
            signature = signature.strip().encode("ascii")
        except UnicodeEncodeError:
            return None
    else:
        signature = bytes(signature).strip()
    if not signature:
        return None
    body = _body(body)
    found = None
    for index, secret in enumerate(secrets):
        expected = sign(body, secret).encode("ascii")
        if hmac.compare_digest(expected, signature) and found is None:
            found = index
    return found


def verify(body: bytes, signature: str | bytes | None, secrets: Iterable[str | bytes]) -> bool:
    return matching_secret(body, signature, secrets) is not None


def verify_shopify(body: bytes, signature: str | bytes | None, secrets: Iterable[str | bytes]) -> bool:
    """Shopify: the value of ``X-Shopify-Hmac-Sha256`` (the app's client secret, or the secret shown
    under Settings > Notifications > Webhooks for a webhook made in the admin)."""
    return verify(body, signature, list(secrets))


def wp_specialchars_decode(secret: str) -> str:
    """WooCommerce signs with ``wp_specialchars_decode($secret, ENT_QUOTES)``: a secret stored with
    HTML entities (``&amp;``) signs as the decoded text."""
    for entity, char in _WP_ENTITIES:
        secret = secret.replace(entity, char)
    return secret


def woocommerce_secret_variants(secrets: Iterable[str | bytes]) -> list[str | bytes]:
    """Each secret as given, plus its entity-decoded form when that differs."""
    out: list[str | bytes] = []
    for secret in secrets:
        out.append(secret)
        if isinstance(secret, str):
            decoded = wp_specialchars_decode(secret)
            if decoded != secret:
                out.append(decoded)
    return out


def verify_woocommerce(body: bytes, signature: str | bytes | None, secrets: Iterable[str | bytes]) -> bool:
    """WooCommerce: the value of ``X-WC-Webhook-Signature`` (the webhook's Secret field)."""
    return verify(body, signature, woocommerce_secret_variants(secrets))


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, case-insensitively (HTTP header names are)."""
    if name in headers:
        return headers[name]
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def shopify_signature(headers: Mapping[str, str]) -> str | None:
    """The Shopify signature from a delivery's headers (webhook or Events naming)."""
    value = header(headers, SHOPIFY_HMAC_HEADER)
    return value if value is not None else header(headers, SHOPIFY_EVENTS_HMAC_HEADER)


def shopify_headers(
    body: bytes,
    secret: str | bytes,
    *,
    topic: str,
    webhook_id: str,
    shop_domain: str = "example.myshopify.com",
    api_version: str = "2025-01",
    triggered_at: str | None = None,
) -> dict[str, str]:
    """The headers Shopify sends with a delivery, signed with ``secret`` (for the demo and tests)."""
    headers = {
        "Content-Type": "application/json",
        SHOPIFY_TOPIC_HEADER: topic,
        SHOPIFY_HMAC_HEADER: sign(body, secret),
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-API-Version": api_version,
        SHOPIFY_WEBHOOK_ID_HEADER: webhook_id,
    }
    if triggered_at:
        headers["X-Shopify-Triggered-At"] = triggered_at
    return headers


def woocommerce_headers(
    body: bytes,
    secret: str | bytes,
    *,
    topic: str,
    webhook_id: int | str,
    delivery_id: str,
    source: str = "https://shop.example.com/",
) -> dict[str, str]:
    """The headers ``WC_Webhook::deliver()`` sends, signed with ``secret`` (for the demo and tests)."""
    resource, _, event = topic.partition(".")
    return {
        "Content-Type": "application/json",
        "X-WC-Webhook-Source": source,
        WC_TOPIC_HEADER: topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        WC_SIGNATURE_HEADER: sign(body, secret),
        WC_WEBHOOK_ID_HEADER: str(webhook_id),
        WC_DELIVERY_ID_HEADER: delivery_id,
    }
