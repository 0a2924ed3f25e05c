"""The demo that `make run` loads: a qbo_sandbox company, its mirror, site areas, order sources, a
rule, and orders that end in each of the seed article's states plus succeeded ones; and a Canadian
company whose wholesale orders carry HST and GST (docs/tax.md)."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field

import httpx
from django.conf import settings
from django.db import transaction

from ledgerlink.core.models import AutomationRule, Company, OrderSource, PushRequest, SiteArea
from ledgerlink.domain.accounts.users import ensure_user
from ledgerlink.domain.companies.connect import connect_company
from ledgerlink.domain.healing.tax import save_tax_mapping
from ledgerlink.domain.ingest.automation import create_rule
from ledgerlink.domain.ingest.orders import ingest_order
from ledgerlink.domain.routing.order_sources import create_order_source, update_order_source
from ledgerlink.domain.routing.site_areas import create_site_area, update_site_area
from ledgerlink.domain.stores.deliveries import receive_store_delivery
from ledgerlink.domain.sync.full import sync_company
from ledgerlink.stores import signatures
from ledgerlink.worker.loop import run_until_idle

DEMO_CUSTOMERS = [
    {"DisplayName": "Acme Tools", "CompanyName": "Acme Tools", "PrimaryEmailAddr": {"Address": "name2@example.com"}},
    {"DisplayName": "Bluebird Cafe", "PrimaryEmailAddr": {"Address": "orders@bluebird.example"}},
    {"DisplayName": "Trade Show Account", "PrimaryEmailAddr": {"Address": "tradeshow@example.com"}},
    {
        "DisplayName": "Cedar & Pine Ltd",
        "PrimaryEmailAddr": {"Address": "buyer@cedarpine.example"},
    },
]
# Every realm already has the items "Services" (Id 1) and "Hours" (Id 2) and the income account
# "Sales of Product Income" (Id 79).
DEMO_ITEMS = [
    {"Name": "Widget", "Sku": "W-100", "Type": "NonInventory", "UnitPrice": 12.5, "IncomeAccountRef": {"value": "79"}},
    {"Name": "Gadget", "Sku": "G-200", "Type": "NonInventory", "UnitPrice": 30, "IncomeAccountRef": {"value": "79"}},
    {"Name": "Shipping", "Type": "Service", "IncomeAccountRef": {"value": "79"}},
]


CANADA_REALM = "9130350000000002"
CANADA_CUSTOMERS = [
    {"DisplayName": "Maple Leaf Supply", "CompanyName": "Maple Leaf Supply",
     "PrimaryEmailAddr": {"Address": "buyer@mapleleaf.example"}},
    {"DisplayName": "Prairie Hardware", "PrimaryEmailAddr": {"Address": "orders@prairie.example"}},
]


@dataclass
class DemoResult:
    company: Company
    logins: dict[str, str] = field(default_factory=dict)
    states: dict[str, int] = field(default_factory=dict)


def _site_area(company: Company, name: str, **fields) -> SiteArea:
    """The demo's site area, created or set back to the demo's settings (the routing services)."""
    existing = SiteArea.objects.filter(company=company, name=name).first()
    if existing is None:
        return create_site_area(name=name, company=company.pk, actor_label="demo", **fields)
    return update_site_area(existing.pk, actor_label="demo", **fields)


def _order_source(name: str, site_area: SiteArea) -> OrderSource:
    existing = OrderSource.objects.filter(name=name).first()
    if existing is None:
        return create_order_source(name=name, site_area=site_area.pk, actor_label="demo")
    return update_order_source(existing.pk, site_area=site_area.pk, actor_label="demo")


DEMO_SHOPIFY_SOURCE = "Shopify Store"
DEMO_SHOPIFY_SECRET = "demo-shopify-webhook-secret"  # the demo's own store signs with it


def demo_shopify_order() -> dict:
    """A Shopify ``orders/create`` body (REST Order shape): two taxed lines, shipping, 6 % state tax."""
    address = {"first_name": "Sam", "last_name": "Shopper", "company": None, "address1": "12 Harbor Road",
               "address2": "", "city": "Portland", "province_code": "ME", "zip": "04101", "country_code": "US"}
    return {
        "id": 820982911946154508, "name": "#1001", "email": "shopper@example.net",
        "created_at": "2026-01-15T10:00:00-05:00", "processed_at": "2026-01-15T10:00:00-05:00",
        "updated_at": "2026-01-15T10:00:05-05:00", "currency": "USD", "presentment_currency": "USD",
        "taxes_included": False, "financial_status": "paid", "test": False,
        "total_line_items_price": "55.00", "total_discounts": "0.00", "subtotal_price": "55.00",
        "total_tax": "3.30", "total_price": "63.30", "total_outstanding": "0.00", "total_tip_received": "0.00",
        "payment_gateway_names": ["shopify_payments"], "discount_codes": [],
        "customer": {"id": 115310627314723954, "email": "shopper@example.net", "first_name": "Sam",
                     "last_name": "Shopper"},
        "billing_address": address, "shipping_address": address,
        "line_items": [
            {"id": 866550311766439020, "sku": "W-100", "title": "Widget", "name": "Widget", "quantity": 2,
             "price": "12.50", "taxable": True, "gift_card": False, "discount_allocations": [], "duties": [],
             "tax_lines": [{"title": "ME State Tax", "rate": 0.06, "price": "1.50"}]},
            {"id": 141249953214522974, "sku": "G-200", "title": "Gadget", "name": "Gadget", "quantity": 1,
             "price": "30.00", "taxable": True, "gift_card": False, "discount_allocations": [], "duties": [],
             "tax_lines": [{"title": "ME State Tax", "rate": 0.06, "price": "1.80"}]},
        ],
        "shipping_lines": [{"id": 271878346596884015, "title": "Standard", "price": "5.00", "tax_lines": [],
                            "discount_allocations": []}],
        "refunds": [],
    }


def demo_shopify_refund() -> dict:
    """A Shopify ``refunds/create`` body (REST Refund shape): one Widget returned, 12.50 + 0.75 tax."""
    return {
        "id": 509562969, "order_id": 820982911946154508, "created_at": "2026-01-20T09:00:00-05:00",
        "note": "Widget returned", "restock": True, "order_adjustments": [], "refund_shipping_lines": [],
        "refund_line_items": [{
            "id": 104689, "line_item_id": 866550311766439020, "quantity": 1, "subtotal": 12.5, "total_tax": 0.75,
            "line_item": {"id": 866550311766439020, "sku": "W-100", "title": "Widget", "name": "Widget",
                          "quantity": 2, "price": "12.50", "taxable": True, "gift_card": False},
        }],
        "transactions": [{"id": 179259969, "order_id": 820982911946154508, "kind": "refund",
                          "gateway": "shopify_payments", "status": "success", "amount": "13.25", "currency": "USD"}],
    }


def send_demo_shopify_order(source: OrderSource) -> dict:
    """Sign the demo store's order as Shopify does and hand it to the webhook service (the web
    server is not up yet while the demo loads); returns the answer the endpoint would give."""
    body = json.dumps(demo_shopify_order()).encode()
    headers = signatures.shopify_headers(body, DEMO_SHOPIFY_SECRET, topic="orders/create",
                                         webhook_id="demo-orders-create-1001", shop_domain="demo-store.myshopify.com")
    return receive_store_delivery(source.pk, "shopify", body, headers).body


def send_demo_shopify_refund(source: OrderSource) -> dict:
    """The demo store's refund of one Widget, signed and handed to the webhook service."""
    body = json.dumps(demo_shopify_refund()).encode()
    headers = signatures.shopify_headers(body, DEMO_SHOPIFY_SECRET, topic="refunds/create",
                                         webhook_id="demo-refunds-create-1", shop_domain="demo-store.myshopify.com")
    return receive_store_delivery(source.pk, "shopify", body, headers).body


