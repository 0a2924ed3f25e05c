"""Fixtures for the product tests. QBO is replaced only by qbo_sandbox over real HTTP on loopback.

Fixtures
    sandbox         session-scoped ``SandboxServer`` (``.base_url``)
    qbo             ``SandboxControl``: the sandbox's control API plus a few QBO calls as another app
                    would make them (``create_realm``, ``add_fault``, ``set_config``, ``expire_tokens``,
                    ``entities``, ``requests``, ``create_customer``, ``deactivate_customer``)
    company         a Company connected through ``connect_company`` to a fresh realm with limits off
                    (``company.realm_id``); ``qbo`` knows the realm
    site_area_factory / order_source_factory / customer_factory   helpers (see below)
    run_worker_until_idle   runs the real worker loop in-process until nothing is pending

DB tests that use threads or other processes must use ``transactional_db`` (data must be committed
for other connections to see it). On SQLite the test database is a file (WAL), so threads and
subprocesses share it.
"""

from __future__ import annotations

import itertools
import os
import uuid

import httpx
import pytest

_realm_seq = itertools.count(1)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """SQLite: a file test database (not shared-cache memory) so worker threads and processes can
    use it concurrently; one per xdist worker (tmp_path_factory is per process). PostgreSQL: a test
    database name unique to this process, so concurrent test runs on one server do not collide."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if (db.get("TEST") or {}).get("NAME"):
        return
    if db["ENGINE"] == "django.db.backends.sqlite3":
        db.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "ledgerlink-test.sqlite3")
    elif db["ENGINE"].startswith("django.db.backends.postgresql"):
        # Several people and CI jobs share one PostgreSQL server: one test database per process.
        db.setdefault("TEST", {})["NAME"] = f"test_{db['NAME']}_{os.getpid()}"


@pytest.fixture(scope="session")
def sandbox():
    from qbo_sandbox.testing import SandboxServer

    # The strictest refresh (a new refresh token on every refresh): the tests of the newest token's persistence
    # need it; Intuit itself keeps a value for about a day (the sandbox default).
    with SandboxServer(realm_defaults={"refresh_token_rotation_s": 0}) as server:
        yield server


class SandboxControl:
    """The sandbox's control API (``/_sandbox/...``) and QBO calls made as a separate app."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self._tokens: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()

    # -- control API ---------------------------------------------------------------------------

    def create_realm(self, realm_id: str | None = None, *, limits=None, **spec) -> dict:
        """POST /_sandbox/realms. ``limits=None`` turns the rate limits off (the default here)."""
        body = {"limits": limits, **spec}
        if realm_id is None:
            realm_id = f"91{os.getpid() % 10000:04d}{next(_realm_seq):06d}{uuid.uuid4().int % 1000:03d}"
        body["realm_id"] = realm_id
        r = self.http.post("/_sandbox/realms", json=body)
        assert r.status_code == 201, r.text
        data = r.json()
        if data.get("access_token"):
            self._tokens[data["realm_id"]] = data["access_token"]
        return data

    def add_fault(self, realm_id: str, kind: str, **spec) -> dict:
        r = self.http.post(f"/_sandbox/realms/{realm_id}/faults", json={"kind": kind, **spec})
        assert r.status_code == 201, r.text
        return r.json()

    def clear_faults(self, realm_id: str) -> None:
        self.http.delete(f"/_sandbox/realms/{realm_id}/faults").raise_for_status()

    def set_config(self, realm_id: str, **patch) -> dict:
        r = self.http.put(f"/_sandbox/realms/{realm_id}/config", json=patch)
        assert r.status_code == 200, r.text
        return r.json()["config"]

    def expire_tokens(self, realm_id: str, *, refresh: bool = False) -> dict:
        r = self.http.post(f"/_sandbox/realms/{realm_id}/expire-tokens", json={"refresh": refresh})
        assert r.status_code == 200, r.text
        return r.json()

    def entities(self, realm_id: str, entity: str) -> list[dict]:
        r = self.http.get(f"/_sandbox/realms/{realm_id}/entities/{entity}")
        assert r.status_code == 200, r.text
        return next(iter(r.json().values()))

    def requests(self, realm_id: str) -> list[dict]:
        r = self.http.get(f"/_sandbox/realms/{realm_id}/requests")
        assert r.status_code == 200, r.text
        return r.json()["requests"]

    def clear_requests(self, realm_id: str) -> None:
        self.http.delete(f"/_sandbox/realms/{realm_id}/requests").raise_for_status()

    # -- QBO API as another app (e.g. a person adding a Customer in QBO) ----------------------

    def token(self, realm_id: str, *, fresh: bool = False) -> str:
        if fresh or realm_id not in self._tokens:
            r = self.http.post(f"/_sandbox/realms/{realm_id}/tokens", json={})
            assert r.status_code == 201, r.text
            self._tokens[realm_id] = r.json()["access_token"]
        return self._tokens[realm_id]

    def api(self, realm_id: str, method: str, path: str, **kwargs) -> httpx.Response:
        for fresh in (False, True):
            headers = {"Authorization": f"Bearer {self.token(realm_id, fresh=fresh)}", "Accept": "application/json"}
            r = self.http.request(method, f"/v3/company/{realm_id}/{path.lstrip('/')}",
                                  params={"minorversion": "75", **kwargs.pop("params", {})}, headers=headers, **kwargs)
            if r.status_code != 401:
                return r
        return r

    def create_customer(self, realm_id: str, display_name: str, email: str | None = None, **extra) -> dict:
        body = {"DisplayName": display_name, **extra}
        if email is not None:
            body["PrimaryEmailAddr"] = {"Address": email}
        r = self.api(realm_id, "POST", "customer", json=body)
        assert r.status_code == 200, r.text
        return r.json()["Customer"]

    def deactivate_customer(self, realm_id: str, customer: dict) -> dict:
        r = self.api(realm_id, "POST", "customer", json={
            "Id": customer["Id"], "SyncToken": customer["SyncToken"], "sparse": True, "Active": False})
        assert r.status_code == 200, r.text
        return r.json()["Customer"]

    def create_item(self, realm_id: str, name: str, sku: str = "", **extra) -> dict:
        body = {"Name": name, "Type": "Service", "IncomeAccountRef": {"value": "1"}, **extra}
        if sku:
            body["Sku"] = sku
        r = self.api(realm_id, "POST", "item", json=body)
        assert r.status_code == 200, r.text
        return r.json()["Item"]


