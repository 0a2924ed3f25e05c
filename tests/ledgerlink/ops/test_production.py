"""The production set-up on loopback: gunicorn (3 web processes, deploy/gunicorn.conf.py, whitenoise)
+ 3 `ledgerlink worker` processes + PostgreSQL + qbo_sandbox, all configured from the environment
with LEDGERLINK_ENV=production. Orders go in through the REST API, out to QBO through the workers;
/metrics then reports exactly what happened, /readyz follows the workers, and no log line of any
process holds a token, a secret or a payload."""

from __future__ import annotations

import datetime
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from ledgerlink.core import crypto
from ledgerlink.core.models import Attempt, AuditLog, Company, OrderSource, PushRequest, SiteArea, UserProfile
from tests.ledgerlink.factories import smtp_server  # noqa: F401

# Tests that start many real processes (workers, gunicorn) run one after another on the 2-core machine
# (one xdist group), so the timing each relies on holds (e.g. a SIGKILL in the middle of an exchange).
pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("real-processes")]

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
REALM = "9130350000000777"
PAYLOAD_MARKER = "Secret-Sauce-Line-7731"
CUSTOMERS = [
    {"DisplayName": "Acme Tools", "PrimaryEmailAddr": {"Address": "buyer@acme.example"}},
    {"DisplayName": "Bluebird Cafe", "PrimaryEmailAddr": {"Address": "orders@bluebird.example"}},
    {"DisplayName": "Cedar Ltd", "PrimaryEmailAddr": {"Address": "ap@cedar.example"}},
]
GOOD, BAD = 9, 3  # orders whose email a QBO customer has / has not (Invoice -> CustomerRef is required)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    d = connection.settings_dict
    auth = quote(d.get("USER") or "", safe="")
    if d.get("PASSWORD"):
        auth += ":" + quote(d["PASSWORD"], safe="")
    return f"postgres://{auth}@{d.get('HOST') or '127.0.0.1'}:{d.get('PORT') or 5432}/{d['NAME']}"