def _order(source: str, external_id: str, email: str, lines: list[tuple[str, int, str]], **extra) -> dict:
    return {
        "order_source": source,
        "external_id": external_id,
        "number": external_id,
        "email": email,
        "lines": [
            {"sku": sku, "description": f"{sku} x{qty}", "quantity": qty, "unit_price": price}
            for sku, qty, price in lines
        ],
        **extra,
    }


def load_demo(base_url: str, *, password: str | None = None, progress=print) -> DemoResult:
    """Create the demo against a running qbo_sandbox at ``base_url``. Idempotent enough to run twice."""
    password = password or secrets.token_urlsafe(9)
    result = DemoResult(company=None)  # type: ignore[arg-type]
    for username, role in (("admin", "admin"), ("operator", "operator"), ("viewer", "viewer")):
        ensure_user(username, role=role, password=password, email=f"{username}@localhost", staff=role == "admin",
                    actor_label="demo")
        result.logins[username] = password

    realm_id = "9130350000000001"
    with httpx.Client(base_url=base_url, timeout=30) as http:
        http.delete(f"/_sandbox/realms/{realm_id}")
        resp = http.post(
            "/_sandbox/realms",
            json={"realm_id": realm_id, "customers": DEMO_CUSTOMERS, "items": DEMO_ITEMS},
        )
        if resp.status_code != 201:
            raise RuntimeError(f"qbo_sandbox refused the demo realm: {resp.status_code} {resp.text}")
    progress(f"qbo_sandbox realm {realm_id} ready at {base_url}")

    company = connect_company(
        base_url,
        name="Demo Company",
        realm_id=realm_id,
        client_id=settings.QBO_CLIENT_ID,
        client_secret=settings.QBO_CLIENT_SECRET,
        redirect_uri=settings.QBO_REDIRECT_URI,
    )
    result.company = company
    progress(f"connected Company #{company.pk} (realm {company.realm_id}) through OAuth")
    sync_company(company)
    services_item = company.items.get(name="Services")
    shipping_item = company.items.get(name="Shipping")

    with transaction.atomic():
        wholesale = _site_area(company, "Wholesale", push_method="invoice", customer_policy="match",
                               default_item=services_item.qbo_id, shipping_item=shipping_item.qbo_id)
        web = _site_area(company, "Web Store", push_method="sales_receipt", customer_policy="match",
                         refund_account="35", default_item=services_item.qbo_id, shipping_item=shipping_item.qbo_id)
        _order_source("Wholesale Portal", wholesale)
        trade = _order_source("Trade Show", wholesale)
        _order_source("Web Shop", web)
        shop = _order_source(DEMO_SHOPIFY_SOURCE, web)
        if shop.kind != OrderSource.Kind.SHOPIFY or not shop.webhook_secret_enc:
            shop = update_order_source(shop.pk, kind="shopify", webhook_secret=DEMO_SHOPIFY_SECRET,
                                       actor_label="demo")

    if not AutomationRule.objects.filter(name="Trade Show orders to one account").exists():
        create_rule(
            name="Trade Show orders to one account",
            conditions={"order_source": trade.pk},
            actions={"set_email": "tradeshow@example.com"},
            actor_label="demo",
        )

    orders = [
        _order("Wholesale Portal", "WP-1001", "name2@example.com", [("W-100", 4, "12.50"), ("G-200", 1, "30.00")]),
        _order("Wholesale Portal", "WP-1002", "buyer@cedarpine.example", [("G-200", 2, "30.00")], shipping="9.60"),
        _order("Trade Show", "TS-2001", "", [("W-100", 10, "11.00")]),
        _order("Web Shop", "WEB-3001", "", [("W-100", 1, "12.50")]),
        _order("Web Shop", "WEB-3002", "shopper@example.net", [("G-200", 1, "30.00")], discount="5.00"),
        # The seed's first error: an invoice whose email no QBO customer has.
        _order("Wholesale Portal", "WP-1003", "new.buyer@example.org", [("W-100", 2, "12.50")]),
        # The seed's second error: an email with bad syntax.
        _order("Wholesale Portal", "WP-1004", "sales@@example..com", [("G-200", 1, "30.00")]),
    ]
    for data in orders:
        ingest_order(data, actor_label="demo")
    load_canada(base_url, progress=progress)
    answer = send_demo_shopify_order(shop)
    progress(f"the demo Shopify store sent a signed orders/create to /webhooks/shopify/{shop.pk}: {answer['outcome']}")
    run_until_idle(timeout=60)
    answer = send_demo_shopify_refund(shop)
    progress(f"the demo Shopify store sent a signed refunds/create (one Widget): {answer['outcome']}")
    run_until_idle(timeout=60)

    # The seed's third error: 003202 until the retries are exhausted.
    max_attempts = settings.LEDGERLINK_MAX_ATTEMPTS
    with httpx.Client(base_url=base_url, timeout=30) as http:
        http.post(
            f"/_sandbox/realms/{realm_id}/faults",
            json={"kind": "003202", "entity": "Invoice", "count": max_attempts},
        ).raise_for_status()
    ingest_order(
        _order("Wholesale Portal", "WP-1005", "orders@bluebird.example", [("W-100", 3, "12.50")]),
        actor_label="demo",
    )
    base, cap = settings.LEDGERLINK_BACKOFF_BASE, settings.LEDGERLINK_BACKOFF_CAP
    settings.LEDGERLINK_BACKOFF_BASE, settings.LEDGERLINK_BACKOFF_CAP = 0.05, 0.2
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run_until_idle(timeout=10)
            if not PushRequest.objects.filter(state__in=PushRequest.PENDING_STATES).exists():
                break
    finally:
        settings.LEDGERLINK_BACKOFF_BASE, settings.LEDGERLINK_BACKOFF_CAP = base, cap

    for state in PushRequest.State.values:
        result.states[state] = PushRequest.objects.filter(state=state).count()
    return result


