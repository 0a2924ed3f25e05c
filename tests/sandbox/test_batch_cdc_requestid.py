"""Batch, change data capture and requestid replay."""

from __future__ import annotations

LINE = {"DetailType": "SalesItemLineDetail", "Amount": 100, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}


def test_batch_mixed_items_answer_independently(realm):
    inv = realm.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [LINE]})
    body = {"BatchItemRequest": [
        {"bId": "bid1", "operation": "create", "Vendor": {"DisplayName": "Boraski Family Store"}},
        {"bId": "bid2", "operation": "delete", "Invoice": {"Id": "129", "SyncToken": "0"}},
        {"bId": "bid3", "operation": "update", "Invoice": {"Id": inv["Id"], "SyncToken": "7", "sparse": True,
                                                           "PrivateNote": "x"}},
        {"bId": "bid4", "Query": "select * from Invoice where TotalAmt > '50.00'"},
        {"bId": "bid5", "operation": "create", "Customer": {"DisplayName": "Amy's Bird Sanctuary"}},
        {"bId": "bid6", "operation": "create", "Invoice": {"Line": [LINE]}},
    ]}
    r = realm.post("batch", body)
    assert r.status_code == 200
    out = r.json()
    assert set(out) == {"BatchItemResponse", "time"}
    items = {i["bId"]: i for i in out["BatchItemResponse"]}
    assert [i["bId"] for i in out["BatchItemResponse"]] == ["bid1", "bid2", "bid3", "bid4", "bid5", "bid6"]
    assert items["bid1"]["Vendor"]["DisplayName"] == "Boraski Family Store" and set(items["bid1"]) == {"Vendor", "bId"}
    assert items["bid2"]["Fault"] == {"Error": [{
        "Message": "Object Not Found",
        "Detail": "Object Not Found : Something you're trying to use has been made inactive. Check the fields with "
                  "accounts, customers, items, vendors or employees.", "code": "610", "element": ""}],
        "type": "ValidationFault"}
    assert items["bid3"]["Fault"]["Error"][0]["code"] == "5010"
    assert items["bid4"]["QueryResponse"] == {"Invoice": [realm.get(f"invoice/{inv['Id']}").json()["Invoice"]],
                                              "startPosition": 1, "maxResults": 1}
    assert items["bid5"]["Fault"]["Error"] == [{"Message": "Duplicate Name Exists Error",
                                                "Detail": "The name supplied already exists. : null", "code": "6240",
                                                "element": ""}]
    assert items["bid6"]["Fault"]["Error"][0]["element"] == "CustomerRef"
    assert all("time" not in i.get("Fault", {}) for i in out["BatchItemResponse"])


def test_batch_over_30_items_is_refused(realm):
    items = [{"bId": str(i), "operation": "create", "Customer": {"DisplayName": f"B{i}"}} for i in range(31)]
    r = realm.post("batch", {"BatchItemRequest": items})
    assert r.status_code == 400
    [err] = r.json()["Fault"]["Error"]
    assert err["code"] == "1040" and err["Message"] == "Batch size exceeds allowed limit"
    assert len(realm.entities("Customer")) == 1  # nothing done
    r = realm.post("batch", {"BatchItemRequest": items[:30]})
    assert r.status_code == 200 and len(r.json()["BatchItemResponse"]) == 30
    assert len(realm.entities("Customer")) == 31


def test_cdc_changes_and_deleted_markers(realm):
    # everything below happens "a minute later" than the seeded customer
    base = realm.http.put("/_sandbox/clock", json={"offset_seconds": 60}).json()["now"]
    try:
        empty = realm.get("cdc", params={"entities": "Invoice", "changedSince": base})
        assert empty.json()["CDCResponse"] == [{"QueryResponse": [{}]}]
        a = realm.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [LINE]})
        b = realm.create("Invoice", {"CustomerRef": {"value": "1"}, "Line": [LINE]})
        realm.post("invoice?operation=delete", {"Id": a["Id"], "SyncToken": "0"})
        c = realm.create("Customer", {"DisplayName": "New One"})
        r = realm.get("cdc", params={"entities": "invoice,Customer", "changedSince": base})
    finally:
        realm.http.put("/_sandbox/clock", json={"offset_seconds": 0})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"CDCResponse", "time"}
    [block] = body["CDCResponse"]
    groups = block["QueryResponse"]
    assert [list(g)[0] for g in groups] == ["Invoice", "Customer"]
    inv_group = groups[0]
    assert inv_group["startPosition"] == 1 and inv_group["maxResults"] == 2
    assert inv_group["Invoice"][0]["Id"] == b["Id"] and inv_group["Invoice"][0]["TotalAmt"] == 100
    tomb = inv_group["Invoice"][1]
    assert set(tomb) == {"domain", "status", "Id", "MetaData"}
    assert (tomb["status"], tomb["Id"]) == ("Deleted", a["Id"]) and set(tomb["MetaData"]) == {"LastUpdatedTime"}
    assert [x["Id"] for x in groups[1]["Customer"]] == [c["Id"]]


