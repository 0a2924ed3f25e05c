"""Chaos harness: real ``ledgerlink worker`` processes, a qbo_sandbox, faults, SIGKILLs, a history check.

Jepsen-style (docs/reliability.md): the harness keeps its own record of what it did (orders ingested,
workers started and killed, faults injected, tokens expired, database restarts), lets the system run,
then compares three views of the world at the end:

* the sandbox's own records: every document it holds (``/_sandbox/realms/{id}/entities/...``, deleted
  and voided ones included) and its request log (every write it received, with its ``requestid``);
* the outbox: ``PushRequest`` rows and their ``Attempt`` history;
* the orders the harness ingested.

Invariants checked (``check_history``):

1. **No duplicate**: no order has more than one document (matched by the PrivateNote marker
   ``ledgerlink-order:{id}``), and no document lacks a known order.
2. **None missing**: every order has exactly one document, its request is ``succeeded`` with that
   document's Id and the order is ``pushed``; or it has no document and its request is ``failed`` with a
   business error kind (not transient / network / unknown / auth).
3. **None stuck**: no request is left in ``sending`` (nor ``queued`` / ``retrying``: the run ends idle).
4. **No attempt missing from history**: every write the sandbox received with one of our requestids is
   accounted for by an Attempt row. For a single request ``ll-{id}-r{rev}``: the number of log entries
   with that requestid (401 answers excluded: the client refreshes the token and re-sends within the
   same exchange) is at most the number of Attempt rows of that requestid, where a SIGKILLed sender's
   exchange is covered by the ``abandoned`` Attempt that lease recovery writes for it. For a batch
   ``llb-…``: the batch's item Attempts (same worker, same ``started_at``) reproduce its requestid; a
   batch without them must have been sent by a worker that died (killed, or whose record transaction
   failed) and for which recovery wrote ``abandoned`` Attempts. Conversely, every Attempt that says
   QBO answered 200 to a write (not a look-up) has that exchange in the sandbox's log.

Used by ``tests/chaos/run.py`` (the full run, a database of its own) and by
``tests/ledgerlink/worker/test_chaos_small.py`` (the reduced run inside ``make test``, on the test database).
Django must be set up before the functions that touch the database are called.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from . import lifecycle

ROOT = Path(__file__).resolve().parents[2]
MARKER_RE = re.compile(r"ledgerlink-order:(\d+)")
FAULT_KINDS = ("500", "429", "003202", "timeout", "drop_after_commit")
# How long a scheduled pause waits (armed) for a worker to reach a /batch send before a plain SIGSTOP.
STALL_ARMED_S = 45.0
NOT_BUSINESS = {"connection_003202", "throttled", "server_error", "network", "unknown", "auth_reconnect", ""}


def log(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------------
# The sandbox (a subprocess, or any running one) and its control API


class SandboxProcess:
    """``python -m qbo_sandbox`` on a free port."""

    def __init__(self, logdir: Path):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.logfile = open(logdir / "sandbox.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qbo_sandbox", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self.logfile, stderr=subprocess.STDOUT, cwd=ROOT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/_sandbox/realms", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"qbo_sandbox did not start (see {self.logfile.name})")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.logfile.close()


class Control:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=60)

    def close(self) -> None:
        self.http.close()

    def create_realm(self, realm_id: str, **spec) -> dict:
        r = self.http.post("/_sandbox/realms", json={"realm_id": realm_id, **spec})
        r.raise_for_status()
        return r.json()

    def add_fault(self, realm_id: str, kind: str, **spec) -> dict:
        r = self.http.post(f"/_sandbox/realms/{realm_id}/faults", json={"kind": kind, **spec})
        r.raise_for_status()
        return r.json()

    def faults(self, realm_id: str) -> list[dict]:
        return self.http.get(f"/_sandbox/realms/{realm_id}/faults").json()["faults"]

    def clear_faults(self, realm_id: str) -> None:
        self.http.delete(f"/_sandbox/realms/{realm_id}/faults").raise_for_status()

    def expire_tokens(self, realm_id: str) -> dict:
        r = self.http.post(f"/_sandbox/realms/{realm_id}/expire-tokens", json={})
        r.raise_for_status()
        return r.json()

    def set_config(self, realm_id: str, **patch) -> None:
        self.http.put(f"/_sandbox/realms/{realm_id}/config", json=patch).raise_for_status()

    def entities(self, realm_id: str, entity: str) -> list[dict]:
        r = self.http.get(f"/_sandbox/realms/{realm_id}/entities/{entity}")
        r.raise_for_status()
        return next(iter(r.json().values()))

    def requests(self, realm_id: str) -> list[dict]:
        r = self.http.get(f"/_sandbox/realms/{realm_id}/requests")
        r.raise_for_status()
        return r.json()["requests"]


# ------------------------------------------------------------------------------------------------
# Configuration and setup (Django must be set up)


@dataclass
class ChaosConfig:
    database_url: str
    orders: int = 2100
    companies: int = 3
    workers: int = 3                 # worker processes (1 on SQLite)
    concurrency: int = 4             # sender threads per process
    seed: int = 20261125
    window: float = 60.0             # seconds of chaos (kills, faults, token expiry) after the start
    kills: int = 8                   # SIGKILLs, at random moments within the window
    pauses: int = 0                  # SIGSTOP ... SIGCONT past the lease (a stalled process that wakes up)
    #                                  each placed, when it can be, between a worker's lease check and its
    #                                  /batch send (the window docs/reliability.md names)
    kill_window: float | None = None  # kills within the first this many seconds (None: the whole window)
    faults_per_kind: int = 6         # injections of each fault kind, spread over the window and realms
    expirations: int = 4             # expire-tokens calls
    pg_restart: bool = False         # restart PostgreSQL once, in the middle of the window
    pg_version: str = "15"
    preload: float = 0.5             # share of the orders ingested before the workers start
    business_failures: int = 3       # orders per Company built to fail with a business error
    limits: dict | None = field(default_factory=dict)  # sandbox limits ({} = QBO's real ones)
    batch_company: bool = True       # the last Company sends /batch requests, the others singles
    lease_seconds: int = 5
    latency: dict = field(default_factory=lambda: {"min_ms": 2, "max_ms": 25})  # sandbox latency per request
    http_timeout: float = 2.0
    max_attempts: int = 60
    skip_throttle_pause: bool = False  # small test only: fast-forward the 60 s pause after a 429
    faults_up_front: bool = False    # small test: inject every fault before the workers start, so each
    #                                  kind surely fires on the first requests
    idle_timeout: float = 600.0
    lifecycle: int = 0               # orders changed / paid / refunded / cancelled during the chaos
    #                                  (tests/chaos/lifecycle.py)
    logdir: Path = field(default_factory=lambda: Path("/tmp"))


@dataclass
class Plant:
    """What the harness set up: per Company its realm, entity, order source and customer email."""

    companies: list[dict]


def setup_companies(cfg: ChaosConfig, control: Control, run_tag: str) -> Plant:
    from ledgerlink.core.models import Company, OrderSource, SiteArea
    from ledgerlink.domain.companies.connect import connect_company
    from ledgerlink.domain.mirror.store import apply_customer

    plant = []
    for n in range(cfg.companies):
        realm_id = f"93{run_tag}{n:02d}"[:16]
        sales_receipt = n % 3 == 1
        email = f"buyer{n}@chaos.example.com"
        realm = control.create_realm(
            realm_id, limits=cfg.limits,
            config={"timeout_max_s": 10, "latency": cfg.latency},
            customers=[] if sales_receipt else [{"DisplayName": f"Chaos Buyer {n}", "PrimaryEmailAddr": {"Address": email}}],
        )
        company = connect_company(control.base_url, name=f"Chaos {n}", realm_id=realm_id)
        batch = cfg.batch_company and n == cfg.companies - 1
        Company.objects.filter(pk=company.pk).update(use_batch=batch, batch_size=10)
        for customer in realm["entities"].get("Customer", []):
            apply_customer(company, customer)
        area = SiteArea.objects.create(
            company=company, name=f"Chaos area {n}", push_method="sales_receipt" if sales_receipt else "invoice",
            default_item="1",
        )
        source = OrderSource.objects.create(site_area=area, name=f"Chaos source {n}")
        plant.append({"company_id": company.pk, "realm_id": realm_id, "source_id": source.pk, "email": email,
                      "entity": "SalesReceipt" if sales_receipt else "Invoice", "batch": batch})
    return Plant(plant)


def order_data(plant: Plant, i: int, rng: random.Random, business_failure: bool) -> dict:
    c = plant.companies[i % len(plant.companies)]
    qty = rng.randint(1, 9)
    price = f"{rng.randint(100, 99999) / 100:.2f}"
    number = f"C{i}" if not business_failure else f"TOO-LONG-DOCNUMBER-{i:08d}"  # > 21: QBO 2050
    return {
        "order_source": c["source_id"], "external_id": f"chaos-{i}", "number": number, "email": c["email"],
        "lines": [{"description": "Chaos widget", "quantity": qty, "unit_price": price},
                  {"description": "Chaos gadget", "quantity": 1, "unit_price": "5.25"}],
    }


def ingest_range(plant: Plant, cfg: ChaosConfig, start: int, stop: int, failing: set[int]) -> int:
    from ledgerlink.domain.ingest.orders import ingest_order

    rng = random.Random(cfg.seed * 7 + start)
    n = 0
    for i in range(start, stop):
        for _ in range(20):  # the database may be restarting
            try:
                ingest_order(order_data(plant, i, rng, i in failing), actor_label="chaos")
                break
            except Exception as e:  # noqa: BLE001 - OperationalError while PostgreSQL restarts
                from django.db import connection

                log(f"ingest {i} failed ({type(e).__name__}: {str(e)[:80]}); retrying")
                connection.close()
                time.sleep(0.5)
        else:
            raise RuntimeError(f"could not ingest order {i}")
        n += 1
    return n


# ------------------------------------------------------------------------------------------------
# Worker processes


class WorkerPool:
    def __init__(self, cfg: ChaosConfig, run_tag: str):
        self.cfg = cfg
        self.run_tag = run_tag
        self.slots: list[dict | None] = [None] * cfg.workers
        self.generation = Counter()
        self.history: list[dict] = []  # every process: id, pid, start, end, how it ended
        self.lock = threading.Lock()
        self.armed: dict[str, tuple[dict, Path]] = {}  # worker id -> (its record, its stall trigger)

    def env(self) -> dict:
        return dict(
            os.environ, DATABASE_URL=self.cfg.database_url, DJANGO_SETTINGS_MODULE="ledgerlink.settings",
            LEDGERLINK_LEASE_SECONDS=str(self.cfg.lease_seconds), LEDGERLINK_BACKOFF_BASE="0.2",
            LEDGERLINK_BACKOFF_CAP="2", LEDGERLINK_MAX_ATTEMPTS=str(self.cfg.max_attempts),
            LEDGERLINK_HTTP_TIMEOUT=str(self.cfg.http_timeout), LEDGERLINK_LOG_LEVEL="WARNING",
            LEDGERLINK_CHAOS_STALL_DIR=str(self.stall_dir),
        )

    @property
    def stall_dir(self) -> Path:
        path = self.cfg.logdir / "stalls"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def start(self, slot: int) -> dict:
        with self.lock:
            self.generation[slot] += 1
            wid = f"chaos-{self.run_tag}-w{slot}g{self.generation[slot]}"
            out = open(self.cfg.logdir / f"{wid}.log", "w")  # noqa: SIM115 - closed when the process ends
            proc = subprocess.Popen(
                [sys.executable, "-m", "ledgerlink.cli", "worker", "--worker-id", wid,
                 "--concurrency", str(self.cfg.concurrency)],
                env=self.env(), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            )
            rec = {"worker_id": wid, "pid": proc.pid, "slot": slot, "started": time.time(), "ended": None,
                   "end": None, "returncode": None, "proc": proc, "out": out}
            self.slots[slot] = rec
            self.history.append(rec)
            return rec

    def start_all(self) -> None:
        for slot in range(self.cfg.workers):
            self.start(slot)

    def holds_leases(self, worker_id: str) -> int:
        from django.db import connection
        from django.db.models import Q

        from ledgerlink.core.models import PushRequest

        try:
            return PushRequest.objects.filter(state="sending").filter(
                Q(lease_owner=worker_id) | Q(lease_owner__startswith=worker_id + "#")).count()
        except Exception as exc:  # noqa: BLE001 - the database may be restarting
            log(f"holds_leases: {exc!r}")
            connection.close()
            return 0

    def live_slots(self) -> list[int]:
        return [n for n, rec in enumerate(self.slots)
                if rec is not None and rec["proc"].poll() is None and not rec.get("paused")]

    def kill(self, slot: int, *, in_flight_wait: float = 10.0) -> dict | None:
        """SIGKILL a live worker process that holds a lease (waits up to ``in_flight_wait`` seconds for
        one, the given slot first): a kill in the middle of an exchange is the interesting case. Falls
        back to the given slot, else any live one."""
        deadline = time.monotonic() + in_flight_wait
        held = 0
        chosen = None
        while time.monotonic() < deadline:
            live = self.live_slots()
            for n in sorted(live, key=lambda n: n != slot):
                held = self.holds_leases(self.slots[n]["worker_id"])
                if held:
                    chosen = n
                    break
            if chosen is not None or not live:
                break
            time.sleep(0.02)
        if chosen is None:
            live = self.live_slots()
            chosen = slot if slot in live else (live[0] if live else slot)
        slot = chosen
        with self.lock:
            rec = self.slots[slot]
            if rec is None or rec["proc"].poll() is not None:
                return None
            rec["leases_at_kill"] = held
            rec["proc"].send_signal(signal.SIGKILL)
            rec["proc"].wait(10)
            rec.update(ended=time.time(), end="SIGKILL", returncode=rec["proc"].returncode)
            rec["out"].close()
            self.slots[slot] = None
            return rec

    @staticmethod
    def _stopped(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] in ("T", "t")
        except OSError:
            return False

    def arm_stall(self) -> None:
        """Make the next live worker that reaches a /batch send stop itself between its lease check and
        the send (the worker's chaos hook, LEDGERLINK_CHAOS_STALL_DIR): a file named after each live
        worker; the first to get there takes its file and stops. ``poll_stall`` tells when one has."""
        self.disarm_stall()
        self._arm_new()

    def _arm_new(self) -> None:
        for n in self.live_slots():
            rec = self.slots[n]
            if rec["worker_id"] not in self.armed:
                path = self.stall_dir / rec["worker_id"]
                path.write_text("stall")
                self.armed[rec["worker_id"]] = (rec, path)

    def disarm_stall(self) -> None:
        for _rec, path in self.armed.values():
            path.unlink(missing_ok=True)
        self.armed = {}

    def poll_stall(self) -> dict | None:
        """The worker that stopped itself in the window since ``arm_stall``, else None (workers started
        since are armed too, ended ones dropped). Only one stall per arming: should two have stopped at
        once, the others go on at once."""
        for wid, (rec, path) in list(self.armed.items()):
            if rec["proc"].poll() is not None:
                path.unlink(missing_ok=True)
                del self.armed[wid]
        self._arm_new()
        if not any(not path.exists() and self._stopped(rec["pid"]) for rec, path in self.armed.values()):
            return None
        recs = [(rec, path) for rec, path in self.armed.values()]
        self.disarm_stall()
        time.sleep(0.3)  # a worker that took its file at the last moment stops now
        stopped = [rec for rec, path in recs if not path.exists() and self._stopped(rec["pid"])]
        with self.lock:
            for rec in stopped:  # each gets its SIGCONT from the caller's schedule (the first) or here
                rec["paused"] = True
                rec["leases_at_pause"] = self.holds_leases(rec["worker_id"])
                rec["in_window"] = True
        for extra in stopped[1:]:
            self.resume(extra)
        return stopped[0] if stopped else None

    def stall_in_window(self, slot: int, *, wait: float = 20.0) -> dict | None:
        """``arm_stall`` and wait up to ``wait`` seconds for a worker to stop in the window; None when
        none got there (the triggers are removed)."""
        if not self.live_slots():
            return None
        self.arm_stall()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            found = self.poll_stall()
            if found is not None:
                return found
            time.sleep(0.01)
        self.disarm_stall()
        return None

    def pause(self, slot: int, *, in_flight_wait: float = 10.0) -> dict | None:
        """SIGSTOP the slot's process while it holds a lease; ``resume`` sends SIGCONT."""
        rec = self.slots[slot]
        deadline = time.monotonic() + in_flight_wait
        held = 0
        while rec is not None and time.monotonic() < deadline:
            held = self.holds_leases(rec["worker_id"])
            if held:
                break
            time.sleep(0.02)
        with self.lock:
            rec = self.slots[slot]
            if rec is None or rec["proc"].poll() is not None or rec.get("paused"):
                return None
            rec["proc"].send_signal(signal.SIGSTOP)
            rec["paused"] = True
            rec["leases_at_pause"] = held
            rec["in_window"] = False
            return rec

    def resume(self, rec: dict) -> None:
        with self.lock:
            if rec.get("paused") and rec["proc"].poll() is None:
                rec["proc"].send_signal(signal.SIGCONT)
            rec["paused"] = False

    def reap_crashed(self) -> list[dict]:
        """Processes that exited on their own (a crash): recorded and restarted."""
        crashed = []
        for slot, rec in enumerate(list(self.slots)):
            if rec is not None and rec["proc"].poll() is not None:
                rec.update(ended=time.time(), end="exited", returncode=rec["proc"].returncode)
                rec["out"].close()
                self.slots[slot] = None
                crashed.append(rec)
                log(f"worker {rec['worker_id']} exited by itself with {rec['returncode']}: restarting")
                self.start(slot)
        return crashed

    def stop_all(self) -> None:
        for rec in self.slots:
            if rec is not None and rec["proc"].poll() is None:
                rec["proc"].send_signal(signal.SIGTERM)
        for slot, rec in enumerate(self.slots):
            if rec is None:
                continue
            try:
                rec["proc"].wait(60)
                how = "SIGTERM"
            except subprocess.TimeoutExpired:
                rec["proc"].kill()
                rec["proc"].wait(10)
                how = "SIGKILL (did not stop on SIGTERM)"
            rec.update(ended=time.time(), end=how, returncode=rec["proc"].returncode)
            rec["out"].close()
            self.slots[slot] = None

    def summary(self) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in ("proc", "out", "paused")} for r in self.history]


