"""The query language: shapes, operators, paging, faults."""

from __future__ import annotations

import pytest


@pytest.fixture
def people(make_realm):
    names = ["Amy's Bird Sanctuary", "Bill's Windsurf Shop", "Cool Cars", "Diego Rodriguez", "Dukes Basketball Camp",
             "Dylan Sollfrank", "Freeman Sporting Goods"]
    rc = make_realm(customers=[{"DisplayName": n, "CompanyName": n} for n in names])
    rc.post("customer", {"Id": "3", "SyncToken": "0", "sparse": True, "Active": False})  # Cool Cars inactive
    return rc


def qr(rc, text, method="GET"):
    if method == "GET":
        r = rc.query(text)
    else:
        r = rc.http.post(rc.path("query"), content=text,
                         headers=dict(rc.headers, **{"Content-Type": "application/text"}))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"QueryResponse", "time"}
    return body["QueryResponse"]


def ids(resp, entity="Customer"):
    return [c["Id"] for c in resp.get(entity, [])]


def test_select_all_active_only_and_shape(people):
    resp = qr(people, "SELECT * FROM Customer")
    assert list(resp) == ["Customer", "startPosition", "maxResults"]
    assert ids(resp) == ["1", "2", "4", "5", "6", "7"]
    assert resp["startPosition"] == 1 and resp["maxResults"] == 6
    assert ids(qr(people, "select * from customer where Active in (true, false)")) == ["1", "2", "3", "4", "5", "6", "7"]
    assert ids(qr(people, "select * from Customer where Active = false")) == ["3"]


def test_count_and_empty(people):
    assert qr(people, "SELECT COUNT(*) FROM Customer") == {"totalCount": 6}
    assert qr(people, "select count(*) from Customer where DisplayName LIKE 'D%'") == {"totalCount": 3}
    empty = "SELECT * FROM Customer WHERE Id IN ('5', '6', '7', '8', '9', '10') AND Active IN ( true, false ) MAXRESULTS 2 STARTPOSITION 7"
    assert qr(people, empty) == {}
    assert qr(people, "select * from Estimate") == {}


def test_where_operators_escape_and_post(people):
    assert ids(qr(people, "SELECT * FROM Customer WHERE DisplayName = 'Amy\\'s Bird Sanctuary'")) == ["1"]
    assert ids(qr(people, "select * from Customer where Id in ('2', '4')", "POST")) == ["2", "4"]
    assert ids(qr(people, "select * from Customer where DisplayName like '%Camp'")) == ["5"]
    assert ids(qr(people, "select * from Customer where Id > '4'")) == ["5", "6", "7"]
    assert ids(qr(people, "select * from Customer where Id >= '4' and Id <= '5'")) == ["4", "5"]
    people.http.put("/_sandbox/clock", json={"offset_seconds": 120})
    try:
        later = people.create("Customer", {"DisplayName": "Zed"})
    finally:
        people.http.put("/_sandbox/clock", json={"offset_seconds": 0})
    stamp = later["MetaData"]["LastUpdatedTime"]
    assert ids(qr(people, f"select * from Customer where MetaData.LastUpdatedTime >= '{stamp}'")) == [later["Id"]]
    assert ids(qr(people, "select * from Customer where metadata.lastupdatedtime < '2001-01-01'")) == []


def test_order_and_paging(people):
    resp = qr(people, "select * from Customer ORDER BY DisplayName DESC STARTPOSITION 2 MAXRESULTS 2")
    assert [c["DisplayName"] for c in resp["Customer"]] == ["Dylan Sollfrank", "Dukes Basketball Camp"]
    assert resp["startPosition"] == 2 and resp["maxResults"] == 2
    resp = qr(people, "select * from Customer where Active in (true,false) orderby DisplayName maxresults 3 startposition 4")
    assert [c["DisplayName"] for c in resp["Customer"]] == ["Diego Rodriguez", "Dukes Basketball Camp", "Dylan Sollfrank"]
    big = qr(people, "select * from Customer maxresults 5000")
    assert big["maxResults"] == 6


def test_default_page_is_100_and_refs(make_realm):
    rc = make_realm(customers=[{"DisplayName": f"C{i:03d}"} for i in range(150)])
    assert qr(rc, "select * from Customer")["maxResults"] == 100
    assert qr(rc, "select * from Customer startposition 101")["maxResults"] == 50
    line = {"DetailType": "SalesItemLineDetail", "Amount": 300, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    a = rc.create("Invoice", {"CustomerRef": {"value": "5"}, "Line": [line]})
    rc.create("Invoice", {"CustomerRef": {"value": "6"}, "Line": [dict(line, Amount=20)]})
    assert ids(qr(rc, "select * from Invoice where CustomerRef = '5'"), "Invoice") == [a["Id"]]
    assert ids(qr(rc, "select * from Invoice where TotalAmt > '100.00'"), "Invoice") == [a["Id"]]
    assert ids(qr(rc, f"select * from Invoice where DocNumber = '{a['DocNumber']}'"), "Invoice") == [a["Id"]]


def test_item_sku_only_when_selected(make_realm):
    rc = make_realm(items=[{"Name": "Widget", "Type": "NonInventory", "IncomeAccountRef": {"value": "79"}, "Sku": "W-1"}])
    plain = qr(rc, "select * from Item where Name = 'Widget'")["Item"][0]
    assert "Sku" not in plain
    assert qr(rc, "SELECT *, Sku FROM Item where Name = 'Widget'")["Item"][0]["Sku"] == "W-1"


def test_query_faults(people):
    r = people.query("SELECT * FROM Custmoer")
    assert r.status_code == 400
    assert r.json()["Fault"] == {"Error": [{"Message": "Invalid query",
                                            "Detail": "QueryValidationError: invalid context declaration: Custmoer",
                                            "code": "4001"}], "type": "ValidationFault"}
    r = people.query("SELECT * FROM NULL WHERE")
    err = r.json()["Fault"]["Error"][0]
    assert r.status_code == 400 and err["code"] == "4000" and err["Message"] == "Error parsing query"
    assert err["Detail"] == ('QueryParserError: Encountered " "null" "NULL "" at line 1, column 15.\n'
                             "Was expecting:\n    <IDENTIFIER> ...\n    ")
    r = people.query("SELECT * FROM Customer WHERE DisplayName = 'a' OR Id = '1'")
    assert r.json()["Fault"]["Error"][0]["code"] == "4000"
    r = people.query("select * from Customer where Nope = '1'")
    assert r.json()["Fault"]["Error"][0] == {"Message": "Invalid query",
                                             "Detail": "QueryValidationError: property 'Nope' is not queryable",
                                             "code": "4001"}
    r = people.query("")
    assert r.json()["Fault"]["Error"][0]["Detail"] == "\nQueryParserError: The query provided was empty"


def test_email_and_phone_compare_by_their_text(make_realm):
    rc = make_realm(customers=[{"DisplayName": "A", "PrimaryEmailAddr": {"Address": "name2@example.com"},
                                "PrimaryPhone": {"FreeFormNumber": "(555) 555-1234"}},
                               {"DisplayName": "B", "PrimaryEmailAddr": {"Address": "other@example.com"}}])
    assert ids(qr(rc, "select * from Customer where PrimaryEmailAddr = 'Name2@Example.com'")) == ["1"]
    assert ids(qr(rc, "select * from Customer where PrimaryEmailAddr like '%@example.com'")) == ["1", "2"]
    assert ids(qr(rc, "select * from Customer where PrimaryPhone = '(555) 555-1234'")) == ["1"]
