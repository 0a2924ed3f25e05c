"""The one factories module of the product tests (no tests here). Plain functions, not fixtures (but
``smtp_server``, a real SMTP server on loopback for the digest tests), so the test modules stay
independent of conftest.py.

World of the ingest / automation / payload / request / API tests
    ``make_world`` (a ``World``: the demo's Company, site areas, order sources, mirrored customers and
    items, written through the ORM: set-up that has no service), ``order_data`` (an order's input;
    orders go through ``ingest_order``).
People
    ``make_user`` (a role, no password: API tokens, force_login), ``make_login_user`` (signs in with
    ``PASSWORD``).
The admin area's rows, written straight to the DB as the worker would
    ``make_web_world``, ``invoice_payload``, ``make_failed_request``.
Operations rows (metrics, status, digests, retention, logs)
    ``make_company`` (with encrypted tokens ``ACCESS_TOKEN`` / ``REFRESH_TOKEN``), ``make_source``,
    ``make_request``, ``make_attempt``; the ``smtp_server`` fixture.
"""

from __future__ import annotations

import datetime as dt
import json
import socketserver
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from ledgerlink.core import crypto
from ledgerlink.core.models import (
    Attempt,
    Company,
    Customer,
    CustomerEmail,
    Item,
    Order,
    OrderSource,
    PushRequest,
    PushRevision,
    SiteArea,
    UserProfile,
)

PASSWORD = "correct-horse-battery-9"

QBO_HTML_MESSAGE = 'Business Validation Error: <b>bold</b> <img src=x onerror="alert(1)">'

ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhY2Nlc3MtdG9rZW4tdGVzdCJ9.c2lnbmF0dXJlLXZhbHVlLXRlc3Q"
REFRESH_TOKEN = "AB11-refresh-token-secret-0123456789abcdef"


# ---------------------------------------------------------------- the ingest world

@dataclass
class World:
    company: Company
    wholesale: SiteArea  # invoice, match
    web: SiteArea  # sales_receipt, match
    portal: OrderSource  # -> wholesale
    trade: OrderSource  # -> wholesale
    shop: OrderSource  # -> web
    acme: Customer
    widget: Item
    gadget: Item
    services: Item


def make_world(realm_id: str = "9130350000000001") -> World:
    company = Company.objects.create(name="Demo Company", realm_id=realm_id, api_base_url="http://127.0.0.1:1")
    services = Item.objects.create(company=company, qbo_id="1", name="Services", type="Service")
    widget = Item.objects.create(company=company, qbo_id="2", name="Widget", sku="W-100", type="NonInventory")
    gadget = Item.objects.create(company=company, qbo_id="3", name="Gadget", sku="G-200", type="NonInventory")
    Item.objects.create(company=company, qbo_id="4", name="Old Thing", sku="OLD-1", active=False)
    acme = Customer.objects.create(company=company, qbo_id="56", display_name="Acme Tools", email="name2@example.com")
    CustomerEmail.objects.create(company=company, customer=acme, email="name2@example.com")
    trade_cust = Customer.objects.create(
        company=company, qbo_id="57", display_name="Trade Show Account", email="tradeshow@example.com"
    )
    CustomerEmail.objects.create(company=company, customer=trade_cust, email="tradeshow@example.com")
    # Shipping goes on QBO's shipping field (SHIPPING_ITEM_ID, the company's AllowShipping on).
    wholesale = SiteArea.objects.create(
        company=company, name="Wholesale", push_method="invoice", customer_policy="match", default_item="1",
        shipping_item="SHIPPING_ITEM_ID",
    )
    web = SiteArea.objects.create(
        company=company, name="Web Store", push_method="sales_receipt", customer_policy="match", default_item="1",
        shipping_item="SHIPPING_ITEM_ID",
    )
    portal = OrderSource.objects.create(name="Wholesale Portal", site_area=wholesale)
    trade = OrderSource.objects.create(name="Trade Show", site_area=wholesale)
    shop = OrderSource.objects.create(name="Web Shop", site_area=web)
    return World(company, wholesale, web, portal, trade, shop, acme, widget, gadget, services)


def order_data(source="Wholesale Portal", external_id="WP-1001", email="name2@example.com", lines=None, **extra) -> dict:
    return {
        "order_source": source,
        "external_id": external_id,
        "number": external_id,
        "email": email,
        "lines": lines
        if lines is not None
        else [
            {"sku": "W-100", "description": "Widget", "quantity": 4, "unit_price": "12.50"},
            {"sku": "G-200", "description": "Gadget", "quantity": 1, "unit_price": "30.00"},
        ],
        **extra,
    }


