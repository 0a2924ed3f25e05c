"""Small row factories for the ops tests (metrics, status, digests, retention, logs), plus a real
SMTP server on loopback for the digest tests."""

from __future__ import annotations

import datetime as dt
import socketserver
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy

import pytest
from django.utils import timezone

from ledgerlink.core import crypto
from ledgerlink.core.models import (
    Attempt,
    Company,
    Order,
    OrderSource,
    PushRequest,
    PushRevision,
    SiteArea,
)

ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhY2Nlc3MtdG9rZW4tdGVzdCJ9.c2lnbmF0dXJlLXZhbHVlLXRlc3Q"
REFRESH_TOKEN = "AB11-refresh-token-secret-0123456789abcdef"


def make_company(name="Acme", realm="9130", *, status=Company.Status.ACTIVE, now=None, **extra) -> Company:
    now = now or timezone.now()
    return Company.objects.create(
        name=name,
        realm_id=realm,
        api_base_url="http://127.0.0.1:9",
        status=status,
        access_token_enc=crypto.encrypt(ACCESS_TOKEN),
        refresh_token_enc=crypto.encrypt(REFRESH_TOKEN),
        access_token_expires_at=extra.pop("access_token_expires_at", now + dt.timedelta(hours=1)),
        refresh_token_expires_at=extra.pop("refresh_token_expires_at", now + dt.timedelta(days=100)),
        **extra,
    )


def make_source(company: Company, name: str | None = None) -> OrderSource:
    area = SiteArea.objects.create(name=f"{company.name} store", company=company)
    return OrderSource.objects.create(name=name or f"{company.name} web", site_area=area)


_order_seq = [0]


def make_request(company: Company, state=PushRequest.State.QUEUED, *, source: OrderSource | None = None,
                 number: str | None = None, error_kind="", created_at=None, completed_at=None,
                 revisions=1, **extra) -> PushRequest:
    order = None
    if source is not None:
        _order_seq[0] += 1
        number = number or f"W{1000 + _order_seq[0]}"
        order = Order.objects.create(order_source=source, external_id=number, number=number,
                                     email=f"{number.lower()}@example.com")
    now = timezone.now()
    pr = PushRequest.objects.create(
        company=company, order=order, kind=PushRequest.Kind.INVOICE, state=state, error_kind=error_kind,
        email=order.email if order else "", revision=revisions,
        created_at=created_at or now, updated_at=created_at or now, completed_at=completed_at, **extra,
    )
    for n in range(1, revisions + 1):
        PushRevision.objects.create(push_request=pr, number=n, payload={"Line": [], "rev": n})
    return pr


def make_attempt(pr: PushRequest, outcome=Attempt.Outcome.SUCCEEDED, *, duration_ms=None, http_status=200,
                 started_at=None, error_kind="", **extra) -> Attempt:
    return Attempt.objects.create(
        push_request=pr, company_id=pr.company_id, revision=pr.revision, requestid=pr.requestid,
        outcome=outcome, duration_ms=duration_ms, http_status=http_status,
        started_at=started_at or timezone.now(), error_kind=error_kind, **extra,
    )


@dataclass
class SmtpServer:
    host: str
    port: int
    messages: list = field(default_factory=list)  # (mail_from, [rcpt], email.message.EmailMessage)


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough RFC 5321 for smtplib: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        store: SmtpServer = self.server.store  # type: ignore[attr-defined]
        self._reply("220 localhost test SMTP")
        mail_from, rcpts = None, []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line[:4].upper()
            if verb == "EHLO":
                self._reply("250-localhost")
                self._reply("250 8BITMIME")
            elif verb == "HELO":
                self._reply("250 localhost")
            elif verb == "MAIL":
                mail_from, rcpts = line.split(":", 1)[1].strip().split(" ")[0].strip("<>"), []
                self._reply("250 OK")
            elif verb == "RCPT":
                rcpts.append(line.split(":", 1)[1].strip().strip("<>"))
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 End data with <CR><LF>.<CR><LF>")
                chunks = []
                while True:
                    data = self.rfile.readline()
                    if data in (b".\r\n", b".\n", b""):
                        break
                    chunks.append(data[1:] if data.startswith(b"..") else data)
                store.messages.append((mail_from, rcpts, message_from_bytes(b"".join(chunks), policy=policy.default)))
                self._reply("250 OK queued")
            elif verb == "RSET":
                mail_from, rcpts = None, []
                self._reply("250 OK")
            elif verb == "NOOP":
                self._reply("250 OK")
            elif verb == "QUIT":
                self._reply("221 Bye")
                return
            else:
                self._reply("502 Command not implemented")


class _ThreadingTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on loopback; Django's SMTP backend pointed at it."""
    server = _ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    store = SmtpServer("127.0.0.1", server.server_address[1])
    server.store = store
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = store.host
    settings.EMAIL_PORT = store.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield store
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.django_db
def test_factories_make_consistent_rows():
    company = make_company()
    pr = make_request(company, PushRequest.State.SUCCEEDED, source=make_source(company), revisions=2)
    assert pr.revisions.count() == 2
    assert pr.order.push_requests.get() == pr
    assert crypto.decrypt(company.access_token_enc) == ACCESS_TOKEN
