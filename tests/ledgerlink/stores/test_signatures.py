"""Signatures: known answers computed with ``openssl dgst -sha256 -hmac SECRET -binary | base64``."""

from __future__ import annotations

import pytest

from ledgerlink.stores import signatures

BODY = b'{"id":5678901234,"name":"#1001"}'
CURRENT, PREVIOUS = "shpss_current_2f9c", "shpss_previous_77aa"
SIG_CURRENT = "IjX841mfTf+CYG7FCYEYbOzWzGscGCGz58N7r4iExuE="
SIG_PREVIOUS = "jnP9xZWkYx1Z2EvGIgISkhct3mpk0kB1e96bxkU8zQc="


def test_sign_matches_openssl():
    assert signatures.sign(BODY, CURRENT) == SIG_CURRENT
    assert signatures.sign(BODY, PREVIOUS.encode()) == SIG_PREVIOUS
    assert signatures.sign(b'{"id":1}', "a&b") == "DZZ3mhyNjKxgGYJPujiR4ZGjbQJd9qbIQuhcMQ11PTE="


def test_good_signature_is_accepted():
    assert signatures.verify_shopify(BODY, SIG_CURRENT, [CURRENT]) is True
    assert signatures.verify_woocommerce(BODY, SIG_CURRENT, [CURRENT]) is True
    assert signatures.matching_secret(BODY, f"  {SIG_CURRENT}\n", [CURRENT]) == 0  # header whitespace


@pytest.mark.parametrize(
    "signature",
    [
        SIG_PREVIOUS,  # signed with another secret
        SIG_CURRENT.lower(),  # base64 is case-sensitive
        SIG_CURRENT[:-2],  # truncated
        "",
        None,
        "ünicode",
        "not base64 at all",
    ],
)
def test_bad_or_missing_signature_is_refused(signature):
    assert signatures.verify_shopify(BODY, signature, [CURRENT]) is False
    assert signatures.matching_secret(BODY, signature, [CURRENT]) is None


def test_a_changed_body_is_refused():
    assert signatures.verify_shopify(BODY + b" ", SIG_CURRENT, [CURRENT]) is False
    assert signatures.verify_shopify(BODY.replace(b"1001", b"1002"), SIG_CURRENT, [CURRENT]) is False


def test_rotation_accepts_the_previous_secret_and_says_which():
    secrets = [CURRENT, PREVIOUS]
    assert signatures.matching_secret(BODY, SIG_CURRENT, secrets) == 0
    assert signatures.matching_secret(BODY, SIG_PREVIOUS, secrets) == 1
    assert signatures.verify_shopify(BODY, SIG_PREVIOUS, secrets) is True
    # once the previous secret is no longer passed (its grace period is over) it is refused
    assert signatures.verify_shopify(BODY, SIG_PREVIOUS, [CURRENT]) is False
    assert signatures.verify_shopify(BODY, SIG_CURRENT, []) is False


def test_woocommerce_secret_with_html_entities_signs_decoded():
    """WooCommerce signs with wp_specialchars_decode($secret): a secret stored as 'a&amp;b' signs as 'a&b'."""
    sig = "DZZ3mhyNjKxgGYJPujiR4ZGjbQJd9qbIQuhcMQ11PTE="
    assert signatures.verify_woocommerce(b'{"id":1}', sig, ["a&amp;b"]) is True
    assert signatures.verify_woocommerce(b'{"id":1}', sig, ["a&b"]) is True
    assert signatures.verify_shopify(b'{"id":1}', sig, ["a&amp;b"]) is False  # Shopify does no such thing
    assert signatures.wp_specialchars_decode("&lt;&gt;&quot;&#039;&amp;lt;") == "<>\"'&lt;"


def test_text_bodies_are_refused_as_a_programming_error():
    with pytest.raises(TypeError, match="raw body bytes"):
        signatures.sign(BODY.decode(), CURRENT)


def test_delivery_headers_are_signed_and_found_case_insensitively():
    headers = signatures.shopify_headers(
        BODY, CURRENT, topic="orders/create", webhook_id="b54557e4-bdd9-4b37"
    )
    assert headers == {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": SIG_CURRENT,
        "X-Shopify-Shop-Domain": "example.myshopify.com",
        "X-Shopify-API-Version": "2025-01",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37",
    }
    lowered = {key.lower(): value for key, value in headers.items()}
    assert signatures.shopify_signature(lowered) == SIG_CURRENT
    assert (
        signatures.shopify_signature({"shopify-hmac-sha256": SIG_PREVIOUS}) == SIG_PREVIOUS
    )  # Events naming
    assert signatures.shopify_signature({}) is None

    wc = signatures.woocommerce_headers(
        BODY, CURRENT, topic="order.updated", webhook_id=58, delivery_id="4df0a951a314adc554e0f2016102e020"
    )
    assert wc == {
        "Content-Type": "application/json",
        "X-WC-Webhook-Source": "https://shop.example.com/",
        "X-WC-Webhook-Topic": "order.updated",
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": "updated",
        "X-WC-Webhook-Signature": SIG_CURRENT,
        "X-WC-Webhook-ID": "58",
        "X-WC-Webhook-Delivery-ID": "4df0a951a314adc554e0f2016102e020",
    }
    assert signatures.header({"x-wc-webhook-signature": "s"}, "X-WC-Webhook-Signature") == "s"
