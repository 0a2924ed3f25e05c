"""Injected faults (incl. timeout and drop_after_commit over real sockets) and the per-realm limits."""

from __future__ import annotations

import threading
import time

import httpx
import pytest


def test_injected_gateway_faults_count_and_entity(realm):
    assert realm.control("POST", "faults", {"kind": "500", "entity": "Invoice", "count": 2}).status_code == 201
    assert realm.control("POST", "faults", {"kind": "nope"}).status_code == 400
    assert realm.get("customer/1").status_code == 200  # other entity: untouched
    line = {"DetailType": "SalesItemLineDetail", "Amount": 1, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    for _ in range(2):
        r = realm.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [line]})
        assert r.status_code == 500
        assert r.json()["fault"]["error"][0]["message"] == "message=InternalServerError; errorCode=003100; statusCode=500"
        assert r.json()["fault"]["type"] == "SERVICE"
    assert realm.entities("Invoice") == []  # not performed
    assert realm.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [line]}).status_code == 200
    realm.control("POST", "faults", {"kind": "429"})
    r = realm.get("customer/1")
    assert r.status_code == 429
    assert r.json()["fault"]["error"][0] == {"message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                                             "detail": "The request limit was reached.  Try again later",
                                             "code": "3001", "element": None}
    realm.control("POST", "faults", {"kind": "003202"})
    r = realm.get("customer/1")
    assert r.status_code == 400
    assert r.json()["fault"]["error"][0]["message"] == "message=BadRequest; errorCode=003202; statusCode=400"
    assert realm.control("GET", "faults").json() == {"faults": []}
    log = realm.requests_log()
    assert [(e["status"], e["injected"]) for e in log if e["injected"]] == [
        (500, "500"), (500, "500"), (429, "429"), (400, "003202")]


def test_fault_rate(realm):
    realm.control("POST", "faults", {"kind": "500", "rate": 1.0, "operation": "read"})
    assert [realm.get("customer/1").status_code for _ in range(3)] == [500, 500, 500]
    assert realm.query("select * from Customer").status_code == 200
    realm.control("DELETE", "faults")
    assert realm.get("customer/1").status_code == 200


def test_drop_after_commit_commits_then_closes(realm, sandbox):
    realm.control("POST", "faults", {"kind": "drop_after_commit", "entity": "Customer"})
    with httpx.Client(base_url=sandbox.base_url, timeout=10) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            c.post(realm.path("customer"), json={"DisplayName": "Dropped"}, headers=realm.headers,
                   params={"requestid": "drop-1"})
        # the write happened; a retry with the same requestid gets the original answer, no duplicate
        r = c.post(realm.path("customer"), json={"DisplayName": "Dropped"}, headers=realm.headers,
                   params={"requestid": "drop-1"})
    assert r.status_code == 200 and r.json()["Customer"]["DisplayName"] == "Dropped"
    assert [c["DisplayName"] for c in realm.entities("Customer")] == ["Amy's Bird Sanctuary", "Dropped"]
    log = realm.requests_log()
    assert [(e["status"], e["injected"], e["replayed"]) for e in log] == [(None, "drop_after_commit", False),
                                                                          (200, None, True)]


def test_timeout_holds_until_client_gives_up(realm, sandbox):
    realm.control("PUT", "config", {"timeout_max_s": 1})
    realm.control("POST", "faults", {"kind": "timeout", "count": 2})
    with httpx.Client(base_url=sandbox.base_url) as c:
        t0 = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            c.post(realm.path("customer"), json={"DisplayName": "Slow"}, headers=realm.headers, timeout=0.3)
        assert time.monotonic() - t0 < 1.0
        # a patient client: the server gives up after timeout_max_s and closes without answering
        with pytest.raises(httpx.RemoteProtocolError):
            c.post(realm.path("customer"), json={"DisplayName": "Slow"}, headers=realm.headers, timeout=10)
        assert time.monotonic() - t0 >= 1.0
    assert [c["DisplayName"] for c in realm.entities("Customer")] == ["Amy's Bird Sanctuary"]


def _fire(n_threads, per_thread, make_request):
    """n_threads threads, each with its own connection, start together; returns statuses."""
    results: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n_threads)

    def worker(i):
        with httpx.Client(timeout=30) as c:
            c.get(make_request.base + "/")  # connect before the start line
            barrier.wait()
            for j in range(per_thread):
                status = make_request(c, i, j)
                with lock:
                    results.append(status)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _max_overlap(intervals):
    events = sorted([(s, 1) for s, _ in intervals] + [(f, -1) for _, f in intervals], key=lambda e: (e[0], e[1]))
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def _check_concurrency_invariants(log, limit):
    """No request over the limit succeeded, none under it was refused: for every request, count the
    performed requests in flight when it arrived (server-side intervals, not client timings)."""
    performed = [(e["started"], e["finished"]) for e in log if e["status"] != 429]
    assert _max_overlap(performed) <= limit
    for e in log:
        inflight = sum(1 for s, f in performed if s <= e["started"] <= f and (s, f) != (e["started"], e["finished"]))
        if e["status"] == 429:
            assert e["throttled"] == "concurrent" and e["fault_code"] == "3001"
            assert inflight == limit
        else:
            assert inflight < limit


