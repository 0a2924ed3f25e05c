"""Backups of the whole database, and restoring one: ``ledgerlink backup`` / ``ledgerlink restore``.

SQLite: SQLite's online backup API, copied in steps from inside one read transaction, so the copy is
one consistent snapshot even while the web app and the worker keep writing (WAL lets them). The
result is a single self-contained ``.sqlite3`` file (rollback journal mode, integrity-checked).
Restoring copies the file back over the live database with the same API, then puts it back in WAL.

PostgreSQL: ``pg_dump --format=custom`` (one repeatable-read snapshot, consistent while the app
runs) and ``pg_restore --clean --if-exists --single-transaction`` (all or nothing). ``pg_dump`` and
``pg_restore`` must be at least the server's major version; ``LEDGERLINK_PG_BINDIR`` points at
another set of client tools (e.g. ``/usr/lib/postgresql/16/bin``). The password travels in the
environment (``PGPASSWORD``), never on a command line.

A backup holds customer data, hashed API tokens and the OAuth tokens as ciphertext. The Fernet
keys (``LEDGERLINK_ENCRYPTION_KEYS``) are not in it: keep them, separately, or every Company must be
reconnected after a restore. Files are written with mode 0600, under a temporary name first, so a
failed backup never leaves a half-written file under the requested name.

Restore refuses a backup made by a newer Ledgerlink (migrations this code does not know), refuses
while a worker is running (unless forced), and first takes a safety backup of what it replaces.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from ledgerlink.core.models import AuditLog, WorkerHeartbeat
from ledgerlink.domain.audit import record_audit

Progress = Callable[[str], None]

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
# Tables whose row counts are reported after a backup or restore, with their names in the report.
COUNTED_TABLES = (
    ("core_company", "companies"),
    ("core_order", "orders"),
    ("core_pushrequest", "push requests"),
    ("core_pushrevision", "revisions"),
    ("core_attempt", "attempts"),
    ("core_auditlog", "audit entries"),
)
# A worker seen more recently than this counts as running (restore refuses unless forced).
RUNNING_WORKER_SECONDS = 120


class BackupError(Exception):
    """A backup or restore that could not be done, with what to do about it."""


@dataclass
class BackupResult:
    path: Path
    vendor: str
    size: int
    sha256: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class RestoreResult:
    path: Path
    vendor: str
    counts: dict[str, int] = field(default_factory=dict)
    safety_backup: Path | None = None
    pending_migrations: list[str] = field(default_factory=list)


def _quiet(_: str) -> None:
    pass


def _vendor(using: str) -> str:
    vendor = connections[using].vendor
    if vendor not in ("sqlite", "postgresql"):
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {vendor}.")
    return vendor


def default_backup_path(vendor: str, *, prefix: str = "ledgerlink-backup", directory: Path | None = None) -> Path:
    stamp = timezone.now().astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = "sqlite3" if vendor == "sqlite" else "pgdump"
    return (directory or Path.cwd()) / f"{prefix}-{stamp}.{suffix}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _partial_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.partial-{os.getpid()}")


def _finish_file(tmp: Path, dest: Path) -> None:
    os.chmod(tmp, 0o600)
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, dest)


def _counts_sqlite(conn: sqlite3.Connection) -> dict[str, int]:
    present = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {
        label: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        for table, label in COUNTED_TABLES
        if table in present
    }


def _counts_db(using: str) -> dict[str, int]:
    connection = connections[using]
    present = set(connection.introspection.table_names())
    counts = {}
    with connection.cursor() as cursor:
        for table, label in COUNTED_TABLES:
            if table in present:
                cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")
                counts[label] = cursor.fetchone()[0]
    return counts


def describe_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {label}" for label, n in counts.items()) or "no Ledgerlink tables"


def _running_workers(using: str) -> list[str]:
    if WorkerHeartbeat._meta.db_table not in connections[using].introspection.table_names():
        return []
    since = timezone.now() - dt.timedelta(seconds=RUNNING_WORKER_SECONDS)
    return list(
        WorkerHeartbeat.objects.using(using)
        .filter(stopped_at__isnull=True, last_seen__gte=since)
        .values_list("worker_id", flat=True)
    )


def _known_migrations() -> set[tuple[str, str]]:
    return set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


def _check_migrations(applied: set[tuple[str, str]]) -> None:
    unknown = sorted(applied - _known_migrations())
    # Only apps this code has: a backup may hold migrations of apps removed since, which is harmless.
    known_apps = {app for app, _ in _known_migrations()}
    unknown = [f"{app}.{name}" for app, name in unknown if app in known_apps]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise BackupError(
            f"The backup was made by a newer Ledgerlink: it has migrations this version does not know "
            f"({shown}). Restore it with the Ledgerlink version that made it."
        )


def _pending_migrations(using: str) -> list[str]:
    connection = connections[using]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def _audit(action: str, using: str, **data) -> None:
    if AuditLog._meta.db_table in connections[using].introspection.table_names():
        record_audit(action, actor_label="cli", **data)


# --- SQLite -------------------------------------------------------------------------------------


def _sqlite_open_source(using: str) -> tuple[sqlite3.Connection, bool]:
    """A connection to the live database for reading: a dedicated one (so the copy runs in its own
    read transaction) unless the database is a private in-memory one only Django's connection sees."""
    connection = connections[using]
    name = str(connection.settings_dict["NAME"])
    if name == ":memory:" or (name.startswith("file:") and "mode=memory" in name and "cache=shared" not in name):
        connection.ensure_connection()
        return connection.connection, False
    if not name.startswith("file:") and not Path(name).exists():
        raise BackupError(f"The SQLite database {name} does not exist.")
    source = sqlite3.connect(name, uri=name.startswith("file:"), isolation_level=None, timeout=30)
    source.execute("PRAGMA busy_timeout = 30000")
    return source, True


