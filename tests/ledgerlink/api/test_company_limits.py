"""An admin sets a Company's limits (API), from 1 up to QuickBooks' own; above answers 422 naming the
field and stores nothing (issue 18)."""

import json

import pytest

from ledgerlink.core.models import AuditLog, Company
from tests.ledgerlink.api.test_api import client_for
from tests.ledgerlink.factories import make_world

pytestmark = pytest.mark.django_db


def patch(client, company_id, body):
    return client.patch(f"/api/v1/companies/{company_id}/limits", data=json.dumps(body),
                        content_type="application/json")


def limits(company_id):
    return Company.objects.filter(pk=company_id).values(
        "max_in_flight", "max_per_minute", "max_batches_per_minute", "batch_size", "use_batch").get()


def test_admin_lowers_the_limits_within_qbos():
    w = make_world()
    admin = client_for("admin")
    r = patch(admin, w.company.pk, {"max_in_flight": 4, "max_per_minute": 120, "batch_size": 10, "use_batch": False})
    assert r.status_code == 200
    assert r.json()["limits"] == {"max_in_flight": 4, "max_per_minute": 120, "max_batches_per_minute": 40,
                                  "batch_size": 10, "use_batch": False,
                                  "qbo": {"max_in_flight": 10, "max_per_minute": 500, "max_batches_per_minute": 40,
                                          "batch_size": 30}}
    assert limits(w.company.pk) == {"max_in_flight": 4, "max_per_minute": 120, "max_batches_per_minute": 40,
                                    "batch_size": 10, "use_batch": False}
    audit = AuditLog.objects.get(action="company.limits_changed")
    assert audit.data["after"] == {"max_in_flight": 4, "max_per_minute": 120, "batch_size": 10, "use_batch": False}
    assert patch(admin, w.company.pk, {"max_in_flight": 10, "max_batches_per_minute": 40}).status_code == 200


@pytest.mark.parametrize("body,field,detail", [
    ({"max_in_flight": 11}, "max_in_flight", "must be at most 10: QuickBooks allows no more requests in flight"),
    ({"max_per_minute": 501}, "max_per_minute", "must be at most 500: QuickBooks allows no more requests a minute"),
    ({"max_batches_per_minute": 41}, "max_batches_per_minute",
     "must be at most 40: QuickBooks allows no more batches a minute"),
    ({"max_in_flight": 5, "batch_size": 31}, "batch_size",
     "must be at most 30: QuickBooks allows no more requests per batch"),
    ({"max_in_flight": 0}, "max_in_flight", "must be at least 1 (at most 10, QuickBooks' limit)"),
    ({"max_in_flight": True}, "max_in_flight", "must be a whole number"),
    ({"max_per_minute": "lots"}, "max_per_minute", "must be a whole number"),
    ({"max_per_minute": 2.5}, "max_per_minute", "must be a whole number"),
    ({"use_batch": "yes"}, "use_batch", "must be true or false"),
])
def test_limits_above_qbos_or_not_numbers_are_refused_and_nothing_is_stored(body, field, detail):
    w = make_world()
    before = limits(w.company.pk)
    r = patch(client_for("admin"), w.company.pk, body)
    assert (r.status_code, r.json()) == (422, {"detail": detail, "field": field})
    assert limits(w.company.pk) == before
    assert not AuditLog.objects.filter(action="company.limits_changed").exists()


def test_only_an_admin_sets_limits():
    w = make_world()
    r = patch(client_for("operator"), w.company.pk, {"max_in_flight": 2})
    assert r.status_code == 403
    assert limits(w.company.pk)["max_in_flight"] == 10
    assert patch(client_for("admin", "a2"), 999, {"max_in_flight": 2}).status_code == 404
