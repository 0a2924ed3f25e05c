"""Fault classification over every recorded QBO fault (reference/qbo-recorded) and the seed's errors."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ledgerlink.quickbooks.errors import ERROR_KINDS, classify, classify_fault

RECORDED = Path(__file__).resolve().parents[4] / "shared" / "reference" / "qbo-recorded"
if not RECORDED.is_dir():  # a checkout outside /work
    RECORDED = Path("/work/shared/reference/qbo-recorded")

# file -> (kind, transient, code, element)
EXPECTED = {
    "attachable-upload-missing-estimate-6000-in-http-200.json": ("validation", False, "6000", ""),
    "batch-create-delete-update-query-mixed-faults.json": ("invalid_reference", False, "610", ""),
    "batch-invoice-update-stale-object-5010.json": ("stale_object", False, "5010", ""),
    "batch-journalentry-6140-duplicate-docnumber-and-2020.json": ("duplicate_doc_number", False, "6140", ""),
    "batch-journalentry-delete-610-and-deleted.json": ("invalid_reference", False, "610", ""),
    "customer-create-duplicate-name-6240.json": ("duplicate_name", False, "6240", ""),
    "customer-read-expired-token-401-3200.json": ("auth_reconnect", False, "3200", ""),
    "customer-read-non-numeric-id-2030.json": ("validation", False, "2030", "Id"),
    "customer-read-unknown-subpath-unsupported-operation-500.json": ("validation", False, "500", ""),
    "entity-add-invalid-company-status-in-http-200.json": ("validation", False, "6190", ""),
    "gateway-401-malformed-bearer-token-3200.json": ("auth_reconnect", False, "3200", ""),
    "gateway-401-wrong-cluster-130-xml.json": ("auth_reconnect", False, "130", ""),
    "gateway-403-application-authorization-failed-3100.json": ("auth_reconnect", False, "3100", ""),
    "gateway-403-insufficient-scope-3100-xml.json": ("auth_reconnect", False, "3100", ""),
    "gateway-503-html-avi-vantage.json": ("server_error", True, "503", ""),
    "gateway-504-gateway-timeout-6002-xml.json": ("server_error", True, "6002", ""),
    "invoice-create-6000-gst-hst-rate-required.json": ("tax_code_invalid", False, "6000", ""),
    "invoice-create-amount-mismatch-6070-xml.json": ("amount_mismatch", False, "6070", "Line.Amount"),
    "invoice-create-invalid-itemref-2500-xml.json": (
        "invalid_reference", False, "2500", "Line.SalesItemLineDetail.ItemRef"),
    "invoice-create-unrecognized-property-2010.json": ("validation", False, "2010", ""),
    "invoice-send-sendto-plus-sign-2210.json": ("invalid_email", False, "2210", ""),
    "item-create-faultinfo-bad-request-400-xml.json": ("server_error", True, "400", ""),
    "item-create-missing-name-2020.json": ("validation", False, "2020", "Name"),
    "item-read-not-found-610.json": ("invalid_reference", False, "610", ""),
    "item-update-stale-object-5010.json": ("stale_object", False, "5010", ""),
    "journalentry-6000-transient-please-wait.json": ("server_error", True, "6000", ""),
    "query-bad-realm-in-path-6000-unexpected-internal-error.json": ("validation", False, "6000", ""),
    "query-invoice-10000-system-fault-xml.json": ("server_error", True, "10000", ""),
    "query-invoice-4002-to-email-invalid.json": ("validation", False, "4002", ""),
    "query-parse-error-null-4000.json": ("validation", False, "4000", ""),
    "query-unknown-entity-4001.json": ("validation", False, "4001", ""),
    "salesreceipt-create-missing-line-detailtype-2020.json": ("validation", False, "2020", "Line.DetailType"),
    "throttle-429-3001-xml.json": ("throttled", True, "3001", ""),
    "token-refresh-invalid-grant-bare.json": ("auth_reconnect", False, "invalid_grant", ""),
    "token-refresh-invalid-grant-incorrect-refresh-token.json": ("auth_reconnect", False, "invalid_grant", ""),
    "token-refresh-invalid-grant-user-not-in-realm.json": ("auth_reconnect", False, "invalid_grant", ""),
}


def _body_text(response: dict) -> str | None:
    if response.get("body_raw"):
        return response["body_raw"]
    if response.get("body_text"):
        return response["body_text"]
    body = response.get("body")
    if body is None:
        return None
    return body if isinstance(body, str) else json.dumps(body)


def _is_fault_file(name: str, response: dict) -> bool:
    status = response.get("status")
    text = _body_text(response) or ""
    return (status is not None and status >= 400) or status is None or '"Fault"' in text or "Invalid Company" in text


def test_every_recorded_fault_file_is_pinned():
    assert RECORDED.is_dir()
    faults = set()
    for path in sorted(RECORDED.glob("*.json")):
        response = json.loads(path.read_text())["response"]
        if _is_fault_file(path.name, response):
            faults.add(path.name)
    assert faults == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recorded_fault_classification(name):
    response = json.loads((RECORDED / name).read_text())["response"]
    c = classify(response.get("status"), _body_text(response))
    kind, transient, code, element = EXPECTED[name]
    assert (c.kind, c.transient, c.code, c.element) == (kind, transient, code, element)
    assert c.title == ERROR_KINDS[kind]["title"]


def test_verbatim_fields_from_api_fault():
    body = (RECORDED / "invoice-create-amount-mismatch-6070-xml.json").read_text()
    response = json.loads(body)["response"]
    c = classify(400, response["body"])
    assert c.message == "Amount calculation incorrect in the request."
    assert c.detail == "Amount is not equal to UnitPrice * Qty. Supplied value:58"


def test_seed_errors():
    c = classify(400, json.dumps({"Fault": {"Error": [{
        "Message": "Required param missing, need to supply the required value for the API",
        "Detail": "Required parameter CustomerRef is missing in the request", "code": "2020",
        "element": "CustomerRef"}], "type": "ValidationFault"}}))
    assert (c.kind, c.transient, c.title) == ("customer_ref_required", False, "CustomerRef is required")
    assert "Add the new Customer in your QuickBooks Online account" in c.fix
    c = classify(400, json.dumps({"Fault": {"Error": [{
        "Message": "Invalid Email Address format",
        "Detail": "Email Address does not conform to the syntax rules of RFC 822. Supplied value:a@@b",
        "code": "2210", "element": "BillEmail.Address"}], "type": "ValidationFault"}}))
    assert (c.kind, c.title, c.element) == ("invalid_email", "Invalid Email Address format", "BillEmail.Address")
    c = classify(400, json.dumps({"warnings": None, "fault": {"error": [{
        "message": "message=BadRequest; errorCode=003202; statusCode=400", "detail": None, "code": "3202",
        "element": None}], "type": "AUTHENTICATION"}}))
    assert (c.kind, c.transient, c.code) == ("connection_003202", True, "3202")
    assert c.title == "message=BadRequest; errorCode=003202; statusCode=400"
    assert "You do NOT need to change anything" not in c.fix  # our own words
    assert "without changing anything" in c.fix


def test_gateway_500_and_429_lowercase():
    c = classify(500, json.dumps({"fault": {"error": [{
        "message": "message=InternalServerError; errorCode=003100; statusCode=500", "detail": None,
        "code": "3100"}], "type": "SERVICE"}}))
    assert (c.kind, c.transient) == ("server_error", True)
    c = classify(429, json.dumps({"fault": {"error": [{
        "message": "message=ThrottleExceeded; errorCode=003001; statusCode=429", "code": "3001"}]}}))
    assert (c.kind, c.transient) == ("throttled", True)
    assert classify(429, "").kind == "throttled"
    assert classify(502, "").kind == "server_error"


def test_exceptions_are_network_and_transient():
    c = classify(None, None, httpx.ReadTimeout("timed out"))
    assert (c.kind, c.transient, c.message) == ("network", True, "Timeout: timed out")
    c = classify(None, None, httpx.ConnectError("refused"))
    assert (c.kind, c.transient, c.message) == ("network", True, "Connection error: refused")


def test_batch_item_fault_and_doc_number_length():
    c = classify_fault({"Error": [{"Message": "Duplicate Document Number Error", "code": "6140"}]})
    assert c.kind == "duplicate_doc_number"
    c = classify(400, json.dumps({"Fault": {"Error": [{"Message": "Invalid String Length",
        "Detail": "String length is either shorter or longer than supported by specification. Min:0 Max:21 supplied:30",
        "code": "2050", "element": "DocNumber"}]}}))
    assert c.kind == "doc_number_too_long"


def test_every_kind_has_title_and_fix():
    assert set(ERROR_KINDS) == {
        "customer_ref_required", "invalid_email", "connection_003202", "auth_reconnect", "throttled",
        "server_error", "network", "stale_object", "duplicate_name", "duplicate_doc_number",
        "doc_number_too_long", "invalid_reference", "shipping_item_missing", "amount_mismatch", "validation",
        "unknown", "tax_code_unmapped", "tax_code_invalid", "currency_not_enabled", "customer_currency_mismatch",
        "void_refused_payments", "deposited_transaction", "overpayment", "refund_account_missing"}
    for spec in ERROR_KINDS.values():
        assert spec["title"] and spec["fix"]


def test_docs_list_every_kind_with_its_title():
    doc = (Path(__file__).resolve().parents[3] / "docs" / "errors.md").read_text()
    for kind, spec in ERROR_KINDS.items():
        assert f"| `{kind}` | {spec['title']} |" in doc
    for state in ("queued", "sending", "retrying", "succeeded", "failed", "cancelled"):
        assert f"| `{state}` |" in doc


@pytest.mark.parametrize(("error", "kind"), [
    ({"Message": "Invalid Line TaxCode in the request", "code": "6100",
      "Detail": "Valid line TaxCodes for US should be TAX or NON. Supplied value: 8",
      "element": "Line.SalesItemLineDetail.TaxCodeRef"}, "tax_code_invalid"),
    ({"Message": "Invalid TxnTaxDetail", "code": "6170", "Detail": "The TxnTaxDetail attribute isn't allowed when "
      "GlobalTaxCalculation is set to NotApplicable."}, "tax_code_invalid"),
    ({"Message": "A business validation error has occurred while processing your request", "code": "6000",
      "Detail": "Business Validation Error: Make sure all your transactions have a VAT rate before you save."},
     "tax_code_invalid"),
    ({"Message": "Invalid Reference Id", "code": "2500", "Detail": "Invalid Reference Id : "
      "Line.SalesItemLineDetail.TaxCodeRef", "element": "Line.SalesItemLineDetail.TaxCodeRef"}, "tax_code_invalid"),
    ({"Message": "A business validation error has occurred while processing your request", "code": "6000",
      "Detail": "Business Validation Error: The transaction needs to be in the same currency as the A/R and A/P "
      "accounts you use."}, "customer_currency_mismatch"),
    ({"Message": "Invalid Currency Type", "code": "2220",
      "Detail": "The specified currency type isn't valid. Supplied value:EUR"}, "currency_not_enabled"),
])
def test_tax_and_currency_faults(error, kind):
    c = classify(400, json.dumps({"Fault": {"Error": [error], "type": "ValidationFault"}}))
    assert (c.kind, c.transient, c.code) == (kind, False, error["code"])
    assert c.title == ERROR_KINDS[kind]["title"]
