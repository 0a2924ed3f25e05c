"""CDC of more changes than QBO's 1,000-record answer within one second (a bulk edit in QBO) pages
on with a query on MetaData.LastUpdatedTime instead of a full sync (issue 18)."""

import pytest
from django.utils import timezone

from ledgerlink.core.models import Customer, SyncState
from ledgerlink.domain.sync import cdc
from tests.ledgerlink.conftest import connect_new_company

pytestmark = pytest.mark.django_db

N = 1205


def test_more_than_1000_changes_in_one_second_are_read_by_a_query_not_a_full_sync(qbo):
    customers = [{"DisplayName": f"Bulk {n:04d}", "PrimaryEmailAddr": {"Address": f"bulk{n}@example.com"}}
                 for n in range(N)]
    company = connect_new_company(qbo, customers=customers)  # created by one bulk call: one or two seconds
    for entity in ("Customer", "Item"):
        SyncState.objects.create(company=company, entity=entity,
                                 last_full_sync_at=timezone.now() - timezone.timedelta(minutes=1))
    stamps = {c["MetaData"]["LastUpdatedTime"] for c in qbo.entities(company.realm_id, "Customer")}
    assert len(stamps) <= 2
    qbo.clear_requests(company.realm_id)

    counts = cdc.cdc_sync_company(company)

    assert counts == {"Customer": N, "Item": 2}  # the realm's Services and Hours, new too
    assert Customer.objects.filter(company=company, display_name__startswith="Bulk ").count() == N
    log = qbo.requests(company.realm_id)
    operations = [(entry["operation"], tuple(entry["entities"] or ())) for entry in log]
    # No full sync: nothing asked of Item besides CDC, and Customer only by the changed-since query.
    assert ("query", ("Item",)) not in operations
    # CDC also reads the documents (an order's document voided or deleted inside QBO, docs/lifecycle.md)
    assert 1 <= operations.count(("cdc", ("Customer", "Invoice", "Item", "SalesReceipt"))) <= 2
    assert operations.count(("query", ("Customer",))) == 2  # 1,000 + 205, by STARTPOSITION
    assert len(log) <= 4
