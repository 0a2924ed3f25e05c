"""Correctly signed but malformed QBO webhooks answer 400 and store nothing; a signed Delete or Merge
notification changes the mirror only when QBO confirms it (issue 18)."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from ledgerlink.core.models import AuditLog, Customer, WebhookEvent
from ledgerlink.domain.sync import webhooks
from ledgerlink.domain.sync.changes import apply_changes
from ledgerlink.domain.sync.webhooks import receive_webhook, sign

VERIFIER = "hostile-verifier-7d1c"
URL = "/webhooks/quickbooks"


@pytest.fixture
def verifier(settings):
    settings.QBO_WEBHOOK_VERIFIER = VERIFIER
    return VERIFIER


def _stamp() -> str:
    return timezone.now().strftime("%Y-%m-%dT%H:%M:%S") + "-0000"


def legacy(*entities, realm="4620816365") -> dict:
    return {"eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": list(entities)}}]}


def entity(name="Customer", id_="7", operation="Update", **extra) -> dict:
    return {"name": name, "id": id_, "operation": operation, "lastUpdated": _stamp(), **extra}


def cloud(**extra) -> dict:
    return {"id": "ev-1", "type": "qbo.customer.updated.v1", "intuitaccountid": "4620816365",
            "intuitentityid": "7", "time": timezone.now().isoformat(), **extra}


def post(client, body: bytes):
    return client.post(URL, data=body, content_type="application/json", HTTP_INTUIT_SIGNATURE=sign(body, VERIFIER))


DEEP = ("[" * 100_000 + "]" * 100_000).encode()  # 200 kB: under the 1 MB limit


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"eventNotifications": [1]}, "eventNotifications[0]", "must be a JSON object"),
        ({"eventNotifications": ["x"]}, "eventNotifications[0]", "must be a JSON object"),
        ({"eventNotifications": [{"realmId": "1", "dataChangeEvent": "x"}]},
         "eventNotifications[0].dataChangeEvent", "must be a JSON object"),
        ({"eventNotifications": [{"realmId": "1", "dataChangeEvent": {"entities": "Customer"}}]},
         "eventNotifications[0].dataChangeEvent.entities", "must be a JSON array"),
        (legacy("Customer"), "eventNotifications[0].dataChangeEvent.entities[0]", "must be a JSON object"),
        (legacy(entity(), "Customer:7"), "eventNotifications[0].dataChangeEvent.entities[1]", "must be a JSON object"),
        (legacy(entity(name="C" * 33)), "eventNotifications[0].dataChangeEvent.entities[0].name",
         "must be at most 32 characters (got 33)"),
        (legacy(entity(name="Customer; DROP")), "eventNotifications[0].dataChangeEvent.entities[0].name",
         "must be an entity name (letters only)"),
        (legacy(entity(id_="1" * 33)), "eventNotifications[0].dataChangeEvent.entities[0].id",
         "must be at most 32 characters (got 33)"),
        (legacy(entity(id_={"$gt": ""})), "eventNotifications[0].dataChangeEvent.entities[0].id", "must be text"),
        (legacy(entity(operation="U" * 21)), "eventNotifications[0].dataChangeEvent.entities[0].operation",
         "must be an operation such as Create, Update, Delete or Merge"),
        (legacy(entity(operation="Merge", deletedId="2" * 33)),
         "eventNotifications[0].dataChangeEvent.entities[0].deletedId", "must be at most 32 characters (got 33)"),
        (legacy(entity(lastUpdated="2026-13-45T10:00:00-0000")),
         "eventNotifications[0].dataChangeEvent.entities[0].lastUpdated", "must be a time (ISO 8601)"),
        (legacy(entity(), realm="9" * 65), "eventNotifications[0].realmId", "must be at most 64 characters (got 65)"),
        ([cloud(data="x")], "[0].data", "must be a JSON object"),
        ([cloud(data=["deletedid", "27"])], "[0].data", "must be a JSON object"),
        ([cloud(type="qbo." + "c" * 33 + ".updated.v1")], "[0].type", "must be at most 32 characters (got 33)"),
        ([cloud(intuitentityid="7" * 33)], "[0].intuitentityid", "must be at most 32 characters (got 33)"),
        ([cloud(intuitentityid=["7"])], "[0].intuitentityid", "must be text"),
        ([cloud(), "x"], "[1]", "Each CloudEvent must be a JSON object"),
        ([cloud(type="qbo.customer.merged.v1", data={"deletedid": {"a": 1}})], "[0].data.deletedid",
         "must be text"),
    ],
)
@pytest.mark.django_db
def test_signed_but_malformed_notifications_are_400_and_store_nothing(client, verifier, body, field, detail):
    r = post(client, json.dumps(body).encode())
    assert (r.status_code, r.json()) == (400, {"detail": detail, "field": field})
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db
def test_signed_deep_json_and_lone_surrogates_are_400(client, verifier):
    r = post(client, DEEP)
    assert r.status_code == 400
    assert r.json()["field"] == "body"
    assert "nested" in r.json()["detail"]
    r = post(client, json.dumps(legacy(entity(id_="\ud800"))).encode())
    assert r.status_code == 400
    assert r.json()["field"] == "body.eventNotifications[0].dataChangeEvent.entities[0].id"
    r = post(client, json.dumps(legacy(entity(extra={"a": {"b": {"c": {"d": {}}}}}))).encode())
    assert (r.status_code, r.json()["detail"]) == (
        400, "is nested more than 8 levels deep: a QuickBooks document is a few levels deep"
    )
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_good_event_is_not_stored_when_another_of_the_delivery_is_malformed(client, verifier):
    r = post(client, json.dumps(legacy(entity(id_="8"), entity(id_="9" * 40))).encode())
    assert r.status_code == 400
    assert WebhookEvent.objects.count() == 0
    r = post(client, json.dumps(legacy(entity(id_="8"), entity(id_=9))).encode())  # ids may be numbers
    assert (r.status_code, r.json()) == (200, {"stored": 2, "duplicates": 0, "stale": 0})
    assert sorted(WebhookEvent.objects.values_list("entity_id", flat=True)) == ["8", "9"]


def _deliver(company, *entities) -> None:
    body = json.dumps(legacy(*entities, realm=company.realm_id)).encode()
    result = receive_webhook(body, sign(body, VERIFIER), verifier=VERIFIER)
    assert result["stored"] == len(entities)
    webhooks.process_webhook_events()


@pytest.mark.django_db
def test_a_signed_delete_of_a_customer_qbo_still_has_active_changes_nothing(qbo, company):
    alive = qbo.create_customer(company.realm_id, "Still Here Ltd", "here@example.org")
    apply_changes(company, "Customer", [alive])
    audit_before = AuditLog.objects.count()
    _deliver(company, entity(id_=alive["Id"], operation="Delete"))
    mirrored = Customer.objects.get(company=company, qbo_id=alive["Id"])
    assert (mirrored.active, mirrored.display_name) == (True, "Still Here Ltd")
    assert WebhookEvent.objects.get().processed_at is not None
    assert AuditLog.objects.count() == audit_before

    # QBO deletes (deactivates) it: the same notification now takes effect, read from QBO
    qbo.deactivate_customer(company.realm_id, alive)
    _deliver(company, {**entity(id_=alive["Id"], operation="Delete"), "lastUpdated": _stamp()[:-5] + "+0100"})
    assert Customer.objects.get(company=company, qbo_id=alive["Id"]).active is False


@pytest.mark.django_db
def test_a_signed_merge_does_not_deactivate_the_merged_away_customer_unless_qbo_says_so(qbo, company):
    keep = qbo.create_customer(company.realm_id, "Survivor Inc", "survivor@example.org")
    other = qbo.create_customer(company.realm_id, "Not Merged Co", "notmerged@example.org")
    apply_changes(company, "Customer", [keep, other])
    _deliver(company, entity(id_=keep["Id"], operation="Merge", deletedId=other["Id"]))
    assert Customer.objects.get(company=company, qbo_id=other["Id"]).active is True
    assert Customer.objects.get(company=company, qbo_id=keep["Id"]).active is True


@pytest.mark.django_db
def test_a_delete_of_what_qbo_no_longer_finds_removes_it_from_the_mirror(qbo, company):
    # The mirror holds a customer QBO has never heard of (QBO answers 610 Object Not Found)
    ghost = {"Id": "987654", "DisplayName": "Ghost", "Active": True, "SyncToken": "0",
             "MetaData": {"LastUpdatedTime": "2026-01-01T00:00:00-08:00"}}
    apply_changes(company, "Customer", [ghost])
    assert Customer.objects.get(company=company, qbo_id="987654").active is True
    _deliver(company, entity(id_="987654", operation="Delete"))
    assert not Customer.objects.filter(company=company, qbo_id="987654", active=True).exists()
