"""Webhooks (signed, async, retried), --state persistence, --data seeding and the console script."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from qbo_sandbox.testing import SandboxServer
from qbo_sandbox.webhooks import sign

from .conftest import recorded


class Receiver:
    """A real HTTP endpoint on loopback that records webhook POSTs; fails the first `fail_first`."""

    def __init__(self, fail_first=0):
        self.calls: list[dict] = []
        self.fail_first = fail_first
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.calls.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                status = 500 if len(outer.calls) <= outer.fail_first else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.calls

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_signature_matches_intuit_test_vectors():
    rec = recorded("webhook-legacy-eventnotifications.json")
    body = rec["request"]["body_raw"].encode()
    assert sign(body, rec["verifier_token"]) == rec["request"]["headers"]["intuit-signature"]
    java = (b'{"eventNotifications":[{"realmId":"1185883450","dataChangeEvent":{"entities":[{"name":"Customer",'
            b'"id":"1","operation":"Create","lastUpdated":"2015-10-05T14:42:19-0700"}]}}]}')
    assert sign(java, "b5771f19b12ddb4bcdb9f08bdc50bc63878a") == "JC2GUwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8Q="


def test_legacy_webhook_signed_and_batched(make_realm, receiver):
    rc = make_realm(config={"webhook_url": receiver.url, "webhook_verifier": "verif-1", "webhook_batch_ms": 200})
    c = rc.create("Customer", {"DisplayName": "Hooked"})
    line = {"DetailType": "SalesItemLineDetail", "Amount": 5, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    inv = rc.create("Invoice", {"CustomerRef": {"value": c["Id"]}, "Line": [line]})
    [call] = receiver.wait(1)
    h = call["headers"]
    expected_sig = base64.b64encode(hmac.new(b"verif-1", call["body"], hashlib.sha256).digest()).decode()
    assert h["intuit-signature"] == expected_sig
    assert h["content-type"] == "application/json; charset=utf-8"
    assert h["user-agent"] == "intuit_notification_server/0.1"
    assert h["intuit-notification-schema-version"] == "0.1"
    payload = json.loads(call["body"])
    [note] = payload["eventNotifications"]
    assert note["realmId"] == rc.realm_id
    ents = note["dataChangeEvent"]["entities"]
    assert [(e["name"], e["id"], e["operation"]) for e in ents] == [("Customer", c["Id"], "Create"),
                                                                   ("Invoice", inv["Id"], "Create")]
    assert all(e["lastUpdated"].endswith("Z") and len(e["lastUpdated"]) == 24 for e in ents)


def test_webhook_retried_with_backoff(make_realm):
    receiver = Receiver(fail_first=2)
    try:
        rc = make_realm(config={"webhook_url": receiver.url, "webhook_verifier": "v", "webhook_batch_ms": 0,
                                "webhook_retry_delays": [0.1, 0.2, 0.2]})
        rc.create("Customer", {"DisplayName": "Retry Me"})
        calls = receiver.wait(3)
        assert len(calls) == 3 and calls[0]["body"] == calls[2]["body"]
        # The receiver has answered the third call a moment before the sandbox records that delivery.
        deadline = time.monotonic() + 10
        while True:
            deliveries = rc.control("GET", "webhooks").json()["deliveries"]
            if len(deliveries) >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert [(d["attempt"], d["status"], d["ok"]) for d in deliveries] == [(1, 500, False), (2, 500, False),
                                                                               (3, 200, True)]
    finally:
        receiver.close()


def test_webhook_gives_up_after_bounded_retries(make_realm):
    rc = make_realm(config={"webhook_url": "http://127.0.0.1:9/nothing", "webhook_verifier": "v",
                            "webhook_batch_ms": 0, "webhook_retry_delays": [0.05]})
    rc.create("Customer", {"DisplayName": "Nobody Listens"})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        deliveries = rc.control("GET", "webhooks").json()["deliveries"]
        if len(deliveries) >= 2:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    deliveries = rc.control("GET", "webhooks").json()["deliveries"]
    assert [(d["attempt"], d["ok"]) for d in deliveries] == [(1, False), (2, False)]
    assert deliveries[0]["status"] is None
    assert deliveries[0]["error"].startswith("URLError: <urlopen error [Errno 111] Connection refused>")


def test_cloudevents_webhook(make_realm, receiver):
    rc = make_realm(customers=[{"DisplayName": "Ce"}],
                    config={"webhook_url": receiver.url, "webhook_verifier": "v2", "webhook_format": "cloudevents",
                            "webhook_batch_ms": 0})
    rc.post("customer", {"Id": "1", "SyncToken": "0", "sparse": True, "Active": False})
    [call] = receiver.wait(1)
    events = json.loads(call["body"])
    assert isinstance(events, list) and len(events) == 1
    ev = events[0]
    assert set(ev) == {"specversion", "id", "source", "type", "datacontenttype", "time", "intuitentityid",
                       "intuitaccountid", "data"}
    assert (ev["specversion"], ev["type"], ev["intuitentityid"], ev["intuitaccountid"]) == (
        "1.0", "qbo.customer.deleted.v1", "1", rc.realm_id)
    assert ev["time"].endswith("Z") and len(ev["time"].split(".")[1]) == 10
    assert call["headers"]["intuit-signature"] == sign(call["body"], "v2")


def test_state_survives_restart(tmp_path):
    path = str(tmp_path / "state.sqlite3")
    with SandboxServer(state_path=path) as sb:
        c = httpx.Client(base_url=sb.base_url)
        info = c.post("/_sandbox/realms", json={"realm_id": "4620816365", "customers": [{"DisplayName": "Kept"}],
                                               "limits": None}).json()
        h = {"Authorization": f"Bearer {info['access_token']}"}
        line = {"DetailType": "SalesItemLineDetail", "Amount": 9, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
        inv = c.post("/v3/company/4620816365/invoice", json={"CustomerRef": {"value": "1"}, "Line": [line]},
                     headers=h, params={"requestid": "persist-1"}).json()["Invoice"]
    with SandboxServer(state_path=path) as sb:
        c = httpx.Client(base_url=sb.base_url)
        r = c.get(f"/v3/company/4620816365/invoice/{inv['Id']}", headers=h)
        assert r.status_code == 200 and r.json()["Invoice"]["DocNumber"] == inv["DocNumber"]
        assert r.json()["Invoice"]["CustomerRef"] == {"value": "1", "name": "Kept"}
        assert c.get("/v3/company/4620816365/customer/1", headers=h).json()["Customer"]["Balance"] == 9
        again = c.post("/v3/company/4620816365/invoice", json={"CustomerRef": {"value": "1"}, "Line": [line]},
                       headers=h, params={"requestid": "persist-1"}).json()["Invoice"]
        assert again["Id"] == inv["Id"]
        nxt = c.post("/v3/company/4620816365/invoice", json={"CustomerRef": {"value": "1"}, "Line": [line]},
                     headers=h).json()["Invoice"]
        assert int(nxt["Id"]) == int(inv["Id"]) + 1 and int(nxt["DocNumber"]) == int(inv["DocNumber"]) + 1
        assert c.get("/_sandbox/realms/4620816365/config").json()["config"]["limits"] is None
        r = c.post("/oauth2/v1/tokens/bearer", auth=("sandbox-client", "x"),
                   data={"grant_type": "refresh_token", "refresh_token": info["refresh_token"]})
        assert r.status_code == 200
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert c.get("/v3/company/4620816365/customer/1", headers=h).json()["Customer"]["Balance"] == 18
        r = c.post("/v3/company/4620816365/invoice", params={"operation": "delete"}, headers=h,
                   json={"Id": nxt["Id"], "SyncToken": "0"})
        assert r.status_code == 200
    with SandboxServer(state_path=path) as sb:
        c = httpx.Client(base_url=sb.base_url)
        assert c.get("/v3/company/4620816365/customer/1", headers=h).json()["Customer"]["Balance"] == 9
        assert [i["status"] for i in c.get("/_sandbox/realms/4620816365/entities/Invoice").json()["Invoice"]] == [
            "Active", "Deleted"]
        nxt2 = c.post("/v3/company/4620816365/invoice", json={"CustomerRef": {"value": "1"}, "Line": [line]},
                      headers=h).json()["Invoice"]
        assert int(nxt2["DocNumber"]) == int(nxt["DocNumber"]) + 1


def test_data_seed_and_console_script(tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"realms": [{"realm_id": "123145", "customers": [{"DisplayName": "Seeded"}],
                                            "items": [{"Name": "Widget", "Type": "NonInventory",
                                                       "IncomeAccountRef": {"value": "79"}}]}]}))
    with SandboxServer(data=str(seed)) as sb:
        listing = httpx.get(f"{sb.base_url}/_sandbox/realms/123145/entities/Item").json()["Item"]
        assert [(i["Name"], i["status"]) for i in listing] == [("Services", "Active"), ("Hours", "Active"),
                                                               ("Widget", "Active")]
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "qbo_sandbox", "--host", "127.0.0.1", "--port", str(port),
                             "--data", str(seed), "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration")
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        assert r.json()["token_endpoint"] == f"http://127.0.0.1:{port}/oauth2/v1/tokens/bearer"
        r = httpx.get(f"http://127.0.0.1:{port}/_sandbox/realms/123145/entities/Customer")
        assert [c["DisplayName"] for c in r.json()["Customer"]] == ["Seeded"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sandbox_server_helpers(sandbox):
    info = sandbox.create_realm(limits=None, customers=[{"DisplayName": "Helper"}])
    assert info["entities"]["Customer"][0]["DisplayName"] == "Helper"
    r = httpx.get(f"{sandbox.api_url(info['realm_id'])}/customer/1",
                  headers={"Authorization": f"Bearer {info['access_token']}"})
    assert r.json()["Customer"]["DisplayName"] == "Helper"
    status, body = sandbox.control("GET", f"/_sandbox/realms/{info['realm_id']}")
    assert status == 200 and body["counts"]["Customer"] == 1
    assert sandbox.control("GET", "/_sandbox/realms/nope")[0] == 404
    with pytest.raises(RuntimeError):
        sandbox.create_realm(realm_id=info["realm_id"])