def sqlite_copy(
    source: sqlite3.Connection, target: sqlite3.Connection, *, progress: Progress = _quiet, steps: int = 20
) -> None:
    """Copy ``source`` into ``target`` with the online backup API, in about ``steps`` steps.

    The copy runs inside one read transaction on ``source``: writers on other connections carry on
    (WAL) and the copy is the snapshot taken when the transaction began, never a mix."""
    own_transaction = not source.in_transaction
    if own_transaction:
        source.execute("BEGIN")
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()  # start the read snapshot
    try:
        total = source.execute("PRAGMA page_count").fetchone()[0]
        step = max(64, -(-total // steps))
        last = [-1]

        def report(status, remaining, pages):
            done = pages - remaining
            percent = 100 * done // pages if pages else 100
            if percent != last[0]:
                last[0] = percent
                progress(f"  {percent:3d}%  {done}/{pages} pages")

        source.backup(target, pages=step, progress=report, sleep=0.05)
    finally:
        if own_transaction:
            source.execute("COMMIT")


def _sqlite_backup(dest: Path, using: str, progress: Progress) -> dict[str, int]:
    source, dedicated = _sqlite_open_source(using)
    tmp = _partial_path(dest)
    try:
        target = sqlite3.connect(tmp, isolation_level=None)
        try:
            progress(f"Copying the SQLite database {connections[using].settings_dict['NAME']}")
            sqlite_copy(source, target, progress=progress)
            # One self-contained file: no -wal/-shm companions needed to read it.
            target.execute("PRAGMA journal_mode = DELETE")
            check = target.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"The copy failed SQLite's integrity check: {check}")
            counts = _counts_sqlite(target)
        finally:
            target.close()
        _finish_file(tmp, dest)
        return counts
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite could not copy the database: {exc}") from exc
    finally:
        if dedicated:
            source.close()
        tmp.unlink(missing_ok=True)


def _sqlite_inspect(path: Path) -> tuple[set[tuple[str, str]], dict[str, int]]:
    """Check that ``path`` is a sound SQLite Ledgerlink backup; return its migrations and counts."""
    with path.open("rb") as fh:
        if fh.read(16) != SQLITE_MAGIC:
            raise BackupError(
                f"{path} is not an SQLite database. This installation uses SQLite; a PostgreSQL "
                f"backup (pg_dump) cannot be restored into it."
            )
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            check = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"{path} is damaged (SQLite integrity check: {check}); nothing was restored.")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "django_migrations" not in tables or "core_order" not in tables:
                raise BackupError(f"{path} is an SQLite database but not a Ledgerlink backup; nothing was restored.")
            applied = {(app, name) for app, name in conn.execute("SELECT app, name FROM django_migrations")}
            return applied, _counts_sqlite(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be read as an SQLite database: {exc}") from exc


def _sqlite_restore(path: Path, using: str, progress: Progress) -> None:
    connection = connections[using]
    if connection.in_atomic_block:
        raise BackupError("A restore cannot run inside a database transaction.")
    connection.ensure_connection()
    target = connection.connection
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        progress(f"Copying {path} over the SQLite database {connection.settings_dict['NAME']}")
        sqlite_copy(source, target, progress=progress)
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite could not restore the backup: {exc}") from exc
    finally:
        source.close()
    name = str(connection.settings_dict["NAME"])
    if not name.startswith("file:") and name != ":memory:":
        target.execute("PRAGMA journal_mode = WAL")
    connection.close()


# --- PostgreSQL ---------------------------------------------------------------------------------


def _pg_tool(name: str) -> str:
    bindir = os.environ.get("LEDGERLINK_PG_BINDIR")
    found = str(Path(bindir) / name) if bindir else shutil.which(name)
    if not found or not Path(found).exists():
        raise BackupError(
            f"{name} was not found. Install the PostgreSQL client tools of the server's major version "
            f"or newer (Debian: apt-get install postgresql-client-NN) or set LEDGERLINK_PG_BINDIR."
        )
    return found


def _tool_major(tool: str) -> tuple[int, str]:
    out = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    match = re.search(r"(\d+)(?:\.(\d+))?", out)
    if not match:
        raise BackupError(f"Could not read the version of {tool}: {out!r}")
    return int(match.group(1)), out


def _pg_server_major(using: str) -> tuple[int, str]:
    connection = connections[using]
    connection.ensure_connection()
    version = connection.pg_version  # e.g. 150020
    major = version // 10000
    return major, f"{major}.{version % 10000}"


def _pg_check_tool(tool_name: str, using: str, progress: Progress) -> str:
    tool = _pg_tool(tool_name)
    tool_major, tool_text = _tool_major(tool)
    server_major, server_text = _pg_server_major(using)
    progress(f"{tool_text} with PostgreSQL server {server_text}")
    if tool_major < server_major:
        raise BackupError(
            f"{tool_name} {tool_major} is older than the PostgreSQL {server_major} server and cannot "
            f"handle its databases. Install postgresql-client-{server_major} or point "
            f"LEDGERLINK_PG_BINDIR at its bin directory."
        )
    return tool


def _pg_env(using: str) -> dict[str, str]:
    settings_dict = connections[using].settings_dict
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    mapping = {
        "PGDATABASE": settings_dict.get("NAME"),
        "PGUSER": settings_dict.get("USER"),
        "PGPASSWORD": settings_dict.get("PASSWORD"),
        "PGHOST": settings_dict.get("HOST"),
        "PGPORT": settings_dict.get("PORT"),
    }
    options = settings_dict.get("OPTIONS") or {}
    for option, var in (
        ("sslmode", "PGSSLMODE"),
        ("sslrootcert", "PGSSLROOTCERT"),
        ("sslcert", "PGSSLCERT"),
        ("sslkey", "PGSSLKEY"),
        ("passfile", "PGPASSFILE"),
        ("service", "PGSERVICE"),
    ):
        mapping[var] = options.get(option)
    env.update({k: str(v) for k, v in mapping.items() if v not in (None, "")})
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    if "PGPASSFILE" not in env and "PGPASSFILE" in os.environ:
        env["PGPASSFILE"] = os.environ["PGPASSFILE"]
    return env


def _run_pg(args: list[str], env: dict[str, str], progress: Progress, what: str) -> None:
    """Run a pg tool with --verbose, turning its "processing table X" lines into progress lines."""
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-15:]
        match = re.search(r"(dumping contents of table|processing data for table) \"?([^\"]+)\"?", line)
        if match:
            progress(f"  table {match.group(2)}")
    code = proc.wait()
    if code != 0:
        errors = [t for t in tail if "error" in t.lower() or "fatal" in t.lower()] or tail
        raise BackupError(f"{what} failed (exit {code}): " + " | ".join(errors[-5:]))


