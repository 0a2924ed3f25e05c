"""Fixtures of the lifecycle tests: an invoice source whose email matches a QBO customer, a sales
receipt source, and an operator's API client."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from ledgerlink.domain.accounts.tokens import create_api_token
from tests.ledgerlink.factories import make_user

EMAIL = "name2@example.com"


@pytest.fixture
def wholesale(company, qbo, site_area_factory, order_source_factory, customer_factory):
    shipping = qbo.create_item(company.realm_id, "Shipping")
    area = site_area_factory(company, "Wholesale", "invoice", shipping_item=shipping["Id"])
    customer_factory(company, "Acme Tools", EMAIL)
    return order_source_factory(area, "Wholesale Portal")


@pytest.fixture
def webstore(company, site_area_factory, order_source_factory):
    area = site_area_factory(company, "Web Store", "sales_receipt", refund_account="35")
    return order_source_factory(area, "Web Shop")


class Api:
    def __init__(self, client: Client):
        self.client = client

    def post(self, path: str, body=None):
        return self.client.post(f"/api/v1{path}", data=json.dumps(body) if body is not None else "",
                                content_type="application/json")

    def patch(self, path: str, body):
        return self.client.patch(f"/api/v1{path}", data=json.dumps(body), content_type="application/json")

    def get(self, path: str, **params):
        return self.client.get(f"/api/v1{path}", params)


@pytest.fixture
def api(db):
    user = make_user("olga", "operator")
    return Api(Client(HTTP_AUTHORIZATION=f"Bearer {create_api_token(user, 'test')}"))


@pytest.fixture
def invoice_order(wholesale, order_factory):
    """An invoice order of 2 x 10.00 (total 20.00), not sent yet."""
    return order_factory(wholesale, email=EMAIL, number="WP-2001")
