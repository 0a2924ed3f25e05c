"""``ledgerlink backup`` / ``ledgerlink restore``: every order and request comes back.

The round trip runs on whichever database the pass uses (SQLite's backup API in the SQLite pass,
pg_dump/pg_restore into the test database in the PostgreSQL pass)."""

from __future__ import annotations

import sqlite3
import threading
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from ledgerlink.core.models import (
    Attempt,
    AuditLog,
    Company,
    Order,
    OrderLine,
    OrderSource,
    PushRequest,
    PushRevision,
    SiteArea,
    WorkerHeartbeat,
)
from ledgerlink.ops.backups import (
    BackupError,
    _check_migrations,
    backup_database,
    restore_database,
    sqlite_copy,
)

STATES = ["queued", "retrying", "succeeded", "failed", "cancelled", "sending"]


def make_data() -> None:
    company = Company.objects.create(name="Acme Books", realm_id="9130", api_base_url="http://127.0.0.1:1")
    area = SiteArea.objects.create(name="Web", company=company, push_method="invoice")
    source = OrderSource.objects.create(name="Web store", site_area=area)
    for i, state in enumerate(STATES, start=1):
        order = Order.objects.create(
            order_source=source,
            external_id=f"ext-{i}",
            number=f"10{i:02d}",
            email=f"buyer{i}@example.com",
            customer_name=f"Buyer Ñ{i}",
            ship_address={"country": "US", "line1": f"{i} Main St"},
            total=Decimal(f"{i}9.95"),
            status="queued" if state != "succeeded" else "pushed",
        )
        OrderLine.objects.create(order=order, position=0, sku=f"SKU-{i}", quantity=Decimal("2"), amount=Decimal("9.95"))
        request = PushRequest.objects.create(
            company=company,
            order=order,
            site_area=area,
            order_source=source,
            email=order.email,
            kind="invoice",
            state=state,
            revision=2 if state == "failed" else 1,
            error_kind="customer_ref_required" if state == "failed" else "",
            qbo_id="77" if state == "succeeded" else "",
        )
        PushRevision.objects.create(push_request=request, number=1, payload={"Line": [{"Amount": 9.95}], "n": i})
        if state == "failed":
            PushRevision.objects.create(
                push_request=request, number=2, payload={"CustomerRef": {"value": "5"}}, note="fixed customer"
            )
        Attempt.objects.create(
            push_request=request,
            company=company,
            revision=1,
            requestid=request.requestid,
            outcome="failed" if state == "failed" else "succeeded",
            http_status=400 if state == "failed" else 200,
            response_body='{"Fault": {"Error": [{"Message": "CustomerRef is required"}]}}',
        )


def snapshot() -> dict:
    return {
        "orders": sorted(
            Order.objects.values_list("id", "external_id", "number", "email", "customer_name", "total", "status")
        ),
        "addresses": sorted((o.id, o.ship_address.get("line1")) for o in Order.objects.all()),
        "lines": sorted(OrderLine.objects.values_list("order_id", "sku", "quantity", "amount")),
        "requests": sorted(
            (r.id, r.order_id, r.state, r.revision, r.requestid, r.error_kind, r.qbo_id)
            for r in PushRequest.objects.all()
        ),
        "revisions": sorted(
            (r.push_request_id, r.number, repr(r.payload), r.note) for r in PushRevision.objects.all()
        ),
        "attempts": sorted(
            Attempt.objects.values_list("push_request_id", "requestid", "outcome", "http_status", "response_body")
        ),
    }


def alter_everything() -> None:
    """Lose some orders and requests, change others, add one that did not exist at backup time."""
    gone = list(Order.objects.order_by("id")[:2])
    PushRequest.objects.filter(order__in=gone).delete()
    Order.objects.filter(pk__in=[o.pk for o in gone]).delete()
    Order.objects.filter(external_id="ext-3").update(email="changed@example.com", status="cancelled")
    PushRequest.objects.filter(state="failed").update(state="queued", revision=3)
    source = OrderSource.objects.get()
    extra = Order.objects.create(order_source=source, external_id="ext-new", number="2001")
    PushRequest.objects.create(company=Company.objects.get(), order=extra, kind="invoice")


