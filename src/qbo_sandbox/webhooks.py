"""Webhook delivery: eventNotifications (legacy) or CloudEvents, signed, async, retried.

Signature (Intuit): intuit-signature = base64(HMAC-SHA256(key=verifier token, msg=raw body)).
Delivery runs on its own thread (urllib), so the API answer is never delayed by a webhook.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid

from . import schema
from .util import intuit_tid, now_ts, utc_iso_millis, utc_iso_nanos

VERB = {"Create": "created", "Update": "updated", "Delete": "deleted", "Void": "voided",
        "Merge": "merged", "Emailed": "emailed"}


def sign(body: bytes, verifier: str) -> str:
    return base64.b64encode(hmac.new(verifier.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def legacy_payload(realm_id: str, events: list) -> bytes:
    entities = [{"name": e.entity, "id": e.id, "operation": e.operation, "lastUpdated": utc_iso_millis(e.ts)}
                for e in events]
    body = {"eventNotifications": [{"realmId": realm_id, "dataChangeEvent": {"entities": entities}}]}
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def cloudevents_payload(realm_id: str, events: list) -> bytes:
    out = []
    for e in events:
        out.append({
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": f"intuit.sandbox.{realm_id}",
            "type": f"qbo.{e.entity.lower()}.{VERB.get(e.operation, e.operation.lower())}.v1",
            "datacontenttype": "application/json",
            "time": utc_iso_nanos(e.ts),
            "intuitentityid": e.id,
            "intuitaccountid": realm_id,
            "data": {},
        })
    return json.dumps(out, separators=(",", ":")).encode("utf-8")


def _renamed(event):
    name = schema.WEBHOOK_NAME.get(event.entity)
    if name is None:
        return event
    return type(event)(name, event.id, event.operation, event.ts)


class Dispatcher:
    """One background thread; groups events per realm, POSTs, retries with bounded backoff."""

    def __init__(self):
        self.q: queue.Queue = queue.Queue()
        self.retries: list = []  # heap of (due, seq, job)
        self.seq = 0
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="qbo-sandbox-webhooks", daemon=True)
            self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.q.put(None)
        if self.thread is not None:
            self.thread.join(timeout=5)
            self.thread = None

    def submit(self, realm, events: list) -> None:
        cfg = realm.config
        # only the entities of QBO's webhook list, under its names (CompanyCurrency changes are "Currency")
        events = [_renamed(e) for e in events if e is not None and e.entity not in schema.NO_WEBHOOK]
        if not events or not cfg.get("webhook_url"):
            return
        self.start()
        self.q.put({"realm": realm, "events": list(events), "url": cfg["webhook_url"],
                    "verifier": cfg.get("webhook_verifier") or "", "format": cfg.get("webhook_format") or "legacy",
                    "delays": list(cfg.get("webhook_retry_delays") or []),
                    "batch_s": max(0.0, float(cfg.get("webhook_batch_ms") or 0) / 1000.0)})

    # -- worker ------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self.stopped.is_set():
            timeout = None
            with self.lock:
                if self.retries:
                    timeout = max(0.0, self.retries[0][0] - time.monotonic())
            try:
                item = self.q.get(timeout=timeout)
            except queue.Empty:
                item = None
            if self.stopped.is_set():
                return
            jobs = []
            if item is not None:
                if item["batch_s"]:
                    time.sleep(item["batch_s"])
                pending = [item]
                while True:
                    try:
                        nxt = self.q.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        return
                    pending.append(nxt)
                groups: dict = {}
                for it in pending:
                    key = (id(it["realm"]), it["url"], it["verifier"], it["format"])
                    if key in groups:
                        groups[key]["events"].extend(it["events"])
                    else:
                        groups[key] = dict(it, events=list(it["events"]))
                for g in groups.values():
                    jobs.append(self._make_job(g))
            with self.lock:
                now = time.monotonic()
                while self.retries and self.retries[0][0] <= now:
                    jobs.append(heapq.heappop(self.retries)[2])
            for job in jobs:
                self._deliver(job)

    def _make_job(self, g: dict) -> dict:
        realm = g["realm"]
        if g["format"] == "cloudevents":
            body = cloudevents_payload(realm.realm_id, g["events"])
        else:
            body = legacy_payload(realm.realm_id, g["events"])
        return {"realm": realm, "url": g["url"], "body": body, "verifier": g["verifier"], "attempt": 0,
                "delays": g["delays"], "id": str(uuid.uuid4()), "format": g["format"]}

    def _deliver(self, job: dict) -> None:
        job["attempt"] += 1
        headers = {
            "content-type": "application/json; charset=utf-8",
            "intuit-signature": sign(job["body"], job["verifier"]),
            "intuit-created-time": utc_iso_millis(),
            "intuit-t-id": intuit_tid(),
            "intuit-notification-schema-version": "0.1",
            "user-agent": "intuit_notification_server/0.1",
        }
        status, error = None, None
        try:
            req = urllib.request.Request(job["url"], data=job["body"], headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=5) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except Exception as exc:  # connection refused, timeout...
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        entry = {"delivery_id": job["id"], "attempt": job["attempt"], "url": job["url"], "status": status,
                 "error": error, "ok": ok, "time": now_ts(), "format": job["format"],
                 "body": job["body"].decode("utf-8"), "signature": headers["intuit-signature"]}
        log = job["realm"].webhook_log
        log.append(entry)
        if len(log) > 1000:
            del log[:100]
        if not ok and job["attempt"] <= len(job["delays"]):
            delay = float(job["delays"][job["attempt"] - 1])
            with self.lock:
                self.seq += 1
                heapq.heappush(self.retries, (time.monotonic() + delay, self.seq, job))
