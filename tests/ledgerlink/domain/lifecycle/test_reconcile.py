"""Reconciliation (issue 15, step 8): each kind of discrepancy planted directly in qbo_sandbox is
found, with exact counts, in a few queries; each fix is one call away."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from ledgerlink.core.models import PushRequest
from ledgerlink.domain.reconcile.orders import fix_row, reconcile
from tests.ledgerlink.domain.lifecycle.conftest import EMAIL


def _doc(qbo, company, entity, doc_id):
    return next(d for d in qbo.entities(company.realm_id, entity) if d["Id"] == doc_id)


@pytest.fixture
def planted(wholesale, webstore, order_factory, api, qbo, company, run_worker_until_idle):
    orders = {}
    for name in ("ok", "missing", "duplicate", "manual", "amount", "voided", "paid"):
        orders[name] = order_factory(wholesale, email=EMAIL, number=f"R-{name}")
    orders["receipt"] = order_factory(webstore, email="", number="R-receipt")
    orders["unposted"] = order_factory(wholesale, email="nobody@example.com", number="R-unposted")  # no customer
    orders["cancelled"] = order_factory(wholesale, email=EMAIL, number="R-cancelled")
    api.post(f"/orders/{orders['cancelled'][0].pk}/cancel")
    run_worker_until_idle(timeout=30)
    api.post(f"/orders/{orders['paid'][0].pk}/payments", {"external_id": "p1", "amount": "20.00"})
    run_worker_until_idle(timeout=30)
    for _order, pr in orders.values():
        pr.refresh_from_db()
    realm = company.realm_id
    # Deleted in QBO.
    doc = orders["missing"][1]
    r = qbo.api(realm, "POST", "invoice", params={"operation": "delete"},
                json={"Id": doc.qbo_id, "SyncToken": _doc(qbo, company, "Invoice", doc.qbo_id)["SyncToken"]})
    assert r.status_code == 200, r.text
    # A duplicate: the same order posted again (its marker), by another tool.
    order, doc = orders["duplicate"]
    body = {k: v for k, v in PushRequest.objects.get(pk=doc.pk).revisions.get(number=1).payload.items()
            if k != "DocNumber"}
    r = qbo.api(realm, "POST", "invoice", json=body)
    assert r.status_code == 200, r.text
    orders["duplicate_extra"] = r.json()["Invoice"]["Id"]
    # A person keys the same invoice in by hand: its DocNumber, no marker.
    doc = orders["manual"][1]
    r = qbo.api(realm, "POST", "invoice", json={
        "DocNumber": "R-manual", "CustomerRef": _doc(qbo, company, "Invoice", doc.qbo_id)["CustomerRef"],
        "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 20, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]})
    assert r.status_code == 200, r.text
    orders["manual_extra"] = r.json()["Invoice"]["Id"]
    # An amount changed in QBO.
    doc = orders["amount"][1]
    r = qbo.api(realm, "POST", "invoice", json={
        "Id": doc.qbo_id, "SyncToken": _doc(qbo, company, "Invoice", doc.qbo_id)["SyncToken"], "sparse": True,
        "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 25, "SalesItemLineDetail": {
            "ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": 25}}]})
    assert r.status_code == 200, r.text
    # Voided in QBO.
    doc = orders["voided"][1]
    r = qbo.api(realm, "POST", "invoice", params={"operation": "void"},
                json={"Id": doc.qbo_id, "SyncToken": _doc(qbo, company, "Invoice", doc.qbo_id)["SyncToken"]})
    assert r.status_code == 200, r.text
    # A payment voided in QBO: sent 20.00, QBO holds 0.
    (payment,) = qbo.entities(realm, "Payment")
    r = qbo.api(realm, "POST", "payment", params={"operation": "update", "include": "void"},
                json={"Id": payment["Id"], "SyncToken": payment["SyncToken"], "sparse": True})
    assert r.status_code == 200, r.text
    return orders


def test_each_planted_discrepancy_is_found_with_exact_counts_in_few_queries(planted, company):
    report = reconcile(company=company.pk)
    by_order = {row.order_id: row for row in report.rows}
    status = {name: by_order[v[0].pk].status for name, v in planted.items() if not name.endswith("_extra")}
    assert status == {
        "ok": "ok", "missing": "missing", "duplicate": "duplicate", "manual": "duplicate", "amount": "amount_mismatch",
        "voided": "voided_in_qbo", "paid": "payments_mismatch", "receipt": "ok", "unposted": "unposted",
        "cancelled": "ok",
    }
    assert report.counts == {"ok": 3, "missing": 1, "duplicate": 2, "amount_mismatch": 1, "voided_in_qbo": 1,
                             "unposted": 1, "payments_mismatch": 1, "refunds_mismatch": 0}
    assert by_order[planted["manual"][0].pk].extra_id == planted["manual_extra"]
    # 5 marker queries (Invoice, SalesReceipt, Payment, CreditMemo, RefundReceipt) + one DocNumber IN
    # per document entity (7 posted invoices, 1 sales receipt: under 100 each).
    assert report.queries == 7
    dup = by_order[planted["duplicate"][0].pk]
    assert (dup.extra_id, dup.fix) == (planted["duplicate_extra"], "void_extra")
    assert by_order[planted["amount"][0].pk].detail == "QuickBooks 25.00, expected 20.00"
    assert by_order[planted["paid"][0].pk].detail == "payments sent 20.00, in QuickBooks 0.00"
    assert [by_order[planted[n][0].pk].fix for n in ("missing", "unposted", "voided")] == [
        "requeue", "requeue", "accept"]


def test_fixes_are_one_call_away_and_the_rows_then_reconcile(planted, company, qbo, run_worker_until_idle):
    fix_row(planted["amount"][0].pk, "accept", actor_label="test")
    fix_row(planted["paid"][0].pk, "accept", actor_label="test")
    void = fix_row(planted["duplicate"][0].pk, "void_extra", actor_label="test")
    repost = fix_row(planted["missing"][0].pk, "requeue", actor_label="test")
    run_worker_until_idle(timeout=30)
    assert PushRequest.objects.get(pk=void["request"]).state == "succeeded"
    assert _doc(qbo, company, "Invoice", planted["duplicate_extra"])["status"] == "Voided"
    assert PushRequest.objects.get(pk=repost["request"]).state == "succeeded"
    report = reconcile(company=company.pk)
    assert report.counts == {"ok": 7, "missing": 0, "duplicate": 1, "amount_mismatch": 0, "voided_in_qbo": 1,
                             "unposted": 1, "payments_mismatch": 0, "refunds_mismatch": 0}
    with pytest.raises(Exception, match="reconciles; nothing to fix"):
        fix_row(planted["ok"][0].pk, "accept", actor_label="test")


def test_cli_prints_a_table_and_exits_1_and_the_api_answers_the_same(planted, company, api):
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("reconcile", "--company", str(company.pk), "--since", "2020-01-01", stdout=out)
    assert exit_.value.code == 1
    text = out.getvalue()
    assert text.splitlines()[0].split() == ["order", "number", "company", "status", "expected", "in", "QuickBooks",
                                            "fix", "detail"]
    assert "R-amount" in text and "amount_mismatch" in text and "QuickBooks 25.00, expected 20.00" in text
    assert text.splitlines()[-1] == ("10 order(s): ok 3, missing 1, duplicate 2, amount_mismatch 1, voided_in_qbo 1, "
                                     "unposted 1, payments_mismatch 1; 7 QuickBooks queries")
    body = api.get("/reconciliation", company=company.pk, since="2020-01-01").json()
    assert (body["ok"], body["counts"]["duplicate"], len(body["rows"])) == (False, 2, 10)
    assert api.get("/reconciliation", company=company.pk, since="2099-01-01").json()["rows"] == []
    assert api.get("/reconciliation", since="yesterday").json()["field"] == "since"


def test_reconciliation_page_lists_the_rows_and_fixes_them_in_one_click(planted, company):
    from django.test import Client
    from django.urls import reverse

    from tests.ledgerlink.factories import make_login_user

    viewer, operator = Client(), Client()
    viewer.force_login(make_login_user("vera", "viewer"))
    operator.force_login(make_login_user("otto", "operator"))
    url = reverse("web:reconciliation")
    assert "Run" in viewer.get(url).content.decode()  # no QBO read on a plain visit
    html = viewer.get(url, {"run": "1", "company": company.pk}).content.decode()
    assert "it needs the operator role" in html and "QuickBooks queries" not in html
    html = operator.get(url, {"run": "1", "company": company.pk}).content.decode()
    assert "10 order(s) in 7 QuickBooks queries" in html and "QuickBooks 25.00, expected 20.00" in html
    assert html.count("Accept</button>") == 7 and "Void the extra document</button>" in html
    amount = planted["amount"][0].pk
    resp = operator.post(reverse("web:reconciliation_fix"), {"order": amount, "fix": "accept",
                                                             "company": company.pk})
    assert resp.status_code == 302
    html = operator.get(resp["Location"]).content.decode()
    assert "amount_mismatch): accept - accepted." in html
    assert html.count("Accept</button>") == 6
