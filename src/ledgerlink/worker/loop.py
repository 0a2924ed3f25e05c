"""The push worker's loop: claim with a lease, per-Company limiter, send, record the attempt, retry or park.

One process runs one claiming loop (the main thread) and ``concurrency`` sender threads; any number
of processes may run on PostgreSQL (claims use ``FOR UPDATE SKIP LOCKED``), one on SQLite (claims are
one conditional ``UPDATE ... RETURNING`` inside an IMMEDIATE transaction). See docs/worker.md.

Modules: ``claim`` (due Companies, units within the limits), ``limiter``, ``send`` (the HTTP
exchange), ``record`` (through ``outbox.delivery``, the owner of the request states), ``recovery``
(expired leases, releasing unsent units), ``loop`` (this). The worker writes no request state itself.

Units of work
    A *unit* is one HTTP exchange: a single request, or a batch of up to ``Company.batch_size``
    requests of one Company sent to ``/batch``. Batch units hold their rows with the lease owner
    ``{worker_id}#b{n}`` so every process can count in-flight HTTP requests per Company.

Per-Company limiter (checked and taken while the Company row is locked)
    * at most ``max_in_flight`` HTTP requests in flight (rows in ``sending``; a batch counts once);
    * at most ``max_per_minute`` requests started in the last 60 s (attempts + in flight);
    * at most ``max_batches_per_minute`` batches started in the last 60 s;
    * nothing while ``throttled_until`` is in the future (set to now + 60 s on a 429);
    * nothing unless the Company is ``active`` (paused / needs_reconnect: skipped, nothing failed).

Outcomes
    success -> succeeded (QBO Id, DocNumber, SyncToken on the request; Order pushed);
    transient (003202, 429, 5xx, network) -> retrying with exponential backoff, full jitter and a
    cap, failed when LEDGERLINK_MAX_ATTEMPTS is reached (error kind kept);
    business fault -> failed with QBO's message/detail/code/element (Order failed);
    outcome unknown (timeout or connection lost after sending, 5xx, a dead worker's lease) ->
    ``outcome_unknown``: the next attempt first looks the document up by DocNumber / the PrivateNote
    marker ``ledgerlink-order:{id}``, then re-sends with the same requestid (QBO replays). Never a
    blind new create.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import signal
import socket
import threading
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections, connection, connections
from django.utils import timezone

from ledgerlink.core.models import Company, PushRequest, SyncRequest, WorkerHeartbeat
from ledgerlink.domain.companies.tokens import client_for
from ledgerlink.domain.outbox.follow_ups import release_follow_ups
from ledgerlink.domain.outbox.leases import extend_leases
from ledgerlink.domain.stores.deliveries import apply_received_deliveries, applying_can_wait
from ledgerlink.domain.sync.cdc import run_due_cdc
from ledgerlink.domain.sync.full import run_requested_syncs
from ledgerlink.domain.sync.webhooks import process_webhook_events
from ledgerlink.ops.digests import maybe_send_digests
from ledgerlink.quickbooks.client import QBOClient
from ledgerlink.worker.claim import Unit, claim_for_company, due_company_ids
from ledgerlink.worker.record import after_customer_results, record_results
from ledgerlink.worker.recovery import lease_still_held, recover_expired_leases, release_unit
from ledgerlink.worker.send import send_unit

log = logging.getLogger("ledgerlink.worker")

HEARTBEAT_EVERY = 10.0
RECOVER_EVERY = 5.0
WEBHOOKS_EVERY = 1.0
SYNC_REQUESTS_EVERY = 1.0  # "Sync now" requests start within a second
CDC_CHECK_EVERY = 30.0
STORE_APPLY_EVERY = 0.25  # seconds between two batches of received store deliveries (queued mode)
DB_RETRY_PAUSE = 1.0  # seconds between tries while the database is unavailable
DB_ERRORS = (DatabaseError, InterfaceError)


class Worker:
    """Claims and sends until stopped. ``concurrency=0`` sends inline in the calling thread (tests
    inside a DB transaction); otherwise ``concurrency`` sender threads."""

    def __init__(self, worker_id: str | None = None, *, concurrency: int = 4, poll_interval: float = 0.2,
                 lease_seconds: int | None = None, company_ids: list[int] | None = None):
        self.worker_id = (worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")[:80]
        self.concurrency = max(0, int(concurrency))
        self.poll_interval = poll_interval
        self.lease_seconds = lease_seconds or settings.LEDGERLINK_LEASE_SECONDS
        self.company_ids = company_ids
        self.stop_event = threading.Event()
        self._clients: dict[int, QBOClient] = {}
        self._clients_lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._slot_freed = threading.Event()
        self._last_heartbeat = 0.0
        self._last_recover = 0.0
        self._last_webhooks = 0.0
        self._last_cdc = 0.0
        self._last_sync_requests = 0.0
        self._next_store_apply = 0.0
        self.store_apply_yield = 2.0  # SQLite: pause this many times a batch's duration after it
        self.store_defer_bursts = True  # apply nothing while a burst arrives (deliveries.applying_can_wait)
        self.store_apply_every = STORE_APPLY_EVERY
        self.units_done = 0
        self._due: list[int] = []
        self._due_at = 0.0
        self.requests_done = 0

    # -- clients -------------------------------------------------------------------------------

    def client_for(self, company_id: int) -> QBOClient:
        with self._clients_lock:
            client = self._clients.get(company_id)
            if client is None:
                client = client_for(Company.objects.get(pk=company_id))
                self._clients[company_id] = client
            return client

    # -- lifecycle -----------------------------------------------------------------------------

    def request_stop(self, *_args) -> None:
        self.stop_event.set()
        self._slot_freed.set()

    def heartbeat(self, *, force: bool = False) -> None:
        t = time.monotonic()
        if not force and t - self._last_heartbeat < HEARTBEAT_EVERY:
            return
        self._last_heartbeat = t
        now = timezone.now()
        WorkerHeartbeat.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={"hostname": socket.gethostname()[:200], "pid": os.getpid(), "last_seen": now, "stopped_at": None},
            create_defaults={"hostname": socket.gethostname()[:200], "pid": os.getpid(), "started_at": now,
                             "last_seen": now},
        )
        # Extend the leases of what this process is sending.
        extend_leases(self.worker_id, now + timedelta(seconds=self.lease_seconds))

    def maybe_refresh_mirror(self) -> None:
        """Webhook events and "Sync now" requests every second, due CDC passes every 30 s (``domain.sync``)."""
        now = time.monotonic()
        if now - self._last_sync_requests >= SYNC_REQUESTS_EVERY:
            self._last_sync_requests = now
            try:
                run_requested_syncs(worker_id=self.worker_id, clients=self._clients)
            except DB_ERRORS:
                raise
            except Exception:  # noqa: BLE001 - the request keeps its error; the loop goes on
                log.exception("worker %s: a requested sync failed", self.worker_id)
        if now - self._last_webhooks >= WEBHOOKS_EVERY:
            self._last_webhooks = now
            try:
                process_webhook_events(clients=self._clients)
            except Exception:  # noqa: BLE001 - events stay unprocessed and are tried again
                log.exception("worker %s: webhook processing failed", self.worker_id)
        if now - self._last_cdc >= CDC_CHECK_EVERY:
            self._last_cdc = now
            run_due_cdc(clients=self._clients)

    def apply_store_deliveries(self) -> int:
        """Store deliveries received in queued mode, applied in batches (``domain.stores``), at most
        every ``store_apply_every`` seconds, and none while a burst arrives (``applying_can_wait``). On
        SQLite (one writer) the pause after a batch is ``store_apply_yield`` (2) times what it took:
        SQLite does not queue writers (a waiting one polls, up to 100 ms apart), so batch after batch
        would keep the web processes storing new deliveries waiting."""
        if settings.LEDGERLINK_STORE_WEBHOOKS != "queued":
            return 0
        now = time.monotonic()
        if now < self._next_store_apply:
            return 0
        sqlite = connection.vendor == "sqlite"
        if self.store_defer_bursts and applying_can_wait():
            self._next_store_apply = now + self.store_apply_every
            return 0
        try:
            # SQLite: smaller batches hold its lock for less time, so the web processes wait less.
            return apply_received_deliveries(limit=50 if sqlite else 500)
        except DB_ERRORS:
            raise
        except Exception:  # noqa: BLE001 - they stay received and are tried again
            log.exception("worker %s: applying store deliveries failed", self.worker_id)
            return 0
        finally:
            took = time.monotonic() - now
            self._next_store_apply = now + max(self.store_apply_every, self.store_apply_yield * took if sqlite else 0.0)

    def maybe_recover(self, *, force: bool = False) -> int:
        t = time.monotonic()
        if not force and t - self._last_recover < RECOVER_EVERY:
            return 0
        self._last_recover = t
        recovered = recover_expired_leases()
        release_follow_ups()  # follow-ups whose request succeeded (a safety net: delivery releases them)
        return recovered

    def _start_threads(self) -> None:
        for i in range(self.concurrency):
            th = threading.Thread(target=self._thread_main, name=f"ledgerlink-sender-{i}", daemon=True)
            th.start()
            self._threads.append(th)

    def _thread_main(self) -> None:
        try:
            while True:
                unit = self._queue.get()
                if unit is None:
                    return
                try:
                    self.process(unit)
                finally:
                    with self._busy_lock:
                        self._busy -= 1
                    self._slot_freed.set()
        finally:
            connections.close_all()

    def process(self, unit: Unit) -> None:
        try:
            if self.concurrency:
                close_old_connections()
            if not lease_still_held(unit, margin=min(30.0, self.lease_seconds / 4)):
                log.warning("worker %s: the lease of a unit of company %s ran out before it was sent; not sent",
                            self.worker_id, unit.company_id)
                release_unit(unit)  # a no-op for rows another worker has taken over
                return
            if unit.batched and settings.LEDGERLINK_CHAOS_STALL_DIR:
                self._chaos_stall()
            client = self.client_for(unit.company_id)
            results, resp, started, duration = send_unit(client, unit)
            record_results(unit, results, resp, started, duration, self.worker_id)
            after_customer_results(client, results)
            self.units_done += 1
            self.requests_done += len(unit.requests)
        except Exception:  # the lease expires and recovery takes over
            log.exception("worker %s: unit of company %s failed", self.worker_id, unit.company_id)

    def _chaos_stall(self) -> None:
        """The chaos suite's freeze between the lease check and the /batch send: when the harness left
        a file named after this worker, remove it and stop the whole process (SIGSTOP) until the
        harness wakes it (SIGCONT) after its lease has expired and another worker took the batch."""
        trigger = os.path.join(settings.LEDGERLINK_CHAOS_STALL_DIR, self.worker_id)
        try:
            os.remove(trigger)
        except OSError:
            return
        os.kill(os.getpid(), signal.SIGSTOP)

    def free_slots(self) -> int:
        if self.concurrency == 0:
            return 1
        with self._busy_lock:
            return self.concurrency - self._busy

    def claim_round(self) -> int:
        """Claim what the free slots and the Companies' limits allow; hand units to the senders (or
        send inline). Returns the number of units claimed."""
        free = self.free_slots()
        if free <= 0:
            return 0
        t = time.monotonic()
        if t - self._due_at > 0.1 or not self._due:
            self._due, self._due_at = due_company_ids(), t
        company_ids = list(self._due)
        if self.company_ids is not None:
            company_ids = [c for c in company_ids if c in self.company_ids]
        random.shuffle(company_ids)
        claimed = 0
        for index, cid in enumerate(company_ids):
            if free <= 0 or self.stop_event.is_set():
                break
            share = max(1, free // max(1, len(company_ids) - index))
            units = claim_for_company(cid, self.worker_id, share, lease_seconds=self.lease_seconds)
            for unit in units:
                claimed += 1
                free -= 1
                if self.concurrency == 0:
                    self.process(unit)
                else:
                    with self._busy_lock:
                        self._busy += 1
                    self._queue.put(unit)
        return claimed

    def pending_exists(self) -> bool:
        qs = PushRequest.objects.filter(
            state__in=PushRequest.PENDING_STATES, company__status=Company.Status.ACTIVE, waiting_on=""
        )
        if self.company_ids is not None:
            qs = qs.filter(company_id__in=self.company_ids)
        syncs = SyncRequest.objects.filter(status=SyncRequest.Status.QUEUED, company__status=Company.Status.ACTIVE)
        return qs.exists() or syncs.exists()

    def run(self, *, once: bool = False, until_idle: bool = False, timeout: float | None = None) -> None:
        """The loop. ``once``: send what is due now, then return. ``until_idle``: return when no
        request is pending (for tests and demos). ``timeout`` bounds either."""
        deadline = time.monotonic() + timeout if timeout else None
        self._start_threads()
        try:
            self.heartbeat(force=True)
            self.maybe_recover(force=True)
        except DB_ERRORS:
            self._database_unavailable()
        try:
            while not self.stop_event.is_set():
                if deadline and time.monotonic() > deadline:
                    break
                try:
                    self.heartbeat()
                    self.maybe_recover()
                    self.maybe_refresh_mirror()
                    maybe_send_digests()
                    applied = self.apply_store_deliveries()
                    claimed = self.claim_round() + applied
                    busy = self.concurrency and self._busy
                    if claimed == 0 and not busy:
                        if once:
                            break
                        if until_idle and not self.pending_exists():
                            break
                except DB_ERRORS:
                    # PostgreSQL restarting, a dropped connection: keep the process, reconnect.
                    self._database_unavailable()
                    continue
                if claimed == 0:
                    self._slot_freed.clear()
                    self._slot_freed.wait(self.poll_interval)
        finally:
            self.shutdown()

    def _database_unavailable(self) -> None:
        log.warning("worker %s: database unavailable, retrying in %.0f s", self.worker_id, DB_RETRY_PAUSE,
                    exc_info=True)
        if not connection.in_atomic_block:
            close_old_connections()  # drops this thread's broken connection; the next query reconnects
        self.stop_event.wait(DB_RETRY_PAUSE)

    def shutdown(self) -> None:
        """Finish in-flight units, release claimed-but-unsent ones, stop the threads."""
        pending = []
        while True:
            try:
                unit = self._queue.get_nowait()
            except queue.Empty:
                break
            if unit is not None:
                pending.append(unit)
                with self._busy_lock:
                    self._busy -= 1
        for unit in pending:
            try:
                release_unit(unit)
            except DB_ERRORS:  # its lease expires and recovery takes it back
                log.warning("worker %s: could not release a unit", self.worker_id, exc_info=True)
                close_old_connections()
        for _ in self._threads:
            self._queue.put(None)
        for th in self._threads:
            th.join()
        self._threads = []
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        try:
            WorkerHeartbeat.objects.filter(worker_id=self.worker_id).update(
                stopped_at=timezone.now(), last_seen=timezone.now()
            )
        except DB_ERRORS:
            log.warning("worker %s: could not mark the heartbeat stopped", self.worker_id, exc_info=True)


def run_worker(*, worker_id: str | None = None, concurrency: int = 4, once: bool = False,
               until_idle: bool = False, timeout: float | None = None, install_signals: bool = False) -> Worker:
    worker = Worker(worker_id, concurrency=concurrency)
    if install_signals:
        signal.signal(signal.SIGTERM, worker.request_stop)
        signal.signal(signal.SIGINT, worker.request_stop)
    worker.run(once=once, until_idle=until_idle, timeout=timeout)
    return worker


def run_until_idle(timeout: float = 60, *, concurrency: int = 0, worker_id: str | None = None,
                   company_ids: list[int] | None = None) -> Worker:
    """Run the real worker loop in-process until no request is pending for an active Company (or
    ``timeout`` seconds). ``concurrency=0`` sends inline in the calling thread."""
    worker = Worker(worker_id or f"inline-{uuid.uuid4().hex[:8]}", concurrency=concurrency,
                    poll_interval=0.05, company_ids=company_ids)
    worker.store_apply_every = 0.0  # until idle: apply received store deliveries without a pause
    worker.store_apply_yield = 0.0
    worker.store_defer_bursts = False
    worker.run(until_idle=True, timeout=timeout)
    return worker
