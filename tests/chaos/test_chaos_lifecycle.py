"""Chaos after the document (issue 15): updates, payments, refunds and cancels issued while the
worker is SIGKILLed, stalled and faulted exactly as in ``test_chaos.py``; 0 duplicate and 0 missing
payments or refunds in QBO, every change applied, every cancelled order voided or never sent
(tests/chaos/lifecycle.py), on top of the document history check."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .test_chaos import ARTIFACTS, ROOT, SEED

pytestmark = pytest.mark.slow
ORDERS = int(os.environ.get("LEDGERLINK_CHAOS_LIFECYCLE_ORDERS", "600"))
LIFECYCLE = 120  # orders with an intent: 30 of each


def run_lifecycle_chaos(db: str, *extra: str) -> dict:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    summary_path = ARTIFACTS / f"chaos-lifecycle-{db}.json"
    cmd = [sys.executable, "-m", "tests.chaos.run", "--db", db, "--orders", str(ORDERS), "--companies", "3",
           "--seed", SEED, "--logdir", str(ARTIFACTS / f"logs-lifecycle-{db}"), "--summary", str(summary_path),
           "--lifecycle", str(LIFECYCLE), *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    sys.stderr.write(proc.stderr[-4000:])
    assert summary_path.exists(), proc.stderr[-4000:]
    return json.loads(summary_path.read_text())


def test_chaos_lifecycle_sqlite_one_worker():
    s = run_lifecycle_chaos("sqlite", "--window", "60", "--kills", "4", "--pauses", "1", "--faults-per-kind", "3",
                            "--expirations", "2")
    assert s["violation_counts"] == {}, json.dumps(s["violations"], indent=1, default=str)[:6000]
    assert s["harness_errors"] == []
    life = s["lifecycle"]
    assert life["violation_counts"] == {}, json.dumps(life["violations"], indent=1, default=str)[:6000]
    assert life["asked"]["cancel"] == LIFECYCLE // 4 and life["asked"]["update"] == LIFECYCLE // 4
    out = life["outcome"]
    assert out.get("payment_duplicate", 0) == 0 and out.get("payment_missing", 0) == 0
    assert out.get("refund_duplicate", 0) == 0 and out.get("refund_missing", 0) == 0
    assert out["payment_once"] == life["asked"]["payment"]
    assert out["refund_once"] == life["asked"]["refund"]
    assert out["update_applied"] == LIFECYCLE // 4
    assert out.get("cancel_before_sending", 0) + out.get("cancel_voided", 0) == LIFECYCLE // 4
    assert s["outcome"].get("duplicate", 0) == 0 and s["outcome"].get("missing", 0) == 0
    assert s["outcome"]["one_document"] + s["outcome"]["failed_business"] + s["outcome"]["cancelled"] == ORDERS
    assert set(s["requests_by_state"]) <= {"succeeded", "failed", "cancelled"}
    assert s["chaos"]["sigkills"] >= 2 and s["chaos"]["worker_crashes"] == 0
