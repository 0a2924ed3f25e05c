"""The full chaos suite (``make chaos``): ≥ 2,000 orders across 3 Companies pushed by real worker
processes — three on PostgreSQL (which restarts once), one on SQLite — while the harness SIGKILLs and
restarts them at random moments, stalls them past their lease (SIGSTOP ... SIGCONT), the sandbox injects 500s, bursts of 429, 003202, timeouts and
commit-then-drop, and access tokens expire. The history check (tests/chaos/harness.py) must find 0
duplicates, 0 missing, nothing stuck and no attempt missing. Summaries: test-artifacts/chaos/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .harness import FAULT_KINDS

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "chaos"
ORDERS = int(os.environ.get("LEDGERLINK_CHAOS_ORDERS", "2100"))
SEED = os.environ.get("LEDGERLINK_CHAOS_SEED", "20261125")

pytestmark = pytest.mark.slow


def postgres_reachable() -> bool:
    try:
        import psycopg

        psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", connect_timeout=2).close()
        return True
    except Exception:  # noqa: BLE001
        return False


def run_chaos(db: str, *extra: str) -> dict:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    summary_path = ARTIFACTS / f"chaos-{db}.json"
    logdir = ARTIFACTS / f"logs-{db}"
    cmd = [sys.executable, "-m", "tests.chaos.run", "--db", db, "--orders", str(ORDERS), "--companies", "3",
           "--seed", SEED, "--logdir", str(logdir), "--summary", str(summary_path), *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    sys.stderr.write(proc.stderr[-4000:])
    assert summary_path.exists(), proc.stderr[-4000:]
    return json.loads(summary_path.read_text())


def assert_clean(s: dict, *, workers: int) -> None:
    assert s["violation_counts"] == {}, json.dumps(s["violations"], indent=1, default=str)[:6000]
    assert s["orders"] == ORDERS
    assert s["outcome"].get("duplicate", 0) == 0 and s["outcome"].get("missing", 0) == 0
    assert s["outcome"]["one_document"] + s["outcome"]["failed_business"] == ORDERS
    assert s["failed_business_kinds"] == {"doc_number_too_long": 9}  # the 3 x 3 orders built to fail
    assert set(s["requests_by_state"]) <= {"succeeded", "failed"}
    assert s["harness_errors"] == []
    # the chaos really happened
    assert s["chaos"]["sigkills"] >= 4
    assert s["chaos"]["sigstops"] >= 1  # a worker stalled past its lease and woke up
    assert s["abandoned_by_killed_worker"] >= 1  # at least one kill hit an exchange in flight
    assert s["chaos"]["token_expirations"] >= 2 and s["sandbox"]["auth_401"] >= 1
    for kind in FAULT_KINDS:
        assert s["sandbox"]["faults_fired"].get(kind, 0) >= 1, kind
    # every process still running at the end stopped cleanly on SIGTERM
    stopped = s["chaos"]["workers_stopped"]
    assert stopped.get("SIGTERM:0", 0) == workers, stopped
    assert s["chaos"]["worker_crashes"] == 0, stopped


def test_chaos_sqlite_one_worker():
    s = run_chaos("sqlite", "--window", "90", "--kills", "6", "--pauses", "2", "--faults-per-kind", "6",
                  "--expirations", "4")
    assert_clean(s, workers=1)


def test_chaos_postgresql_three_workers_and_a_restart():
    if not postgres_reachable():
        pytest.skip("PostgreSQL not reachable")
    s = run_chaos("postgresql", "--window", "90", "--kills", "8", "--pauses", "4", "--faults-per-kind", "6",
                  "--expirations", "4", "--pg-restart")
    assert_clean(s, workers=3)
    # stalls placed between a worker's lease check and its /batch send (the window the stamped batch
    # requestid closes): another worker re-sends the batch, the woken one gets QBO's replay
    assert s["chaos"]["sigstops_between_lease_check_and_batch_send"] >= 1
    assert len(s["chaos"]["pg_restarts"]) == 1 and s["chaos"]["pg_restarts"][0]["returncode"] == 0
