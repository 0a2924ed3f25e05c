import datetime as dt

import pytest
from django.utils import timezone

from ledgerlink.core.models import WorkerHeartbeat


def test_healthz_needs_no_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_without_any_worker_is_503(client, settings):
    settings.LEDGERLINK_READY_HEARTBEAT_SECONDS = 30
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "reason": "no worker heartbeat in the last 30 s",
        "checks": {"database": "ok", "migrations": "ok", "workers_fresh": 0},
    }


@pytest.mark.django_db
def test_readyz_fails_when_every_heartbeat_is_stale_and_recovers_on_a_fresh_one(client, settings):
    settings.LEDGERLINK_READY_HEARTBEAT_SECONDS = 30
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker_id="w1", hostname="h", pid=1, last_seen=now - dt.timedelta(seconds=31))
    WorkerHeartbeat.objects.create(worker_id="w2", hostname="h", pid=2, last_seen=now - dt.timedelta(minutes=10))
    # A worker that said it stopped does not count, however recent.
    WorkerHeartbeat.objects.create(worker_id="w3", hostname="h", pid=3, last_seen=now, stopped_at=now)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["workers_fresh"] == 0

    WorkerHeartbeat.objects.filter(worker_id="w2").update(last_seen=timezone.now())
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "workers_fresh": 1},
    }


@pytest.mark.django_db
def test_readyz_and_healthz_only_answer_get(client):
    assert client.post("/readyz").status_code == 405
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_reports_an_unapplied_migration(client, monkeypatch):
    from django.db.migrations.recorder import MigrationRecorder

    from ledgerlink.ops import views

    monkeypatch.setattr(views, "_migrations_applied", False)
    WorkerHeartbeat.objects.create(worker_id="w1", hostname="h", pid=1, last_seen=timezone.now())
    MigrationRecorder.Migration.objects.filter(app="ops", name="0001_digest_state").delete()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "reason": "1 unapplied migration(s)",
        "checks": {"database": "ok", "migrations": {"unapplied": ["ops.0001_digest_state"]}, "workers_fresh": 1},
    }