def _pg_backup(dest: Path, using: str, progress: Progress) -> dict[str, int]:
    tool = _pg_check_tool("pg_dump", using, progress)
    tmp = _partial_path(dest)
    env = _pg_env(using)
    connection = connections[using]
    # Count the rows inside the very snapshot pg_dump copies: a separate connection exports its
    # repeatable-read snapshot and pg_dump --snapshot uses it, so the report matches the archive.
    snap = connection.get_new_connection(connection.get_connection_params())
    try:
        snap.autocommit = False
        with snap.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            present = {row[0] for row in cursor.fetchall()}
            counts = {}
            for table, label in COUNTED_TABLES:
                if table in present:
                    cursor.execute(f'SELECT count(*) FROM "{table}"')
                    counts[label] = cursor.fetchone()[0]
        progress(f"Dumping the PostgreSQL database {env.get('PGDATABASE', '')}")
        _run_pg(
            [
                tool,
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                "--verbose",
                f"--snapshot={snapshot}",
                f"--file={tmp}",
            ],
            env,
            progress,
            "pg_dump",
        )
        listing = _pg_list(tmp, env)
        tables = sum(1 for line in listing.splitlines() if " TABLE DATA " in line)
        progress(f"  {tables} tables in the archive")
        _finish_file(tmp, dest)
        return counts
    finally:
        snap.rollback()
        snap.close()
        tmp.unlink(missing_ok=True)


