"""Issue 4: customers in seconds, failures that heal themselves, customer policies.

All against qbo_sandbox over HTTP; the worker is the real loop."""

import time

import pytest
from django.test import Client

from ledgerlink.core.models import Customer, PushRequest, PushRevision, SyncState, WebhookEvent
from ledgerlink.domain.accounts.tokens import create_api_token
from ledgerlink.domain.healing.customers import display_name_for, sanitize_display_name, with_suffix
from ledgerlink.domain.sync import cdc, webhooks
from ledgerlink.domain.sync.changes import apply_changes
from ledgerlink.domain.sync.full import sync_company
from tests.ledgerlink.factories import make_user

S = PushRequest.State
VERIFIER = "test-verifier-token-123"


def _invoice_docs(qbo, company):
    return [d for d in qbo.entities(company.realm_id, "Invoice") if d.get("status") != "Deleted"]


def _failed_invoice(company, site_area_factory, order_source_factory, order_factory, email):
    area = site_area_factory(company)
    source = order_source_factory(area)
    order, pr = order_factory(source, email=email)
    assert (pr.state, pr.error_kind) == (S.FAILED, "customer_ref_required")
    return order, pr


@pytest.mark.django_db(transaction=True)
def test_customer_created_in_qbo_heals_the_parked_invoice_through_a_webhook(
    settings, live_server, qbo, company, site_area_factory, order_source_factory, order_factory,
    run_worker_until_idle,
):
    settings.QBO_WEBHOOK_VERIFIER = VERIFIER
    qbo.set_config(
        company.realm_id, webhook_url=f"{live_server.url}/webhooks/quickbooks", webhook_verifier=VERIFIER,
        webhook_batch_ms=10,
    )
    sync_company(company)
    order, pr = _failed_invoice(company, site_area_factory, order_source_factory, order_factory, "new.buyer@example.org")

    created = qbo.create_customer(company.realm_id, "New Buyer LLC", "New.Buyer@example.org")

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        webhooks.process_webhook_events()
        run_worker_until_idle(timeout=5)
        pr.refresh_from_db()
        if pr.state == S.SUCCEEDED:
            break
        time.sleep(0.1)
    assert pr.state == S.SUCCEEDED
    assert WebhookEvent.objects.filter(entity="Customer", entity_id=created["Id"], processed_at__isnull=False).exists()
    healing = PushRevision.objects.get(push_request=pr, number=2)
    assert healing.author_label == "system"
    assert healing.payload["CustomerRef"] == {"value": created["Id"], "name": "New Buyer LLC"}
    docs = _invoice_docs(qbo, company)
    assert len(docs) == 1
    assert docs[0]["CustomerRef"]["value"] == created["Id"]


@pytest.mark.django_db
def test_cdc_brings_a_new_customer_and_heals_without_a_person(
    qbo, company, site_area_factory, order_source_factory, order_factory, run_worker_until_idle
):
    sync_company(company)
    order, pr = _failed_invoice(company, site_area_factory, order_source_factory, order_factory, "cdc.buyer@example.org")
    created = qbo.create_customer(company.realm_id, "CDC Buyer", "cdc.buyer@example.org")

    counts = cdc.cdc_sync_company(company)
    assert counts == {"Customer": 1, "Item": 0}
    assert SyncState.objects.get(company=company, entity="Customer").last_cdc_at is not None
    pr.refresh_from_db()
    assert (pr.state, pr.revision, pr.waiting_on) == (S.QUEUED, 2, "")
    run_worker_until_idle()
    pr.refresh_from_db()
    assert pr.state == S.SUCCEEDED
    assert [d["CustomerRef"]["value"] for d in _invoice_docs(qbo, company)] == [created["Id"]]


@pytest.mark.django_db
def test_cdc_is_not_due_before_a_full_sync_and_then_every_interval(settings, company):
    settings.LEDGERLINK_CDC_MINUTES = 5
    assert cdc.cdc_due(company) is False
    sync_company(company)
    assert cdc.cdc_due(company) is False
    state = SyncState.objects.get(company=company, entity="Customer")
    state.last_full_sync_at = state.last_full_sync_at - cdc.timedelta(minutes=6)
    state.save()
    assert cdc.cdc_due(company) is True


@pytest.mark.django_db
def test_an_older_record_never_overwrites_a_newer_one(qbo, company):
    customer = qbo.create_customer(company.realm_id, "Order Matters", "om@example.org")
    newer = dict(customer, DisplayName="Order Matters Renamed",
                 MetaData={**customer["MetaData"], "LastUpdatedTime": "2099-01-01T00:00:00-08:00"})
    apply_changes(company, "Customer", [newer])
    apply_changes(company, "Customer", [customer])
    assert Customer.objects.get(company=company, qbo_id=customer["Id"]).display_name == "Order Matters Renamed"