# ------------------------------------------------------------------------------------------------
# PostgreSQL restart


def other_pg_clients(own_db: str) -> int:
    """Client connections to other databases (another engineer's test run) on the shared server."""
    res = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-Atc",
         "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
         f"AND datname NOT IN ('postgres', '{own_db}') AND pid <> pg_backend_pid()"],
        capture_output=True, text=True, timeout=20)
    return int(res.stdout.strip() or 0)


def restart_postgres(cfg: ChaosConfig, *, quiet_wait: float = 240.0) -> dict:
    """``pg_ctlcluster --skip-systemctl-redirect <v> main restart``, then wait for pg_isready. The server is
    shared: wait up to ``quiet_wait`` seconds for a moment without other databases' clients."""
    own_db = cfg.database_url.rsplit("/", 1)[-1]
    waited = time.monotonic()
    others = other_pg_clients(own_db)
    while others and time.monotonic() - waited < quiet_wait:
        time.sleep(1)
        others = other_pg_clients(own_db)
    waited = round(time.monotonic() - waited, 1)
    t0 = time.monotonic()
    cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", cfg.pg_version, "main", "restart"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    for _ in range(240):
        if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0:
            break
        time.sleep(0.25)
    else:
        raise RuntimeError("PostgreSQL did not come back")
    return {"command": " ".join(cmd), "returncode": res.returncode, "stderr": res.stderr.strip()[-300:],
            "seconds": round(time.monotonic() - t0, 2), "at": time.time(), "waited_for_quiet_s": waited,
            "other_clients_at_restart": others}


