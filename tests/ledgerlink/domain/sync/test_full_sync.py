"""The Customer / Item mirror: full paged sync (inactive included), email normalisation, matching."""

from __future__ import annotations

import io
from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from ledgerlink.core.models import Customer, CustomerEmail, Item, SyncState
from ledgerlink.domain.mirror.match import match_customer_by_email, split_emails
from ledgerlink.domain.mirror.store import apply_customer
from ledgerlink.domain.sync.full import sync_company

N = 2500


def _customers():
    out = []
    for i in range(N):
        c = {"DisplayName": f"Customer {i:04d}", "PrimaryEmailAddr": {"Address": f"Buyer{i}@Example.COM"}}
        if i % 10 == 0:
            c["Active"] = False
        out.append(c)
    return out


def test_full_sync_pages_through_2500_customers_with_inactive_ones(company_factory, qbo):
    company = company_factory("Big Books", customers=_customers(),
                              items=[{"Name": "Widget", "Sku": "W-100", "Type": "Service",
                                      "IncomeAccountRef": {"value": "1"}}])
    seen = []
    result = sync_company(company, progress=lambda entity, done, total: seen.append((entity, done, total)))
    items = qbo.entities(company.realm_id, "Item")
    assert result == {"Customer": N, "Item": len(items)}
    assert Customer.objects.filter(company=company).count() == N
    assert Customer.objects.filter(company=company, active=False).count() == N // 10
    assert CustomerEmail.objects.filter(company=company).count() == N
    assert [s for s in seen if s[0] == "Customer"] == [
        ("Customer", 0, N), ("Customer", 1000, N), ("Customer", 2000, N), ("Customer", N, N)]
    c = Customer.objects.get(company=company, display_name="Customer 0007")
    assert (c.email, list(c.emails.values_list("email", flat=True))) == ("Buyer7@Example.COM", ["buyer7@example.com"])
    assert c.qbo_updated_at is not None and c.sync_token == "0"
    widget = Item.objects.get(company=company, name="Widget")
    assert (widget.sku, widget.type, widget.active) == ("W-100", "Service", True)
    state = SyncState.objects.get(company=company, entity="Customer")
    assert state.record_count == N and state.last_full_sync_at is not None and state.high_water is not None
    # the queries asked for inactive records too, 1000 a page
    queries = [e for e in qbo.requests(company.realm_id) if e["operation"] == "query"]
    # count + 3 pages of customers, count + 1 page of items; first the tax rates and the tax codes (one page each)
    assert len(queries) == 2 + 1 + 3 + 1 + 1
    # matching: active only, case-folded
    assert match_customer_by_email(company, " BUYER7@example.com ") == c
    assert match_customer_by_email(company, "buyer10@example.com") is None  # inactive


def test_resync_updates_and_deactivates(company, qbo):
    a = qbo.create_customer(company.realm_id, "Alpha", "alpha@example.com")
    qbo.create_customer(company.realm_id, "Beta", "beta@example.com")
    sync_company(company, entities=("Customer",))
    assert match_customer_by_email(company, "alpha@example.com").display_name == "Alpha"
    qbo.deactivate_customer(company.realm_id, a)
    sync_company(company, entities=("Customer",))
    alpha = Customer.objects.get(company=company, qbo_id=a["Id"])
    assert (alpha.active, alpha.sync_token) == (False, "1")
    assert match_customer_by_email(company, "alpha@example.com") is None
    assert Customer.objects.filter(company=company).count() == 2


def test_several_addresses_in_one_field_each_indexed(company):
    customer = apply_customer(company, {
        "Id": "77", "SyncToken": "3", "DisplayName": "Multi Mail", "Active": True,
        "PrimaryEmailAddr": {"Address": " Ap@Example.com; billing@example.com ,AP@example.com,, "},
        "MetaData": {"LastUpdatedTime": "2026-01-02T03:04:05-08:00"}})
    assert sorted(customer.emails.values_list("email", flat=True)) == ["ap@example.com", "billing@example.com"]
    assert match_customer_by_email(company, "Billing@Example.com") == customer
    # an update replaces the rows
    apply_customer(company, {"Id": "77", "SyncToken": "4", "DisplayName": "Multi Mail", "Active": True,
                             "PrimaryEmailAddr": {"Address": "new@example.com"}})
    assert list(customer.emails.values_list("email", flat=True)) == ["new@example.com"]
    assert split_emails("a@b.c;A@B.C , d@e.f") == ["a@b.c", "d@e.f"]


def test_match_prefers_active_then_most_recently_updated(company):
    now = timezone.now()

    def cust(qbo_id, active, age_days):
        when = (now - timedelta(days=age_days)).isoformat()
        return apply_customer(company, {"Id": qbo_id, "SyncToken": "0", "DisplayName": f"C{qbo_id}",
                                        "Active": active, "PrimaryEmailAddr": {"Address": "shared@example.com"},
                                        "MetaData": {"LastUpdatedTime": when}})

    cust("1", True, 10)
    newer = cust("2", True, 1)
    cust("3", False, 0)  # newest, but inactive
    assert match_customer_by_email(company, "shared@example.com") == newer
    assert match_customer_by_email(company, "") is None


def test_cdc_tombstone_deactivates(company):
    apply_customer(company, {"Id": "5", "DisplayName": "Gone", "PrimaryEmailAddr": {"Address": "gone@example.com"}})
    apply_customer(company, {"Id": "5", "status": "Deleted", "domain": "QBO"})
    assert Customer.objects.get(company=company, qbo_id="5").active is False
    assert match_customer_by_email(company, "gone@example.com") is None


def test_sync_command(company, qbo):
    qbo.create_customer(company.realm_id, "Cmd Customer", "cmd@example.com")
    out, err = io.StringIO(), io.StringIO()
    call_command("sync", "--company", str(company.pk), stdout=out, stderr=err)
    items = len(qbo.entities(company.realm_id, "Item"))
    assert out.getvalue().strip() == f"{company.name} (#{company.pk}): 1 Customer, {items} Item"
    assert "Customer" in err.getvalue()  # the tqdm bar
