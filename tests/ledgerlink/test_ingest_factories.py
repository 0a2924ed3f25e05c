"""Factories shared by the ingest / automation / payload / request / API tests (no tests here).

Plain functions, not fixtures, so the test modules stay independent of conftest.py. Every row is
created through the ORM only for set-up that has no service (Company, mirror rows); orders go
through ``ingest_order``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model

from ledgerlink.core.models import (
    Company,
    Customer,
    CustomerEmail,
    Item,
    OrderSource,
    SiteArea,
    UserProfile,
)


@dataclass
class World:
    company: Company
    wholesale: SiteArea  # invoice, match
    web: SiteArea  # sales_receipt, match
    portal: OrderSource  # -> wholesale
    trade: OrderSource  # -> wholesale
    shop: OrderSource  # -> web
    acme: Customer
    widget: Item
    gadget: Item
    services: Item


def make_world(realm_id: str = "9130350000000001") -> World:
    company = Company.objects.create(name="Demo Company", realm_id=realm_id, api_base_url="http://127.0.0.1:1")
    services = Item.objects.create(company=company, qbo_id="1", name="Services", type="Service")
    widget = Item.objects.create(company=company, qbo_id="2", name="Widget", sku="W-100", type="NonInventory")
    gadget = Item.objects.create(company=company, qbo_id="3", name="Gadget", sku="G-200", type="NonInventory")
    Item.objects.create(company=company, qbo_id="4", name="Old Thing", sku="OLD-1", active=False)
    acme = Customer.objects.create(company=company, qbo_id="56", display_name="Acme Tools", email="name2@example.com")
    CustomerEmail.objects.create(company=company, customer=acme, email="name2@example.com")
    trade_cust = Customer.objects.create(
        company=company, qbo_id="57", display_name="Trade Show Account", email="tradeshow@example.com"
    )
    CustomerEmail.objects.create(company=company, customer=trade_cust, email="tradeshow@example.com")
    wholesale = SiteArea.objects.create(
        company=company, name="Wholesale", push_method="invoice", customer_policy="match", default_item="1"
    )
    web = SiteArea.objects.create(
        company=company, name="Web Store", push_method="sales_receipt", customer_policy="match", default_item="1"
    )
    portal = OrderSource.objects.create(name="Wholesale Portal", site_area=wholesale)
    trade = OrderSource.objects.create(name="Trade Show", site_area=wholesale)
    shop = OrderSource.objects.create(name="Web Shop", site_area=web)
    return World(company, wholesale, web, portal, trade, shop, acme, widget, gadget, services)


def order_data(source="Wholesale Portal", external_id="WP-1001", email="name2@example.com", lines=None, **extra) -> dict:
    return {
        "order_source": source,
        "external_id": external_id,
        "number": external_id,
        "email": email,
        "lines": lines
        if lines is not None
        else [
            {"sku": "W-100", "description": "Widget", "quantity": 4, "unit_price": "12.50"},
            {"sku": "G-200", "description": "Gadget", "quantity": 1, "unit_price": "30.00"},
        ],
        **extra,
    }


def make_user(username: str, role: str | None = "viewer", *, superuser: bool = False):
    User = get_user_model()
    if superuser:
        user = User.objects.create_superuser(username=username, password=None, email="")
    else:
        user = User.objects.create_user(username=username, password=None)
    if role is not None:
        UserProfile.objects.create(user=user, role=role)
    return user