# ------------------------------------------------------------------------------------------------
# The run


class ChaosRun:
    def __init__(self, cfg: ChaosConfig, control: Control, *, run_tag: str | None = None):
        self.cfg = cfg
        self.control = control
        self.run_tag = run_tag or f"{os.getpid() % 100000:05d}{int(time.time()) % 100000:05d}"
        self.rng = random.Random(cfg.seed)
        self.events: list[dict] = []
        self.pool = WorkerPool(cfg, self.run_tag)
        self.plant: Plant | None = None
        self.errors: list[str] = []
        self.pg_thread: threading.Thread | None = None
        self.pauses: list[dict] = []  # scheduled pauses not yet placed (tend_pauses)

    def event(self, kind: str, **data) -> None:
        self.events.append({"t": round(time.time() - self.t0, 2), "kind": kind, **data})

    def schedule(self) -> list[tuple[float, str, dict]]:
        cfg, rng = self.cfg, self.rng
        realms = [c["realm_id"] for c in self.plant.companies]
        plan: list[tuple[float, str, dict]] = []
        for _ in range(cfg.kills):
            plan.append((rng.uniform(0.5, cfg.kill_window or cfg.window), "kill", {"slot": rng.randrange(cfg.workers),
                                                                 "restart_after": rng.uniform(0.2, 2.0)}))
        for k in range(cfg.pauses):
            at = rng.uniform(0.5, cfg.window)
            # The first is armed as the window opens: /batch requests go out while the preloaded backlog
            # lasts (the batch Company's 40 a minute are spent in seconds); afterwards its orders arrive one
            # by one and three eager workers claim each alone, so a batch is rare (0 of 4 armed for 45 s on
            # PostgreSQL, 4 December 2026).
            plan.append((0.0 if k == 0 else at, "pause", {"slot": rng.randrange(cfg.workers)}))
        for kind in FAULT_KINDS:
            for n in range(cfg.faults_per_kind):
                spec: dict = {"count": {"500": rng.randint(1, 3), "429": rng.randint(3, 8),
                                        "003202": rng.randint(1, 3), "timeout": rng.randint(1, 2),
                                        "drop_after_commit": rng.randint(1, 3)}[kind]}
                if kind == "drop_after_commit":
                    spec["operation"] = "write"  # commit-then-drop on a create / batch
                # the first injection of each kind comes as the window opens, while every Company still
                # has work (so each kind surely fires); the others at random moments
                at = 0.0 if cfg.faults_up_front else (0.05 if n == 0 else rng.uniform(0.2, cfg.window))
                plan.append((at, "fault", {"realm": rng.choice(realms), "kind": kind, "spec": spec}))
        for _ in range(cfg.expirations):
            at = rng.uniform(0.2, cfg.window)
            # up front as well when the faults are: a realm whose orders are all sent before its tokens
            # expire meets no 401 (the small run's drain is a few seconds on a quiet machine)
            plan.append((min(at, 0.5) if cfg.faults_up_front else at, "expire_tokens", {"realm": rng.choice(realms)}))
        if cfg.pg_restart:
            plan.append((rng.uniform(0.35, 0.65) * cfg.window, "pg_restart", {}))
        plan.sort(key=lambda p: p[0])
        return plan

    def fast_forward_throttle(self) -> None:
        """Small test only: pretend the 60 s after a 429 have passed (conditional updates, so a row a
        worker is claiming at the same moment is left alone)."""
        from django.db.models import Q
        from django.utils import timezone

        from ledgerlink.core.models import Company, PushRequest

        now = timezone.now()
        Company.objects.filter(throttled_until__gt=now).update(throttled_until=now)
        PushRequest.objects.filter(Q(state="retrying") & Q(error_kind="throttled") & Q(next_attempt_at__gt=now)).update(
            next_attempt_at=now)

    def run(self) -> dict:
        from django.db import connection

        from ledgerlink.core.models import PushRequest

        cfg = self.cfg
        t_start = time.monotonic()
        self.t0 = time.time()
        self.plant = setup_companies(cfg, self.control, self.run_tag)
        rng = random.Random(cfg.seed + 1)
        failing = set(rng.sample(range(cfg.orders), cfg.business_failures * cfg.companies))
        pre = int(cfg.orders * cfg.preload)
        if cfg.lifecycle:
            lifecycle.prepare(self.plant)
        ingest_range(self.plant, cfg, 0, pre, failing)
        self.event("ingested", orders=pre)
        log(f"{pre} orders ingested; starting {cfg.workers} worker process(es)")

        plan = self.schedule()
        while plan and plan[0][0] == 0.0:
            _, what, data = plan.pop(0)
            self.act(what, data, [], 0.0)
        self.pool.start_all()
        feeder_done = threading.Event()

        def feeder():
            try:
                ingest_range(self.plant, cfg, pre, cfg.orders, failing)
                self.event("ingested", orders=cfg.orders - pre)
            except Exception as e:  # noqa: BLE001
                self.errors.append(f"feeder: {e!r}")
            finally:
                connection.close()
                feeder_done.set()

        threading.Thread(target=feeder, daemon=True).start()
        lifecycle_done = threading.Event()
        self.lifecycle_asked: list[dict] = []

        def lifecycle_driver():
            try:
                chosen = lifecycle.choose(cfg, self.plant, failing, pre)
                self.lifecycle_asked = lifecycle.drive(cfg, self.plant, chosen, log, self.errors)
            except Exception as e:  # noqa: BLE001
                self.errors.append(f"lifecycle: {e!r}")
            finally:
                lifecycle_done.set()

        # the window opens when the workers are at work (a process takes seconds to start on a busy machine)
        deadline = time.monotonic() + 60
        # (requests failed by pre-flight at ingest are not work: wait for a worker's first claim)
        while time.monotonic() < deadline and not PushRequest.objects.filter(
                state__in=("sending", "retrying", "succeeded")).exists():
            time.sleep(0.05)
        self.event("work_started")
        if cfg.lifecycle:  # documents queued, being sent and posted by now: intents meet all three
            threading.Thread(target=lifecycle_driver, daemon=True).start()
        else:
            lifecycle_done.set()
        restarts: list[tuple[float, int]] = []
        t_chaos = time.monotonic()
        while plan or restarts or self.pauses or (self.pg_thread is not None and self.pg_thread.is_alive()):
            now = time.monotonic() - t_chaos
            self.tend_pauses(restarts, now)
            for item in [r for r in restarts if r[0] <= now]:
                restarts.remove(item)
                if item[1] == "resume":
                    self.pool.resume(item[2])
                    self.event("sigcont", worker=item[2]["worker_id"])
                    continue
                rec = self.pool.start(item[1])
                self.event("start", worker=rec["worker_id"])
            for crashed in self.pool.reap_crashed():
                self.event("crash", worker=crashed["worker_id"], returncode=crashed["returncode"])
            if cfg.skip_throttle_pause:
                self.fast_forward_throttle()
            if plan and plan[0][0] <= now:
                _, what, data = plan.pop(0)
                self.act(what, data, restarts, now)
                continue
            time.sleep(0.05)
        self.pool.disarm_stall()
        if cfg.faults_up_front:  # let every injected fault fire before the rest is cleared
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(self.control.faults(c["realm_id"]) for c in self.plant.companies):
                if cfg.skip_throttle_pause:
                    self.fast_forward_throttle()
                time.sleep(0.1)
        for c in self.plant.companies:
            self.control.clear_faults(c["realm_id"])
        self.event("chaos_over")
        log("chaos window over; waiting for the outbox to drain")
        feeder_done.wait(600)
        lifecycle_done.wait(600)

        deadline = time.monotonic() + cfg.idle_timeout
        idle_since = None
        while time.monotonic() < deadline:
            for crashed in self.pool.reap_crashed():
                self.event("crash", worker=crashed["worker_id"], returncode=crashed["returncode"])
            if cfg.skip_throttle_pause:
                self.fast_forward_throttle()
            try:
                pending = PushRequest.objects.filter(state__in=PushRequest.PENDING_STATES).count()
            except Exception:  # noqa: BLE001
                connection.close()
                pending = -1
            if pending == 0:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 1.0:
                    break
            else:
                idle_since = None
            time.sleep(0.25)
        self.pool.stop_all()
        connection.close()
        duration = time.monotonic() - t_start
        summary = check_history(self.control, self.plant, self.pool.summary(), self.events)
        if cfg.lifecycle:
            summary["lifecycle"] = lifecycle.check(self.control, self.plant, self.lifecycle_asked)
            for key, n in summary["lifecycle"]["violation_counts"].items():
                summary["violation_counts"][f"lifecycle_{key}"] = n
        summary.update(
            database="postgresql" if cfg.database_url.startswith("postgres") else "sqlite",
            config={k: v for k, v in cfg.__dict__.items() if k not in ("database_url", "logdir")},
            duration_seconds=round(duration, 1), harness_errors=self.errors,
        )
        return summary

    def _paused(self, rec: dict, restarts: list, now: float) -> None:
        stall = self.cfg.lease_seconds + 7  # the lease expires and recovery (every 5 s) takes it
        self.event("sigstop", worker=rec["worker_id"], leases=rec["leases_at_pause"], seconds=stall,
                   in_window=rec.get("in_window", False))
        where = "between its lease check and its /batch send" if rec.get("in_window") else "holding a lease"
        log(f"SIGSTOP {rec['worker_id']} {where} for {stall} s")
        restarts.append((now + stall, "resume", rec))

    def tend_pauses(self, restarts: list, now: float) -> None:
        """The pause at the head of the line: armed when it comes up; a worker that stopped in the window
        gets its SIGCONT scheduled; past STALL_ARMED_S without one, a plain SIGSTOP instead."""
        if not self.pauses:
            return
        head = self.pauses[0]
        if "armed_at" not in head:
            if not self.pool.live_slots():
                return
            self.pool.arm_stall()
            head["armed_at"] = now
            return
        rec = self.pool.poll_stall()
        if rec is None and now - head["armed_at"] < STALL_ARMED_S:
            return
        self.pauses.pop(0)
        if rec is None:
            self.pool.disarm_stall()
            log(f"no worker reached a /batch send within {STALL_ARMED_S:.0f} s; a plain SIGSTOP instead")
            rec = self.pool.pause(head["slot"])
        if rec is not None:
            self._paused(rec, restarts, now)

    def act(self, what: str, data: dict, restarts: list, now: float) -> None:
        if what == "kill":
            rec = self.pool.kill(data["slot"])
            if rec is not None:
                self.event("sigkill", worker=rec["worker_id"], pid=rec["pid"], leases=rec["leases_at_kill"])
                log(f"SIGKILL {rec['worker_id']} holding {rec['leases_at_kill']} lease(s)")
                restarts.append((now + data["restart_after"], rec["slot"]))  # the slot kill() chose
        elif what == "pause":
            # Between a lease check and a /batch send when a worker gets there (the triggers stay armed up
            # to STALL_ARMED_S: a Company whose batch budget for the minute is spent sends none meanwhile),
            # else while it holds a lease. One armed at a time; the others wait their turn.
            self.pauses.append(dict(data))
        elif what == "fault":
            f = self.control.add_fault(data["realm"], data["kind"], **data["spec"])
            self.event("fault", realm=data["realm"], fault=data["kind"], count=f.get("count"),
                       operation=f.get("operation"))
        elif what == "expire_tokens":
            r = self.control.expire_tokens(data["realm"])
            self.event("expire_tokens", realm=data["realm"], expired=r.get("expired_access_tokens"))
        elif what == "pg_restart":
            def restart():
                try:
                    log("restarting PostgreSQL (after a quiet moment on the shared server)")
                    info = restart_postgres(self.cfg)
                    self.event("pg_restart", **info)
                    log(f"PostgreSQL back after {info['seconds']} s (waited {info['waited_for_quiet_s']} s)")
                except Exception as e:  # noqa: BLE001
                    self.errors.append(f"pg_restart: {e!r}")

            self.pg_thread = threading.Thread(target=restart, daemon=True)
            self.pg_thread.start()


