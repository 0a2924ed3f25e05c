"""``python -m ledgerlink.bench [--quick | --full | --smoke] [--only NAME ...] [--out DIR]``

Runs the benchmarks (ceiling, overhead, mirror, admin, http, stores, csv, profile), prints a table and writes
docs/benchmarks.md with the table and docs/benchmarks.svg. Every figure comes from this run on this
machine. Each case runs in its own process with a fresh database (SQLite copied from one migrated
template; PostgreSQL ``ledgerlink_bench_<pid>`` (one per run) re-created from a migrated template and dropped at the end)
and its own qbo-sandbox subprocess on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ledgerlink.bench import report
from ledgerlink.bench.common import PgTemplate, Sandbox, SqliteTemplate, free_port, run_case

NAMES = ("ceiling", "mirror", "admin", "http", "stores", "csv", "profile", "overhead")  # the longest last
# One database per run (the process id in its name): two runs on one machine (a developer's and a test's
# smoke run) must not drop each other's database mid-case.
PG_URL = os.environ.get("LEDGERLINK_BENCH_PG", f"postgres://postgres@127.0.0.1:5432/ledgerlink_bench_{os.getpid()}")

SIZES = {
    "smoke": {
        "ceiling": {"window_s": 2, "orders": 60, "pq_window_s": 1, "median_ms": 20, "p99_ms": 100, "concurrency": 10},
        "overhead": {"orders": 100, "companies": 2, "pg_workers": [1, 2], "concurrency": 4, "single_sample": 40},
        "mirror": {"customers": 300, "changes": 30, "match_customers": 2000},
        "admin": {"requests": 1000, "repeats": 1},
        "http": {"requests": 10, "batches": 2, "batch_size": 50},
        "stores": {"rate": 20, "seconds": 2, "drain_s": 30,
                   "modes": [{"mode": "queued", "seconds": 2}, {"mode": "inline", "seconds": 2}]},
        "csv": {"rows": 2000, "lines": 4},
        "profile": {"orders": 10, "limit": 10, "batch": 50, "batches": 1},
    },
    "quick": {
        "ceiling": {"window_s": 15, "orders": 700, "pq_window_s": 5, "median_ms": 300, "p99_ms": 2000, "concurrency": 10},
        "overhead": {"orders": 2000, "companies": 20, "pg_workers": [1, 2, 4], "concurrency": 4, "single_sample": 500},
        "mirror": {"customers": 10_000, "changes": 200, "match_customers": 100_000},
        "admin": {"requests": 50_000, "repeats": 10},
        "http": {"requests": 100, "batches": 4, "batch_size": 500},
        "stores": {"rate": 200, "seconds": 10, "drain_s": 60,
                   "modes": [{"mode": "queued", "seconds": 10}, {"mode": "inline", "seconds": 5}]},
        "csv": {"rows": 100_000, "lines": 4},
        "profile": {"orders": 200, "limit": 30, "batch": 500, "batches": 2},
    },
    "default": {
        "ceiling": {"window_s": 60, "orders": 2400, "pq_window_s": 30, "median_ms": 300, "p99_ms": 2000,
                    "concurrency": 10},
        "overhead": {"orders": 20_000, "companies": 20, "pg_workers": [1, 2, 4], "concurrency": 4,
                     "single_sample": 2000},
        "mirror": {"customers": 100_000, "changes": 1000, "match_customers": 1_000_000},
        "admin": {"requests": 1_000_000, "repeats": 20, "page_seconds": 12},
        "http": {"requests": 300, "batches": 10, "batch_size": 500},
        "stores": {"rate": 200, "seconds": 60, "drain_s": 180,
                   "modes": [{"mode": "queued", "seconds": 60}, {"mode": "inline", "seconds": 10}]},
        "csv": {"rows": 1_000_000, "lines": 4},
        "profile": {"orders": 200, "limit": 30, "batch": 500, "batches": 2},
    },
}
SIZES["full"] = json.loads(json.dumps(SIZES["default"]))
SIZES["full"]["ceiling"].update(window_s=120, orders=4400, pq_window_s=60)
SIZES["full"]["overhead"]["single_sample"] = 5000  # a larger sample of the single-order path


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def machine_info() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip()
    except Exception:  # noqa: BLE001 - informational
        commit = ""
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "commit": commit,
            "load_start": os.getloadavg(), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


class Runner:
    def __init__(self, mode: str, workdir: Path, use_pg: bool):
        self.mode = mode
        self.sizes = SIZES[mode]
        self.workdir = workdir
        self.sqlite = SqliteTemplate(workdir)
        self.pg = PgTemplate(PG_URL, workdir) if use_pg else None
        self.timeout = 1800

    def sandbox(self, port: int | None = None) -> Sandbox:
        return Sandbox(self.workdir / "sandbox.log", port=port).start()

    def with_sandbox(self, case: str, params: dict, db_url: str, *, port: int | None = None) -> dict:
        sb = self.sandbox(port)
        try:
            return run_case(case, {**params, "sandbox": sb.base_url, "sandbox_pid": sb.pid}, db_url, self.workdir,
                            self.timeout)
        finally:
            sb.stop()

    def ceiling(self) -> dict:
        p = self.sizes["ceiling"]
        say(f"ceiling: QBO limits, latency median {p['median_ms']} ms / p99 {p['p99_ms']} ms, "
            f"{p['window_s']} s window")
        return self.with_sandbox("ceiling", p, self.sqlite.fresh("ceiling"))

    def overhead(self) -> dict:
        p = self.sizes["overhead"]
        common = {"orders": p["orders"], "companies": p["companies"], "concurrency": p["concurrency"],
                  "single_sample": p.get("single_sample")}
        port = free_port()
        runs = []
        say(f"overhead: {p['orders']:,} orders, {p['companies']} companies, SQLite, 1 worker")
        runs.append(self.with_sandbox("overhead", {**common, "mode": "all", "workers": 1, "label": "SQLite, 1 worker"},
                                      self.sqlite.fresh("overhead"), port=port))
        if self.pg is not None:
            say(f"overhead: PostgreSQL ingest of {p['orders']:,} orders (once; snapshot for each worker count)")

            def ingest_step():
                out = self.with_sandbox("overhead", {**common, "mode": "ingest", "workers": 0, "label": "PostgreSQL"},
                                        self.pg.fresh(), port=port)
                self.pg.snapshot()
                return out

            ing = self.pg_retry("PostgreSQL ingest", ingest_step)
            for k in p["pg_workers"]:
                say(f"overhead: PostgreSQL, {k} worker process(es)")

                def push_step(k=k):
                    self.pg.restore()
                    return self.with_sandbox(
                        "overhead", {**common, "mode": "push", "workers": k, "label": f"PostgreSQL, {k} worker(s)",
                                     "ingest": ing["ingest"], "realms": ing["realms"]}, self.pg.db_url, port=port)

                runs.append(self.pg_retry(f"PostgreSQL, {k} workers", push_step))
        return {"runs": runs}

    def pg_retry(self, label: str, step, attempts: int = 3):
        """PostgreSQL is shared with other work on this machine (its server may be restarted): a step
        that fails is run again from its start once the server answers (at most ``attempts`` times)."""
        for attempt in range(1, attempts + 1):
            try:
                return step()
            except Exception as exc:  # noqa: BLE001 - retried, then raised
                if attempt == attempts:
                    raise
                say(f"{label}: failed ({str(exc)[:120]}); waiting for PostgreSQL, then again")
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and not self.pg.available():
                    time.sleep(2)
                time.sleep(2)

    def mirror(self) -> dict:
        p = self.sizes["mirror"]
        say(f"mirror: full sync {p['customers']:,}, CDC {p['changes']:,}, match with {p['match_customers']:,}")
        return run_case("mirror", p, self.sqlite.fresh("mirror"), self.workdir, self.timeout)

    def admin(self) -> dict:
        p = self.sizes["admin"]
        say(f"admin: {p['requests']:,} push requests stored (SQLite)")
        return self.with_sandbox("admin", p, self.sqlite.fresh("admin"))

    def http(self) -> dict:
        p = self.sizes["http"]
        say(f"http: gunicorn (2 processes) + a worker, SQLite: {p['requests']} POST /orders, {p['requests']} GET "
            f"/orders, {p['batches']} batches of {p['batch_size']}")
        return self.with_sandbox("http", p, self.sqlite.fresh("http"))

    def stores(self) -> dict:
        p = self.sizes["stores"]
        # LEDGERLINK_BENCH_STORES_DBS=postgresql (or sqlite): only that database (a shorter run);
        # LEDGERLINK_BENCH_STORES_WEB: gunicorn processes (default 2, as the http case and make run);
        # LEDGERLINK_BENCH_STORES_SECONDS: the queued run's length.
        dbs = os.environ.get("LEDGERLINK_BENCH_STORES_DBS", "sqlite,postgresql").split(",")
        p = dict(p)
        if os.environ.get("LEDGERLINK_BENCH_STORES_WEB"):
            p["web_processes"] = int(os.environ["LEDGERLINK_BENCH_STORES_WEB"])
        if os.environ.get("LEDGERLINK_BENCH_STORES_SECONDS"):
            seconds = float(os.environ["LEDGERLINK_BENCH_STORES_SECONDS"])
            p["modes"] = [{**m, "seconds": seconds if m["mode"] == "queued" else m["seconds"]} for m in p["modes"]]
        modes = ", ".join(f"{m['mode']} {m['seconds']} s" for m in p["modes"])
        say(f"stores: signed Shopify deliveries at {p['rate']}/s to gunicorn ({p.get('web_processes', 2)} processes)"
            f" + a worker ({modes}; {', '.join(dbs)})")
        out = {}
        if "sqlite" in dbs:
            out["sqlite"] = self.with_sandbox("stores", p, self.sqlite.fresh("stores"))
        if self.pg is not None and "postgresql" in dbs:
            pg_modes = [m for m in p["modes"] if m["mode"] == "queued"]
            say(f"stores: the same on PostgreSQL (queued {pg_modes[0]['seconds']} s)")
            # PostgreSQL: gunicorn.conf.py's own default on 2 cores (2 x cores + 1), as deployed; the wait
            # for each commit's WAL flush leaves a process idle, which more processes fill.
            pg_web = int(os.environ.get("LEDGERLINK_BENCH_STORES_WEB") or 2 * (os.cpu_count() or 1) + 1)
            out["postgresql"] = self.pg_retry("stores on PostgreSQL", lambda: self.with_sandbox(
                "stores", {**p, "modes": pg_modes, "web_processes": pg_web}, self.pg.fresh()))
        return out

    def csv(self) -> dict:
        p = self.sizes["csv"]
        say(f"csv: ledgerlink import-orders of {p['rows']:,} rows (SQLite)")
        return self.with_sandbox("csv", p, self.sqlite.fresh("csv"))

    def profile(self) -> dict:
        p = self.sizes["profile"]
        say(f"profile: cProfile of ingest_order ({p['orders']} orders), of ingest_orders ({p['batches']} x "
            f"{p['batch']}) and of the worker loop")
        return {"ingest": self.with_sandbox("profile_ingest", p, self.sqlite.fresh("profile")),
                "worker": self.with_sandbox("profile_worker", p, self.sqlite.fresh("profile-worker"))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ledgerlink.bench", description=__doc__.split("\n\n")[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes, short windows (development)")
    size.add_argument("--full", action="store_true",
                      help="the ceiling over two whole minutes; all overhead orders through ingest_order")
    size.add_argument("--smoke", action="store_true", help="tiny sizes (the test suite)")
    ap.add_argument("--only", action="append", choices=NAMES, help="run only this benchmark (repeatable)")
    ap.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL runs")
    ap.add_argument("--out", type=Path, default=None,
                    help="where benchmarks.md/.svg/.json go (default: docs/ for default and --full runs, "
                         "else the work directory)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (databases, logs)")
    args = ap.parse_args(argv)
    mode = "quick" if args.quick else "full" if args.full else "smoke" if args.smoke else "default"
    names = args.only or list(NAMES)
    workdir = Path(tempfile.mkdtemp(prefix="ledgerlink-bench-"))
    repo_docs = Path(__file__).resolve().parents[3] / "docs"
    out = args.out or (repo_docs if mode in ("default", "full") and not args.only else workdir)
    info = machine_info()
    info["mode"] = mode
    say(f"ledgerlink bench ({mode}); work directory {workdir}; {info['cpus']} CPUs, load {info['load_start'][0]:.1f}")
    runner = Runner(mode, workdir, use_pg=False)
    if ("overhead" in names or "stores" in names) and not args.no_postgres:
        pg = PgTemplate(PG_URL, workdir)
        if pg.available():
            runner.pg = pg
        else:
            say(f"PostgreSQL not reachable at {PG_URL.rsplit('/', 1)[0]}: PostgreSQL runs skipped")
    results: dict = {"info": info, "sizes": {n: SIZES[mode][n] for n in names}}
    write_docs = mode in ("default", "full") or args.out is not None
    t0 = time.monotonic()
    failed = []
    try:
        say("migrating the template databases")
        runner.sqlite.prepare()
        if runner.pg is not None:
            runner.pg_retry("PostgreSQL template", runner.pg.prepare)
        for name in names:
            t = time.monotonic()
            for attempt in (1, 2):
                try:
                    results[name] = getattr(runner, name)()
                    break
                except Exception as exc:  # noqa: BLE001 - tried once more, then reported; the others still run
                    say(f"{name}: FAILED: {exc}" + (" (trying once more)" if attempt == 1 else ""))
                    if attempt == 2:
                        failed.append(name)
                        results[name] = {"error": str(exc)}
            say(f"{name}: done in {time.monotonic() - t:.0f} s")
            if write_docs:  # after each benchmark, so a run stopped early still leaves what it measured
                info["seconds"] = time.monotonic() - t0
                info["load_end"] = os.getloadavg()
                out.mkdir(parents=True, exist_ok=True)
                report.write(results, out)
    finally:
        if runner.pg is not None:
            for _ in range(30):
                try:
                    runner.pg.drop()
                    break
                except Exception:  # noqa: BLE001 - the server may be restarting
                    time.sleep(2)
    info["seconds"] = time.monotonic() - t0
    info["load_end"] = os.getloadavg()
    out.mkdir(parents=True, exist_ok=True)
    # The raw figures: next to the document only when --out was given (docs/ keeps the .md and .svg).
    (args.out or workdir).joinpath("benchmarks.json").write_text(json.dumps(results, indent=1, default=str))
    table = report.table(results)
    print()
    print(table)
    if write_docs:
        report.write(results, out)
        say(f"wrote {out / 'benchmarks.md'} and {out / 'benchmarks.svg'}")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    say(f"total {info['seconds']:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
