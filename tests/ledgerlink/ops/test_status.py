"""`ledgerlink status`: per-Company figures, as a table and as JSON."""

import datetime as dt
import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from ledgerlink.core.models import Attempt, Company, PushRequest, WorkerHeartbeat
from tests.ledgerlink.factories import make_attempt, make_company, make_request

S = PushRequest.State


@pytest.fixture
def rows(db):
    now = timezone.now()
    acme = make_company("Acme", "111", last_success_at=now - dt.timedelta(hours=3))
    bolt = make_company("Bolt", "222", status=Company.Status.NEEDS_RECONNECT,
                        access_token_expires_at=now - dt.timedelta(minutes=5))
    make_company("Calm", "333", status=Company.Status.PAUSED)
    make_request(acme, S.QUEUED, created_at=now - dt.timedelta(seconds=900))
    make_request(acme, S.RETRYING)
    make_request(acme, S.SENDING)
    done = make_request(acme, S.SUCCEEDED, completed_at=now - dt.timedelta(minutes=10))
    make_request(acme, S.FAILED, error_kind="invalid_email")
    make_attempt(done, Attempt.Outcome.TRANSIENT, http_status=429, started_at=now - dt.timedelta(minutes=30))
    make_attempt(done, Attempt.Outcome.TRANSIENT, http_status=429, started_at=now - dt.timedelta(minutes=59))
    make_attempt(done, Attempt.Outcome.TRANSIENT, http_status=429, started_at=now - dt.timedelta(minutes=61))
    make_attempt(done, Attempt.Outcome.SUCCEEDED, http_status=200)
    make_request(bolt, S.QUEUED, created_at=now - dt.timedelta(days=3))
    WorkerHeartbeat.objects.create(worker_id="w-1", hostname="app1", pid=4242, last_seen=now)
    return now, acme, bolt


def test_status_json(rows, capsys):
    now, acme, bolt = rows
    call_command("status", "--json")
    data = json.loads(capsys.readouterr().out)
    a, b, c = data["companies"]
    assert (a["id"], a["name"], b["name"], c["name"]) == (acme.pk, "Acme", "Bolt", "Calm")
    assert a["requests"] == {"queued": 1, "sending": 1, "retrying": 1, "succeeded": 1, "failed": 1, "cancelled": 0}
    assert (a["queue_depth"], a["in_flight"], a["throttled_429_last_hour"]) == (2, 1, 2)
    assert a["oldest_pending_age_s"] == pytest.approx(900, abs=5)
    # The later of Company.last_success_at and the newest completed success.
    assert dt.datetime.fromisoformat(a["last_success_at"]) == PushRequest.objects.get(state="succeeded").completed_at
    assert (a["paused"], a["needs_reconnect"], a["status"]) == (False, False, "active")
    assert (b["paused"], b["needs_reconnect"]) == (False, True)
    assert b["oldest_pending_age_s"] == pytest.approx(3 * 86400, abs=5)
    assert dt.datetime.fromisoformat(b["access_token_expires_at"]) < now
    assert b["last_success_at"] is None
    assert (c["paused"], c["oldest_pending_age_s"], c["requests"]["queued"]) == (True, None, 0)
    assert data["workers_fresh"] == 1
    assert [(w["worker_id"], w["hostname"], w["pid"], w["fresh"]) for w in data["workers"]] == [
        ("w-1", "app1", 4242, True)
    ]
    assert "access_token_enc" not in json.dumps(data)


def test_status_table(rows, capsys):
    _now, acme, bolt = rows
    call_command("status")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "id", "company", "status", "queued", "sending", "retrying", "succeeded", "failed", "cancelled", "oldest",
        "pending", "in", "flight", "last", "success", "429/h", "access", "token", "refresh", "token",
    ]
    acme_row = lines[1].split()
    assert acme_row[:9] == [str(acme.pk), "Acme", "active", "1", "1", "1", "1", "1", "0"]
    assert acme_row[9:15] == ["15m", "1", "10m", "ago", "2", "in"]
    bolt_row = lines[2].split()
    assert bolt_row[:3] == [str(bolt.pk), "Bolt", "needs_reconnect"]
    assert bolt_row[9] == "3d"
    assert "5m ago" in lines[2]
    assert lines[3].split()[2] == "paused"
    assert "workers: 1 fresh of 1 running" in lines
    assert lines[-1].split() == ["w-1", "app1", "4242", "0s", "ago", "yes"]