@pytest.mark.django_db
def test_create_policy_delivers_one_customer_per_email_and_one_invoice_per_order(
    qbo, company, site_area_factory, order_source_factory, order_factory, run_worker_until_idle
):
    # A customer whose name the first new customer would take: QBO answers 6240, we add " (2)".
    qbo.create_customer(company.realm_id, "Jane Smith", "someone.else@example.com")
    sync_company(company)
    area = site_area_factory(company, customer_policy="create")
    source = order_source_factory(area)
    emails = ["jane@example.com", "bob@example.com", "carol@example.com"]
    names = {"jane@example.com": "Jane Smith", "bob@example.com": "Bob: Builder", "carol@example.com": ""}
    prs = []
    for email in emails:
        for _ in range(2):
            _, pr = order_factory(source, email=email, customer_name=names[email])
            prs.append(pr)
    assert {p.state for p in prs} == {S.QUEUED}
    assert PushRequest.objects.filter(kind="customer").count() == 3

    run_worker_until_idle(timeout=60)

    for pr in prs:
        pr.refresh_from_db()
    assert {p.state for p in prs} == {S.SUCCEEDED}
    customers = [c for c in qbo.entities(company.realm_id, "Customer")]
    by_email = {}
    for c in customers:
        by_email.setdefault(c.get("PrimaryEmailAddr", {}).get("Address"), []).append(c["DisplayName"])
    assert by_email["jane@example.com"] == ["Jane Smith (2)"]
    assert by_email["bob@example.com"] == ["Bob Builder"]
    assert by_email["carol@example.com"] == ["carol@example.com"]
    docs = _invoice_docs(qbo, company)
    assert len(docs) == 6
    ids = {c["Id"]: c["PrimaryEmailAddr"]["Address"] for c in customers if c.get("PrimaryEmailAddr")}
    assert sorted(ids[d["CustomerRef"]["value"]] for d in docs) == sorted(emails * 2)


@pytest.mark.django_db
def test_default_policy_puts_every_order_on_the_site_area_customer(
    qbo, company, site_area_factory, order_source_factory, order_factory, run_worker_until_idle
):
    account = qbo.create_customer(company.realm_id, "Order Source Account", "source@example.com")
    sync_company(company)
    area = site_area_factory(company, customer_policy="default", default_customer=account["Id"])
    source = order_source_factory(area)
    for email in ["a@example.com", "", "b@example.com"]:
        order_factory(source, email=email)
    # The policy chooses the customer; a BillEmail QBO would refuse still needs a person.
    _, bad = order_factory(source, email="not an email")
    run_worker_until_idle()
    bad.refresh_from_db()
    assert (bad.state, bad.error_kind) == (S.FAILED, "invalid_email")
    assert list(PushRequest.objects.exclude(pk=bad.pk).values_list("state", flat=True)) == [S.SUCCEEDED] * 3
    docs = _invoice_docs(qbo, company)
    assert [d["CustomerRef"]["value"] for d in docs] == [account["Id"]] * 3
    assert len(qbo.entities(company.realm_id, "Customer")) == 1


@pytest.mark.django_db
def test_create_customer_endpoint_creates_it_and_the_request_succeeds(
    qbo, company, site_area_factory, order_source_factory, order_factory, run_worker_until_idle
):
    sync_company(company)
    order, pr = _failed_invoice(company, site_area_factory, order_source_factory, order_factory, "walkin@example.org")
    viewer = Client(HTTP_AUTHORIZATION=f"Bearer {create_api_token(make_user('v1', 'viewer'), 't')}")
    refused = viewer.post(f"/api/v1/requests/{pr.pk}/create-customer")
    assert refused.status_code == 403
    assert PushRequest.objects.filter(kind="customer").count() == 0

    operator = Client(HTTP_AUTHORIZATION=f"Bearer {create_api_token(make_user('op1', 'operator'), 't')}")
    resp = operator.post(f"/api/v1/requests/{pr.pk}/create-customer")
    assert resp.status_code == 200, resp.content
    assert resp.json()["state"] == "queued"
    again = operator.post(f"/api/v1/requests/{pr.pk}/create-customer")
    assert again.status_code == 409
    assert "only a failed" in again.json()["detail"]

    run_worker_until_idle()
    pr.refresh_from_db()
    assert pr.state == S.SUCCEEDED
    customers = qbo.entities(company.realm_id, "Customer")
    assert [c["PrimaryEmailAddr"]["Address"] for c in customers] == ["walkin@example.org"]
    assert [d["CustomerRef"]["value"] for d in _invoice_docs(qbo, company)] == [customers[0]["Id"]]


