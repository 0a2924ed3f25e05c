"""The full chaos run on a database of its own: ``python -m tests.chaos.run --db postgresql|sqlite``.

Creates the database (PostgreSQL: ``ledgerlink_chaos_<pid>`` on the local server; SQLite: a file in the
log directory), migrates it, starts a qbo_sandbox subprocess, runs ``ChaosRun`` and prints the summary
as JSON on stdout (progress goes to stderr). The PostgreSQL database is dropped at the end; the
SQLite file is removed unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

PG_SERVER = os.environ.get("LEDGERLINK_CHAOS_PG", "postgres://postgres@127.0.0.1:5432")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["postgresql", "sqlite"], required=True)
    ap.add_argument("--orders", type=int, default=2100)
    ap.add_argument("--companies", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--window", type=float, default=60)
    ap.add_argument("--kills", type=int, default=8)
    ap.add_argument("--pauses", type=int, default=0)
    ap.add_argument("--faults-per-kind", type=int, default=6)
    ap.add_argument("--expirations", type=int, default=4)
    ap.add_argument("--pg-restart", action="store_true")
    ap.add_argument("--lifecycle", type=int, default=0, help="orders changed, paid, refunded or cancelled meanwhile")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--logdir", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--summary", default=None, help="also write the JSON summary to this file")
    args = ap.parse_args(argv)

    logdir = Path(args.logdir or tempfile.mkdtemp(prefix=f"chaos-{args.db}-"))
    logdir.mkdir(parents=True, exist_ok=True)
    dbname = f"ledgerlink_chaos_{os.getpid()}"
    if args.db == "postgresql":
        import psycopg

        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
            c.execute(f'CREATE DATABASE "{dbname}"')
        url = f"{PG_SERVER}/{dbname}"
    else:
        url = f"sqlite:///{logdir / 'chaos.sqlite3'}"
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "ledgerlink.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from .harness import ChaosConfig, ChaosRun, Control, SandboxProcess, dumps, log

    sandbox = None
    summary: dict = {}
    try:
        t = time.monotonic()
        call_command("migrate", verbosity=0)
        log(f"{args.db}: database migrated in {time.monotonic() - t:.1f} s; logs in {logdir}")
        sandbox = SandboxProcess(logdir)
        cfg = ChaosConfig(
            database_url=url, orders=args.orders, companies=args.companies,
            workers=args.workers or (3 if args.db == "postgresql" else 1), concurrency=args.concurrency,
            seed=args.seed, window=args.window, kills=args.kills, pauses=args.pauses, faults_per_kind=args.faults_per_kind,
            expirations=args.expirations, pg_restart=args.pg_restart and args.db == "postgresql", logdir=logdir,
            lifecycle=args.lifecycle,
        )
        control = Control(sandbox.base_url)
        summary = ChaosRun(cfg, control).run()
        summary["logdir"] = str(logdir)
        control.close()
    finally:
        if sandbox is not None:
            sandbox.stop()
        connection.close()
        if args.db == "postgresql":
            import psycopg

            with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        elif not args.keep:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{logdir / 'chaos.sqlite3'}{suffix}").unlink(missing_ok=True)
    text = dumps(summary)
    if args.summary:
        Path(args.summary).write_text(text)
    print(text)
    return 0 if summary and not summary.get("violation_counts") else 1


if __name__ == "__main__":
    sys.exit(main())
