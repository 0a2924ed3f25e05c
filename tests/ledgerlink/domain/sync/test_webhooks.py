import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from ledgerlink.core.models import WebhookEvent
from ledgerlink.domain.sync.webhooks import parse_payload, sign, verify_signature

VERIFIER = "b5771f19b12ddb4bcdb9f08bdc50bc63878a"
URL = "/webhooks/quickbooks"


def test_signature_matches_intuit_java_sdk_vector():
    body = (
        b'{"eventNotifications":[{"realmId":"1185883450","dataChangeEvent":{"entities":[{"name":"Customer",'
        b'"id":"1","operation":"Create","lastUpdated":"2015-10-05T14:42:19-0700"}]}}]}'
    )
    assert sign(body, VERIFIER) == "JC2GUwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8Q="
    assert verify_signature(body, "JC2GUwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8Q=", VERIFIER) is True
    assert verify_signature(body + b" ", "JC2GUwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8Q=", VERIFIER) is False
    assert verify_signature(body, None, VERIFIER) is False
    assert verify_signature(body, "JC2GUwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8Q=", "") is False


def _legacy(entity_id="7", operation="Create", when=None, realm="4620816365"):
    when = when or timezone.now()
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S") + "-0000"
    return json.dumps(
        {
            "eventNotifications": [
                {
                    "realmId": realm,
                    "dataChangeEvent": {
                        "entities": [
                            {"name": "Customer", "id": entity_id, "operation": operation, "lastUpdated": stamp}
                        ]
                    },
                }
            ]
        }
    ).encode()


def _post(client, body, signature):
    headers = {"HTTP_INTUIT_SIGNATURE": signature} if signature is not None else {}
    return client.post(URL, data=body, content_type="application/json", **headers)


@pytest.fixture
def verifier(settings):
    settings.QBO_WEBHOOK_VERIFIER = VERIFIER
    return VERIFIER


@pytest.mark.django_db
def test_signed_delivery_is_stored_once_and_a_replay_is_ignored(client, verifier):
    body = _legacy()
    first = _post(client, body, sign(body, verifier))
    assert first.status_code == 200
    assert first.json() == {"stored": 1, "duplicates": 0, "stale": 0}
    again = _post(client, body, sign(body, verifier))
    assert again.status_code == 200
    assert again.json() == {"stored": 0, "duplicates": 1, "stale": 0}
    event = WebhookEvent.objects.get()
    assert (event.realm_id, event.entity, event.entity_id, event.operation) == (
        "4620816365",
        "Customer",
        "7",
        "Create",
    )


@pytest.mark.django_db
def test_unsigned_and_tampered_deliveries_are_refused_and_store_nothing(client, verifier):
    body = _legacy()
    unsigned = _post(client, body, None)
    assert unsigned.status_code == 401
    assert unsigned.json() == {"detail": "Missing or invalid intuit-signature", "field": "intuit-signature"}
    tampered = body.replace(b'"7"', b'"8"')
    assert _post(client, tampered, sign(body, verifier)).status_code == 401
    assert _post(client, body, sign(body, "another-verifier")).status_code == 401
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db
def test_events_older_than_the_replay_window_are_not_stored(client, verifier):
    body = _legacy(when=timezone.now() - timedelta(days=3))
    resp = _post(client, body, sign(body, verifier))
    assert resp.status_code == 200
    assert resp.json() == {"stored": 0, "duplicates": 0, "stale": 1}
    assert WebhookEvent.objects.count() == 0


@pytest.mark.django_db
def test_cloudevents_format_is_accepted(client, verifier):
    now = timezone.now().strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    body = json.dumps(
        [
            {
                "specversion": "1.0",
                "id": "d1a3aedd-9670-41bf-a4f9-c148a1cc4e03",
                "source": "intuit.x",
                "type": "qbo.customer.merged.v1",
                "time": now,
                "intuitentityid": "12",
                "intuitaccountid": "310687",
                "data": {"deletedid": "27"},
            },
            {
                "specversion": "1.0",
                "id": "e2",
                "source": "intuit.x",
                "type": "qbo.salesreceipt.voided.v1",
                "time": now,
                "intuitentityid": "40",
                "intuitaccountid": "310687",
                "data": {},
            },
        ]
    ).encode()
    resp = _post(client, body, sign(body, verifier))
    assert resp.status_code == 200
    assert resp.json() == {"stored": 2, "duplicates": 0, "stale": 0}
    rows = list(WebhookEvent.objects.order_by("id").values_list("entity", "entity_id", "operation", "deleted_id"))
    assert rows == [("Customer", "12", "Merge", "27"), ("SalesReceipt", "40", "Void", "")]


@pytest.mark.django_db
def test_signed_garbage_gets_a_clear_400(client, verifier):
    body = b'{"hello": "world"}'
    resp = _post(client, body, sign(body, verifier))
    assert resp.status_code == 400
    assert resp.json()["field"] == "body"
    assert "eventNotifications" in resp.json()["detail"]
    assert WebhookEvent.objects.count() == 0


def test_legacy_timestamp_without_colon_parses():
    events = parse_payload(_legacy(when=datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)))
    assert events[0].last_updated.isoformat() == "2026-11-25T10:00:00+00:00"


@pytest.mark.django_db
def test_webhook_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405