@pytest.mark.django_db(transaction=True)
def test_backup_then_restore_finds_every_order_and_request(tmp_path):
    make_data()
    before = snapshot()
    assert len(before["orders"]) == 6 and len(before["requests"]) == 6 and len(before["revisions"]) == 7

    out = StringIO()
    path = tmp_path / ("ledgerlink.sqlite3" if connection.vendor == "sqlite" else "ledgerlink.pgdump")
    call_command("backup", output=str(path), stdout=out)
    text = out.getvalue()
    assert "Backed up 1 companies, 6 orders, 6 push requests, 7 revisions, 6 attempts, 0 audit entries" in text
    assert f"Backup written to {path} (" in text
    assert path.stat().st_mode & 0o777 == 0o600
    assert AuditLog.objects.filter(action="database.backup").count() == 1

    alter_everything()
    assert snapshot() != before
    assert Order.objects.count() == 5

    out = StringIO()
    call_command("restore", str(path), "--noinput", stdout=out)
    assert snapshot() == before
    assert not Order.objects.filter(external_id="ext-new").exists()
    text = out.getvalue()
    assert "The database now holds 1 companies, 6 orders, 6 push requests, 7 revisions, 6 attempts, 0 audit entries" in text
    assert f"Restored {path}" in text
    # The restored audit log is the one in the backup, plus the record of the restore itself.
    assert list(AuditLog.objects.values_list("action", flat=True)) == ["database.restored"]
    assert AuditLog.objects.get().data["path"] == str(path)

    # The state replaced by the restore was kept in a safety backup next to the file.
    safety = [p for p in tmp_path.iterdir() if p.name.startswith("ledgerlink-pre-restore-")]
    assert len(safety) == 1
    restore_database(safety[0], safety_backup=False)
    assert Order.objects.filter(external_id="ext-new").exists()
    assert Order.objects.get(external_id="ext-3").email == "changed@example.com"


@pytest.mark.django_db(transaction=True)
def test_backup_refuses_to_overwrite_and_leaves_no_partial_file(tmp_path):
    existing = tmp_path / "taken"
    existing.write_text("keep me")
    with pytest.raises(CommandError, match="already exists; choose another --output"):
        call_command("backup", output=str(existing), stdout=StringIO())
    assert existing.read_text() == "keep me"
    with pytest.raises(CommandError, match="does not exist"):
        call_command("backup", output=str(tmp_path / "no" / "dir" / "b"), stdout=StringIO())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_bad_files_and_changes_nothing(tmp_path):
    make_data()
    before = snapshot()
    with pytest.raises(CommandError, match="does not exist or is not a file"):
        call_command("restore", str(tmp_path / "missing"), "--noinput", stdout=StringIO())
    garbage = tmp_path / "garbage.bak"
    garbage.write_bytes(b"this is not a backup at all" * 100)
    kind = "an SQLite database" if connection.vendor == "sqlite" else "a pg_dump custom-format archive"
    with pytest.raises(CommandError, match=f"is not {kind}"):
        call_command("restore", str(garbage), "--noinput", stdout=StringIO())
    with pytest.raises(CommandError, match="confirm with --noinput"):
        call_command("restore", str(garbage), stdout=StringIO())
    assert snapshot() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.bak"]  # no safety backup either


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_while_a_worker_runs(tmp_path):
    make_data()
    path = backup_database(tmp_path / "b", audit=False).path
    WorkerHeartbeat.objects.create(worker_id="host-1-42", hostname="host-1", pid=42, last_seen=timezone.now())
    Order.objects.filter(external_id="ext-1").update(email="after@example.com")
    with pytest.raises(CommandError, match=r"Workers are running \(host-1-42\)\. Stop every worker"):
        call_command("restore", str(path), "--noinput", stdout=StringIO())
    assert Order.objects.get(external_id="ext-1").email == "after@example.com"
    call_command("restore", str(path), "--noinput", "--force", "--no-safety-backup", stdout=StringIO())
    assert Order.objects.get(external_id="ext-1").email == "buyer1@example.com"


def test_backup_from_a_newer_version_is_refused():
    with pytest.raises(BackupError, match=r"made by a newer Ledgerlink.*core\.9999_from_the_future"):
        _check_migrations({("core", "0001_initial"), ("core", "9999_from_the_future")})
    _check_migrations({("core", "0001_initial"), ("retired_app", "0001_initial")})  # no error