@pytest.fixture(scope="session")
def _sandbox_control(sandbox):
    control = SandboxControl(sandbox.base_url)
    yield control
    control.close()


@pytest.fixture
def qbo(_sandbox_control) -> SandboxControl:
    return _sandbox_control


def connect_new_company(qbo: SandboxControl, *, name: str = "Test Company", limits=None, **spec):
    """A fresh realm (limits off unless given) connected through the real OAuth flow."""
    from ledgerlink.domain.companies.connect import connect_company

    realm = qbo.create_realm(limits=limits, **spec)
    company = connect_company(qbo.base_url, name=name, realm_id=realm["realm_id"])
    # The connect read CompanyInfo and Preferences (the tax world, docs/tax.md): the realm's request log
    # starts after it, so tests see only what they make happen.
    qbo.clear_requests(realm["realm_id"])
    return company


@pytest.fixture
def company(db, qbo):
    """A Company connected (OAuth code flow) to a new sandbox realm with the rate limits off. The
    realm has QBO's default data (items "Services" Id 1 and "Hours" Id 2)."""
    return connect_new_company(qbo)


@pytest.fixture
def company_factory(db, qbo):
    def make(name: str = "Test Company", limits=None, **spec):
        return connect_new_company(qbo, name=name, limits=limits, **spec)

    return make


@pytest.fixture
def site_area_factory(db):
    """site_area_factory(company, name="Wholesale", push_method="invoice", default_item="1", **fields)"""
    from ledgerlink.core.models import SiteArea

    def make(company, name: str = "Wholesale", push_method: str = "invoice", default_item: str = "1", **fields):
        return SiteArea.objects.create(company=company, name=name, push_method=push_method,
                                       default_item=default_item, **fields)

    return make


@pytest.fixture
def order_source_factory(db):
    """order_source_factory(site_area, name=None)"""
    from ledgerlink.core.models import OrderSource

    counter = itertools.count(1)

    def make(site_area, name: str | None = None):
        return OrderSource.objects.create(site_area=site_area, name=name or f"{site_area.name} source {next(counter)}")

    return make


@pytest.fixture
def customer_factory(qbo):
    """customer_factory(company, display_name, email=None, sync=True): creates the Customer in the
    sandbox (as a person would in QBO) and, with ``sync``, mirrors it locally. Returns the QBO JSON."""
    from ledgerlink.domain.mirror.store import apply_customer

    def make(company, display_name: str, email: str | None = None, *, sync: bool = True, **extra) -> dict:
        data = qbo.create_customer(company.realm_id, display_name, email, **extra)
        if sync:
            apply_customer(company, data)
        return data

    return make


@pytest.fixture
def run_worker_until_idle(db):
    """run_worker_until_idle(timeout=30, concurrency=0, company_ids=None) -> Worker

    Runs the real worker loop (claim, limiter, send, record, retry) in-process until no request is
    pending for an active Company, bounded by ``timeout`` seconds. ``concurrency=0`` sends inline in
    the test's thread (works with the ``db`` fixture); ``concurrency>0`` uses sender threads (needs
    ``transactional_db``). Set ``settings.LEDGERLINK_BACKOFF_BASE`` small to make retries fast."""
    from ledgerlink.worker import run_until_idle

    def run(timeout: float = 30, concurrency: int = 0, company_ids=None, worker_id: str | None = None):
        return run_until_idle(timeout=timeout, concurrency=concurrency, company_ids=company_ids, worker_id=worker_id)

    return run


@pytest.fixture
def fast_retries(settings):
    """Backoff in milliseconds so retry tests finish quickly."""
    settings.LEDGERLINK_BACKOFF_BASE = 0.01
    settings.LEDGERLINK_BACKOFF_CAP = 0.05
    return settings


@pytest.fixture
def order_factory(db):
    """order_factory(order_source, email="", external_id=None, lines=None, **extra) -> (Order, PushRequest)

    Ingests an order through ``ingest_order`` (automation, payload builder, outbox): the real path."""
    from ledgerlink.domain.ingest.orders import ingest_order

    counter = itertools.count(1)

    def make(order_source, email: str = "", external_id: str | None = None, lines=None, **extra):
        ext = external_id or f"T-{uuid.uuid4().hex[:6]}-{next(counter)}"
        data = {
            "order_source": order_source.pk,
            "external_id": ext,
            "number": extra.pop("number", ext),
            "email": email,
            "lines": lines if lines is not None else [
                {"sku": "", "description": "Service", "quantity": 2, "unit_price": "10.00"}],
            **extra,
        }
        order, _ = ingest_order(data, actor_label="test")
        return order, order.push_requests.order_by("-id").first()

    return make
