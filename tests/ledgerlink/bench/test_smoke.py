"""Smoke test of ``make bench``: a tiny version of each benchmark (ceiling, overhead, mirror, admin, http, csv, profile)
runs end to end through ``python -m ledgerlink.bench --smoke`` (its own SQLite databases, its own
qbo-sandbox subprocesses, real ``ledgerlink worker`` processes). No timing assertions: the counts
must be exact (every order succeeded, exactly one QBO document each, no 429, every page 200)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

pytestmark = [pytest.mark.xdist_group("bench-smoke")]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        pytest.skip("the bench makes its own databases; it runs once, in the SQLite pass")
    out = tmp_path_factory.mktemp("bench")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    proc = subprocess.run(
        [sys.executable, "-m", "ledgerlink.bench", "--smoke", "--no-postgres", "--out", str(out),
         "--only", "ceiling", "--only", "overhead", "--only", "mirror", "--only", "admin", "--only", "http",
         "--only", "csv", "--only", "profile"],
        capture_output=True, text=True, timeout=240, env=env, stdin=subprocess.DEVNULL,
    )
    failures = [line for line in (proc.stdout + proc.stderr).splitlines() if "FAILED" in line or "Error" in line]
    assert proc.returncode == 0, "\n".join(failures[-20:]) + proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads((out / "benchmarks.json").read_text()), out, proc.stdout


def test_ceiling_every_order_one_document_no_429(smoke):
    results, _, _ = smoke
    c = results["ceiling"]
    assert c["orders_queued"] == 60
    assert c["requests_429"] == 0
    assert c["documents"] == c["succeeded_total"] > 0
    assert c["duplicate_documents"] == 0 and c["orders_without_document"] == 0
    assert c["worker_exit"] == 0
    pq = c["python_quickbooks"]
    assert pq["errors"] == 0 and pq["documents"] == pq["documents_in_sandbox"] > 0


def test_overhead_all_orders_succeeded_once(smoke):
    results, _, _ = smoke
    (run,) = results["overhead"]["runs"]
    assert run["label"] == "SQLite, 1 worker"
    assert run["queued_after_ingest"] == run["orders"] == 100
    # 40 one by one (the single-order path), 60 in a batch
    assert (run["ingest"]["single"]["orders"], run["ingest"]["batch"]["orders"]) == (40, 60)
    assert run["succeeded"] == run["orders_pushed"] == run["documents"] == 100
    assert run["attempts"] == 100  # no retries: one attempt per request
    assert run["duplicate_documents"] == 0 and run["orders_without_document"] == 0
    assert run["worker_exit_codes"] == [0]
    assert set(run["cpu_ms_per_order"]) >= {"worker", "sandbox"}
    assert set(run["paths"]["batch"]["stage_cpu_ms_per_order"]) == {
        "read", "validate", "rules", "payload", "preflight", "write"}


def test_http_and_csv_and_profile(smoke):
    results, _, _ = smoke
    h = results["http"]
    assert (h["get"]["requests"], h["post"]["requests"], h["batch"]["requests"]) == (10, 10, 2)
    assert h["orders"] == 1 + 1 + 50 + 20 + 10 + 2 * 50  # in-process ones, warm-up, POSTs, batches
    c = results["csv"]
    assert (c["rows"], c["orders"], c["bad_orders"], c["created"]) == (2000, 500, 5, 495)
    assert c["exit_code"] == 1 and c["summary"] == "495 created, 0 already imported, 5 bad row(s)"
    pi = results["profile"]["ingest"]
    assert pi["queries_per_order"] == 11
    assert pi["batch"]["batch_size"] == 50 and pi["batch"]["statements_per_order"] < 3


def test_mirror_sync_cdc_match_counts(smoke):
    results, _, _ = smoke
    m = results["mirror"]
    assert m["full_sync"]["records"] == m["customers"] == 301
    assert m["full_sync"]["mirror_customers"] == 301
    assert m["full_sync"]["mirror_emails"] == 301 + 30  # every 10th customer has two addresses
    assert m["cdc"]["applied"] == m["cdc"]["changes"] == 30
    assert m["cdc"]["mirror_has_new_emails"] == 30
    assert m["match"]["customers"] == 2000
    assert m["match"]["hits"] == m["match"]["expected_hits"]
    assert m["match"]["queries"] == 1


def test_admin_pages_answer(smoke):
    results, _, _ = smoke
    a = results["admin"]
    assert a["requests_stored"] == 1000
    assert [p["status"] for p in a["pages"]] == [200] * len(a["pages"])
    assert all(p["queries"] > 0 for p in a["pages"])


def test_report_written(smoke):
    _, out, stdout = smoke
    md = (out / "benchmarks.md").read_text()
    assert "| benchmark | measure | result | goal |" in md
    assert (out / "benchmarks.svg").read_text().startswith("<svg")
    assert "documents/min" in stdout