def test_concurrency_limit_exact_under_20_threads(make_realm, sandbox):
    rc = make_realm(limits={"concurrent": 10, "per_minute": None, "batch_per_minute": None},
                    config={"latency": {"fixed_ms": 1500}})

    def req(c, i, j):
        return c.post(sandbox.base_url + rc.path("customer"), json={"DisplayName": f"T{i}-{j}"},
                      headers=rc.headers).status_code

    req.base = sandbox.base_url
    statuses = _fire(20, 1, req)
    log = [e for e in rc.requests_log() if e["operation"] == "create"]
    assert len(log) == 20 and sorted(statuses) == sorted(e["status"] for e in log)
    assert set(statuses) == {200, 429}  # 20 requests raced for 10 slots
    assert len(rc.entities("Customer")) == statuses.count(200)  # refused requests were not performed
    _check_concurrency_invariants(log, 10)
    if max(e["started"] for e in log) - min(e["started"] for e in log) < 1.5:
        assert statuses.count(200) == 10  # all arrived while the first ten were held


def test_concurrency_limit_holds_under_sustained_load(make_realm, sandbox):
    rc = make_realm(limits={"concurrent": 10, "per_minute": None, "batch_per_minute": None},
                    config={"latency": {"median_ms": 15, "p99_ms": 60}})

    def req(c, i, j):
        return c.get(sandbox.base_url + rc.path(f"companyinfo/{rc.realm_id}"), headers=rc.headers).status_code

    req.base = sandbox.base_url
    statuses = _fire(20, 15, req)
    log = [e for e in rc.requests_log() if e["operation"] == "read"]
    assert len(log) == len(statuses) == 300
    assert sorted(statuses) == sorted(e["status"] for e in log)
    assert set(statuses) == {200, 429}
    _check_concurrency_invariants(log, 10)


def test_per_minute_limit_exact_under_20_threads(make_realm, sandbox):
    rc = make_realm(limits={"per_minute": 500, "concurrent": None, "batch_per_minute": None})

    def req(c, i, j):
        return c.post(sandbox.base_url + rc.path("customer"), json={"DisplayName": f"M{i}-{j}"},
                      headers=rc.headers).status_code

    req.base = sandbox.base_url
    statuses = _fire(20, 26, req)
    assert statuses.count(200) == 500 and statuses.count(429) == 20
    assert len(rc.entities("Customer")) == 500
    log = sorted(rc.requests_log(), key=lambda e: e["started"])
    assert [e["status"] for e in log] == [200] * 500 + [429] * 20
    assert {e["throttled"] for e in log[500:]} == {"per_minute"}


def test_batch_per_minute_limit(make_realm):
    rc = make_realm(limits={"batch_per_minute": 40, "per_minute": 500, "concurrent": 10})
    body = {"BatchItemRequest": [{"bId": "1", "Query": "select count(*) from Customer"}]}
    statuses = [rc.post("batch", body).status_code for _ in range(41)]
    assert statuses == [200] * 40 + [429]
    assert rc.get(f"companyinfo/{rc.realm_id}").status_code == 200  # other requests still pass
    assert rc.requests_log()[40]["throttled"] == "batch_per_minute"


def test_limits_config_validation(realm):
    assert realm.control("PUT", "config", {"limits": {"per_minute": -1}}).status_code == 400
    assert realm.control("PUT", "config", {"bogus": 1}).status_code == 400
    r = realm.control("PUT", "config", {"limits": {"concurrent": 3}})
    assert r.json()["config"]["limits"] == {"per_minute": 500, "concurrent": 3, "batch_per_minute": 40}
    assert realm.control("PUT", "config", {"limits": False}).json()["config"]["limits"] is None


def test_reset_keeps_realm_and_tokens_and_log_since(realm):
    realm.create("Customer", {"DisplayName": "Temp"})
    first = realm.requests_log()[-1]["started"]
    realm.control("PUT", "config", {"custom_txn_numbers": True})
    r = realm.control("POST", "reset")
    assert r.status_code == 200 and "Customer" not in r.json()["counts"]
    assert realm.entities("Customer") == []
    assert [i["Name"] for i in realm.entities("Item")] == ["Services", "Hours"]
    assert realm.get(f"companyinfo/{realm.realm_id}").status_code == 200  # same token still works
    assert realm.get("preferences").json()["Preferences"]["SalesFormsPrefs"]["CustomTxnNumbers"] is True
    c = realm.create("Customer", {"DisplayName": "Amy's Bird Sanctuary"})  # the old name is free again
    assert c["Id"] == "1"
    log = realm.control("GET", f"requests?since={first}").json()["requests"]
    assert [e["operation"] for e in log] == ["read", "read", "create"]
