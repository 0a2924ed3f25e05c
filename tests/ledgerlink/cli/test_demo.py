"""`make run`'s demo: a fresh SQLite database, qbo_sandbox, OAuth, the mirror, and requests in each
of the seed article's error states plus succeeded ones."""

import os
import socket
import sqlite3
import subprocess
import sys


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_demo_load_only_on_a_fresh_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    result = subprocess.run(
        [sys.executable, "-m", "ledgerlink.cli", "run-demo", "--load-only", "--sandbox-port", str(_free_port())],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "demo loaded: requests 9 succeeded, 4 failed" in result.stdout
    assert "the demo Shopify store sent a signed orders/create to /webhooks/shopify/4: applied" in result.stdout
    assert "the demo Shopify store sent a signed refunds/create (one Widget): applied" in result.stdout
    db = sqlite3.connect(tmp_path / "ledgerlink.sqlite3")
    rows = db.execute(
        "SELECT o.number, p.state, p.error_kind FROM core_pushrequest p JOIN core_order o ON o.id = p.order_id "
        "ORDER BY o.number"
    ).fetchall()
    assert rows == [
        ("1001", "succeeded", ""),  # the demo Shopify store's order, by its signed webhook
        ("1001", "succeeded", ""),  # and its refund (a Refund Receipt), by the next one
        # the Canadian company: HST and GST invoices, one order waiting on an unmapped rate (6 %)
        ("CA-1001", "succeeded", ""),
        ("CA-1002", "succeeded", ""),
        ("CA-1003", "failed", "tax_code_unmapped"),
        ("TS-2001", "succeeded", ""),
        ("WEB-3001", "succeeded", ""),
        ("WEB-3002", "succeeded", ""),
        ("WP-1001", "succeeded", ""),
        ("WP-1002", "succeeded", ""),
        ("WP-1003", "failed", "customer_ref_required"),
        ("WP-1004", "failed", "invalid_email"),
        ("WP-1005", "failed", "connection_003202"),
    ]
    assert db.execute("SELECT tax_model, country, home_currency FROM core_company ORDER BY id").fetchall() == [
        ("ast", "US", "USD"), ("global", "CA", "CAD")]
    assert db.execute("SELECT total, tax FROM core_order WHERE number = 'CA-1001'").fetchone() == (197.75, 22.75)
    assert db.execute(
        "SELECT d.topic, d.outcome, o.external_id, p.kind, p.qbo_id != '' FROM core_storedelivery d"
        " JOIN core_order o ON o.id = d.order_id JOIN core_pushrequest p ON p.order_id = o.id ORDER BY d.id, p.id"
    ).fetchall() == [("orders/create", "applied", "820982911946154508", "sales_receipt", 1),
                     ("orders/create", "applied", "820982911946154508", "refund_receipt", 1),
                     ("refunds/create", "applied", "820982911946154508", "sales_receipt", 1),
                     ("refunds/create", "applied", "820982911946154508", "refund_receipt", 1)]
    # The Trade Show rule put that order on the one account's email.
    assert db.execute("SELECT email FROM core_order WHERE number = 'TS-2001'").fetchone() == ("tradeshow@example.com",)
    roles = db.execute(
        "SELECT u.username, p.role FROM auth_user u JOIN core_userprofile p ON p.user_id = u.id ORDER BY u.username"
    ).fetchall()
    assert roles == [("admin", "admin"), ("operator", "operator"), ("viewer", "viewer")]