def _taxed(sku: str, qty: int, price: str, rate: str, tax: str, **extra) -> dict:
    return {"sku": sku, "description": f"{sku} x{qty}", "quantity": qty, "unit_price": price, "tax_rate": rate,
            "tax": tax, **extra}


def load_canada(base_url: str, *, progress=print) -> Company:
    """A Canadian company (GST/HST, a tax code on every line) whose wholesale orders carry HST (Ontario,
    13 %) and GST (Alberta, 5 %): the rates map themselves to QBO's codes, untaxed lines go to
    Zero-rated; one order charges a rate no code has (6 %) and waits on the tax mapping page."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        http.delete(f"/_sandbox/realms/{CANADA_REALM}")
        resp = http.post("/_sandbox/realms", json={
            "realm_id": CANADA_REALM, "country": "CA", "customers": CANADA_CUSTOMERS, "items": DEMO_ITEMS})
        if resp.status_code != 201:
            raise RuntimeError(f"qbo_sandbox refused the Canadian realm: {resp.status_code} {resp.text}")
    company = connect_company(
        base_url, name="Maple Wholesale (Canada)", realm_id=CANADA_REALM, client_id=settings.QBO_CLIENT_ID,
        client_secret=settings.QBO_CLIENT_SECRET, redirect_uri=settings.QBO_REDIRECT_URI,
    )
    sync_company(company)  # the tax world (CA, global, CAD) and the tax codes
    save_tax_mapping(company.pk, {"exempt_tax_code": "5"}, actor_label="demo")  # untaxed lines: Zero-rated
    services_item = company.items.get(name="Services")
    shipping_item = company.items.get(name="Shipping")
    area = _site_area(company, "Canada Wholesale", push_method="invoice", customer_policy="match",
                      default_item=services_item.qbo_id, shipping_item=shipping_item.qbo_id)
    _order_source("Canada Wholesale Portal", area)
    progress(f"connected Company #{company.pk} (Canada, realm {company.realm_id}); tax model {company.tax_model}")
    def order(external_id: str, email: str, lines: list[dict], **extra) -> dict:
        return {"order_source": "Canada Wholesale Portal", "external_id": external_id, "number": external_id,
                "email": email, "lines": lines, **extra}

    for data in (
        # Ontario: HST 13 % on the goods and on shipping
        order("CA-1001", "buyer@mapleleaf.example",
              [_taxed("W-100", 8, "12.50", "13", "13.00"), _taxed("G-200", 2, "30.00", "13", "7.80")],
              shipping="15.00", shipping_tax="1.95", shipping_tax_rate="13"),
        # Alberta: GST 5 %, one zero-rated line
        order("CA-1002", "orders@prairie.example",
              [_taxed("G-200", 4, "30.00", "5", "6.00"),
               {"sku": "W-100", "description": "Sample widget", "quantity": 1, "unit_price": "12.50",
                "taxable": False}]),
        # 6 %: no QuickBooks tax code has it; the request waits on the tax mapping page
        order("CA-1003", "orders@prairie.example", [_taxed("W-100", 2, "12.50", "6", "1.50")]),
    ):
        ingest_order(data, actor_label="demo")
    return company
