"""Fixtures for the qbo_sandbox tests: a real server on loopback (no mocks)."""

from __future__ import annotations

import json
import pathlib

import httpx
import pytest

from qbo_sandbox.testing import SandboxServer

# Copies of ../shared/reference/qbo-recorded (real captured QBO exchanges; see recorded/README.md).
RECORDED = pathlib.Path(__file__).parent / "recorded"


class RealmClient:
    """A realm plus an access token, speaking to the sandbox over HTTP."""

    def __init__(self, http: httpx.Client, info: dict):
        self.http = http
        self.info = info
        self.realm_id = info["realm_id"]
        self.token = info.get("access_token")
        self.refresh_token = info.get("refresh_token")

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    def path(self, sub: str) -> str:
        return f"/v3/company/{self.realm_id}/{sub}"

    def get(self, sub: str, **kw) -> httpx.Response:
        return self.http.get(self.path(sub), headers=self.headers, **kw)

    def post(self, sub: str, body=None, **kw) -> httpx.Response:
        return self.http.post(self.path(sub), headers=self.headers, json=body, **kw)

    def query(self, text: str) -> httpx.Response:
        return self.http.get(self.path("query"), params={"query": text}, headers=self.headers)

    def control(self, method: str, sub: str, body=None) -> httpx.Response:
        return self.http.request(method, f"/_sandbox/realms/{self.realm_id}/{sub}".rstrip("/"), json=body)

    def entities(self, etype: str) -> list[dict]:
        r = self.control("GET", f"entities/{etype}")
        assert r.status_code == 200
        return r.json()[etype]

    def requests_log(self) -> list[dict]:
        return self.control("GET", "requests").json()["requests"]

    def create(self, etype: str, body: dict) -> dict:
        r = self.post(etype.lower(), body)
        assert r.status_code == 200, r.text
        return r.json()[etype]


# The contract suite runs every realm with the strictest refresh (a new refresh token on each refresh), as it always
# has; tests of Intuit's day-long refresh-token value pass refresh_token_rotation_s themselves.
STRICT = {"refresh_token_rotation_s": 0}


@pytest.fixture(scope="session")
def sandbox():
    with SandboxServer(realm_defaults=STRICT) as sb:
        yield sb


@pytest.fixture(scope="session")
def http(sandbox):
    with httpx.Client(base_url=sandbox.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def make_realm(http):
    """make_realm(**spec) -> RealmClient; limits are off unless the spec sets them."""

    def _make(**spec) -> RealmClient:
        spec.setdefault("limits", None)
        r = http.post("/_sandbox/realms", json=spec)
        assert r.status_code == 201, r.text
        return RealmClient(http, r.json())

    return _make


@pytest.fixture
def realm(make_realm) -> RealmClient:
    """A fresh realm with one customer (Id 1, with a billing address) and limits off."""
    return make_realm(customers=[{
        "DisplayName": "Amy's Bird Sanctuary", "GivenName": "Amy", "FamilyName": "Lauterbach",
        "CompanyName": "Amy's Bird Sanctuary", "PrimaryEmailAddr": {"Address": "Birds@Intuit.com"},
        "PrimaryPhone": {"FreeFormNumber": "(650) 555-3311"},
        "BillAddr": {"Line1": "4581 Finch St.", "City": "Bayshore", "CountrySubDivisionCode": "CA",
                     "PostalCode": "94326"},
        "ShipAddr": {"Line1": "4581 Finch St.", "City": "Bayshore", "CountrySubDivisionCode": "CA",
                     "PostalCode": "94326"},
    }])


def recorded(name: str) -> dict:
    return json.loads((RECORDED / name).read_text())