def test_sqlite_copy_is_one_snapshot_while_others_write(tmp_path):
    """Writers keep committing between the copy's steps; the copy is the state at its start.

    Each writer transaction adds one row to both tables, so any mix of before and after would show
    as unequal counts (or a damaged file)."""
    live = tmp_path / "live.sqlite3"
    setup = sqlite3.connect(live, isolation_level=None)
    setup.execute("PRAGMA journal_mode = WAL")
    setup.execute("CREATE TABLE a (id INTEGER PRIMARY KEY, blob BLOB)")
    setup.execute("CREATE TABLE b (id INTEGER PRIMARY KEY, blob BLOB)")
    for _ in range(500):
        setup.execute("BEGIN")
        setup.execute("INSERT INTO a (blob) VALUES (randomblob(3000))")
        setup.execute("INSERT INTO b (blob) VALUES (randomblob(3000))")
        setup.execute("COMMIT")
    setup.close()

    writes = []

    def write_ten():
        writer = sqlite3.connect(live, isolation_level=None, timeout=30)
        for _ in range(10):
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("INSERT INTO a (blob) VALUES (randomblob(3000))")
            writer.execute("INSERT INTO b (blob) VALUES (randomblob(3000))")
            writer.execute("COMMIT")
        writes.append(10)
        writer.close()

    lines = []

    def progress(line):
        lines.append(line)
        # Between steps, another connection commits ten transactions (and waits for them).
        thread = threading.Thread(target=write_ten)
        thread.start()
        thread.join()

    source = sqlite3.connect(live, isolation_level=None)
    target = sqlite3.connect(tmp_path / "copy.sqlite3", isolation_level=None)
    sqlite_copy(source, target, progress=progress, steps=20)
    source.close()

    assert len(lines) >= 10 and lines[-1].startswith("  100%")
    assert sum(writes) >= 100
    assert target.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert target.execute("SELECT count(*) FROM a").fetchone() == (500,)
    assert target.execute("SELECT count(*) FROM b").fetchone() == (500,)
    target.close()
    check = sqlite3.connect(live)
    assert check.execute("SELECT count(*) FROM a").fetchone() == (500 + sum(writes),)
    check.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_backup_is_a_pg_dump_archive_and_a_failed_restore_changes_nothing(tmp_path):
    make_data()
    out = StringIO()
    call_command("backup", output=str(tmp_path / "db.pgdump"), stdout=out)
    assert (tmp_path / "db.pgdump").read_bytes()[:5] == b"PGDMP"
    assert "pg_dump (PostgreSQL) 15." in out.getvalue()
    assert "  table public.core_order" in out.getvalue()
    # A restore that fails half way (here: DROP TABLE core_order is refused because a view made
    # after the backup depends on it) runs in one transaction, so none of it lands.
    Order.objects.filter(external_id="ext-2").update(email="current@example.com")
    before = snapshot()
    with connection.cursor() as cursor:
        cursor.execute("CREATE VIEW later_report AS SELECT id, email FROM core_order")
    try:
        with pytest.raises(CommandError, match="cannot drop table public.core_order because other objects depend"):
            call_command("restore", str(tmp_path / "db.pgdump"), "--noinput", "--no-safety-backup", stdout=StringIO())
        assert snapshot() == before
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP VIEW later_report")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_client_tools_older_than_the_server_or_missing_are_clear_errors(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "pg_dump"
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("LEDGERLINK_PG_BINDIR", str(bindir))
    major = connection.pg_version // 10000
    with pytest.raises(CommandError) as exc:
        call_command("backup", output=str(tmp_path / "b.pgdump"), stdout=StringIO())
    assert str(exc.value) == (
        f"pg_dump 9 is older than the PostgreSQL {major} server and cannot handle its databases. "
        f"Install postgresql-client-{major} or point LEDGERLINK_PG_BINDIR at its bin directory."
    )
    monkeypatch.setenv("LEDGERLINK_PG_BINDIR", str(tmp_path / "nowhere"))
    with pytest.raises(CommandError, match="pg_dump was not found. Install the PostgreSQL client tools"):
        call_command("backup", output=str(tmp_path / "b.pgdump"), stdout=StringIO())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_backup_command_while_orders_keep_arriving_is_one_consistent_snapshot(tmp_path):
    """`ledgerlink backup` in its own process while this one ingests orders (each order and its
    push request in one transaction): the backup holds whole transactions only, so every order in
    it has its push request, and restoring it finds exactly those."""
    import os
    import subprocess
    import sys

    from django.db import connections

    from ledgerlink.domain.ingest.orders import ingest_order
    from tests.ledgerlink.factories import make_world, order_data

    make_world()
    for n in range(20):
        ingest_order(order_data(external_id=f"BASE-{n}"))
    stop = threading.Event()
    written = []
    errors = []

    def keep_ingesting():
        try:
            n = 0
            while not stop.is_set():
                ingest_order(order_data(external_id=f"LIVE-{n}"))
                written.append(n)
                n += 1
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    writer = threading.Thread(target=keep_ingesting)
    writer.start()
    try:
        while len(written) < 5:
            threading.Event().wait(0.01)
        path = tmp_path / ("live.sqlite3" if connection.vendor == "sqlite" else "live.pgdump")
        env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "ledgerlink.settings"}
        before = len(written)
        result = subprocess.run(
            [sys.executable, "-m", "ledgerlink.cli", "backup", "--output", str(path)],
            env=env, capture_output=True, text=True, timeout=300,
        )
        during = len(written)
    finally:
        stop.set()
        writer.join(timeout=60)
    assert errors == []
    assert during > before  # orders kept arriving while the backup ran
    assert result.returncode == 0, result.stderr
    assert f"Backup written to {path}" in result.stdout
    total = Order.objects.count()
    assert total >= 20 + during

    call_command("restore", str(path), "--noinput", "--no-safety-backup", stdout=StringIO())
    restored = Order.objects.count()
    assert 20 + before <= restored <= total
    assert not Order.objects.filter(push_requests__isnull=True).exists()
    assert PushRequest.objects.count() == restored
    assert PushRevision.objects.count() == restored