def test_display_names_are_sanitised_and_suffixes_are_deterministic():
    assert sanitize_display_name("  Acme:\tTools\nInc  ") == "Acme Tools Inc"
    assert display_name_for(name="", company="Acme", email="a@b.co") == "Acme"
    assert display_name_for(email="a@b.co") == "a@b.co"
    assert with_suffix("Jane") == "Jane (2)"
    assert with_suffix("Jane (2)") == "Jane (3)"
    assert with_suffix("Jane (9)") is None


@pytest.mark.django_db
def test_item_policy_create_makes_each_missing_item_once_and_the_documents_follow(
    qbo, company, site_area_factory, order_source_factory, order_factory, run_worker_until_idle
):
    sync_company(company)
    area = site_area_factory(company, default_item="", item_policy="create", income_account="1")
    source = order_source_factory(area)
    customer = qbo.create_customer(company.realm_id, "Item Buyer", "items@example.com")
    sync_company(company)
    lines = [
        {"sku": "NEW-1", "description": "first", "quantity": 2, "unit_price": "5.00"},
        {"sku": "NEW-2", "description": "second", "quantity": 1, "unit_price": "7.50"},
    ]
    prs = [order_factory(source, email="items@example.com", lines=lines)[1] for _ in range(2)]
    assert [(p.state, p.waiting_on) for p in prs] == [(S.QUEUED, "item:NEW-1")] * 2

    run_worker_until_idle(timeout=60)

    for pr in prs:
        pr.refresh_from_db()
    assert [p.state for p in prs] == [S.SUCCEEDED] * 2
    items = {i["Name"]: i for i in qbo.entities(company.realm_id, "Item")}
    assert (items["NEW-1"]["Type"], items["NEW-2"]["Type"]) == ("NonInventory", "NonInventory")
    assert PushRequest.objects.filter(kind="item").count() == 2
    docs = _invoice_docs(qbo, company)
    assert len(docs) == 2
    for doc in docs:
        assert doc["CustomerRef"]["value"] == customer["Id"]
        refs = [ln["SalesItemLineDetail"]["ItemRef"]["value"] for ln in doc["Line"]
                if ln["DetailType"] == "SalesItemLineDetail"]
        assert refs == [items["NEW-1"]["Id"], items["NEW-2"]["Id"]]


@pytest.mark.django_db
def test_item_policy_default_without_default_item_fails_without_creating_items(
    qbo, company, site_area_factory, order_source_factory, order_factory
):
    sync_company(company)
    area = site_area_factory(company, push_method="sales_receipt", default_item="", item_policy="default",
                             income_account="1")
    _, pr = order_factory(order_source_factory(area), email="", lines=[
        {"sku": "NOPE", "description": "x", "quantity": 1, "unit_price": "1.00"}])
    assert (pr.state, pr.error_kind) == (S.FAILED, "invalid_reference")
    assert PushRequest.objects.filter(kind="item").count() == 0


@pytest.mark.django_db
def test_one_email_on_two_customers_is_resolved_deterministically_and_flagged(
    qbo, company, site_area_factory, order_source_factory, order_factory
):
    older = qbo.create_customer(company.realm_id, "Twin A", "twin@example.com")
    newer = qbo.create_customer(company.realm_id, "Twin B", "twin@example.com")
    inactive = qbo.create_customer(company.realm_id, "Twin C", "twin@example.com")
    qbo.deactivate_customer(company.realm_id, inactive)
    sync_company(company)
    _, pr = order_factory(order_source_factory(site_area_factory(company)), email="Twin@Example.com ")
    revision = pr.revisions.get()
    assert revision.payload["CustomerRef"]["value"] == max(older["Id"], newer["Id"], key=int)
    assert revision.note == (
        f"flag: 2 active QuickBooks customers have twin@example.com (Ids {older['Id']}, {newer['Id']}); "
        f"used {newer['Id']}, the most recently updated"
    )


@pytest.mark.django_db
def test_cdc_reads_past_qbos_1000_records_per_answer(qbo, company):
    sync_company(company)
    try:
        for n in range(1205):
            if n == 600:  # the rest ten seconds later (QBO's times have one-second resolution)
                assert qbo.http.put("/_sandbox/clock", json={"offset_seconds": 10}).status_code == 200
            r = qbo.api(company.realm_id, "POST", "customer", json={
                "DisplayName": f"Bulk {n:04d}", "PrimaryEmailAddr": {"Address": f"bulk{n}@example.com"}})
            assert r.status_code == 200, r.text
        counts = cdc.cdc_sync_company(company)
    finally:
        qbo.http.put("/_sandbox/clock", json={"offset_seconds": 0})
    assert counts["Customer"] == 1205
    assert Customer.objects.filter(company=company, display_name__startswith="Bulk ").count() == 1205
