"""/metrics: exact figures from known rows, and who may scrape."""

import datetime as dt

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from ledgerlink.core.models import Attempt, AuditLog, Company, PushRequest, WorkerHeartbeat
from tests.ledgerlink.factories import make_attempt, make_company, make_request

S = PushRequest.State
Out = Attempt.Outcome


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, metric, **labels):
    return samples[(metric, tuple(sorted(labels.items())))]


def names(samples, name):
    return sorted(labels for (n, labels) in samples if n == name)


@pytest.fixture
def known_rows(db):
    now = timezone.now()
    a = make_company("Acme", "111", throttled_until=now + dt.timedelta(seconds=40))
    b = make_company("Bolt", "222", status=Company.Status.NEEDS_RECONNECT,
                     refresh_token_expires_at=now + dt.timedelta(days=2))
    make_request(a, S.QUEUED, created_at=now - dt.timedelta(seconds=600))
    make_request(a, S.QUEUED)
    make_request(a, S.RETRYING, error_kind="throttled", created_at=now - dt.timedelta(seconds=60))
    make_request(a, S.SENDING)
    done = [make_request(a, S.SUCCEEDED, completed_at=now - dt.timedelta(minutes=m)) for m in (1, 2, 3)]
    make_request(a, S.FAILED, error_kind="customer_ref_required")
    make_request(a, S.FAILED, error_kind="customer_ref_required")
    make_request(a, S.FAILED, error_kind="invalid_email")
    make_request(a, S.CANCELLED)
    old_b = make_request(b, S.QUEUED, created_at=now - dt.timedelta(hours=2))
    make_request(b, S.FAILED, error_kind="duplicate_doc_number")

    for ms in (40, 90, 300):
        make_attempt(done[0], Out.SUCCEEDED, duration_ms=ms)
    make_attempt(done[1], Out.SUCCEEDED, duration_ms=1200)
    make_attempt(done[2], Out.UNKNOWN, duration_ms=40000, http_status=None)
    make_attempt(done[2], Out.TRANSIENT, duration_ms=100, http_status=429, error_kind="throttled")
    make_attempt(done[2], Out.TRANSIENT, duration_ms=50, http_status=429, error_kind="throttled",
                 started_at=now - dt.timedelta(hours=2))
    make_attempt(old_b, Out.FAILED, duration_ms=None, http_status=401, error_kind="auth_reconnect")

    for company in (a, a, b):
        AuditLog.objects.create(action="company.tokens_refreshed", object_type="company", object_id=str(company.pk))
    AuditLog.objects.create(action="company.connected", object_type="company", object_id=str(a.pk))

    WorkerHeartbeat.objects.create(worker_id="w1", hostname="h1", pid=11, last_seen=now - dt.timedelta(seconds=5))
    WorkerHeartbeat.objects.create(worker_id="w2", hostname="h2", pid=12, last_seen=now - dt.timedelta(seconds=100))
    WorkerHeartbeat.objects.create(worker_id="w3", hostname="h3", pid=13, last_seen=now, stopped_at=now)
    return a, b


