"""Property tests: whatever a client sends, the sandbox answers like QBO (a Fault or a result), never with
its own 500 and never by crashing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=False, allow_infinity=False, width=32), st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=8)

FIELDS = ["DisplayName", "Line", "CustomerRef", "Amount", "DetailType", "SalesItemLineDetail", "ItemRef", "Qty",
          "UnitPrice", "Id", "SyncToken", "sparse", "DocNumber", "TxnDate", "BillEmail", "PrimaryEmailAddr",
          "Name", "Type", "IncomeAccountRef", "Active", "TxnTaxDetail", "Deposit"]
entity_bodies = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)

QUERY_WORDS = ["SELECT", "select", "*", "COUNT(*)", "FROM", "Customer", "Invoice", "Item", "WHERE", "AND", "OR",
               "Id", "=", "<", ">=", "IN", "('1', '2')", "LIKE", "'%a%'", "'x\\'y'", "ORDERBY", "ORDER", "BY",
               "DisplayName", "DESC", "STARTPOSITION", "MAXRESULTS", "10", "-1", "MetaData.LastUpdatedTime",
               "'2026-01-01'", "true", ",", "(", ")", "Sku", "NULL"]
queries = st.lists(st.sampled_from(QUERY_WORDS), max_size=12).map(" ".join)


@pytest.fixture(scope="module")
def fuzz_realm(http):
    r = http.post("/_sandbox/realms", json={"limits": None, "customers": [{"DisplayName": "Fuzz"}]})
    info = r.json()
    return info["realm_id"], {"Authorization": f"Bearer {info['access_token']}"}


def _assert_qbo_like(r):
    assert r.status_code in (200, 400), r.text
    body = r.json()
    if r.status_code == 400:
        assert set(body["Fault"]) == {"Error", "type"} and body["Fault"]["Error"][0]["code"].isdigit()
    else:
        assert "Fault" not in body


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=entity_bodies, entity=st.sampled_from(["customer", "invoice", "salesreceipt", "item"]),
       op=st.sampled_from([None, "delete", "void"]))
def test_any_entity_body_gets_a_qbo_answer(http, fuzz_realm, body, entity, op):
    realm_id, headers = fuzz_realm
    params = {"operation": op} if op else {}
    _assert_qbo_like(http.post(f"/v3/company/{realm_id}/{entity}", json=body, headers=headers, params=params))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=queries)
def test_any_query_gets_a_qbo_answer(http, fuzz_realm, text):
    realm_id, headers = fuzz_realm
    r = http.get(f"/v3/company/{realm_id}/query", params={"query": text}, headers=headers)
    _assert_qbo_like(r)
    if r.status_code == 400:
        assert r.json()["Fault"]["Error"][0]["code"] in ("4000", "4001")


batch_items = st.lists(st.one_of(
    st.fixed_dictionaries({"bId": st.text(max_size=5), "operation": st.sampled_from(["create", "update", "delete", "x"]),
                           "Customer": entity_bodies}),
    st.fixed_dictionaries({"bId": st.text(max_size=5), "operation": st.sampled_from(["create", "void", "delete"]),
                           "Invoice": entity_bodies}),
    st.fixed_dictionaries({"bId": st.text(max_size=5), "Query": queries}),
    st.dictionaries(st.sampled_from(["bId", "operation", "Item", "Query", "Nope"]), json_values, max_size=3),
), max_size=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=batch_items, since=st.sampled_from(["", "2026-01-01", "garbage", "2099-01-01T00:00:00Z"]))
def test_any_batch_or_cdc_gets_a_qbo_answer(http, fuzz_realm, items, since):
    realm_id, headers = fuzz_realm
    r = http.post(f"/v3/company/{realm_id}/batch", json={"BatchItemRequest": items}, headers=headers)
    _assert_qbo_like(r)
    if r.status_code == 200:
        assert len(r.json()["BatchItemResponse"]) == len(items)
    r = http.get(f"/v3/company/{realm_id}/cdc", params={"entities": "Customer,Invoice", "changedSince": since},
                 headers=headers)
    _assert_qbo_like(r)


NEW_FIELDS = ["CustomerRef", "TotalAmt", "Line", "LinkedTxn", "TxnId", "TxnType", "Amount", "DepositToAccountRef",
              "PaymentMethodRef", "PaymentType", "CheckPayment", "Name", "DueDays", "DayOfMonthDue", "Type",
              "AccountType", "AccountSubType", "ParentRef", "AcctNum", "DisplayName", "Code", "Active", "Id",
              "SyncToken", "sparse", "CurrencyRef", "ExchangeRate", "GlobalTaxCalculation", "TxnTaxDetail",
              "TaxLine", "TaxCode", "TaxRateDetails", "RateValue", "TaxAgencyId", "TaxRateId", "SourceCurrencyCode",
              "Rate", "AsOfDate", "TaxPrefs", "CurrencyPrefs", "SalesFormsPrefs", "PrimaryEmailAddr"]
new_bodies = st.dictionaries(st.sampled_from(NEW_FIELDS), json_values, max_size=6)


@pytest.fixture(scope="module")
def fuzz_world(http):
    out = []
    for spec in ({"multicurrency": True}, {"country": "CA"}, {"tax_model": "legacy"}):
        r = http.post("/_sandbox/realms", json={"limits": None, "customers": [{"DisplayName": "Fuzz"}], **spec})
        info = r.json()
        out.append((info["realm_id"], {"Authorization": f"Bearer {info['access_token']}"}))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=new_bodies, which=st.integers(0, 2),
       entity=st.sampled_from(["payment", "creditmemo", "refundreceipt", "term", "paymentmethod", "account",
                               "taxagency", "companycurrency", "exchangerate", "taxservice/taxcode", "preferences",
                               "invoice", "customer"]),
       op=st.sampled_from([None, None, "delete", "void", "update"]))
def test_any_body_for_the_new_entities_gets_a_qbo_answer(http, fuzz_world, body, which, entity, op):
    realm_id, headers = fuzz_world[which]
    params = {"operation": op} if op else {}
    if op == "update":
        params["include"] = "void"
    _assert_qbo_like(http.post(f"/v3/company/{realm_id}/{entity}", json=body, headers=headers, params=params))
    _assert_qbo_like(http.get(f"/v3/company/{realm_id}/query", params={"query": "select * from TaxCode"},
                              headers=headers))
