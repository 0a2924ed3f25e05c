"""Fixtures for the pure store-mapping tests (no database, no network).

The JSON files under fixtures/ are built by hand from the stores' documented payload shapes
(Shopify's REST Order and Refund resources, WooCommerce's REST order, order refund); every number in
them was worked out so that the store's own totals add up to the cent.
"""

from __future__ import annotations

import copy
import json
import pathlib

import pytest

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load(name: str) -> dict:
    return json.loads(raw(name))


@pytest.fixture
def fixture():
    """``fixture("shopify_order_us.json")``: a fresh (deep-copied) parsed fixture to edit freely."""
    return lambda name: copy.deepcopy(load(name))