def test_cdc_30_day_limit(realm):
    r = realm.get("cdc", params={"entities": "Customer", "changedSince": "2011-10-10T09:00:00-07:00"})
    assert r.status_code == 400
    assert r.json()["Fault"]["Error"] == [{"Message": "Unsupported Operation",
                                           "Detail": "Operation cdc with changedSince date 2011-10-10T09:00:00-07:00 "
                                                     "which is older than fixed days is not supported.",
                                           "code": "500"}]
    realm.control("PUT", "config", {"cdc_max_days": None})
    r = realm.get("cdc", params={"entities": "Customer", "changedSince": "2011-10-10T09:00:00-07:00"})
    assert [c["Id"] for c in r.json()["CDCResponse"][0]["QueryResponse"][0]["Customer"]] == ["1"]


def test_requestid_replays_first_answer_without_acting(realm):
    body = {"CustomerRef": {"value": "1"}, "Line": [LINE]}
    first = realm.post("invoice", body, params={"requestid": "rq-1"})
    again = realm.post("invoice", body, params={"requestid": "rq-1"})
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert len(realm.entities("Invoice")) == 1
    other = realm.post("invoice", body, params={"requestid": "rq-2"})
    assert other.json()["Invoice"]["Id"] != first.json()["Invoice"]["Id"]
    # per realm: another company may use the same requestid
    log = realm.requests_log()
    assert [(e["requestid"], e["replayed"]) for e in log] == [("rq-1", False), ("rq-1", True), ("rq-2", False)]
    # faults are not stored: after fixing the payload the same requestid is performed
    bad = realm.post("customer", {"DisplayName": "Amy's Bird Sanctuary"}, params={"requestid": "rq-3"})
    assert bad.status_code == 400
    good = realm.post("customer", {"DisplayName": "Someone Else"}, params={"requestid": "rq-3"})
    assert good.status_code == 200
    # too long
    r = realm.post("customer", {"DisplayName": "Long Rid"}, params={"requestid": "x" * 51})
    assert r.json()["Fault"]["Error"][0]["code"] == "2130"


def test_requestid_on_batch_needs_same_bids(realm):
    def batch(bids, names):
        return realm.post("batch", {"BatchItemRequest": [
            {"bId": b, "operation": "create", "Customer": {"DisplayName": n}} for b, n in zip(bids, names, strict=True)]},
            params={"requestid": "batch-1"})

    first = batch(["1", "2"], ["P1", "P2"])
    again = batch(["1", "2"], ["P1", "P2"])
    assert first.content == again.content
    assert len(realm.entities("Customer")) == 3
    different = batch(["3"], ["P3"])
    assert different.json()["BatchItemResponse"][0]["Customer"]["DisplayName"] == "P3"
    assert len(realm.entities("Customer")) == 4
    r = realm.post("batch", {"BatchItemRequest": [{"bId": "x" * 11, "operation": "create",
                                                   "Customer": {"DisplayName": "Q"}}]}, params={"requestid": "b2"})
    assert r.status_code == 400 and r.json()["Fault"]["Error"][0]["code"] == "2130"


def test_concurrent_repeats_of_one_requestid_act_once(make_realm, sandbox):
    """A client that gives up and retries while the first attempt is still running gets the first answer."""
    import threading

    import httpx

    rc = make_realm(customers=[{"DisplayName": "C"}], config={"latency": {"fixed_ms": 400}})
    body = {"CustomerRef": {"value": "1"}, "Line": [LINE]}
    answers = []

    def send():
        with httpx.Client(base_url=sandbox.base_url, timeout=10) as c:
            answers.append(c.post(rc.path("invoice"), json=body, headers=rc.headers, params={"requestid": "same"}))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len({a.content for a in answers}) == 1
    assert len(rc.entities("Invoice")) == 1
    assert sorted(e["replayed"] for e in rc.requests_log()) == [False, True, True]
