"""Ingest -> rules -> payload -> outbox -> worker -> qbo_sandbox (real HTTP on loopback)."""

from decimal import Decimal

import pytest

from ledgerlink.core.models import PushRequest
from ledgerlink.domain.ingest.automation import create_rule
from ledgerlink.domain.ingest.orders import ingest_order
from ledgerlink.domain.outbox.actions import requeue_request
from ledgerlink.domain.outbox.selectors import current_payload
from ledgerlink.domain.sync.full import sync_company

pytestmark = pytest.mark.django_db


def _data(source, external_id, email, lines=None, **extra):
    return {
        "order_source": source.pk,
        "external_id": external_id,
        "number": external_id,
        "email": email,
        "lines": lines or [{"sku": "W-100", "description": "Widget", "quantity": 4, "unit_price": "12.50"}],
        **extra,
    }


def _docs(qbo, company, entity):
    return [d for d in qbo.entities(company.realm_id, entity)]


def test_built_invoice_is_accepted_by_qbo_with_the_same_total(company, qbo, customer_factory, site_area_factory,
                                                              order_source_factory, run_worker_until_idle):
    qbo.create_item(company.realm_id, "Widget", sku="W-100")
    shipping = qbo.create_item(company.realm_id, "Shipping")
    customer = customer_factory(company, "Acme Tools", "name2@example.com")
    sync_company(company)
    source = order_source_factory(site_area_factory(company, push_method="invoice", default_item="1",
                                                    shipping_item=shipping["Id"]))
    order, _ = ingest_order(_data(
        source, "WP-1001", "Name2@Example.com",
        lines=[{"sku": "W-100", "description": "Widget", "quantity": 3, "unit_price": "0.3333"},
               {"sku": "NOT-IN-QBO", "description": "Custom work", "quantity": "2.5", "unit_price": "19.99"}],
        shipping="9.60", discount="5.00", tax="2.10", txn_date="2026-11-20",
        ship_address={"line1": "2 Dock Rd", "city": "Ottawa", "region": "ON", "postal_code": "K1A", "country": "CA"},
    ))
    assert order.total == Decimal("57.68")  # 1.00 + 49.98 + 9.60 - 5.00 + 2.10
    run_worker_until_idle(timeout=30)
    pr = order.push_requests.get()
    pr.refresh_from_db()
    assert (pr.state, pr.error_kind) == ("succeeded", "")
    invoices = _docs(qbo, company, "Invoice")
    assert len(invoices) == 1
    inv = invoices[0]
    assert (inv["Id"], inv["DocNumber"], inv["PrivateNote"], inv["TxnDate"]) == (
        pr.qbo_id, "WP-1001", f"ledgerlink-order:{order.pk}", "2026-11-20",
    )
    assert Decimal(str(inv["TotalAmt"])) == order.total
    assert inv["CustomerRef"]["value"] == customer["Id"]
    assert inv["BillEmail"] == {"Address": "Name2@Example.com"}


def test_seed_story_1_customer_ref_required_then_fixed_and_requeued(company, qbo, customer_factory,
                                                                   site_area_factory, order_source_factory,
                                                                   run_worker_until_idle):
    source = order_source_factory(site_area_factory(company, push_method="invoice"))
    order, _ = ingest_order(_data(source, "WP-1003", "new.buyer@example.org"))
    pr = order.push_requests.get()
    run_worker_until_idle(timeout=10)
    pr.refresh_from_db()
    assert (pr.state, pr.error_kind) == ("failed", "customer_ref_required")
    assert _docs(qbo, company, "Invoice") == []
    # The person adds the customer in QBO; the mirror syncs; they edit BillEmail + CustomerRef.
    customer = customer_factory(company, "New Buyer", "new.buyer@example.org")
    payload = {**current_payload(pr), "BillEmail": {"Address": "new.buyer@example.org"},
               "CustomerRef": {"value": customer["Id"], "name": "New Buyer"}, "TotalAmt": "50.00"}
    requeue_request(pr.pk, payload=payload, note="customer added", actor_label="alice")
    run_worker_until_idle(timeout=30)
    pr.refresh_from_db()
    assert (pr.state, pr.revision) == ("succeeded", 2)
    assert len(_docs(qbo, company, "Invoice")) == 1
    assert list(pr.attempts.values_list("revision", "outcome")) == [(1, "preflight"), (2, "succeeded")]


def test_sales_order_without_email_succeeds(company, qbo, site_area_factory, order_source_factory,
                                            run_worker_until_idle):
    shipping = qbo.create_item(company.realm_id, "Shipping")
    source = order_source_factory(site_area_factory(company, name="Web", push_method="sales_receipt",
                                                    shipping_item=shipping["Id"]))
    order, _ = ingest_order(_data(source, "WEB-1", "", shipping="4.00"))
    run_worker_until_idle(timeout=30)
    pr = order.push_requests.get()
    pr.refresh_from_db()
    assert (pr.kind, pr.state) == ("sales_receipt", "succeeded")
    receipts = _docs(qbo, company, "SalesReceipt")
    assert [(r["DocNumber"], Decimal(str(r["TotalAmt"]))) for r in receipts] == [("WEB-1", Decimal("54.00"))]
    assert "CustomerRef" not in receipts[0]


def test_rule_one_email_for_an_order_source_puts_its_invoices_on_one_customer(
    company, qbo, customer_factory, site_area_factory, order_source_factory, run_worker_until_idle
):
    account = customer_factory(company, "Trade Show Account", "tradeshow@example.com")
    source = order_source_factory(site_area_factory(company, push_method="invoice"))
    create_rule(name="Trade show to one account", conditions={"order_source": source.pk},
                actions={"set_email": "tradeshow@example.com"})
    for n, email in enumerate(["", "someone@elsewhere.example", "bad@@email"]):
        ingest_order(_data(source, f"TS-{n}", email))
    run_worker_until_idle(timeout=30)
    assert set(PushRequest.objects.values_list("state", flat=True)) == {"succeeded"}
    invoices = _docs(qbo, company, "Invoice")
    assert len(invoices) == 3
    assert {inv["CustomerRef"]["value"] for inv in invoices} == {account["Id"]}