def make_user(username: str, role: str | None = "viewer", *, superuser: bool = False):
    """A user with ``role`` (None: no profile) and no password (API tokens, force_login)."""
    User = get_user_model()
    if superuser:
        user = User.objects.create_superuser(username=username, password=None, email="")
    else:
        user = User.objects.create_user(username=username, password=None)
    if role is not None:
        UserProfile.objects.create(user=user, role=role)
    return user


def make_login_user(username: str, role: str):
    """A user with ``role`` who signs in at /login/ with ``PASSWORD``."""
    user = get_user_model().objects.create_user(username, f"{username}@example.com", PASSWORD)
    UserProfile.objects.create(user=user, role=role)
    return user


# ---------------------------------------------------------------- the admin area's rows


def make_web_world():
    """The admin area's world (a dict): two site areas, two order sources, customer Acme Tools."""
    company = Company.objects.create(name="Demo Company", realm_id="9130350000000001", api_base_url="http://127.0.0.1:1")
    wholesale = SiteArea.objects.create(name="Wholesale", company=company, push_method="invoice")
    retail = SiteArea.objects.create(name="Retail", company=company, push_method="sales_receipt")
    portal = OrderSource.objects.create(name="Wholesale portal", site_area=wholesale)
    shop = OrderSource.objects.create(name="Web store", site_area=retail)
    acme = Customer.objects.create(company=company, qbo_id="56", display_name="Acme Tools", email="name2@example.com")
    CustomerEmail.objects.create(company=company, customer=acme, email="name2@example.com")
    return {"company": company, "wholesale": wholesale, "retail": retail, "portal": portal, "shop": shop, "acme": acme}


def invoice_payload(email: str = "", total: str = "69.60", customer=None) -> dict:
    payload = {
        "DocNumber": "W-1001",
        "TxnDate": "2026-11-20",
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": 69.6,
                "Description": "Widget x2",
                "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Widget"}, "Qty": 2, "UnitPrice": 34.8},
            }
        ],
        "TotalAmt": total,
    }
    if email:
        payload["BillEmail"] = {"Address": email}
    if customer:
        payload["CustomerRef"] = customer
    return payload


def make_failed_request(
    world,
    *,
    number="W-1001",
    email="buyer@newco.example",
    kind="customer_ref_required",
    title="CustomerRef is required",
    message="Required param missing, need to supply the required value for the API",
    detail="Required parameter CustomerRef is missing in the request",
    code="2020",
    element="CustomerRef",
    source=None,
    customer_name="New Co",
    payload=None,
    state=PushRequest.State.FAILED,
):
    source = source or world["portal"]
    order = Order.objects.create(
        order_source=source,
        external_id=number,
        number=number,
        email=email,
        customer_name=customer_name,
        total="69.60",
        status=Order.Status.FAILED if state == PushRequest.State.FAILED else Order.Status.QUEUED,
    )
    now = timezone.now()
    completed = state in PushRequest.COMPLETED_STATES
    pr = PushRequest.objects.create(
        company=world["company"],
        order=order,
        site_area=source.site_area,
        order_source=source,
        email=email,
        kind=PushRequest.Kind.INVOICE,
        state=state,
        error_kind=kind if state == PushRequest.State.FAILED else "",
        error_title=title if state == PushRequest.State.FAILED else "",
        error_message=message if state == PushRequest.State.FAILED else "",
        error_detail=detail if state == PushRequest.State.FAILED else "",
        error_code=code if state == PushRequest.State.FAILED else "",
        error_element=element if state == PushRequest.State.FAILED else "",
        attempt_count=1 if completed else 0,
        completed_at=now if completed else None,
    )
    PushRevision.objects.create(
        push_request=pr, number=1, payload=payload or invoice_payload(email), author_label="system", note="built"
    )
    if state == PushRequest.State.FAILED:
        Attempt.objects.create(
            push_request=pr,
            company=world["company"],
            revision=1,
            requestid=pr.requestid,
            worker="w1",
            started_at=now - timedelta(seconds=2),
            duration_ms=312,
            http_status=400,
            outcome=Attempt.Outcome.FAILED,
            error_kind=kind,
            fault_code=code,
            intuit_tid="1-6579abcd-0123456789abcdef",
            response_body=json.dumps(
                {"Fault": {"Error": [{"Message": message, "Detail": detail, "code": code}], "type": "ValidationFault"}}
            ),
        )
    return pr


# ---------------------------------------------------------------- operations rows


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
