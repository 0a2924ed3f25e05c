"""Worker *processes* (``ledgerlink worker``): SIGTERM finishes in-flight work and exits cleanly; a
SIGKILLed worker's lease expires and the request is resolved with exactly one document."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from ledgerlink.core.models import Attempt, PushRequest, WorkerHeartbeat


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return f"sqlite:///{s['NAME']}"


def start_worker(worker_id: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    full_env = dict(os.environ, DATABASE_URL=database_url(), **(env or {}))
    return subprocess.Popen(
        [sys.executable, "-m", "ledgerlink.cli", "worker", "--worker-id", worker_id, *args],
        env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


@pytest.fixture
def invoice_source(company, site_area_factory, order_source_factory, customer_factory):
    source = order_source_factory(site_area_factory(company, "Wholesale", "invoice"), "Wholesale Portal")
    customer_factory(company, "Acme Tools", "name2@example.com")
    return source


@pytest.mark.django_db(transaction=True)
def test_sigterm_finishes_in_flight_request_and_exits(invoice_source, order_factory, qbo, company):
    qbo.set_config(company.realm_id, latency={"fixed_ms": 1500})
    order, pr = order_factory(invoice_source, email="name2@example.com")
    proc = start_worker("sigterm-worker", "--concurrency", "2")
    try:
        assert wait_for(lambda: PushRequest.objects.filter(pk=pr.pk, state="sending").exists())
        time.sleep(0.3)  # the request is on the wire now
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "worker sigterm-worker stopped: 1 requests sent" in err
    pr.refresh_from_db()
    assert (pr.state, pr.lease_owner) == ("succeeded", "")
    assert len(qbo.entities(company.realm_id, "Invoice")) == 1
    hb = WorkerHeartbeat.objects.get(worker_id="sigterm-worker")
    assert hb.stopped_at is not None and hb.pid == proc.pid


@pytest.mark.django_db(transaction=True)
def test_killed_worker_lease_expires_and_request_resolves_once(invoice_source, order_factory, qbo, company,
                                                             run_worker_until_idle, settings):
    qbo.set_config(company.realm_id, latency={"fixed_ms": 800})
    order, pr = order_factory(invoice_source, email="name2@example.com")
    proc = start_worker("doomed-worker", "--concurrency", "1", env={"LEDGERLINK_LEASE_SECONDS": "2"})
    try:
        assert wait_for(lambda: PushRequest.objects.filter(pk=pr.pk, state="sending").exists())
        time.sleep(0.3)
        proc.kill()  # SIGKILL: no chance to record anything
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(1.0)  # the sandbox finishes the create it had received
    qbo.set_config(company.realm_id, latency=0)
    assert wait_for(lambda: not PushRequest.objects.filter(pk=pr.pk, lease_expires_at__gt=_now()).exists(), 5)
    run_worker_until_idle(timeout=30)
    pr.refresh_from_db()
    invoices = qbo.entities(company.realm_id, "Invoice")
    assert len(invoices) == 1
    assert (pr.state, pr.qbo_id) == ("succeeded", invoices[0]["Id"])
    outcomes = list(Attempt.objects.filter(push_request=pr).order_by("id").values_list("outcome", "worker"))
    assert outcomes[0] == ("abandoned", "doomed-worker")
    assert outcomes[-1][0] == "succeeded"


def _now():
    from django.utils import timezone

    return timezone.now()
