"""The QBO client against qbo_sandbox: requestid/minorversion, intuit_tid, token refresh ahead of
expiry and on a 401, invalid_grant, two concurrent refreshes, query paging, batch, CDC."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from ledgerlink.core import crypto
from ledgerlink.core.models import AuditLog, Company
from ledgerlink.domain.companies.tokens import access_token_for, client_for
from ledgerlink.quickbooks.client import QBOClient, batch_results


def _invoice(customer_id="1"):
    return {"Line": [{"DetailType": "SalesItemLineDetail", "Amount": 10,
                      "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": 10}}],
            "CustomerRef": {"value": customer_id}}


def test_create_sends_requestid_minorversion_and_captures_intuit_tid(company, qbo):
    cust = qbo.create_customer(company.realm_id, "Client Co", "client@example.com")
    with client_for(company) as client:
        r = client.create("Invoice", _invoice(cust["Id"]), requestid="ll-7-r1")
        again = client.create("Invoice", _invoice(cust["Id"]), requestid="ll-7-r1")
    assert r.ok and r.status == 200
    entry = [e for e in qbo.requests(company.realm_id) if e["requestid"] == "ll-7-r1"]
    assert [e["replayed"] for e in entry] == [False, True]
    assert r.intuit_tid == entry[0]["intuit_tid"]
    assert entry[0]["query"] == "minorversion=75&requestid=ll-7-r1"
    assert again.entity("Invoice")["Id"] == r.entity("Invoice")["Id"]  # QBO replays
    assert len(qbo.entities(company.realm_id, "Invoice")) == 1


def test_fault_is_classified(company):
    with client_for(company) as client:
        r = client.create("Invoice", _invoice("424242"))
    assert not r.ok
    assert (r.status, r.fault.kind, r.fault.code, r.fault.transient) == (400, "invalid_reference", "2500", False)


def test_token_is_refreshed_ahead_of_expiry(company, qbo):
    old_refresh = crypto.decrypt(company.refresh_token_enc)
    Company.objects.filter(pk=company.pk).update(access_token_expires_at=timezone.now() + timedelta(minutes=4))
    with client_for(company) as client:
        assert client.read("Item", "1").ok
    company.refresh_from_db()
    assert company.access_token_expires_at > timezone.now() + timedelta(minutes=55)
    assert crypto.decrypt(company.refresh_token_enc) != old_refresh  # rotated and saved
    assert AuditLog.objects.filter(action="company.tokens_refreshed").count() == 1
    # No 401 was needed.
    assert [e["status"] for e in qbo.requests(company.realm_id)] == [200]


def test_token_is_refreshed_once_on_401_and_the_call_retried(company, qbo):
    with client_for(company) as client:
        assert client.read("Item", "1").ok
        qbo.expire_tokens(company.realm_id)
        r = client.read("Item", "1")
    assert r.ok
    assert [e["status"] for e in qbo.requests(company.realm_id)] == [200, 401, 200]
    assert AuditLog.objects.filter(action="company.tokens_refreshed").count() == 1
    company.refresh_from_db()
    assert company.status == "active"


def test_invalid_grant_marks_company_needs_reconnect(company, qbo):
    qbo.expire_tokens(company.realm_id, refresh=True)
    with client_for(company) as client:
        r = client.read("Item", "1")
    assert (r.ok, r.fault.kind, r.fault.transient) == (False, "auth_reconnect", False)
    company.refresh_from_db()
    assert company.status == "needs_reconnect"
    assert company.last_error.startswith("Token refresh refused: invalid_grant")
    assert AuditLog.objects.filter(action="company.needs_reconnect").count() == 1
    with client_for(company) as client:  # paused: no more refresh attempts
        assert client.read("Item", "1").fault.kind == "auth_reconnect"
    assert AuditLog.objects.filter(action="company.needs_reconnect").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_threads_refreshing_at_once_lose_no_refresh_token(company, qbo):
    Company.objects.filter(pk=company.pk).update(access_token_expires_at=timezone.now() + timedelta(seconds=30))
    barrier = threading.Barrier(4)
    tokens, errors = [], []

    def refresh():
        try:
            barrier.wait()
            tokens.append(access_token_for(company.pk)[0])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(tokens)) == 1  # one refresh, shared
    assert AuditLog.objects.filter(action="company.tokens_refreshed").count() == 1
    company.refresh_from_db()
    assert company.status == "active"
    # The stored refresh token is the newest one: it still refreshes.
    access_token_for(company.pk, force=True)
    company.refresh_from_db()
    assert company.status == "active"


def test_query_pages_batch_and_cdc(company, qbo):
    for i in range(5):
        qbo.create_customer(company.realm_id, f"Pager {i}", f"p{i}@example.com")
    with client_for(company) as client:
        pages = list(client.query_pages("Customer", "Active IN (true,false)", page_size=2))
        assert [len(p) for p in pages] == [2, 2, 1]
        assert client.count("Customer") == 5
        r = client.batch([
            {"bId": "1", "operation": "create", "Invoice": _invoice(pages[0][0]["Id"])},
            {"bId": "2", "operation": "create", "Invoice": _invoice("999999")},
        ], requestid="llb-test")
        results = batch_results(r)
        assert results["1"][1] is None and results["1"][0]["Invoice"]["Id"]
        assert results["2"][1].kind == "invalid_reference"
        cdc = client.cdc(["Customer"], timezone.now() - timedelta(hours=1))
    assert cdc.ok
    customers = cdc.data["CDCResponse"][0]["QueryResponse"][0]["Customer"]
    assert len(customers) == 5


def test_unreachable_token_endpoint_is_a_transient_fault_and_nothing_is_sent(company, qbo):
    Company.objects.filter(pk=company.pk).update(
        token_endpoint="http://127.0.0.1:9/oauth2/v1/tokens/bearer",
        access_token_expires_at=timezone.now() + timedelta(minutes=1))
    company.refresh_from_db()
    with client_for(company) as client:
        r = client.create("Invoice", _invoice(), requestid="ll-1-r1")
    assert (r.ok, r.sent, r.status, r.fault.kind, r.fault.transient) == (False, False, None, "network", True)
    assert qbo.requests(company.realm_id) == []
    company.refresh_from_db()
    assert company.status == "active"


def test_client_takes_a_token_provider_and_needs_no_database(qbo):
    """The client knows no Company model: any provider(force, stale_token) -> (token, expiry) serves."""
    realm = qbo.create_realm()["realm_id"]
    handed, asked = [], []

    def provider(force=False, stale_token=None):
        asked.append((force, stale_token))
        handed.append(qbo.token(realm, fresh=force))
        return handed[-1], None  # no expiry known: asked again before every call

    with QBOClient(qbo.base_url, realm, provider) as client:
        assert client.read("Item", "1").entity("Item")["Name"] == "Services"
        qbo.expire_tokens(realm)
        assert client.read("Item", "1").ok
    assert asked == [(False, None), (False, None), (True, handed[1])]
    assert [e["status"] for e in qbo.requests(realm)] == [200, 401, 200]