# ------------------------------------------------------------------------------------------------
# The history check


def batch_requestid(requestids: list[str]) -> str:
    """The worker's batch requestid: ``llb-`` + sha1 of its items' requestids (items in id order)."""
    return "llb-" + hashlib.sha1(",".join(requestids).encode()).hexdigest()[:32]


def check_history(control: Control, plant: Plant, workers: list[dict], events: list[dict]) -> dict:
    from ledgerlink.core.models import Attempt, Order, PushRequest

    violations: dict[str, list] = defaultdict(list)
    company_ids = [c["company_id"] for c in plant.companies]
    orders = {o["id"]: o for o in Order.objects.filter(order_source__site_area__company_id__in=company_ids).values(
        "id", "status", "qbo_id", "order_source__site_area__company_id")}
    prs = list(PushRequest.objects.filter(company_id__in=company_ids).values(
        "id", "order_id", "state", "error_kind", "qbo_id", "revision", "attempt_count", "kind", "company_id"))
    pr_by_order = defaultdict(list)
    for pr in prs:
        pr_by_order[pr["order_id"]].append(pr)
    attempts = list(Attempt.objects.filter(company_id__in=company_ids).values(
        "id", "push_request_id", "requestid", "worker", "batched", "started_at", "outcome", "http_status",
        "error_kind", "response_body"))

    # 1-2: documents against orders
    docs_by_order: dict[int, list[dict]] = defaultdict(list)
    doc_status = Counter()
    n_docs = 0
    for c in plant.companies:
        for entity in ("Invoice", "SalesReceipt"):
            for doc in control.entities(c["realm_id"], entity):
                n_docs += 1
                doc_status[doc.get("status", "?")] += 1
                m = MARKER_RE.search(doc.get("PrivateNote") or "")
                if not m or int(m.group(1)) not in orders:
                    violations["document_without_order"].append({"realm": c["realm_id"], "Id": doc.get("Id"),
                                                                 "PrivateNote": doc.get("PrivateNote")})
                    continue
                docs_by_order[int(m.group(1))].append(doc)
    outcome = Counter()
    failed_kinds = Counter()
    for oid, order in orders.items():
        docs = docs_by_order.get(oid, [])
        reqs = [p for p in pr_by_order.get(oid, []) if p["kind"] in ("invoice", "sales_receipt")]
        if order["status"] == "cancelled":  # tests/chaos/lifecycle.py: its document voided, or never sent
            outcome["cancelled"] += 1
            if len(docs) > 1 or any(d.get("status") != "Voided" for d in docs):
                violations["cancelled_not_voided"].append({"order": oid, "docs": [(d["Id"], d.get("status"))
                                                                                  for d in docs]})
            continue
        if len(docs) > 1:
            violations["duplicate"].append({"order": oid, "docs": [d["Id"] for d in docs]})
            outcome["duplicate"] += 1
        elif len(docs) == 1:
            ok = (order["status"] == "pushed" and order["qbo_id"] == docs[0]["Id"]
                  and any(p["state"] == "succeeded" and p["qbo_id"] == docs[0]["Id"] for p in reqs))
            if ok:
                outcome["one_document"] += 1
            else:
                outcome["document_but_not_recorded"] += 1
                violations["document_not_recorded"].append({"order": oid, "status": order["status"],
                                                            "doc": docs[0]["Id"], "requests": reqs})
        else:
            failed = [p for p in reqs if p["state"] == "failed"]
            if failed and all(p["error_kind"] not in NOT_BUSINESS for p in failed) and order["status"] == "failed":
                outcome["failed_business"] += 1
                failed_kinds.update(p["error_kind"] for p in failed)
            else:
                outcome["missing"] += 1
                violations["missing"].append({"order": oid, "status": order["status"], "requests": reqs})

    # 3: nothing stuck
    states = Counter(p["state"] for p in prs)
    for p in prs:
        if p["state"] in ("sending", "queued", "retrying"):
            violations["stuck" if p["state"] == "sending" else "unfinished"].append(p)

    # 4: attempts against the sandbox's request log
    killed = {w["worker_id"]: w for w in workers if w["end"] in ("SIGKILL", "exited")}
    abandoned_by = Counter(a["worker"] for a in attempts if a["outcome"] == "abandoned")
    attempts_by_rid = Counter(a["requestid"] for a in attempts if not a["batched"])
    # batched attempts of one exchange share worker + started_at; abandoned ones are not batched
    groups = defaultdict(list)
    for a in attempts:
        if a["batched"]:
            groups[(a["worker"], a["started_at"])].append(a)
    batch_rids = Counter(batch_requestid([a["requestid"] for a in sorted(g, key=lambda a: a["push_request_id"])])
                         for g in groups.values())
    log_entries = []
    for c in plant.companies:
        log_entries += [dict(e, realm=c["realm_id"]) for e in control.requests(c["realm_id"])]
    writes = [e for e in log_entries if e.get("requestid") and e.get("operation") in ("create", "update", "batch",
                                                                                       "void")]
    counted = [e for e in writes if e.get("status") != 401]
    seen_single = Counter(e["requestid"] for e in counted if e["requestid"].startswith("ll-"))
    seen_batch = Counter(e["requestid"] for e in counted if e["requestid"].startswith("llb-"))
    for rid, n in seen_single.items():
        if n > attempts_by_rid.get(rid, 0):
            violations["attempt_missing"].append({"requestid": rid, "sandbox_writes": n,
                                                  "attempts": attempts_by_rid.get(rid, 0)})
    def dead_sender(e) -> bool:
        # a worker alive at that moment that died (or lost its database) before recording what it sent
        return any(w["started"] - 1 <= e["started"] <= (w["ended"] or 1e18) + 1 and abandoned_by.get(w["worker_id"], 0) > 0
                   for w in workers)

    unmatched_batches = []
    for rid, n in seen_batch.items():
        missing = n - batch_rids.get(rid, 0)
        if missing <= 0:
            continue
        # Which copies lack an attempt is not known, only how many: a batch a dying worker sent (its fault
        # answer never recorded) and the same batch re-sent whole by the worker that took it over are two
        # copies with one recorded group. Each missing copy must be one a dead worker could have sent.
        copies = [e for e in counted if e["requestid"] == rid]
        explained = [e for e in copies if dead_sender(e)]
        unmatched_batches.append({"batch_requestid": rid, "copies": [(e["started"], e.get("status"), dead_sender(e))
                                                                     for e in copies],
                                  "recorded_groups": batch_rids.get(rid, 0)})
        if len(explained) < missing:
            for e in [e for e in copies if not dead_sender(e)][:missing - len(explained)]:
                violations["attempt_missing"].append({"batch_requestid": e["requestid"], "at": e["started"],
                                                      "status": e.get("status"), "copies": len(copies),
                                                      "recorded_groups": batch_rids.get(rid, 0)})
    ok_writes = {(e["requestid"]) for e in writes if e.get("status") == 200}
    for a in attempts:
        if a["outcome"] == "succeeded" and a["http_status"] == 200 and '"foundBy":"look-up"' not in (a["response_body"] or ""):
            rid = a["requestid"]
            if a["batched"]:
                continue  # checked through the batch groups above
            if rid not in ok_writes:
                violations["attempt_without_exchange"].append({"requestid": rid, "attempt": a["id"]})
    for (worker, _started), g in groups.items():
        if all(x["outcome"] == "succeeded" for x in g):
            rid = batch_requestid([x["requestid"] for x in sorted(g, key=lambda x: x["push_request_id"])])
            if rid not in ok_writes:
                violations["attempt_without_exchange"].append({"batch_requestid": rid, "worker": worker})

    injected = Counter(e["injected"] for e in log_entries if e.get("injected"))
    summary = {
        "orders": len(orders),
        "documents": n_docs,
        "documents_by_status": dict(doc_status),
        "outcome": dict(outcome),
        "failed_business_kinds": dict(failed_kinds),
        "requests_by_state": dict(states),
        "attempts": len(attempts),
        "attempts_by_outcome": dict(Counter(a["outcome"] for a in attempts)),
        "attempt_error_kinds": dict(Counter(a["error_kind"] for a in attempts if a["error_kind"])),
        "lookups_found": sum(1 for a in attempts if '"foundBy":"look-up"' in (a["response_body"] or "")),
        "abandoned_by_killed_worker": sum(n for w, n in abandoned_by.items() if w in killed),
        "abandoned_by_live_worker": sum(n for w, n in abandoned_by.items() if w not in killed),
        "sandbox": {
            "log_entries": len(log_entries),
            "writes_with_requestid": len(writes),
            "replayed": sum(1 for e in log_entries if e.get("replayed")),
            "auth_401": sum(1 for e in log_entries if e.get("status") == 401),
            "throttled_by_limits": sum(1 for e in log_entries if e.get("throttled")),
            "throttled_by_limit_kind": dict(Counter(e["throttled"] for e in log_entries if e.get("throttled"))),
            "faults_fired": dict(injected),
            "unmatched_batches_covered_by_recovery": len(unmatched_batches),
            "unmatched_batches": unmatched_batches,  # each copy: (started, status, a dead worker could have sent it)
        },
        "chaos": {
            "sigkills": sum(1 for e in events if e["kind"] == "sigkill"),
            "sigstops": sum(1 for e in events if e["kind"] == "sigstop"),
            "sigstops_between_lease_check_and_batch_send": sum(
                1 for e in events if e["kind"] == "sigstop" and e.get("in_window")),
            "worker_crashes": sum(1 for e in events if e["kind"] == "crash"),
            "worker_processes": len(workers),
            "faults_scheduled": dict(Counter(e["fault"] for e in events if e["kind"] == "fault")),
            "token_expirations": sum(1 for e in events if e["kind"] == "expire_tokens"),
            "pg_restarts": [e for e in events if e["kind"] == "pg_restart"],
            "workers_stopped": dict(Counter(f"{w['end']}:{w['returncode']}" for w in workers)),
        },
        "violations": {k: v[:20] for k, v in violations.items()},
        "violation_counts": {k: len(v) for k, v in violations.items()},
    }
    return summary


def dumps(summary: dict) -> str:
    return json.dumps(summary, indent=2, default=str, sort_keys=True)