def _pg_list(path: Path, env: dict[str, str]) -> str:
    tool = _pg_tool("pg_restore")
    result = subprocess.run([tool, "--list", str(path)], env=env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise BackupError(f"{path} is not a readable pg_dump archive: {result.stderr.strip()}")
    return result.stdout


def _pg_inspect(path: Path, using: str) -> set[tuple[str, str]]:
    with path.open("rb") as fh:
        if fh.read(5) != PGDUMP_MAGIC:
            raise BackupError(
                f"{path} is not a pg_dump custom-format archive. This installation uses PostgreSQL; "
                f"an SQLite backup cannot be restored into it."
            )
    env = _pg_env(using)
    listing = _pg_list(path, env)
    if not re.search(r" TABLE DATA \S+ django_migrations ", listing) or " core_order " not in listing:
        raise BackupError(f"{path} is a pg_dump archive but not of a Ledgerlink database; nothing was restored.")
    # The applied migrations, read from the archive without touching the database.
    result = subprocess.run(
        [_pg_tool("pg_restore"), "--data-only", "--table=django_migrations", "--file=-", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise BackupError(f"Could not read the migrations in {path}: {result.stderr.strip()}")
    applied: set[tuple[str, str]] = set()
    in_copy = False
    for line in result.stdout.splitlines():
        if line.startswith("COPY ") and "django_migrations" in line:
            in_copy = True
        elif in_copy and line == "\\.":
            in_copy = False
        elif in_copy:
            parts = line.split("\t")
            if len(parts) >= 3:
                applied.add((parts[1], parts[2]))
    return applied


def _pg_restore(path: Path, using: str, progress: Progress) -> None:
    tool = _pg_check_tool("pg_restore", using, progress)
    env = _pg_env(using)
    connection = connections[using]
    if connection.in_atomic_block:
        raise BackupError("A restore cannot run inside a database transaction.")
    connection.close()  # our own idle connection must hold no lock on the tables being replaced
    progress(f"Restoring {path} into the PostgreSQL database {env.get('PGDATABASE', '')} (one transaction)")
    try:
        _run_pg(
            [
                tool,
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                "--verbose",
                f"--dbname={env.get('PGDATABASE', '')}",
                str(path),
            ],
            env,
            progress,
            "pg_restore (nothing was changed: the restore runs in one transaction)",
        )
    finally:
        connection.close()


# --- entry points -------------------------------------------------------------------------------


def backup_database(
    output: str | Path | None = None,
    *,
    using: str = DEFAULT_DB_ALIAS,
    progress: Progress = _quiet,
    audit: bool = True,
) -> BackupResult:
    """Write a consistent backup of the database to ``output`` (default: a timestamped file in the
    working directory). Refuses to overwrite an existing file."""
    vendor = _vendor(using)
    dest = Path(output) if output else default_backup_path(vendor)
    dest = dest.expanduser().absolute()
    if dest.exists():
        raise BackupError(f"{dest} already exists; choose another --output (a backup never overwrites a file).")
    if not dest.parent.is_dir():
        raise BackupError(f"The directory {dest.parent} does not exist.")
    if not os.access(dest.parent, os.W_OK):
        raise BackupError(f"The directory {dest.parent} is not writable.")
    if vendor == "sqlite":
        counts = _sqlite_backup(dest, using, progress)
    else:
        counts = _pg_backup(dest, using, progress)
    result = BackupResult(path=dest, vendor=vendor, size=dest.stat().st_size, sha256=_sha256(dest), counts=counts)
    if audit:
        _audit("database.backup", using, path=str(dest), sha256=result.sha256, size=result.size, **counts)
    return result


def restore_database(
    path: str | Path,
    *,
    using: str = DEFAULT_DB_ALIAS,
    progress: Progress = _quiet,
    safety_backup: bool = True,
    force: bool = False,
) -> RestoreResult:
    """Replace the database's contents with the backup at ``path``.

    Checked before anything changes: the file exists, is a backup of the right kind and intact, was
    not made by a newer Ledgerlink, and no worker is running (``force`` skips that last check). A
    safety backup of the current database is written next to ``path`` first (``safety_backup``)."""
    vendor = _vendor(using)
    source = Path(path).expanduser().absolute()
    if not source.is_file():
        raise BackupError(f"{source} does not exist or is not a file.")
    progress(f"Checking {source}")
    if vendor == "sqlite":
        applied, backup_counts = _sqlite_inspect(source)
        progress(f"  the backup holds {describe_counts(backup_counts)}")
    else:
        applied = _pg_inspect(source, using)
    _check_migrations(applied)
    if not force:
        running = _running_workers(using)
        if running:
            raise BackupError(
                f"Workers are running ({', '.join(running)}). Stop every worker and the web app before "
                f"restoring, or pass --force."
            )
    safety = None
    if safety_backup:
        safety = default_backup_path(vendor, prefix="ledgerlink-pre-restore", directory=source.parent)
        progress(f"Safety backup of the current database to {safety}")
        backup_database(safety, using=using, progress=_quiet, audit=False)
    if vendor == "sqlite":
        _sqlite_restore(source, using, progress)
    else:
        _pg_restore(source, using, progress)
    pending = _pending_migrations(using)
    counts = _counts_db(using)
    _audit(
        "database.restored",
        using,
        path=str(source),
        sha256=_sha256(source),
        safety_backup=str(safety) if safety else "",
        **counts,
    )
    return RestoreResult(path=source, vendor=vendor, counts=counts, safety_backup=safety, pending_migrations=pending)