def _wait(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _samples(text: str) -> dict:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


class Cluster:
    def __init__(self, tmp: Path, env: dict):
        self.tmp, self.env, self.procs = tmp, env, {}

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "ab")
        proc = subprocess.Popen(args, env=self.env, cwd=self.tmp, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        self.procs[name] = proc
        return proc

    def run(self, args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(args, env=self.env, cwd=self.tmp, capture_output=True, text=True, timeout=120)

    def stop(self, name: str, sig=signal.SIGTERM, timeout: float = 30) -> int:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name, timeout=20)

    def logs(self) -> dict[str, str]:
        return {p.stem: p.read_text(errors="replace") for p in self.tmp.glob("*.log")}


@pytest.mark.django_db(transaction=True)
def test_gunicorn_three_workers_postgres_and_sandbox(tmp_path, settings, smtp_server):  # noqa: F811
    from ledgerlink.domain.accounts.tokens import create_api_token
    from ledgerlink.domain.companies.connect import connect_company
    from ledgerlink.domain.sync.full import sync_company
    from qbo_sandbox.testing import SandboxServer

    secret_key = secrets.token_urlsafe(50)
    fernet_key = Fernet.generate_key().decode()
    client_secret = "cs-" + secrets.token_hex(16)
    metrics_token = "mt-" + secrets.token_hex(16)
    settings.LEDGERLINK_ENCRYPTION_KEYS = [fernet_key]
    settings.QBO_CLIENT_SECRET = client_secret
    web_port = _free_port()
    static_root = tmp_path / "static"

    with SandboxServer() as sandbox:
        httpx.post(f"{sandbox.base_url}/_sandbox/realms",
                   json={"realm_id": REALM, "customers": CUSTOMERS}).raise_for_status()
        company = connect_company(sandbox.base_url, name="Prod Co", realm_id=REALM,
                                  client_secret=client_secret)
        first_access = crypto.decrypt(company.access_token_enc)
        first_refresh = crypto.decrypt(company.refresh_token_enc)
        sync_company(company)
        services = company.items.get(name="Services")
        area = SiteArea.objects.create(company=company, name="Wholesale", push_method="invoice",
                                       customer_policy="match", default_item=services.qbo_id)
        OrderSource.objects.create(name="Portal", site_area=area)
        # The access token has run out: the first worker to send refreshes it (exactly once).
        Company.objects.filter(pk=company.pk).update(access_token_expires_at=timezone.now())
        user = get_user_model().objects.create_user("feeder", password=secrets.token_urlsafe(12))
        UserProfile.objects.create(user=user, role="operator")
        api_token = create_api_token(user, "feeder")

        # The test process's own environment, less what tests set for themselves (the browser tests'
        # DJANGO_ALLOW_ASYNC_UNSAFE would fail `check --deploy`, rightly).
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("LEDGERLINK_", "PYTEST", "EMAIL_", "DJANGO_")) and k != "DATABASE_URL"}
        env.update({
            "LEDGERLINK_ENV": "production",
            "SECRET_KEY": secret_key,
            "LEDGERLINK_ENCRYPTION_KEYS": fernet_key,
            "DATABASE_URL": _database_url(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "STATIC_ROOT": str(static_root),
            "QBO_CLIENT_ID": django_settings.QBO_CLIENT_ID,
            "QBO_CLIENT_SECRET": client_secret,
            "LEDGERLINK_BIND": f"127.0.0.1:{web_port}",
            "WEB_CONCURRENCY": "3",
            "GUNICORN_ACCESSLOG": "-",
            "LEDGERLINK_METRICS_TOKEN": metrics_token,
            "LEDGERLINK_METRICS_ALLOW": "",
            "LEDGERLINK_LOG_LEVEL": "DEBUG",
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
            "EMAIL_HOST": smtp_server.host,
            "EMAIL_PORT": str(smtp_server.port),
            "LEDGERLINK_ADMIN_EMAILS": "ops@example.com",
            "LEDGERLINK_BASE_URL": "https://ledgerlink.example.com",
            "DJANGO_SETTINGS_MODULE": "ledgerlink.settings",
        })
        cluster = Cluster(tmp_path, env)
        ledgerlink = str(BIN / "ledgerlink")
        try:
            check = cluster.run([ledgerlink, "check", "--deploy"])
            assert check.returncode == 0, check.stdout + check.stderr
            assert check.stdout.strip() == "System check identified no issues (0 silenced)."
            static = cluster.run([ledgerlink, "collectstatic", "--noinput"])
            assert static.returncode == 0, static.stderr

            web = cluster.start("gunicorn", [str(BIN / "gunicorn"), "-c", str(REPO / "deploy" / "gunicorn.conf.py")])
            base = f"http://127.0.0.1:{web_port}"
            http = httpx.Client(base_url=base, timeout=15, headers={"X-Forwarded-Proto": "https"})
            _wait(lambda: http.get("/healthz").status_code == 200, 30, "gunicorn")
            assert len(_children(web.pid)) == 3

            # Static files from whitenoise; HTTPS is the proxy's (X-Forwarded-Proto), plain HTTP redirects.
            css = http.get("/static/web/ledgerlink.css")
            assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
            assert httpx.get(f"{base}/static/web/ledgerlink.css").status_code == 301

            # No worker yet: not ready.
            r = http.get("/readyz")
            assert r.status_code == 503 and r.json()["reason"] == "no worker heartbeat in the last 30 s"

            for n in range(1, 4):
                cluster.start(f"worker{n}", [ledgerlink, "worker", "--concurrency", "2", "--worker-id", f"prod-w{n}"])
            _wait(lambda: http.get("/readyz").status_code == 200, 30, "/readyz with 3 workers")
            assert http.get("/readyz").json()["checks"]["workers_fresh"] >= 1

            auth = {"Authorization": f"Bearer {api_token}"}
            emails = [c["PrimaryEmailAddr"]["Address"] for c in CUSTOMERS]
            for i in range(GOOD + BAD):
                email = emails[i % 3] if i < GOOD else f"stranger{i}@nowhere.example"
                order = {"order_source": "Portal", "external_id": f"P-{i}", "number": f"P-{i}", "email": email,
                         "lines": [{"sku": "", "description": f"{PAYLOAD_MARKER} #{i}", "quantity": "2",
                                    "unit_price": "10.50"}]}
                resp = http.post("/api/v1/orders", json=order, headers=auth)
                assert resp.status_code == 201, resp.text

            def settled():
                pending = PushRequest.objects.filter(state__in=PushRequest.PENDING_STATES).count()
                return PushRequest.objects.count() == GOOD + BAD and pending == 0
            _wait(settled, 90, "every request settled", interval=0.5)

            # -- what happened, from the database and from QBO's side
            states = dict(PushRequest.objects.values_list("state").annotate(n=Count("id")))
            assert states == {"succeeded": GOOD, "failed": BAD}
            assert set(PushRequest.objects.filter(state="failed").values_list("error_kind", flat=True)) == {
                "customer_ref_required"
            }
            invoices = httpx.get(f"{sandbox.base_url}/_sandbox/realms/{REALM}/entities/Invoice").json()["Invoice"]
            assert len(invoices) == GOOD  # one order, one document
            assert sorted(i["Id"] for i in invoices) == sorted(
                PushRequest.objects.filter(state="succeeded").values_list("qbo_id", flat=True)
            )
            refreshes = AuditLog.objects.filter(action="company.tokens_refreshed", object_id=str(company.pk)).count()
            assert refreshes == 1
            attempts = {
                (r["outcome"], r["error_kind"]): r["n"]
                for r in Attempt.objects.values("outcome", "error_kind").annotate(n=Count("id"))
            }
            timed = Attempt.objects.filter(duration_ms__isnull=False).count()

            # -- /metrics through gunicorn: token required, exact figures
            assert http.get("/metrics").status_code == 401
            scraped = http.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
            assert scraped.status_code == 200
            m = _samples(scraped.text)
            cid = str(company.pk)

            def v(name, **labels):
                return m[(name, tuple(sorted(labels.items())))]

            assert v("ledgerlink_push_requests", company=cid, state="succeeded") == GOOD
            assert v("ledgerlink_push_requests", company=cid, state="failed") == BAD
            for state in ("queued", "sending", "retrying", "cancelled"):
                assert v("ledgerlink_push_requests", company=cid, state=state) == 0
            assert v("ledgerlink_push_request_errors", company=cid, state="failed",
                     error_kind="customer_ref_required") == BAD
            assert v("ledgerlink_queue_depth", company=cid) == 0
            assert v("ledgerlink_in_flight", company=cid) == 0
            assert v("ledgerlink_oldest_pending_age_seconds", company=cid) == 0
            assert v("ledgerlink_token_refreshes_total", company=cid) == 1
            assert v("ledgerlink_attempts_total", company=cid, outcome="succeeded", error_kind="") == GOOD
            scraped_attempts = {
                (dict(lbl)["outcome"], dict(lbl)["error_kind"]): val
                for (name, lbl), val in m.items() if name == "ledgerlink_attempts_total"
            }
            assert scraped_attempts == attempts
            assert v("ledgerlink_attempt_duration_seconds_count", company=cid) == timed
            assert v("ledgerlink_workers_fresh") == 3
            assert ("ledgerlink_http_429_total", (("company", cid),)) not in m

            # -- /readyz: every heartbeat stale (workers killed hard, time passes) -> 503 ...
            for n in range(1, 4):
                cluster.stop(f"worker{n}", sig=signal.SIGKILL)
            from ledgerlink.core.models import WorkerHeartbeat

            assert WorkerHeartbeat.objects.filter(stopped_at__isnull=True).count() == 3
            WorkerHeartbeat.objects.update(last_seen=timezone.now() - datetime.timedelta(seconds=45))
            r = http.get("/readyz")
            assert r.status_code == 503 and r.json()["checks"]["workers_fresh"] == 0
            # ... and recovers when a worker starts.
            cluster.start("worker4", [ledgerlink, "worker", "--worker-id", "prod-w4"])
            _wait(lambda: http.get("/readyz").status_code == 200, 30, "/readyz after a worker starts")
            assert cluster.stop("worker4") == 0  # SIGTERM: clean stop, heartbeat marked stopped
            assert http.get("/readyz").status_code == 503

            # Failure digest over SMTP from the production environment: one email for the growth.
            for _ in range(2):
                sent = cluster.run([ledgerlink, "send-digests"])
                assert sent.returncode == 0, sent.stderr
            # The growth is emailed once (the second run sends no second failure email). A slow machine
            # may add a state email of its own (the oldest pending request's age, for one): not a failure.
            subjects = [m[2]["Subject"] for m in smtp_server.messages]
            failure_emails = [m for m in smtp_server.messages if "failed request(s)" in m[2]["Subject"]]
            assert len(failure_emails) == 1, subjects
            _from, rcpts, msg = failure_emails[0]
            assert rcpts == ["ops@example.com"]
            assert msg["Subject"] == f"[Ledgerlink] Prod Co: {BAD} failed request(s) - CustomerRef is required"
            assert "https://ledgerlink.example.com/requests/completed/?outcome=failed" in msg.get_content()

            # `ledgerlink status --json` from the production environment agrees.
            status = cluster.run([ledgerlink, "status", "--json"])
            assert status.returncode == 0, status.stderr
            snap = json.loads(status.stdout)["companies"][0]
            assert snap["requests"] == {"queued": 0, "sending": 0, "retrying": 0, "succeeded": GOOD,
                                        "failed": BAD, "cancelled": 0}
            http.close()
        finally:
            cluster.stop_all()

        # -- no log line of any process holds a token, a secret or a payload
        company.refresh_from_db()
        forbidden = {
            "first access token": first_access,
            "first refresh token": first_refresh,
            "access token": crypto.decrypt(company.access_token_enc),
            "refresh token": crypto.decrypt(company.refresh_token_enc),
            "stored ciphertext": company.refresh_token_enc,
            "client secret": client_secret,
            "API token": api_token,
            "metrics token": metrics_token,
            "SECRET_KEY": secret_key,
            "Fernet key": fernet_key,
            "payload": PAYLOAD_MARKER,
        }
        logs = cluster.logs()
        assert set(logs) >= {"gunicorn", "worker1", "worker2", "worker3", "worker4"}
        for name, text in logs.items():
            for what, secret in forbidden.items():
                assert secret and secret not in text, f"{what} found in {name}.log"
            assert not re.search(r"(?i)bearer\s+(?!\[redacted\])[A-Za-z0-9\-._~+/=]{6,}", text), name
        # gunicorn's own lines (error and access logs) are JSON objects, one per line.
        gunicorn_lines = [json.loads(line) for line in logs["gunicorn"].splitlines() if line.strip()]
        assert any(line["logger"] == "gunicorn.access" and "/api/v1/orders" in line["event"]
                   for line in gunicorn_lines)
        assert {"ts", "level", "event", "logger"} <= set(gunicorn_lines[0])
