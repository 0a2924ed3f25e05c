"""The benchmark cases (run inside ``ledgerlink.bench.case`` with Django set up on a fresh DB)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
from django.db import connection
from django.db.models import Count

from ledgerlink.bench import loadgen
from ledgerlink.bench.common import (
    VENV_BIN,
    Sandbox,
    free_port,
    percentile,
    proc_cpu,
    reaped_cpu,
    self_cpu,
    wait_cpu,
    wait_http,
)
from ledgerlink.core.models import (
    Attempt,
    Customer,
    CustomerEmail,
    Order,
    OrderSource,
    PushRequest,
    PushRevision,
    SiteArea,
    StoreDelivery,
    SyncState,
    UserProfile,
)
from ledgerlink.domain.accounts.tokens import create_api_token
from ledgerlink.domain.companies.connect import connect_company
from ledgerlink.domain.ingest import orders as ingest_module
from ledgerlink.domain.ingest.orders import MAX_BATCH, ingest_order, ingest_orders
from ledgerlink.domain.mirror.match import match_customer_by_email
from ledgerlink.domain.mirror.store import apply_customer, apply_item
from ledgerlink.domain.routing.order_sources import update_order_source
from ledgerlink.domain.sync.cdc import cdc_sync_company
from ledgerlink.domain.sync.full import sync_company
from ledgerlink.stores import signatures
from ledgerlink.worker.loop import Worker
from qbo_sandbox.util import meta_time

BUYER_EMAIL = "buyer@example.com"


def log(msg: str) -> None:
    print(f"    {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


class Control:
    """qbo_sandbox's control API (/_sandbox/...) and a token for direct API calls."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=900)

    def create_realm(self, **spec) -> dict:
        r = self.http.post("/_sandbox/realms", json=spec)
        r.raise_for_status()
        return r.json()

    def requests(self, realm_id: str) -> list[dict]:
        return self.http.get(f"/_sandbox/realms/{realm_id}/requests").raise_for_status().json()["requests"]

    def entities(self, realm_id: str, entity: str) -> list[dict]:
        r = self.http.get(f"/_sandbox/realms/{realm_id}/entities/{entity}").raise_for_status()
        return next(iter(r.json().values()))

    def set_clock(self, offset_seconds: float) -> None:
        self.http.put("/_sandbox/clock", json={"offset_seconds": offset_seconds}).raise_for_status()

    def token(self, realm_id: str) -> str:
        return self.http.post(f"/_sandbox/realms/{realm_id}/tokens", json={}).raise_for_status().json()["access_token"]


def make_company(ctl: Control, name: str, *, push_method: str = "invoice", limits=None, latency=0,
                 customers: list[dict] | None = None):
    """A sandbox realm (its customers seeded through the control API, so no API request is spent),
    connected through the real OAuth flow, its customers and items mirrored, one site area and order source."""

    if customers is None:
        customers = [{"DisplayName": f"{name} Buyer", "PrimaryEmailAddr": {"Address": BUYER_EMAIL}}]
    # Shipping goes on QBO's shipping field (SHIPPING_ITEM_ID), which needs AllowShipping on.
    realm = ctl.create_realm(limits=limits, config={"latency": latency}, customers=customers, tokens=False,
                             preferences={"SalesFormsPrefs": {"AllowShipping": True}})
    company = connect_company(ctl.base_url, name=name, realm_id=realm["realm_id"])
    for record in realm["entities"].get("Customer", [])[:1000]:
        apply_customer(company, record)
    # Every realm has QBO's item "Services" (Id 1), the site area's default item: mirrored as a sync
    # would (without an API request, which the ceiling's window would count).
    apply_item(company, {"Id": "1", "Name": "Services", "Type": "Service", "Active": True, "SyncToken": "0"})
    area = SiteArea.objects.create(company=company, name=f"{name} area", push_method=push_method, default_item="1",
                                   shipping_item="SHIPPING_ITEM_ID")
    source = OrderSource.objects.create(site_area=area, name=f"{name} source")
    return company, source, realm


def order_data(source_id: int, i: int, email: str, lines: int = 2) -> dict:
    return {
        "order_source": source_id,
        "external_id": f"B-{i:07d}",
        "number": f"B{i:07d}",
        "email": email,
        "customer_name": "Bench Buyer",
        "bill_address": {"line1": "1 Main St", "city": "Springfield", "region": "CA", "postal_code": "90001"},
        "shipping": "4.50",
        "tax": "1.20",
        "lines": [{"sku": "", "description": f"Widget {j}", "quantity": 2, "unit_price": "9.95"} for j in range(lines)],
    }


# The stages of ingest, by the function of domain/ingest/orders.py that runs each (what is left is
# writing: the INSERTs, the transaction, building the rows).
STAGES = {
    "read": ("_read_sources", "enabled_rules", "_preload"),
    "validate": ("validate_order_input",),
    "rules": ("apply_rules",),
    "payload": ("build_payload",),
    "preflight": ("plan_push_request",),
}


class StageTimer:
    """Thread CPU time per stage of ingest (wraps the names domain/ingest/orders.py calls)."""

    def __init__(self):
        self.mod = ingest_module
        self.orig = {}
        self.cpu = dict.fromkeys(STAGES, 0.0)

    def __enter__(self):
        for stage, names in STAGES.items():
            for name in names:
                orig = getattr(self.mod, name)
                self.orig[name] = orig

                def timed(*args, _orig=orig, _stage=stage, **kwargs):
                    t = time.thread_time()
                    try:
                        return _orig(*args, **kwargs)
                    finally:
                        self.cpu[_stage] += time.thread_time() - t

                setattr(self.mod, name, timed)
        return self

    def __exit__(self, *exc):
        for name, orig in self.orig.items():
            setattr(self.mod, name, orig)

    @property
    def payload(self) -> float:
        return self.cpu["payload"]


