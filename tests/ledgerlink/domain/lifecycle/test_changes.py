"""Changes (issue 15, step 3): an unsent request gets a new revision; a posted document gets an
``update`` request (same Id, new TotalAmt, SyncToken advanced), which re-reads and retries on 5010."""

from __future__ import annotations

from ledgerlink.core.models import Order, OrderVersion, PushRequest, PushRevision
from tests.ledgerlink.domain.lifecycle.conftest import EMAIL

FIVE = [{"sku": "", "description": "Service", "quantity": 5, "unit_price": "10.00"}]


def test_change_before_sending_is_a_new_revision_of_the_waiting_request(invoice_order, api, qbo, company,
                                                                         run_worker_until_idle):
    order, doc = invoice_order
    r = api.patch(f"/orders/{order.pk}", {"lines": FIVE, "ship_address": {"city": "Austin"}})
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["order"]["total"], body["request"]["id"], body["request"]["kind"]) == ("50.00", doc.pk, "invoice")
    assert body["version"]["number"] == 1 and body["version"]["author"] == "api:olga"
    assert body["version"]["changes"]["lines"]["old"][0]["quantity"] == "2"
    assert body["version"]["changes"]["lines"]["new"][0]["quantity"] == "5"
    assert body["version"]["changes"]["ship_address"] == {"old": {}, "new": {"city": "Austin"}}
    doc.refresh_from_db()
    assert (doc.revision, doc.state) == (2, "queued")
    assert PushRevision.objects.get(push_request=doc, number=2).note == "order changed (version 1)"
    run_worker_until_idle(timeout=20)
    (invoice,) = qbo.entities(company.realm_id, "Invoice")
    assert (invoice["TotalAmt"], invoice["Line"][0]["SalesItemLineDetail"]["Qty"], invoice["ShipAddr"]["City"]) == (
        50, 5, "Austin")
    assert not PushRequest.objects.filter(kind="update").exists()


def test_quantity_change_after_posting_updates_the_same_invoice(invoice_order, api, qbo, company,
                                                                run_worker_until_idle):
    order, doc = invoice_order
    run_worker_until_idle(timeout=20)
    doc.refresh_from_db()
    r = api.patch(f"/orders/{order.pk}", {"lines": FIVE})
    assert r.status_code == 200, r.content
    ref = r.json()["request"]
    assert (ref["kind"], ref["state"], ref["waiting_on"]) == ("update", "queued", "")
    run_worker_until_idle(timeout=20)
    update = PushRequest.objects.get(pk=ref["id"])
    (invoice,) = qbo.entities(company.realm_id, "Invoice")
    assert (invoice["Id"], invoice["TotalAmt"], invoice["Balance"], invoice["SyncToken"]) == (doc.qbo_id, 50, 50, "1")
    assert invoice["DocNumber"] == "WP-2001"
    assert (update.state, update.qbo_id, update.qbo_sync_token, update.get_kind_display()) == (
        "succeeded", doc.qbo_id, "1", "Update")
    log = [e for e in qbo.requests(company.realm_id) if e["method"] == "POST" and e["entities"] == ["Invoice"]]
    assert [(e["operation"], e["requestid"], e["status"]) for e in log] == [
        ("create", f"ll-{doc.pk}-r1", 200), ("update", f"ll-{update.pk}-r1", 200)]
    # Versions kept; a second change uses the SyncToken the first one left.
    r = api.patch(f"/orders/{order.pk}", {"shipping": "4.00"})
    run_worker_until_idle(timeout=20)
    (invoice,) = qbo.entities(company.realm_id, "Invoice")
    assert (invoice["TotalAmt"], invoice["SyncToken"]) == (54, "2")
    assert list(OrderVersion.objects.filter(order=order).values_list("number", "author_label")) == [
        (1, "api:olga"), (2, "api:olga")]
    assert PushRequest.objects.get(pk=r.json()["request"]["id"]).state == "succeeded"
    # Re-delivery of the original order keeps its contract: 200, nothing changed.
    r = api.post("/orders", {"order_source": order.order_source_id, "external_id": order.external_id,
                             "number": "WP-2001", "email": EMAIL,
                             "lines": [{"description": "Service", "quantity": 2, "unit_price": "10.00"}]})
    assert (r.status_code, r.json()["total"]) == (200, "54.00")
    assert PushRequest.objects.filter(order=order).count() == 3


def test_update_that_meets_a_5010_rereads_and_retries_by_itself(invoice_order, api, qbo, company,
                                                                 run_worker_until_idle):
    order, doc = invoice_order
    run_worker_until_idle(timeout=20)
    doc.refresh_from_db()
    # Someone edits the invoice inside QBO: its SyncToken moves to 1, Ledgerlink still knows 0.
    r = qbo.api(company.realm_id, "POST", "invoice", json={
        "Id": doc.qbo_id, "SyncToken": "0", "sparse": True, "CustomerMemo": {"value": "Thanks!"}})
    assert r.status_code == 200, r.text
    r = api.patch(f"/orders/{order.pk}", {"lines": FIVE})
    run_worker_until_idle(timeout=20)
    update = PushRequest.objects.get(pk=r.json()["request"]["id"])
    assert (update.state, update.qbo_sync_token, update.attempt_count) == ("succeeded", "2", 0)
    (invoice,) = qbo.entities(company.realm_id, "Invoice")
    assert (invoice["Id"], invoice["TotalAmt"], invoice["SyncToken"], invoice["CustomerMemo"]) == (
        doc.qbo_id, 50, "2", {"value": "Thanks!"})
    mine = [e for e in qbo.requests(company.realm_id) if e.get("requestid") == f"ll-{update.pk}-r1"]
    assert [e["status"] for e in mine] == [400, 200]
    attempt = update.attempts.get()
    assert attempt.outcome == "succeeded"
    assert "5010 with SyncToken 0; re-read: 1" in attempt.response_body


def test_change_of_a_cancelled_order_is_409_and_of_an_unknown_one_404(invoice_order, api):
    order, doc = invoice_order
    assert api.post(f"/orders/{order.pk}/cancel").status_code == 200
    r = api.patch(f"/orders/{order.pk}", {"email": "x@example.com"})
    assert (r.status_code, r.json()["field"]) == (409, "id")
    assert api.patch("/orders/987654", {"email": "x@example.com"}).status_code == 404
    order.refresh_from_db()
    assert (order.email, order.status) == (EMAIL, Order.Status.CANCELLED)


def test_bad_change_is_422_naming_the_field_and_nothing_stored(invoice_order, api):
    order, doc = invoice_order
    r = api.patch(f"/orders/{order.pk}", {"shipping": "1.234"})
    assert (r.status_code, r.json()["field"]) == (422, "shipping")
    r = api.patch(f"/orders/{order.pk}", {"external_id": "other"})
    assert (r.status_code, r.json()["field"]) == (422, "external_id")
    r = api.patch(f"/orders/{order.pk}", {"lines": [{"quantity": 0, "unit_price": 1, "sku": "A"}]})
    assert (r.status_code, r.json()["field"]) == (422, "lines[0].quantity")
    assert not OrderVersion.objects.exists()
    doc.refresh_from_db()
    assert doc.revision == 1
