"""QBO's side (issue 15, step 6): a document voided or deleted inside QBO shows on its order
(``qbo_status``), in the digest, and nothing is re-posted by itself."""

from __future__ import annotations

import time

from ledgerlink.core.models import AuditLog, Order, PushRequest, WebhookEvent
from ledgerlink.domain.sync import cdc, webhooks
from ledgerlink.domain.sync.full import sync_company
from ledgerlink.ops.digests import send_digests
from tests.ledgerlink.domain.lifecycle.conftest import EMAIL
from tests.ledgerlink.factories import smtp_server  # noqa: F401

VERIFIER = "test-verifier-token-123"


def _void_in_qbo(qbo, company, entity, doc_id):
    token = next(d for d in qbo.entities(company.realm_id, entity) if d["Id"] == doc_id)["SyncToken"]
    if entity == "Invoice":
        r = qbo.api(company.realm_id, "POST", "invoice", params={"operation": "void"},
                    json={"Id": doc_id, "SyncToken": token})
    else:
        r = qbo.api(company.realm_id, "POST", "salesreceipt", params={"operation": "update", "include": "void"},
                    json={"Id": doc_id, "SyncToken": token, "sparse": True})
    assert r.status_code == 200, r.text


def test_invoice_voided_in_qbo_shows_on_the_order_through_a_webhook_and_is_not_reposted(
        settings, live_server, invoice_order, qbo, company, api, run_worker_until_idle, smtp_server):  # noqa: F811
    settings.QBO_WEBHOOK_VERIFIER = VERIFIER
    settings.LEDGERLINK_ADMIN_EMAILS = ["ops@example.com"]
    qbo.set_config(company.realm_id, webhook_url=f"{live_server.url}/webhooks/quickbooks",
                   webhook_verifier=VERIFIER, webhook_batch_ms=10)
    order, doc = invoice_order
    run_worker_until_idle(timeout=20)
    doc.refresh_from_db()
    _void_in_qbo(qbo, company, "Invoice", doc.qbo_id)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        webhooks.process_webhook_events()
        order.refresh_from_db()
        if order.qbo_status:
            break
        time.sleep(0.1)
    assert (order.qbo_status, order.status) == ("voided_in_qbo", Order.Status.PUSHED)
    assert WebhookEvent.objects.filter(entity="Invoice", operation="Void", entity_id=doc.qbo_id).exists()
    assert AuditLog.objects.filter(action="order.voided_in_qbo", object_id=str(order.pk)).count() == 1
    assert api.get(f"/orders/{order.pk}").json()["qbo_status"] == "voided_in_qbo"
    run_worker_until_idle(timeout=10)
    assert list(PushRequest.objects.filter(order=order).values_list("kind", "state")) == [("invoice", "succeeded")]
    assert len(qbo.entities(company.realm_id, "Invoice")) == 1
    (digest,) = [d for d in send_digests() if d.key == "changed_in_qbo"]
    assert f"  - order WP-2001 (#{order.pk}): voided in QuickBooks, QuickBooks Id {doc.qbo_id}" in digest.body
    assert digest.subject == "Test Company: 1 order document(s) voided or deleted in QuickBooks"
    assert [d for d in send_digests() if d.key == "changed_in_qbo"] == []  # once per growth


def test_sales_receipt_deleted_and_invoice_voided_in_qbo_show_through_cdc(
        webstore, wholesale, order_factory, qbo, company, run_worker_until_idle):
    receipt_order, receipt = order_factory(webstore, email="")
    invoice_order, invoice = order_factory(wholesale, email=EMAIL)
    run_worker_until_idle(timeout=20)
    receipt.refresh_from_db()
    invoice.refresh_from_db()
    sync_company(company)
    token = qbo.entities(company.realm_id, "SalesReceipt")[0]["SyncToken"]
    r = qbo.api(company.realm_id, "POST", "salesreceipt", params={"operation": "delete"},
                json={"Id": receipt.qbo_id, "SyncToken": token})
    assert r.status_code == 200, r.text
    _void_in_qbo(qbo, company, "Invoice", invoice.qbo_id)
    cdc.cdc_sync_company(company)
    receipt_order.refresh_from_db()
    invoice_order.refresh_from_db()
    assert (receipt_order.qbo_status, invoice_order.qbo_status) == ("deleted_in_qbo", "voided_in_qbo")
    run_worker_until_idle(timeout=10)
    assert PushRequest.objects.count() == 2


def test_our_own_void_is_not_reported_as_voided_in_qbo(invoice_order, api, qbo, company, run_worker_until_idle):
    order, doc = invoice_order
    run_worker_until_idle(timeout=20)
    sync_company(company)
    api.post(f"/orders/{order.pk}/cancel")
    run_worker_until_idle(timeout=20)
    cdc.cdc_sync_company(company)
    order.refresh_from_db()
    assert (order.status, order.qbo_status) == (Order.Status.CANCELLED, "")