class PgBackendCpu:
    """CPU of the PostgreSQL backends serving this database, sampled from /proc every 0.2 s (each
    backend's last sample counts; a backend that exits loses at most 0.2 s of CPU)."""

    def __init__(self):
        self.enabled = connection.vendor == "postgresql"
        self.base: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _pids(self, conn) -> list[int]:
        return [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]

    def _run(self, conn) -> None:
        while not self._stop.is_set():
            for pid in self._pids(conn):
                cpu = proc_cpu(pid)
                if cpu:
                    self.last[pid] = cpu
            self._stop.wait(0.2)

    def __enter__(self):
        if not self.enabled:
            return self
        import psycopg

        s = connection.settings_dict
        self._conn = psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"],
                                     password=s["PASSWORD"] or None, dbname=s["NAME"], autocommit=True)
        for pid in self._pids(self._conn):
            self.base[pid] = proc_cpu(pid)
        self._thread = threading.Thread(target=self._run, args=(self._conn,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if not self.enabled:
            return
        self._stop.set()
        self._thread.join()
        for pid in self._pids(self._conn):
            cpu = proc_cpu(pid)
            if cpu:
                self.last[pid] = cpu
        self._conn.close()

    @property
    def cpu(self) -> float | None:
        if not self.enabled:
            return None
        return sum(max(0.0, v - self.base.get(pid, 0.0)) for pid, v in self.last.items())


def _ingest_range(jobs: list[tuple[int, str]], indexes: range, label: str, n: int, batch: int = 0) -> tuple:
    """The orders of ``indexes`` through ingest_order one by one (``batch`` 0) or through
    ingest_orders, ``batch`` at a time; returns (cpu seconds, cpu seconds per stage)."""

    step = max(1, len(indexes) // 10)
    with StageTimer() as st:
        cpu0, t0 = self_cpu(), time.perf_counter()
        if batch:
            for k in range(0, len(indexes), batch):
                chunk = indexes[k : k + batch]
                results = ingest_orders([order_data(jobs[i % len(jobs)][0], i, jobs[i % len(jobs)][1]) for i in chunk],
                                        actor_label="bench")
                if any(r.status != 201 for r in results):
                    raise RuntimeError(f"batch ingest refused orders: {[r.as_dict() for r in results if r.status != 201][:3]}")
                if (k // batch) % max(1, len(indexes) // batch // 10) == 0:
                    log(f"{label}: ingested {k + len(chunk):,}/{len(indexes):,} "
                        f"({(k + len(chunk)) / (time.perf_counter() - t0):,.0f} orders/s)")
        else:
            for k, i in enumerate(indexes):
                source_id, email = jobs[i % len(jobs)]
                ingest_order(order_data(source_id, i, email), actor_label="bench")
                if (k + 1) % step == 0:
                    log(f"{label}: ingested {k + 1:,}/{len(indexes):,} ({(k + 1) / (time.perf_counter() - t0):,.0f} orders/s)")
        return self_cpu() - cpu0, dict(st.cpu)


def _ingest_child(conn, jobs, indexes, label, n, batch) -> None:
    from django.db import connections

    try:
        conn.send(_ingest_range(jobs, indexes, label, n, batch))
    finally:
        connections.close_all()
        conn.close()


def ingest(jobs: list[tuple[int, str]], n: int, *, label: str, processes: int = 1, start: int = 0,
           batch: int = 0) -> dict:
    """Ingest orders ``start`` .. ``start + n`` round-robin over ``jobs`` [(source id, email)], one by
    one through ingest_order (``batch`` 0) or ``batch`` at a time through ingest_orders, in
    ``processes`` processes (forked; PostgreSQL) or in this one."""
    import multiprocessing

    from django.db import connections

    indexes = range(start, start + n)
    with PgBackendCpu() as pg:
        if processes <= 1:
            t0 = time.perf_counter()
            cpu, stages = _ingest_range(jobs, indexes, label, n, batch)
            wall = time.perf_counter() - t0
        else:
            connections.close_all()
            ctx = multiprocessing.get_context("fork")
            before = os.times()
            t0 = time.perf_counter()
            children = []
            for k in range(processes):
                parent_end, child_end = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_ingest_child,
                                   args=(child_end, jobs, indexes[k::processes], f"{label} #{k + 1}", n, batch))
                proc.start()
                children.append((proc, parent_end))
            stages = dict.fromkeys(STAGES, 0.0)
            for proc, end in children:
                if end.poll(3600):
                    for stage, value in end.recv()[1].items():
                        stages[stage] += value
                proc.join()
                if proc.exitcode != 0:
                    raise RuntimeError(f"ingest process exited with {proc.exitcode}")
            wall = time.perf_counter() - t0
            after = os.times()
            cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return {"orders": n, "processes": processes, "batch": batch, "wall_s": wall, "cpu_s": cpu,
            "payload_cpu_s": stages["payload"], "stage_cpu_s": stages, "db_server_cpu_s": pg.cpu,
            "orders_per_s": n / wall}


def start_worker(worker_id: str, concurrency: int, *extra: str, nice: int = 0) -> subprocess.Popen:
    """``ledgerlink worker`` in a child process; ``nice`` > 0 lowers its CPU priority (as
    deploy/systemd's ``Nice=`` does) so the web processes answering a burst come first."""
    logf = open(Path.cwd() / f"{worker_id}.log", "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(
        [str(VENV_BIN / "ledgerlink"), "worker", "--concurrency", str(concurrency), "--worker-id", worker_id, *extra],
        stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        preexec_fn=(lambda: os.nice(nice)) if nice else None,  # noqa: PLW1509 - no threads in this process yet
    )


def documents_check(ctl: Control, companies_sources: list[tuple], entity_for) -> dict:
    """Exactly one QBO document per order: the sandbox's documents, by the PrivateNote marker."""

    docs = dupes = missing = 0
    for company, source in companies_sources:
        entity = entity_for(source)
        notes = [d.get("PrivateNote", "") for d in ctl.entities(company.realm_id, entity)]
        notes = [n for n in notes if n.startswith("ledgerlink-order:")]
        expected = {f"ledgerlink-order:{pk}" for pk in
                    Order.objects.filter(order_source=source, status="pushed").values_list("pk", flat=True)}
        docs += len(notes)
        dupes += len(notes) - len(set(notes))
        missing += len(expected - set(notes))
    return {"documents": docs, "duplicate_documents": dupes, "orders_without_document": missing}


# ------------------------------------------------------------------------------------------------
# 1. The ceiling


def case_ceiling(p: dict) -> dict:

    ctl = Control(p["sandbox"])
    latency = {"median_ms": p["median_ms"], "p99_ms": p["p99_ms"]}
    window = float(p["window_s"])
    company, source, realm = make_company(ctl, "Ceiling", limits={}, latency=latency)  # {} = QBO's real limits
    n = int(p["orders"])
    ing = ingest([(source.pk, BUYER_EMAIL)], n, label="ceiling")
    log(f"ceiling: {n:,} orders queued; worker (--concurrency {p['concurrency']}) for a {window:.0f} s window")

    sb_cpu0 = proc_cpu(p["sandbox_pid"])
    worker = start_worker("bench-ceiling", p["concurrency"])
    deadline = time.monotonic() + 60
    first = None
    while first is None and time.monotonic() < deadline:
        first = Attempt.objects.order_by("started_at").values_list("started_at", flat=True).first()
        time.sleep(0.05)
    if first is None:
        worker.kill()
        raise RuntimeError("the worker sent nothing within 60 s")
    end = first + timedelta(seconds=window)
    last_report = 0.0
    while True:
        from django.utils import timezone

        left = (end - timezone.now()).total_seconds()
        if left <= -0.5:
            break
        if time.monotonic() - last_report > 10:
            last_report = time.monotonic()
            done = Attempt.objects.filter(outcome="succeeded").count()
            log(f"ceiling: {done:,} documents after {window - max(left, 0):.0f} s")
        time.sleep(min(1.0, max(left + 0.5, 0.05)))
    worker.send_signal(signal.SIGTERM)
    worker_cpu = wait_cpu(worker, 180)
    sb_cpu = proc_cpu(p["sandbox_pid"]) - sb_cpu0

    # The first attempt recorded need not be the first one started: the window starts at the earliest
    # start (so it ends no later than the worker was stopped).
    first = Attempt.objects.order_by("started_at").values_list("started_at", flat=True).first()
    end = first + timedelta(seconds=window)
    ok = Attempt.objects.filter(outcome="succeeded")
    in_window = ok.filter(started_at__gte=first, started_at__lt=end)
    minutes = []
    m = 0
    while m * 60 < window:
        lo = first + timedelta(seconds=60 * m)
        hi = min(lo + timedelta(seconds=60), end)
        minutes.append({"from_s": 60 * m, "to_s": (hi - first).total_seconds(),
                        "documents": ok.filter(started_at__gte=lo, started_at__lt=hi).count()})
        m += 1
    docs_window = in_window.count()
    log_entries = ctl.requests(company.realm_id)
    api = [e for e in log_entries if e["operation"] not in ("unknown",)]
    t0 = min(e["started"] for e in api) if api else 0
    in_win = [e for e in api if e["started"] < t0 + window]
    status_429 = [e for e in api if e["status"] == 429]
    by_op: dict[str, int] = {}
    for e in in_win:
        if e["status"] == 200:
            by_op[e["operation"]] = by_op.get(e["operation"], 0) + 1
    check = documents_check(ctl, [(company, source)], lambda s: "Invoice")
    succeeded = PushRequest.objects.filter(state="succeeded").count()
    batch_sizes = [len(x) for x in _batches(Attempt)]
    result = {
        "orders_queued": n, "ingest": ing, "window_s": window, "latency": latency,
        "documents_in_window": docs_window, "docs_per_min": docs_window * 60.0 / window,
        "minutes": minutes, "requests_429": len(status_429),
        "throttled_kinds": sorted({e["throttled"] for e in status_429 if e["throttled"]}),
        "http_ok_by_operation_in_window": by_op, "peak_inflight": peak_in_flight(api),
        "max_inflight_at_start": max((e["inflight_at_start"] for e in api), default=0),
        "batches": len(batch_sizes), "mean_batch": (sum(batch_sizes) / len(batch_sizes)) if batch_sizes else 0,
        "succeeded_total": succeeded, "worker_cpu_s": worker_cpu, "sandbox_cpu_s": sb_cpu,
        "worker_exit": worker.returncode, **check,
    }
    log(f"ceiling: {docs_window:,} documents in {window:.0f} s -> {result['docs_per_min']:,.0f}/min; "
        f"429s {len(status_429)}")

    # The usual integration: a sequential python-quickbooks loop, same orders, same sandbox settings.
    payloads = list(PushRevision.objects.order_by("push_request_id").values_list("payload", flat=True)[:5000])
    result["python_quickbooks"] = python_quickbooks_loop(ctl, payloads, limits={}, latency=latency,
                                                         seconds=float(p["pq_window_s"]))
    result["ratio"] = result["docs_per_min"] / max(result["python_quickbooks"]["docs_per_min"], 1e-9)
    return result


def _batches(Attempt) -> list[list[int]]:
    groups: dict = {}
    for pk, started in Attempt.objects.filter(batched=True).values_list("id", "started_at"):
        groups.setdefault(started, []).append(pk)
    return list(groups.values())


def peak_in_flight(entries: list[dict]) -> int:
    events = sorted([(e["started"], 1) for e in entries if e.get("finished")]
                    + [(e["finished"], -1) for e in entries if e.get("finished")], key=lambda x: (x[0], x[1]))
    peak = level = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    return peak


def python_quickbooks_loop(ctl: Control, payloads: list[dict], *, limits, latency, seconds: float) -> dict:
    """The usual integration: one ``Invoice.save()`` after another with python-quickbooks 0.9.12,
    unmodified, pointed at the sandbox (``sandbox_api_url_v3``; intuit-oauth's discovery URL local)."""
    import intuitlib.config
    from intuitlib.client import AuthClient
    from quickbooks import QuickBooks
    from quickbooks.objects.invoice import Invoice

    realm = ctl.create_realm(limits=limits, config={"latency": latency}, client_id="pq-client",
                             customers=[{"DisplayName": "PQ Buyer", "PrimaryEmailAddr": {"Address": BUYER_EMAIL}}],
                             preferences={"SalesFormsPrefs": {"AllowShipping": True}})
    customer_id = realm["entities"]["Customer"][0]["Id"]
    intuitlib.config.DISCOVERY_URL["sandbox"] = f"{ctl.base_url}/.well-known/openid_sandbox_configuration/"
    auth = AuthClient("pq-client", "pq-secret", "https://app.example/callback", "sandbox",
                      access_token=realm["access_token"], refresh_token=realm["refresh_token"],
                      realm_id=realm["realm_id"])
    qb = QuickBooks(auth_client=auth, refresh_token=realm["refresh_token"], company_id=realm["realm_id"],
                    minorversion=75)
    qb.sandbox_api_url_v3 = f"{ctl.base_url}/v3"
    log(f"python-quickbooks: sequential Invoice.save() for {seconds:.0f} s")
    done = errors = 0
    cpu0, t0 = self_cpu(), time.perf_counter()
    for i, payload in enumerate(payloads):
        if time.perf_counter() - t0 >= seconds:
            break
        body = dict(payload)
        body["CustomerRef"] = {"value": customer_id}
        try:
            Invoice.from_json(body).save(qb=qb, request_id=f"pq-{i}")
            done += 1
        except Exception as exc:  # noqa: BLE001 - counted, shown in the report
            errors += 1
            if errors <= 3:
                log(f"python-quickbooks error: {str(exc)[:200]}")
    wall, cpu = time.perf_counter() - t0, self_cpu() - cpu0
    docs = len(ctl.entities(realm["realm_id"], "Invoice"))
    log_entries = ctl.requests(realm["realm_id"])
    return {"documents": done, "errors": errors, "wall_s": wall, "cpu_s": cpu, "docs_per_min": done * 60.0 / wall,
            "documents_in_sandbox": docs, "requests_429": sum(1 for e in log_entries if e["status"] == 429)}


# ------------------------------------------------------------------------------------------------
# 2. Overhead


def case_overhead(p: dict) -> dict:
    """``mode``: "all" (connect, ingest, push), "ingest" (connect and ingest; the parent snapshots the
    database) or "push" (the snapshot restored: re-create the realms in a fresh sandbox on the same
    port, reconnect, push)."""
    mode = p.get("mode", "all")
    ctl = Control(p["sandbox"])
    n, n_companies = int(p["orders"]), int(p["companies"])
    if mode in ("all", "ingest"):
        pairs, jobs, realms = [], [], []
        for c in range(n_companies):
            method = "invoice" if c % 2 == 0 else "sales_receipt"
            company, source, realm = make_company(ctl, f"Overhead {c + 1:02d}", push_method=method)
            pairs.append((company, source))
            realms.append(realm["realm_id"])
            jobs.append((source.pk, BUYER_EMAIL if method == "invoice" else f"shopper{c}@example.com"))
        # The baseline: the single-order path (ingest_order, what POST /orders ran before batches) for
        # a sample; the rest through the batch path (ingest_orders, MAX_BATCH at a time).
        sample = min(n, int(p.get("single_sample") or n))
        log(f"overhead [{p['label']}]: {n_companies} companies connected; {sample:,} orders one by one, "
            f"{n - sample:,} in batches of {MAX_BATCH}")
        single = ingest(jobs, sample, label=f"overhead [{p['label']}] single", processes=1)
        batch = ingest(jobs, n - sample, label=f"overhead [{p['label']}] batch", start=sample, batch=MAX_BATCH)
        ing = {"single": single, "batch": batch, "orders": n}
        if mode == "ingest":
            return {"ingest": ing, "realms": realms}
    else:

        ing = p["ingest"]
        pairs = []
        for c, realm_id in enumerate(p["realms"]):
            ctl.create_realm(realm_id=realm_id, limits=None, config={"latency": 0}, tokens=False,
                             customers=[{"DisplayName": f"Overhead {c + 1:02d} Buyer",
                                         "PrimaryEmailAddr": {"Address": BUYER_EMAIL}}],
                             preferences={"SalesFormsPrefs": {"AllowShipping": True}})
            company = connect_company(ctl.base_url, name=f"Overhead {c + 1:02d}", realm_id=realm_id)
            pairs.append((company, OrderSource.objects.get(site_area__company=company)))
    return _overhead_push(p, ctl, pairs, ing, n, n_companies)


def json_copy(value):
    import json

    return json.loads(json.dumps(value))


def _overhead_push(p: dict, ctl: Control, pairs: list, ing: dict, n: int, n_companies: int) -> dict:

    queued = PushRequest.objects.filter(state="queued").count()
    workers_n, conc = int(p["workers"]), int(p["concurrency"])
    log(f"overhead [{p['label']}]: {queued:,} queued; {workers_n} worker process(es) x {conc} sender threads")
    sb_cpu0 = proc_cpu(p["sandbox_pid"])
    with PgBackendCpu() as pg:
        t0 = time.perf_counter()
        procs = [start_worker(f"bench-w{k + 1}", conc, "--until-idle", "--timeout", str(p.get("timeout", 900)))
                 for k in range(workers_n)]
        watcher = threading.Thread(target=_progress, args=(n, procs, p["label"]), daemon=True)
        watcher.start()
        cpus = [wait_cpu(w, float(p.get("timeout", 900)) + 60) for w in procs]
        wall = time.perf_counter() - t0
    sb_cpu = proc_cpu(p["sandbox_pid"]) - sb_cpu0
    first = Attempt.objects.order_by("started_at").values_list("started_at", flat=True).first()
    last = PushRequest.objects.order_by("-completed_at").values_list("completed_at", flat=True).first()
    push_window = (last - first).total_seconds() if first and last else wall
    succeeded = PushRequest.objects.filter(state="succeeded").count()
    check = documents_check(ctl, pairs, lambda s: "Invoice" if s.site_area.push_method == "invoice" else "SalesReceipt")

    def per_order_ms(seconds, count=n):
        return (seconds or 0) * 1000.0 / count

    paths = {}
    for name in ("single", "batch"):
        part = ing[name]
        if not part["orders"]:
            continue
        ingest_wall_n = part["wall_s"] * n / part["orders"]  # the ingest of all n orders by this path
        stages = {stage: per_order_ms(cpu, part["orders"]) for stage, cpu in part["stage_cpu_s"].items()}
        stages["write"] = per_order_ms(part["cpu_s"] - sum(part["stage_cpu_s"].values()), part["orders"])
        paths[name] = {
            "orders": part["orders"], "ingest_orders_per_s": part["orders_per_s"], "ingest_wall_for_all_s": ingest_wall_n,
            "end_to_end_orders_per_s": n / (ingest_wall_n + push_window),
            "cpu_ms_per_order": per_order_ms(part["cpu_s"], part["orders"]), "stage_cpu_ms_per_order": stages,
            "db_server_ms_per_order": per_order_ms(part["db_server_cpu_s"], part["orders"]) if pg.enabled else None,
        }
    best = paths.get("batch") or paths["single"]
    result = {
        "label": p["label"], "db": connection.vendor, "workers": workers_n, "concurrency": conc,
        "orders": n, "companies": n_companies, "queued_after_ingest": queued, "ingest": ing, "paths": paths,
        "push_wall_s": wall, "push_window_s": push_window, "push_orders_per_s": n / push_window,
        "end_to_end_orders_per_s": best["end_to_end_orders_per_s"],
        "succeeded": succeeded, "orders_pushed": Order.objects.filter(status="pushed").count(),
        "attempts": Attempt.objects.count(), "batched_attempts": Attempt.objects.filter(batched=True).count(),
        "worker_exit_codes": [w.returncode for w in procs],
        "cpu_ms_per_order": {
            "worker": per_order_ms(sum(cpus)),
            "db_server_push": per_order_ms(pg.cpu) if pg.enabled else None,
            "sandbox": per_order_ms(sb_cpu),
        },
        **check,
    }
    log(f"overhead [{p['label']}]: push {result['push_orders_per_s']:,.0f} orders/s, end to end "
        + ", ".join(f"{k} {v['end_to_end_orders_per_s']:,.0f}" for k, v in paths.items())
        + f" orders/s; succeeded {succeeded:,}/{n:,}")
    return result


def _progress(n: int, procs: list, label: str) -> None:
    from django.db import connections


    try:
        while any(w.poll() is None for w in procs):
            time.sleep(5)
            done = PushRequest.objects.filter(state="succeeded").count()
            log(f"overhead [{label}]: {done:,}/{n:,} succeeded")
    finally:
        connections.close_all()


# ------------------------------------------------------------------------------------------------
# Profiles (cProfile; the text goes to docs/benchmarks.md)


def _profile_text(prof, limit: int = 25) -> str:
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(limit)
    text = out.getvalue()
    root = str(Path(__file__).resolve().parents[2])
    return text.replace(root + "/", "").replace(str(Path(sys.prefix)) + "/lib/python3.11/site-packages/", "")


def _statements(func) -> list[str]:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as q:
        func()
    return [x["sql"][:160] for x in q.captured_queries]


def _profiled(func) -> tuple:
    import cProfile
    import pstats

    prof = cProfile.Profile()
    cpu0 = self_cpu()
    prof.enable()
    func()
    prof.disable()
    cpu = self_cpu() - cpu0
    st = pstats.Stats(prof)
    in_db = sum(v[2] for k, v in st.stats.items() if k[0] == "~" and "execute" in k[2])  # the C-level execute
    return cpu, (in_db / st.total_tt if st.total_tt else None), prof


def case_profile_ingest(p: dict) -> dict:
    """cProfile and SQL statements of both ingest paths: ingest_order (one order) and ingest_orders
    (a batch of MAX_BATCH), on the overhead benchmark's orders."""
    ctl = Control(p["sandbox"])
    _, inv, _ = make_company(ctl, "Profile A", push_method="invoice")
    _, rec, _ = make_company(ctl, "Profile B", push_method="sales_receipt")
    jobs = [(inv.pk, BUYER_EMAIL), (rec.pk, "shopper@example.com")]
    ingest(jobs, 50, label="profile warm-up")
    single_sql = _statements(lambda: ingest_order(order_data(inv.pk, 999, BUYER_EMAIL), actor_label="bench"))
    size = int(p.get("batch", MAX_BATCH))
    batch_sql = _statements(lambda: ingest_orders(
        [order_data(jobs[i % 2][0], i, jobs[i % 2][1]) for i in range(2000, 2000 + size)], actor_label="bench"))
    n = int(p["orders"])

    def one_by_one():
        for i in range(10_000, 10_000 + n):
            source_id, email = jobs[i % 2]
            ingest_order(order_data(source_id, i, email), actor_label="bench")

    cpu, share, prof = _profiled(one_by_one)
    batches = max(1, int(p.get("batches", 2)))

    def in_batches():
        for b in range(batches):
            start = 20_000 + b * size
            ingest_orders([order_data(jobs[i % 2][0], i, jobs[i % 2][1]) for i in range(start, start + size)],
                          actor_label="bench")

    batch_cpu, batch_share, batch_prof = _profiled(in_batches)
    return {"orders": n, "cpu_ms_per_order_profiled": cpu * 1000 / n, "queries_per_order": len(single_sql),
            "db_engine_share": share, "statements": single_sql, "profile": _profile_text(prof, p.get("limit", 40)),
            "batch": {"orders": batches * size, "batch_size": size, "statements": len(batch_sql),
                      "statements_per_order": len(batch_sql) / size, "statement_kinds": _kinds(batch_sql),
                      "cpu_ms_per_order_profiled": batch_cpu * 1000 / (batches * size), "db_engine_share": batch_share,
                      "profile": _profile_text(batch_prof, p.get("limit", 40))}}


def _kinds(statements: list[str]) -> list[tuple[str, int]]:
    """Statements grouped by their first words and table (``INSERT INTO core_order``: 14)."""
    out: dict[str, int] = {}
    for sql in statements:
        words = sql.replace('"', "").split()
        head = " ".join(words[:3]) if words[:1] == ["INSERT"] else (
            f"SELECT ... FROM {words[words.index('FROM') + 1]}" if "FROM" in words else " ".join(words[:2]))
        out[head] = out.get(head, 0) + 1
    return sorted(out.items(), key=lambda kv: -kv[1])


# ------------------------------------------------------------------------------------------------
# Bulk rows (seeding only: plain INSERTs in chunks, one transaction each)


def insert_rows(model, columns: list[str], rows, *, chunk: int = 20000) -> int:
    from django.db import transaction

    table = model._meta.db_table
    # Columns the case does not name get their field's default, so a new column with a default (added by
    # a later migration) does not break the seeding's plain INSERTs.
    extra_columns, extra_values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.column in columns or field.attname in columns or not field.has_default():
            continue
        extra_columns.append(field.column)
        extra_values.append(field.get_db_prep_save(field.get_default(), connection))
    columns = [*columns, *extra_columns]
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    n = 0
    batch: list = []
    rows = (tuple(row) + tuple(extra_values) for row in rows) if extra_columns else rows

    def flush():
        with transaction.atomic(), connection.cursor() as cur:
            cur.executemany(sql, batch)

    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            flush()
            n += len(batch)
            batch = []
    if batch:
        flush()
        n += len(batch)
    return n


def _dt(value):
    return connection.ops.adapt_datetimefield_value(value)


# ------------------------------------------------------------------------------------------------
# 3. The mirror


def _seed_customers_in_state(state: Path, realm_id: str, template_id: str, n: int, ts: float, stamp: str) -> list[str]:
    """Write ``n`` Customers into the sandbox's --state file, cloned from one the sandbox created
    itself (QBO's name-uniqueness check makes creating them through the API O(n^2))."""
    import copy
    import json
    import sqlite3

    db = sqlite3.connect(state)
    (tpl,) = db.execute("SELECT value FROM kv WHERE key = ?", (f"realm/{realm_id}/rec/Customer/{template_id}",)).fetchone()
    tpl = json.loads(tpl)
    (meta,) = db.execute("SELECT value FROM kv WHERE key = ?", (f"realm/{realm_id}",)).fetchone()
    meta = json.loads(meta)
    start = int(meta["seq"]["name"])
    ids = []
    rows = []
    for i in range(1, n + 1):
        rec = copy.deepcopy(tpl)
        cid = str(start + i)
        d = rec["data"]
        d["Id"] = cid
        d["DisplayName"] = d["FullyQualifiedName"] = d["PrintOnCheckName"] = f"Customer {i:06d}"
        email = f"customer{i}@example.com" if i % 10 else f"customer{i}@example.com, ap{i}@example.com"
        d["PrimaryEmailAddr"] = {"Address": email}
        d["MetaData"] = {"CreateTime": stamp, "LastUpdatedTime": stamp}
        rec["ts"] = ts
        ids.append(cid)
        rows.append((f"realm/{realm_id}/rec/Customer/{cid}", json.dumps(rec)))
    meta["seq"]["name"] = start + n
    tpl["ts"] = ts  # the template too is older than the CDC window
    rows.append((f"realm/{realm_id}/rec/Customer/{template_id}", json.dumps(tpl)))
    with db:
        db.executemany("INSERT OR REPLACE INTO kv(key, value) VALUES (?, ?)", rows)
        db.execute("UPDATE kv SET value = ? WHERE key = ?", (json.dumps(meta), f"realm/{realm_id}"))
    db.close()
    return ids


def _change_customers_in_state(state: Path, realm_id: str, ids: list[str], ts: float, stamp: str) -> None:
    """A person's edits in QBO: new email, SyncToken + 1, LastUpdatedTime now (what CDC reports)."""
    import json
    import sqlite3

    db = sqlite3.connect(state)
    rows = []
    for cid in ids:
        key = f"realm/{realm_id}/rec/Customer/{cid}"
        (value,) = db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        rec = json.loads(value)
        d = rec["data"]
        d["PrimaryEmailAddr"] = {"Address": f"changed{cid}@example.com"}
        d["SyncToken"] = str(int(d.get("SyncToken", "0")) + 1)
        d["MetaData"] = {"CreateTime": d["MetaData"]["CreateTime"], "LastUpdatedTime": stamp}
        rec["ts"] = ts
        rows.append((json.dumps(rec), key))
    with db:
        db.executemany("UPDATE kv SET value = ? WHERE key = ?", rows)
    db.close()


def case_mirror(p: dict) -> dict:
    from django.test.utils import CaptureQueriesContext

    n_sync, n_cdc, n_match = int(p["customers"]), int(p["changes"]), int(p["match_customers"])
    state = Path.cwd() / "mirror-state.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(str(state) + suffix).unlink(missing_ok=True)
    port = free_port()

    def sandbox():
        return Sandbox(Path.cwd() / "mirror-sandbox.log", port=port, state=state).start()

    sb = sandbox()
    ctl = Control(sb.base_url)
    realm = ctl.create_realm(limits=None, customers=[{"DisplayName": "Template", "PrimaryEmailAddr": {"Address": "t@example.com"}}],
                             tokens=False)
    template_id = realm["entities"]["Customer"][0]["Id"]
    company = connect_company(sb.base_url, name="Mirror", realm_id=realm["realm_id"])
    sb.stop()
    old = time.time() - 86400
    t = time.perf_counter()
    ids = _seed_customers_in_state(state, realm["realm_id"], template_id, n_sync, old, meta_time(old))
    log(f"mirror: {n_sync:,} customers written to the sandbox state in {time.perf_counter() - t:.1f} s")
    result: dict = {"customers": n_sync + 1}

    # Full sync
    sb = sandbox()
    try:
        sb_cpu0, cpu0, t0 = sb.cpu(), self_cpu(), time.perf_counter()
        counts = sync_company(company, ("Customer",))
        wall = time.perf_counter() - t0
        result["full_sync"] = {"records": counts["Customer"], "wall_s": wall, "cpu_s": self_cpu() - cpu0,
                               "sandbox_cpu_s": sb.cpu() - sb_cpu0, "records_per_s": counts["Customer"] / wall,
                               "pages": -(-counts["Customer"] // 1000)}
    finally:
        sb.stop()
    result["full_sync"]["mirror_customers"] = Customer.objects.filter(company=company, active=True).count()
    result["full_sync"]["mirror_emails"] = CustomerEmail.objects.filter(company=company).count()
    log(f"mirror: full sync of {counts['Customer']:,} customers in {wall:.1f} s")

    # CDC of n_cdc changes made in QBO after the sync
    SyncState.objects.filter(company=company).update(last_full_sync_at=timezone_now() - timedelta(minutes=10))
    changed = random.Random(6).sample(ids, n_cdc)
    now = time.time()
    _change_customers_in_state(state, realm["realm_id"], changed, now, meta_time(now))
    sb = sandbox()
    try:
        sb_cpu0, cpu0, t0 = sb.cpu(), self_cpu(), time.perf_counter()
        with CaptureQueriesContext(connection) as q:
            cdc = cdc_sync_company(company)
        wall = time.perf_counter() - t0
        result["cdc"] = {"changes": n_cdc, "applied": cdc.get("Customer", 0), "wall_s": wall, "cpu_s": self_cpu() - cpu0,
                         "sandbox_cpu_s": sb.cpu() - sb_cpu0, "queries": len(q)}
    finally:
        sb.stop()
    result["cdc"]["mirror_has_new_emails"] = CustomerEmail.objects.filter(
        company=company, email__startswith="changed").count()
    log(f"mirror: CDC of {n_cdc:,} changes in {wall:.2f} s ({len(q)} queries)")

    # Email match with n_match customers in the mirror (rows added directly)
    have = Customer.objects.filter(company=company).count()
    extra = max(0, n_match - have)
    t = time.perf_counter()
    base = 10_000_000
    stamp = _dt(timezone_now())
    insert_rows(Customer, ["company_id", "qbo_id", "display_name", "company_name", "email", "active", "sync_token",
                           "qbo_updated_at", "synced_at"],
                ((company.pk, str(base + i), f"Bulk {i:07d}", "", f"bulk{i}@example.com", True, "0", stamp, stamp)
                 for i in range(extra)))
    first_pk = Customer.objects.filter(company=company, qbo_id=str(base)).values_list("pk", flat=True).first()
    insert_rows(CustomerEmail, ["company_id", "customer_id", "email"],
                ((company.pk, first_pk + i, f"bulk{i}@example.com") for i in range(extra)) if extra else [])
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    seeded_s = time.perf_counter() - t
    total = Customer.objects.filter(company=company).count()
    log(f"mirror: {total:,} customers in the mirror ({extra:,} added in {seeded_s:.0f} s); timing matches")
    rnd = random.Random(7)
    probes = [f"bulk{rnd.randrange(extra)}@example.com" if extra else "customer1@example.com" for _ in range(1000)]
    changed_set = set(changed)
    picks = [rnd.randrange(1, n_sync + 1) for _ in range(200)]
    probes += [f"Customer{i}@Example.com " for i in picks]  # trimmed and case-folded before matching
    expected_hits = 1000 + sum(1 for i in picks if ids[i - 1] not in changed_set)
    misses = [f"nobody{i}@example.com" for i in range(200)]
    for e in probes[:20]:
        match_customer_by_email(company, e)
    times, cpu_times, hits = [], [], 0
    for e in probes:
        t, c = time.perf_counter(), time.thread_time()
        hits += match_customer_by_email(company, e) is not None
        times.append((time.perf_counter() - t) * 1000)
        cpu_times.append((time.thread_time() - c) * 1000)
    miss_times = []
    for e in misses:
        t = time.perf_counter()
        match_customer_by_email(company, e)
        miss_times.append((time.perf_counter() - t) * 1000)
    with CaptureQueriesContext(connection) as q:
        match_customer_by_email(company, probes[0])
    result["match"] = {"customers": total, "emails": CustomerEmail.objects.filter(company=company).count(),
                       "probes": len(probes), "hits": hits, "expected_hits": expected_hits, "p50_ms": percentile(times, 50),
                       "p95_ms": percentile(times, 95), "cpu_p50_ms": percentile(cpu_times, 50),
                       "cpu_p95_ms": percentile(cpu_times, 95), "miss_p50_ms": percentile(miss_times, 50),
                       "miss_p95_ms": percentile(miss_times, 95), "queries": len(q), "seed_s": seeded_s,
                       "sql": q.captured_queries[0]["sql"] if q.captured_queries else ""}
    log(f"mirror: match p50 {result['match']['p50_ms']:.2f} ms, p95 {result['match']['p95_ms']:.2f} ms")
    return result


def timezone_now():
    from django.utils import timezone

    return timezone.now()


# ------------------------------------------------------------------------------------------------
# 4. The admin area and the API with many stored requests

ERROR_MIX = [("customer_ref_required", "6000"), ("invalid_email", "2050"), ("connection_003202", "3202"),
             ("duplicate_document_number", "6140"), ("invalid_reference", "610")]


def case_admin(p: dict) -> dict:
    import json
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import CaptureQueriesContext


    n = int(p["requests"])
    ctl = Control(p["sandbox"])
    companies, sources = [], []
    for c in range(3):
        company, source, _ = make_company(ctl, f"Admin {c + 1}", push_method="invoice" if c != 1 else "sales_receipt")
        companies.append(company)
        sources.append(source)
        sources.append(OrderSource.objects.create(site_area=source.site_area, name=f"Admin {c + 1} second source"))
    t = time.perf_counter()
    now = timezone_now()
    rnd = random.Random(4)
    payload = json.dumps(order_payload_example())
    stamp = _dt(now)
    order_base = (Order.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    pr_base = (PushRequest.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    plan = []  # (state, error kind, code, source index)
    for i in range(n):
        r = rnd.random()
        if r < 0.94:
            plan.append(("succeeded", "", "", i % len(sources)))
        elif r < 0.98:
            kind, code = ERROR_MIX[i % len(ERROR_MIX)]
            plan.append(("failed", kind, code, i % len(sources)))
        elif r < 0.99:
            plan.append(("cancelled", "", "", i % len(sources)))
        else:
            plan.append(("queued" if i % 2 else "retrying", "", "", i % len(sources)))
    src = [(s.pk, s.site_area_id, s.site_area.company_id, s.site_area.push_method) for s in sources]
    step = max(1, n // 4)

    def progress(label, i):
        if (i + 1) % step == 0:
            log(f"admin: {label} {i + 1:,}/{n:,}")

    def orders():
        for i, (state, _, _, s) in enumerate(plan):
            progress("orders", i)
            status = {"succeeded": "pushed", "failed": "failed", "cancelled": "cancelled"}.get(state, "queued")
            yield (order_base + i, src[s][0], f"A-{i:08d}", f"A{i:08d}", f"buyer{i % 5000}@example.com", "Bench Buyer",
                   "", "{}", "{}", "USD", "4.50", "0.00", "1.20", "19.90", "25.60", None, "", "", "", False, status,
                   str(i) if state == "succeeded" else "", f"A{i:08d}" if state == "succeeded" else "", stamp, stamp)

    insert_rows(Order, ["id", "order_source_id", "external_id", "number", "email", "customer_name", "customer_company",
                        "bill_address", "ship_address", "currency", "shipping", "discount", "tax", "subtotal", "total",
                        "txn_date", "push_method", "qbo_customer_id", "default_item", "held", "status", "qbo_id",
                        "qbo_doc_number", "created_at", "updated_at"], orders())

    def requests():
        for i, (state, kind, code, s) in enumerate(plan):
            progress("push requests", i)
            done = state in ("succeeded", "failed", "cancelled")
            yield (pr_base + i, src[s][2], order_base + i, src[s][1], src[s][0], f"buyer{i % 5000}@example.com",
                   src[s][3], state, 1, 1 if state != "queued" else 0, stamp, "", None, False, "", kind,
                   "CustomerRef is required" if kind else "", "QBO said no" if kind else "", "", code, "",
                   str(i) if state == "succeeded" else "", f"A{i:08d}" if state == "succeeded" else "",
                   "0" if state == "succeeded" else "", stamp, stamp, stamp if done else None)

    insert_rows(PushRequest, ["id", "company_id", "order_id", "site_area_id", "order_source_id", "email", "kind", "state",
                              "revision", "attempt_count", "next_attempt_at", "lease_owner", "lease_expires_at",
                              "outcome_unknown", "waiting_on", "error_kind", "error_title", "error_message",
                              "error_detail", "error_code", "error_element", "qbo_id", "qbo_doc_number",
                              "qbo_sync_token", "created_at", "updated_at", "completed_at"], requests())
    insert_rows(PushRevision, ["push_request_id", "number", "payload", "author_id", "author_label", "note", "created_at"],
                ((pr_base + i, 1, payload, None, "bench", "", stamp) for i in range(n)))
    body_ok = '{"Invoice":{"Id":"1","SyncToken":"0"}}'
    insert_rows(Attempt, ["push_request_id", "company_id", "revision", "requestid", "worker", "batched", "started_at",
                          "duration_ms", "http_status", "outcome", "error_kind", "fault_code", "intuit_tid",
                          "response_body"],
                ((pr_base + i, src[s][2], 1, f"ll-{pr_base + i}-r1", "bench", True, stamp, 300,
                  200 if state == "succeeded" else 400, "succeeded" if state == "succeeded" else "failed", kind, code,
                  "1-abc", body_ok if state == "succeeded" else '{"Fault":{}}')
                 for i, (state, kind, code, s) in enumerate(plan) if state not in ("queued",)))
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    else:
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    seed_s = time.perf_counter() - t
    stored = PushRequest.objects.count()
    log(f"admin: {stored:,} push requests stored in {seed_s:.0f} s; timing pages")

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password-123")
    token = create_api_token(user, "bench")
    client = Client()
    client.force_login(user)
    failed = PushRequest.objects.filter(state="failed").order_by("-id").values_list("id", flat=True).first()
    site_area = SiteArea.objects.order_by("id").values_list("id", flat=True).first()
    email = "buyer77@example.com"
    pages = [
        ("Requests Completed", "/requests/completed/", {}),
        ("Completed, failed + error kind", "/requests/completed/?outcome=failed&error_kind=customer_ref_required", {}),
        ("Completed, site area", f"/requests/completed/?site_area={site_area}", {}),
        ("Completed, email", f"/requests/completed/?email={email}", {}),
        ("Requests Pending", "/requests/pending/", {}),
        ("A request's page", f"/requests/{failed}/", {}),
        ("API GET /api/v1/requests", "/api/v1/requests", {"HTTP_AUTHORIZATION": f"Bearer {token}"}),
        ("API, state=failed", "/api/v1/requests?state=failed&error_kind=customer_ref_required",
         {"HTTP_AUTHORIZATION": f"Bearer {token}"}),
        ("API, email", f"/api/v1/requests?email={email}", {"HTTP_AUTHORIZATION": f"Bearer {token}"}),
    ]
    reps = int(p.get("repeats", 30))
    out = []
    for label, url, headers in pages:
        for _ in range(2):
            client.get(url, **headers)
        times, cpu_times = [], []
        page_t0 = time.perf_counter()
        for k in range(reps):
            if k >= 5 and time.perf_counter() - page_t0 > float(p.get("page_seconds", 20)):
                break  # a slow page: at least 5 samples, then bounded by time
            t, c = time.perf_counter(), time.thread_time()
            r = client.get(url, **headers)
            times.append((time.perf_counter() - t) * 1000)
            cpu_times.append((time.thread_time() - c) * 1000)
        with CaptureQueriesContext(connection) as q:
            r = client.get(url, **headers)
        slowest = max(q.captured_queries, key=lambda x: float(x.get("time") or 0), default={"sql": "", "time": 0})
        out.append({"page": label, "url": url, "status": r.status_code, "samples": len(times), "p50_ms": percentile(times, 50),
                    "p95_ms": percentile(times, 95), "cpu_p50_ms": percentile(cpu_times, 50),
                    "cpu_p95_ms": percentile(cpu_times, 95), "queries": len(q), "bytes": len(r.content),
                    "slowest_query_ms": float(slowest.get("time") or 0) * 1000, "slowest_sql": slowest["sql"][:600]})
        log(f"admin: {label}: p50 {out[-1]['p50_ms']:.1f} ms, p95 {out[-1]['p95_ms']:.1f} ms, {len(q)} queries")
    _ = Decimal
    return {"requests_stored": stored, "attempts_stored": Attempt.objects.count(), "seed_s": seed_s,
            "db": connection.vendor, "repeats": reps, "pages": out}


def order_payload_example() -> dict:
    return {"Line": [{"DetailType": "SalesItemLineDetail", "Amount": 19.9, "Description": "Widget 0",
                      "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Services"}, "Qty": 2, "UnitPrice": 9.95}}],
            "CustomerRef": {"value": "1", "name": "Buyer"}, "BillEmail": {"Address": "buyer@example.com"},
            "DocNumber": "A00000001", "PrivateNote": "ledgerlink-order:1"}


def case_profile_worker(p: dict) -> dict:
    """The worker loop in-process (sender inline, concurrency=0) under cProfile, no latency/limits."""
    import cProfile


    ctl = Control(p["sandbox"])
    _, inv, _ = make_company(ctl, "Profile A", push_method="invoice")
    _, rec, _ = make_company(ctl, "Profile B", push_method="sales_receipt")
    n = int(p["orders"]) * 2
    ingest([(inv.pk, BUYER_EMAIL), (rec.pk, "shopper@example.com")], n, label="profile worker: ingest")
    worker = Worker("bench-profile", concurrency=0, poll_interval=0.01)
    prof = cProfile.Profile()
    sb0, cpu0, t0 = proc_cpu(p["sandbox_pid"]), self_cpu(), time.perf_counter()
    prof.enable()
    worker.run(until_idle=True, timeout=600)
    prof.disable()
    wall, cpu, sb = time.perf_counter() - t0, self_cpu() - cpu0, proc_cpu(p["sandbox_pid"]) - sb0
    done = PushRequest.objects.filter(state="succeeded").count()
    return {"orders": n, "succeeded": done, "wall_s": wall, "cpu_ms_per_order_profiled": cpu * 1000 / n,
            "sandbox_cpu_ms_per_order": sb * 1000 / n, "profile": _profile_text(prof, p.get("limit", 40))}


# ------------------------------------------------------------------------------------------------
# 5. Over HTTP: gunicorn as production runs it


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _web_cpu(master: int) -> float:
    """CPU seconds of gunicorn's worker processes (the web app's own cost): the live ones, and those
    gunicorn recycled (``max_requests``), which the master's children times hold once it reaped them."""
    return sum(proc_cpu(pid) for pid in _children(master)) + reaped_cpu(master)


def case_http(p: dict) -> dict:
    """POST /api/v1/orders one at a time, GET /api/v1/orders, and POST /api/v1/orders/batch of 500,
    from one client over loopback to gunicorn (deploy/gunicorn.conf.py, 2 processes) with a worker
    running (it pushes what comes in), SQLite. Latency is the client's; CPU is the web processes'."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import CaptureQueriesContext


    ctl = Control(p["sandbox"])
    company, source, _ = make_company(ctl, "HTTP")
    user = get_user_model().objects.create_user("bench-operator")
    UserProfile.objects.create(user=user, role="operator")
    token = create_api_token(user, "bench")
    headers = {"Authorization": f"Bearer {token}"}

    # Statements per request, in-process (the same code gunicorn runs).
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def post(path, body):
        import json

        return client.post(path, data=json.dumps(body), content_type="application/json")

    post("/api/v1/orders", order_data(source.pk, 90_000_000, BUYER_EMAIL))
    with CaptureQueriesContext(connection) as q_post:
        post("/api/v1/orders", order_data(source.pk, 90_000_001, BUYER_EMAIL))
    with CaptureQueriesContext(connection) as q_get:
        client.get("/api/v1/orders")
    batch_size = int(p["batch_size"])
    with CaptureQueriesContext(connection) as q_batch:
        r = post("/api/v1/orders/batch", {"orders": [order_data(source.pk, 91_000_000 + i, BUYER_EMAIL)
                                                     for i in range(batch_size)]})
    assert r.status_code == 200 and r.json()["created"] == batch_size, r.content[:300]
    connection.close()

    port = free_port()
    db_url = os.environ["DATABASE_URL"]
    env = {**os.environ, "LEDGERLINK_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(p.get("web_processes", 2)),
           "GUNICORN_ACCESSLOG": "", "DATABASE_URL": db_url}
    conf = Path(__file__).resolve().parents[3] / "deploy" / "gunicorn.conf.py"
    web_log = open(Path.cwd() / "http-gunicorn.log", "ab")  # noqa: SIM115 - the child owns it
    web = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", str(conf)], env=env, stdout=web_log,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    worker = start_worker("bench-http", 4)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz", 60, what="gunicorn")
        http = httpx.Client(base_url=base, headers=headers, timeout=120)
        for i in range(20):  # warm-up: both processes, imports, connections
            http.get("/api/v1/orders")
            http.post("/api/v1/orders", json=order_data(source.pk, 92_000_000 + i, BUYER_EMAIL))

        def timed(n: int, call) -> dict:
            lat = []
            cpu0 = _web_cpu(web.pid)
            for i in range(n):
                t = time.perf_counter()
                r = call(i)
                lat.append((time.perf_counter() - t) * 1000)
                if r.status_code >= 300:
                    raise RuntimeError(f"{r.status_code}: {r.text[:300]}")
            cpu = _web_cpu(web.pid) - cpu0
            return {"requests": n, "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95),
                    "web_cpu_ms_per_request": cpu * 1000 / n, "wall_ms_total": sum(lat)}

        n = int(p["requests"])
        gets = timed(n, lambda i: http.get("/api/v1/orders"))
        posts = timed(n, lambda i: http.post("/api/v1/orders", json=order_data(source.pk, 93_000_000 + i, BUYER_EMAIL)))
        batches = timed(int(p["batches"]), lambda i: http.post("/api/v1/orders/batch", json={"orders": [
            order_data(source.pk, 94_000_000 + i * batch_size + k, BUYER_EMAIL) for k in range(batch_size)]}))
        batches["orders_per_request"] = batch_size
        batches["p50_ms_per_order"] = batches["p50_ms"] / batch_size
        batches["web_cpu_ms_per_order"] = batches["web_cpu_ms_per_request"] / batch_size
        http.close()
    finally:
        web.send_signal(signal.SIGTERM)
        worker.send_signal(signal.SIGTERM)
        wait_cpu(web, 30)
        wait_cpu(worker, 60)
    return {"db": connection.vendor, "web_processes": int(p.get("web_processes", 2)), "get": gets, "post": posts,
            "batch": batches, "statements": {"post_orders": len(q_post), "get_orders": len(q_get),
                                             "batch": len(q_batch), "batch_per_order": len(q_batch) / batch_size},
            "post_over_get_cpu": posts["web_cpu_ms_per_request"] / max(gets["web_cpu_ms_per_request"], 1e-9),
            "post_over_get_p50": posts["p50_ms"] / max(gets["p50_ms"], 1e-9),
            "orders": Order.objects.count()}


# ------------------------------------------------------------------------------------------------
# 6. A million-row CSV import


def case_csv(p: dict) -> dict:
    """``ledgerlink import-orders`` of a generated file (``rows`` rows, ``lines`` per order, every
    100th order with a bad line) in its own process: wall time, CPU and peak memory (ru_maxrss)."""
    ctl = Control(p["sandbox"])
    _, source, _ = make_company(ctl, "CSV")
    rows, per = int(p["rows"]), int(p["lines"])
    path = Path.cwd() / "bench-import.csv"
    t = time.perf_counter()
    with open(path, "w", encoding="utf-8") as out:
        out.write("order_source,external_id,number,email,sku,description,quantity,unit_price,shipping,tax\n")
        for n in range(rows):
            order, line = divmod(n, per)
            bad = order % 100 == 7 and line == 1
            out.write(f"{source.name},C-{order:07d},C{order:07d},{BUYER_EMAIL},,Widget {line},{0 if bad else 2},"
                      f"9.95,{'4.50' if line == 0 else ''},{'1.20' if line == 0 else ''}\n")
    orders = -(-rows // per)
    bad = sum(1 for o in range(orders) if o % 100 == 7 and per > 1 and o * per + 1 < rows)
    log(f"csv: {rows:,} rows ({orders:,} orders) written in {time.perf_counter() - t:.0f} s "
        f"({path.stat().st_size / 1e6:.0f} MB); importing")
    connection.close()
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(VENV_BIN / "ledgerlink"), "import-orders", str(path), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    out_text = []
    threading.Thread(target=lambda: out_text.append(proc.stderr.read()), daemon=True).start()
    summary = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    created = Order.objects.filter(order_source=source).count()
    log(f"csv: {summary.strip()} in {wall:.0f} s, peak {usage.ru_maxrss / 1024:.0f} MB")
    path.unlink()
    return {"rows": rows, "lines_per_order": per, "orders": orders, "bad_orders": bad, "created": created,
            "expected_created": orders - bad, "summary": summary.strip(), "exit_code": proc.returncode,
            "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
            "rows_per_s": rows / wall, "orders_per_s": orders / wall,
            "bad_row_reports": (out_text[0] if out_text else b"").count(b"\n")}


# ------------------------------------------------------------------------------------------------
# 7. Store webhooks under load


STORE_SECRET = "bench-shopify-secret"


def shopify_order_body(i: int) -> dict:
    """A Shopify ``orders/create`` body (REST Order shape): two taxed lines, taxed shipping, a discount."""
    address = {"first_name": "Bench", "last_name": "Buyer", "company": None, "address1": "1 Main St", "address2": "",
               "city": "Springfield", "province_code": "CA", "zip": "90001", "country_code": "US"}
    return {
        "id": 7_000_000_000 + i, "name": f"#S{i:07d}", "email": BUYER_EMAIL,
        "created_at": "2026-01-15T10:00:00-05:00", "processed_at": "2026-01-15T10:00:00-05:00",
        "updated_at": "2026-01-15T10:00:05-05:00", "currency": "USD", "taxes_included": False,
        "total_discounts": "1.00", "total_tax": "2.69", "total_price": "36.28", "total_tip_received": "0.00",
        "payment_gateway_names": ["shopify_payments"],
        "customer": {"first_name": "Bench", "last_name": "Buyer", "email": BUYER_EMAIL},
        "billing_address": address, "shipping_address": address,
        "line_items": [
            {"sku": "", "title": "Widget", "name": "Widget", "quantity": 2, "price": "9.95", "taxable": True,
             "discount_allocations": [{"amount": "1.00"}], "tax_lines": [{"rate": 0.08, "price": "1.51"}]},
            {"sku": "", "title": "Gadget", "name": "Gadget", "quantity": 1, "price": "9.95", "taxable": True,
             "discount_allocations": [], "tax_lines": [{"rate": 0.08, "price": "0.80"}]},
        ],
        "shipping_lines": [{"title": "Standard", "price": "4.74", "discount_allocations": [],
                            "tax_lines": [{"rate": 0.08, "price": "0.38"}]}],
    }


def case_stores(p: dict) -> dict:
    """The store webhook load, once per mode in ``p["modes"]`` ({"mode": "queued" | "inline", "seconds"}):
    see ``_stores_run``."""
    ctl = Control(p["sandbox"])
    runs = []
    for spec in p.get("modes") or [{"mode": "queued", "seconds": p["seconds"]}]:
        runs.append(_stores_run(p, ctl, spec["mode"], float(spec["seconds"])))
    return {"runs": runs}


def _stores_run(p: dict, ctl: Control, mode: str, seconds: float) -> dict:
    """Signed Shopify deliveries (``orders/create``) posted at ``rate`` a second for ``seconds`` s, open
    loop (each sent at its scheduled time whatever the answers before it), to gunicorn
    (deploy/gunicorn.conf.py, 2 processes) with a worker pushing, SQLite. Every ``duplicate_every``-th
    delivery re-sends an earlier one's X-Shopify-Webhook-Id (a Shopify retry). Latency is measured from
    each delivery's scheduled time (client queueing included) to its answer; Shopify's limit is 5 s."""
    company, source, _ = make_company(ctl, f"Stores {mode}", push_method="sales_receipt")
    update_order_source(source.pk, kind="shopify", webhook_secret=STORE_SECRET, actor_label="bench")
    os.environ["LEDGERLINK_STORE_WEBHOOKS"] = mode  # gunicorn's and the worker's
    rate = float(p["rate"])
    n = int(rate * seconds)
    dup_every = int(p.get("duplicate_every", 20))
    deliveries = []  # (webhook id, body, headers)
    for i in range(n):
        if dup_every and i % dup_every == dup_every - 1:
            deliveries.append(deliveries[i - dup_every // 2])  # a retry of an earlier delivery
            continue
        body = json.dumps(shopify_order_body(i)).encode()
        headers = signatures.shopify_headers(body, STORE_SECRET, topic="orders/create", webhook_id=f"bench-{i}")
        deliveries.append((f"bench-{i}", body, headers))
    unique = len({d[0] for d in deliveries})
    connection.close()

    port = free_port()
    env = {**os.environ, "LEDGERLINK_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(p.get("web_processes", 2)),
           "GUNICORN_ACCESSLOG": ""}
    conf = Path(__file__).resolve().parents[3] / "deploy" / "gunicorn.conf.py"
    web_log = open(Path.cwd() / f"stores-{mode}-gunicorn.log", "ab")  # noqa: SIM115 - the child owns it
    web = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", str(conf)], env=env, stdout=web_log,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    worker = start_worker(f"bench-stores-{mode}", 4, nice=int(p.get("worker_nice", 10))) if p.get("worker", True) else None
    base = f"http://127.0.0.1:{port}"
    path = f"/webhooks/shopify/{source.pk}"
    wire = [loadgen.http_request("127.0.0.1", port, path, body, headers) for _, body, headers in deliveries]
    results: list = []

    try:
        wait_http(base + "/healthz", 60, what="gunicorn")
        warm = int(p.get("warmup", 20))
        for i in range(warm):  # warm-up: both processes, imports, connections (their orders are not counted)
            body = json.dumps(shopify_order_body(900_000 + i)).encode()
            r = httpx.post(base + path, content=body, headers=signatures.shopify_headers(
                body, STORE_SECRET, topic="orders/create", webhook_id=f"warm-{i}"), timeout=60)
            assert r.status_code == 200 and r.json()["outcome"] in ("applied", "received"), r.text[:300]
        log(f"stores ({mode}): {n} deliveries at {rate:g}/s ({unique} distinct, {n - unique} Shopify retries)")
        cpu0, client0 = _web_cpu(web.pid), self_cpu()
        answers, wall = loadgen.open_loop("127.0.0.1", port, wire, rate)
        web_cpu, client_cpu = _web_cpu(web.pid) - cpu0, self_cpu() - client0
        results = [(a.status, (a.body or {}).get("outcome") if a.status == 200 and isinstance(a.body, dict)
                    else a.error or str(a.body)[:200], a.total_ms, a.server_ms, a.late_ms) for a in answers]
    except BaseException:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            wait_cpu(worker, 60)
        raise
    finally:
        web.send_signal(signal.SIGTERM)
        wait_cpu(web, 30)
    pushed_wait = float(p.get("drain_s", 0))
    drained_at = None
    if worker is not None:  # the worker applies what was received (queued mode) and pushes it
        t = time.monotonic()
        while time.monotonic() - t < pushed_wait:
            if not (PushRequest.objects.filter(state__in=PushRequest.PENDING_STATES).exists()
                    or StoreDelivery.objects.filter(order_source=source, outcome="received").exists()):
                drained_at = time.monotonic() - t
                break
            time.sleep(1)
        worker.send_signal(signal.SIGTERM)
        wait_cpu(worker, 60)
    total_ms = [r[2] for r in results if r]
    server_ms = [r[3] for r in results if r]
    late_ms = [r[4] for r in results if r]
    statuses: dict = {}
    for r in results:
        key = str(r[0]) if r else "not sent"
        statuses[key] = statuses.get(key, 0) + 1
    outcomes: dict = {}
    for r in results:
        if r and r[0] == 200:
            outcomes[r[1]] = outcomes.get(r[1], 0) + 1
    measured = StoreDelivery.objects.filter(order_source=source, delivery_id__startswith="bench-")
    stored = dict(measured.values_list("outcome").annotate(n=Count("id")).order_by())
    order_of = {wid: str(json.loads(body)["id"]) for wid, body, _ in deliveries}
    have = set(Order.objects.filter(order_source=source, external_id__in=set(order_of.values()))
               .values_list("external_id", flat=True))
    orders = len(have)
    # Lost: answered 200 (stored, the store will not send it again) but no order afterwards. A delivery
    # never answered 200 is not lost: the store retries it (Shopify for 48 hours); it is counted apart.
    acknowledged = {deliveries[i][0] for i, r in enumerate(results) if r and r[0] == 200}
    lost = sum(1 for wid in acknowledged if order_of[wid] not in have)
    unanswered = len({d[0] for d in deliveries} - acknowledged)
    return {
        "mode": mode, "db": connection.vendor, "web_processes": int(p.get("web_processes", 2)), "worker": worker is not None,
        "rate": rate, "seconds": seconds, "deliveries": n, "distinct": unique, "sent_wall_s": wall,
        "achieved_rate": n / wall if wall else 0.0,
        "p50_ms": percentile(total_ms, 50), "p95_ms": percentile(total_ms, 95), "p99_ms": percentile(total_ms, 99),
        "max_ms": max(total_ms, default=0.0), "server_p50_ms": percentile(server_ms, 50),
        "server_p99_ms": percentile(server_ms, 99), "client_late_p99_ms": percentile(late_ms, 99),
        "over_5s": sum(1 for ms in total_ms if ms > 5000), "statuses": statuses, "answers": outcomes,
        "stored": stored, "orders": orders, "lost": lost, "unanswered": unanswered,
        "web_cpu_ms_per_delivery": web_cpu * 1000 / n if n else 0.0,
        "client_cpu_ms_per_delivery": client_cpu * 1000 / n if n else 0.0,
        "requests_succeeded": PushRequest.objects.filter(order__order_source=source,
                                                         state=PushRequest.State.SUCCEEDED).count(),
        "drained_after_s": drained_at, "drain_s": pushed_wait,
    }