def test_metrics_report_exact_counts(client, known_rows):
    a, b = known_rows
    A, B = str(a.pk), str(b.pk)
    m = scrape(client)

    assert value(m, "ledgerlink_company_info", company=A, name="Acme", realm_id="111", status="active") == 1
    assert value(m, "ledgerlink_company_info", company=B, name="Bolt", realm_id="222", status="needs_reconnect") == 1
    assert value(m, "ledgerlink_company_needs_reconnect", company=A) == 0
    assert value(m, "ledgerlink_company_needs_reconnect", company=B) == 1

    expected_a = {"queued": 2, "sending": 1, "retrying": 1, "succeeded": 3, "failed": 3, "cancelled": 1}
    expected_b = {"queued": 1, "sending": 0, "retrying": 0, "succeeded": 0, "failed": 1, "cancelled": 0}
    for state, n in expected_a.items():
        assert value(m, "ledgerlink_push_requests", company=A, state=state) == n
    for state, n in expected_b.items():
        assert value(m, "ledgerlink_push_requests", company=B, state=state) == n
    assert value(m, "ledgerlink_queue_depth", company=A) == 3
    assert value(m, "ledgerlink_queue_depth", company=B) == 1
    assert value(m, "ledgerlink_in_flight", company=A) == 1
    assert value(m, "ledgerlink_oldest_pending_age_seconds", company=A) == pytest.approx(600, abs=5)
    assert value(m, "ledgerlink_oldest_pending_age_seconds", company=B) == pytest.approx(7200, abs=5)

    errors = {labels: v for (n, labels), v in m.items() if n == "ledgerlink_push_request_errors"}
    assert errors == {
        (("company", A), ("error_kind", "customer_ref_required"), ("state", "failed")): 2,
        (("company", A), ("error_kind", "invalid_email"), ("state", "failed")): 1,
        (("company", A), ("error_kind", "throttled"), ("state", "retrying")): 1,
        (("company", B), ("error_kind", "duplicate_doc_number"), ("state", "failed")): 1,
    }

    attempts = {labels: v for (n, labels), v in m.items() if n == "ledgerlink_attempts_total"}
    assert attempts == {
        (("company", A), ("error_kind", ""), ("outcome", "succeeded")): 4,
        (("company", A), ("error_kind", ""), ("outcome", "unknown")): 1,
        (("company", A), ("error_kind", "throttled"), ("outcome", "transient")): 2,
        (("company", B), ("error_kind", "auth_reconnect"), ("outcome", "failed")): 1,
    }
    assert value(m, "ledgerlink_http_429_total", company=A) == 2
    assert ("ledgerlink_http_429_total", (("company", B),)) not in m
    assert value(m, "ledgerlink_http_429_last_hour", company=A) == 1
    assert value(m, "ledgerlink_http_429_last_hour", company=B) == 0

    # Latency histogram: A has 7 timed attempts (40, 90, 300, 1200, 40000, 100, 50 ms); B none.
    buckets = {dict(labels)["le"]: v for (n, labels), v in m.items()
               if n == "ledgerlink_attempt_duration_seconds_bucket" and dict(labels)["company"] == A}
    assert buckets == {"0.05": 2, "0.1": 4, "0.25": 4, "0.5": 5, "1.0": 5, "2.5": 6, "5.0": 6, "10.0": 6,
                       "30.0": 6, "+Inf": 7}
    assert value(m, "ledgerlink_attempt_duration_seconds_count", company=A) == 7
    assert value(m, "ledgerlink_attempt_duration_seconds_sum", company=A) == pytest.approx(41.78)
    assert names(m, "ledgerlink_attempt_duration_seconds_count") == [(("company", A),)]

    assert value(m, "ledgerlink_token_refreshes_total", company=A) == 2
    assert value(m, "ledgerlink_token_refreshes_total", company=B) == 1
    assert value(m, "ledgerlink_refresh_token_expires_in_seconds", company=B) == pytest.approx(2 * 86400, abs=5)
    assert value(m, "ledgerlink_access_token_expires_in_seconds", company=A) == pytest.approx(3600, abs=5)

    assert names(m, "ledgerlink_worker_heartbeat_age_seconds") == [
        (("hostname", "h1"), ("worker", "w1")),
        (("hostname", "h2"), ("worker", "w2")),
    ]
    assert value(m, "ledgerlink_worker_heartbeat_age_seconds", worker="w1", hostname="h1") == pytest.approx(5, abs=3)
    assert value(m, "ledgerlink_workers_fresh") == 1


def test_metrics_follow_new_rows_at_scrape_time(client, known_rows):
    a, _ = known_rows
    before = value(scrape(client), "ledgerlink_push_requests", company=str(a.pk), state="succeeded")
    make_request(a, S.SUCCEEDED, completed_at=timezone.now())
    after = value(scrape(client), "ledgerlink_push_requests", company=str(a.pk), state="succeeded")
    assert (before, after) == (3, 4)


@pytest.mark.django_db
def test_metrics_refuse_addresses_outside_the_allow_list(client, settings):
    settings.LEDGERLINK_METRICS_TOKEN = ""
    settings.LEDGERLINK_METRICS_ALLOW = ["127.0.0.1", "::1", "10.1.0.0/16"]
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.7").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.3.4").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    # No token configured: a bearer header opens nothing.
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.7", HTTP_AUTHORIZATION="Bearer ").status_code == 403


@pytest.mark.django_db
def test_metrics_with_a_token(client, settings):
    settings.LEDGERLINK_METRICS_TOKEN = "scrape-secret-1"
    settings.LEDGERLINK_METRICS_ALLOW = []
    denied = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert denied.status_code == 401
    assert denied["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    ok = client.get("/metrics", REMOTE_ADDR="192.0.2.1", HTTP_AUTHORIZATION="Bearer scrape-secret-1")
    assert ok.status_code == 200
    assert b"ledgerlink_workers_fresh 0.0" in ok.content


@pytest.mark.django_db
def test_in_production_metrics_need_the_token_even_from_loopback(client, settings):
    """Behind a same-host proxy every request comes from 127.0.0.1: production ignores the allow-list."""
    settings.PRODUCTION = True
    settings.LEDGERLINK_METRICS_ALLOW = ["127.0.0.1", "::1"]
    settings.LEDGERLINK_METRICS_TOKEN = ""
    for addr in ("127.0.0.1", "::1"):
        refused = client.get("/metrics", REMOTE_ADDR=addr)
        assert refused.status_code == 403
        assert refused.content == (
            b"forbidden: in production /metrics needs LEDGERLINK_METRICS_TOKEN (Authorization: Bearer ...)\n"
        )
        assert b"ledgerlink_" not in refused.content
    settings.LEDGERLINK_METRICS_TOKEN = "scrape-secret-2"
    denied = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert (denied.status_code, denied["WWW-Authenticate"]) == (401, 'Bearer realm="metrics"')
    assert b"ledgerlink_" not in denied.content
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    ok = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer scrape-secret-2")
    assert ok.status_code == 200
    assert b"ledgerlink_workers_fresh 0.0" in ok.content
    # outside production the allow-list still opens it
    settings.PRODUCTION = False
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
