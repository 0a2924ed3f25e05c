"""Bad input, generated: the payload builder, the edit validator, the payload editor, CSV files.

* hypothesis on ``build_payload`` (through ``ingest_order``, the real path): every sales line's Amount
  is exactly round_half_up(Qty x UnitPrice, 2) — the rule QBO enforces with 6070 — whatever the
  quantities and prices; the DocNumber is at most 21 characters or the request is held back before
  any API call (pre-flight ``doc_number_too_long``, nothing sent);
* hypothesis on ``validate_edited_payload`` with arbitrary JSON and with mutations of a real payload:
  it returns the payload or raises ``ServiceError`` naming the field — never anything else — and a
  refused Save & Re-Queue leaves every stored row as it was;
* the payload editor (web): invalid JSON of every kind, a 10 MB edit and deeply nested JSON get a clear
  error and store nothing;
* CSV: a 10,000-row file with broken rows and bad encodings mixed in (the million-row file is in
  ``make chaos``: tests/chaos/test_csv_million.py).
"""

from __future__ import annotations

import io
import json
import random
import string
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db.models import Count
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerlink.core.models import Attempt, AuditLog, Order, PushRequest, PushRevision
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.ingest.csv_import import import_orders_csv
from ledgerlink.domain.ingest.orders import ingest_order
from ledgerlink.domain.outbox.actions import requeue_request
from ledgerlink.domain.payloads.edit import MAX_EDIT_BYTES, validate_edited_payload
from ledgerlink.domain.payloads.preflight import DOC_NUMBER_MAX
from tests.ledgerlink import factories

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
CENT = Decimal("0.01")


def stored() -> dict:
    """Every row an edit or an import could touch."""
    return {
        "orders": list(Order.objects.order_by("id").values_list("id", "status", "number", "total")),
        "requests": list(PushRequest.objects.order_by("id").values_list(
            "id", "state", "revision", "error_kind", "attempt_count", "next_attempt_at")),
        "revisions": list(PushRevision.objects.order_by("id").values_list("id", "number", "payload")),
        "attempts": Attempt.objects.count(),
        "audit": AuditLog.objects.count(),
    }


# --- the payload builder -------------------------------------------------------------------------------

# within what ingest accepts (quantity > 0, price >= 0, total < 10^9)
quantities = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("9999"), places=4)
prices = st.decimals(min_value=Decimal("0"), max_value=Decimal("9999"), places=4)
numbers = st.text(alphabet=string.ascii_letters + string.digits + "-_/#. ", min_size=1, max_size=40).filter(
    lambda s: s.strip())


@pytest.fixture
def world():
    return factories.make_world()


_seq = iter(range(10**9))


@FUZZ
@given(lines=st.lists(st.tuples(quantities, prices), min_size=1, max_size=6), number=numbers,
       sales_receipt=st.booleans())
def test_built_amount_is_qty_times_unit_price_and_docnumber_fits_or_is_flagged(world, lines, number, sales_receipt):
    data = factories.order_data(
        source="Web Shop" if sales_receipt else "Wholesale Portal", external_id=f"HY-{next(_seq)}",
        lines=[{"sku": "W-100", "description": "Widget", "quantity": str(q), "unit_price": str(p)} for q, p in lines],
    )
    data["number"] = number
    order, created = ingest_order(data, actor_label="hypothesis")
    assert created
    pr = order.push_requests.get()
    payload = pr.revisions.get(number=pr.revision).payload
    sales = [line for line in payload["Line"] if line["DetailType"] == "SalesItemLineDetail"]
    assert len(sales) == len(lines)
    for line, (q, p) in zip(sales, lines, strict=True):
        detail = line["SalesItemLineDetail"]
        qty, price, amount = (Decimal(str(detail["Qty"])), Decimal(str(detail["UnitPrice"])),
                              Decimal(str(line["Amount"])))
        assert (qty, price) == (q, p)  # the JSON numbers carry the order's exact values
        assert amount == (qty * price).quantize(CENT, rounding=ROUND_HALF_UP)
    doc_number = payload.get("DocNumber", "")
    assert doc_number == number
    if len(doc_number) > DOC_NUMBER_MAX:
        # flagged before any API call: failed with the DocNumber error, no attempt sent
        assert (pr.state, pr.error_kind, pr.error_element) == ("failed", "doc_number_too_long", "DocNumber")
        assert list(pr.attempts.values_list("outcome", flat=True)) == ["preflight"]
    else:
        assert pr.state == "queued", (pr.error_kind, pr.error_detail)


# --- the edit validator --------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30) | st.floats() | st.text(
    max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)
FIELDS = ["Line", "CustomerRef", "BillEmail", "DocNumber", "TxnDate", "PrivateNote", "TxnTaxDetail", "CurrencyRef",
          "Id", "SyncToken", "sparse", "domain", "Invoice", "SalesItemLineDetail", "Amount", "TotalAmt"]


def mutate(draw_value, base: dict, data) -> dict:
    out = json.loads(json.dumps(base))
    for _ in range(data.draw(st.integers(1, 4))):
        target = data.draw(st.sampled_from(["top", "line", "detail"]))
        key = data.draw(st.sampled_from(FIELDS + ["Qty", "UnitPrice", "ItemRef", "DetailType"]))
        value = data.draw(draw_value)
        if target == "top":
            out[key] = value
        elif target == "line" and isinstance(out.get("Line"), list) and out["Line"]:
            if isinstance(out["Line"][0], dict):
                out["Line"][0][key] = value
        elif isinstance(out.get("Line"), list) and out["Line"] and isinstance(out["Line"][0], dict):
            detail = out["Line"][0].get("SalesItemLineDetail")
            if isinstance(detail, dict):
                detail[key] = value
    return out


def check_validator(kind: str, payload, current=None) -> None:
    try:
        result = validate_edited_payload(kind, payload, current)
    except ServiceError as exc:
        assert exc.message and isinstance(exc.message, str)
        assert exc.field is None or exc.field.startswith("payload")
        assert exc.status in (413, 422)
    else:
        assert result is payload or result == payload


@FUZZ
@given(payload=json_values, kind=st.sampled_from(["invoice", "sales_receipt", "customer", "item"]))
def test_validator_on_arbitrary_json_raises_only_service_error(payload, kind):
    check_validator(kind, payload)
    check_validator(kind, {"Line": [], "PrivateNote": "x"} if not isinstance(payload, dict) else payload,
                    {"Id": "42", "SyncToken": "0"})


@FUZZ
@given(data=st.data())
def test_validator_on_mutated_real_payloads_raises_only_service_error(data):
    base = factories.invoice_payload("name2@example.com", customer={"value": "56", "name": "Acme"})
    check_validator("invoice", mutate(json_values, base, data))
    check_validator("invoice", mutate(json_values, dict(base, Id="7", SyncToken="3"), data),
                    {"Id": "7", "SyncToken": "3"})


@pytest.mark.parametrize("depth", [100, 5000])
def test_validator_on_deeply_nested_json_raises_service_error(depth):
    nested: list = []
    for _ in range(depth):
        nested = [nested]
    try:
        validate_edited_payload("invoice", {"Line": [], "PrivateNote": nested})
    except ServiceError as exc:
        assert exc.field == "payload" or exc.field.startswith("payload.")


def as_json_numbers(value):
    return json.loads(json.dumps(value), parse_float=Decimal, parse_int=Decimal)


@FUZZ
@given(data=st.data())
def test_refused_requeue_leaves_stored_data_untouched(data):
    w = factories.make_web_world() if not factories.Company.objects.exists() else None
    if w is None:
        pr = PushRequest.objects.get()
    else:
        pr = factories.make_failed_request(w)
    base = factories.invoice_payload("name2@example.com", customer={"value": "56", "name": "Acme"})
    payload = mutate(json_values, base, data)
    before = stored()
    try:
        requeue_request(pr.pk, payload=payload, note="fuzz", actor_label="hypothesis")
    except ServiceError:
        assert stored() == before
    else:  # accepted: exactly one new revision carrying the edit; then back to failed for the next example
        pr.refresh_from_db()
        # compared as JSON numbers: PostgreSQL's jsonb keeps 1e+16-sized floats as exact decimals
        assert as_json_numbers(pr.revisions.get(number=pr.revision).payload) == as_json_numbers(payload)
        assert PushRevision.objects.count() == len(before["revisions"]) + 1
        PushRequest.objects.filter(pk=pr.pk).update(state="failed")


# --- the payload editor (web) --------------------------------------------------------------------------

BAD_JSON = [
    "", " ", "{", "}", "{]", "[1,]", "{'Line': []}", '{"Line": [],}', '{"a": NaN}', '{"a": Infinity}', "nul",
    '{"Line": [1 2]}', '"just a string"', "[]", "42", "true", "null", '{"a": "\x00"', "\ufeff{}", "{" * 50,
    '{"Line": []} trailing', '{"a": 1e99999}',
]


@pytest.fixture
def editor(client):
    w = factories.make_web_world()
    pr = factories.make_failed_request(w)
    client.force_login(factories.make_login_user("op", "operator"))
    return client, pr


def test_editor_invalid_json_gets_a_clear_error_and_stores_nothing(editor):
    client, pr = editor
    before = stored()
    for text in BAD_JSON:
        resp = client.post(reverse("web:request_edit", args=[pr.pk]), {"payload": text, "action": "save"})
        assert resp.status_code == 422, (text, resp.status_code)
        html = resp.content.decode()
        # the reason (line and column, "must be a JSON object", "payload.a: must be a finite number")
        assert "Nothing was saved." in html, (text, html[:300])
        assert ("Line " in html and "column" in html) or "must be a JSON object" in html or "payload" in html
        assert stored() == before, text


def test_editor_deeply_nested_json_gets_a_clear_error_and_stores_nothing(editor):
    client, pr = editor
    before = stored()
    text = '{"Line": [], "PrivateNote": ' + "[" * 5000 + "]" * 5000 + "}"
    resp = client.post(reverse("web:request_edit", args=[pr.pk]), {"payload": text, "action": "save"})
    assert resp.status_code in (413, 422), resp.status_code
    assert "nested" in resp.content.decode()
    assert stored() == before


def test_editor_10_mb_payload_gets_a_clear_error_and_stores_nothing(editor):
    client, pr = editor
    before = stored()
    payload = dict(factories.invoice_payload(), PrivateNote="x" * (10 * 1024 * 1024))
    resp = client.post(reverse("web:request_edit", args=[pr.pk]), {"payload": json.dumps(payload), "action": "save"})
    assert resp.status_code == 413, resp.status_code
    text = resp.content.decode()
    assert "too large" in text or f"{MAX_EDIT_BYTES:,}" in text, text[:500]
    assert stored() == before


def test_editor_10_mb_payload_with_csrf_checks_on_gets_the_same_clear_413(editor):
    """In production the CSRF middleware reads the form first: the same 413 comes from handler400."""
    from django.test import Client

    _, pr = editor
    client = Client(enforce_csrf_checks=True)
    client.force_login(factories.get_user_model().objects.get(username="op"))
    assert client.get(reverse("web:request_detail", args=[pr.pk])).status_code == 200  # sets the CSRF cookie
    before = stored()
    resp = client.post(reverse("web:request_edit", args=[pr.pk]), {"payload": "x" * (10 * 1024 * 1024)})
    assert resp.status_code == 413
    assert "too large" in resp.content.decode() and "Nothing was saved" in resp.content.decode()
    assert stored() == before


def test_api_10_mb_and_deeply_nested_edit_get_a_clear_error_and_store_nothing(client):
    from ledgerlink.domain.accounts.tokens import create_api_token

    w = factories.make_web_world()
    pr = factories.make_failed_request(w)
    token = create_api_token(factories.make_login_user("api-op", "operator"), "fuzz")
    before = stored()
    big = json.dumps({"payload": dict(factories.invoice_payload(), PrivateNote="x" * (10 * 1024 * 1024))})
    r = client.post(f"/api/v1/requests/{pr.pk}/requeue", big, content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 413 and r.json()["field"] == "payload" and "too large" in r.json()["detail"]
    deep = '{"payload": {"Line": [], "PrivateNote": ' + "[" * 5000 + "]" * 5000 + "}}"
    r = client.post(f"/api/v1/requests/{pr.pk}/requeue", deep, content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {token}")
    assert 400 <= r.status_code < 500 and r.json()["detail"]
    assert stored() == before


# --- CSV --------------------------------------------------------------------------------------------------

CSV_HEADER = "order_source,external_id,number,email,sku,description,quantity,unit_price\n"


def csv_rows(n: int, rng: random.Random, *, broken_every: int = 2, lines_per_order=(20, 40)):
    """``n`` data rows (20-40 rows per order); every ``broken_every``-th order is broken: a zero quantity,
    a price like "12,50€", an unknown order source (on all its rows) or a row with a surplus cell.
    Yields (row text, external_id, broken)."""
    row = 0
    order = 0
    while row < n:
        order += 1
        ext = f"CSV-{order}"
        size = min(rng.randint(*lines_per_order), n - row)
        broken = order % broken_every == 0
        kind = rng.choice(["quantity", "price", "source", "cells"]) if broken else None
        source = "No Such Source" if kind == "source" else "Wholesale Portal"
        for k in range(size):
            qty, price = str(rng.randint(1, 9)), f"{rng.randint(1, 9999) / 100:.2f}"
            extra = ""
            if broken and k == size - 1:
                if kind == "quantity":
                    qty = "0"
                elif kind == "price":
                    price = '"12,50€"'
                elif kind == "cells":
                    extra = ",surplus"
            yield f"{source},{ext},{ext},name2@example.com,W-100,Widget {k},{qty},{price}{extra}\n", ext, broken
            row += 1


def test_csv_10k_rows_with_broken_rows_imports_the_good_and_reports_every_bad_order(world):
    rng = random.Random(10_000)
    lines, good, bad = [], set(), set()
    line_of: dict[str, list[int]] = {}
    for index, (text, ext, broken) in enumerate(csv_rows(10_000, rng)):
        lines.append(text)
        line_of.setdefault(ext, []).append(index + 2)  # line 1 is the header
        (bad if broken else good).add(ext)
    raw = (CSV_HEADER + "".join(lines)).encode()
    report = import_orders_csv(io.BytesIO(raw), actor_label="csv:fuzz")
    assert report.created == len(good) and len(good) > 120 and len(bad) > 120
    error_lines = {line for line, _ in report.errors}
    for ext in bad:  # every broken order is reported on one of its lines and not imported, not even in part
        assert error_lines & set(line_of[ext]), ext
    assert all(isinstance(reason, str) and reason for _, reason in report.errors)
    assert set(Order.objects.values_list("external_id", flat=True)) == good
    assert PushRequest.objects.count() == len(good)
    # the good orders have all their lines
    assert Order.objects.filter(external_id__in=good).aggregate(n=Count("lines"))["n"] == sum(
        len(line_of[e]) for e in good)


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "cp1252", "mixed"])
def test_csv_wrong_encoding_is_refused_whole_with_the_line_and_nothing_stored(world, encoding):
    text = CSV_HEADER + "".join(f"Wholesale Portal,E-{n},E-{n},,W-100,Crème brûlée {n},1,2.50\n" for n in range(200))
    if encoding == "mixed":  # a UTF-8 file with one Latin-1 line in the middle (line 102)
        raw = text.encode("utf-8")
        raw = raw.replace("Crème brûlée 100".encode(), "Crème brûlée 100".encode("latin-1"))
    else:
        raw = text.encode(encoding)
    before = stored()
    report = import_orders_csv(io.BytesIO(raw), actor_label="csv:fuzz")
    assert report.created == 0
    assert len(report.errors) == 1
    line, reason = report.errors[0]
    assert "UTF-8" in reason and "Nothing was imported" in reason
    if encoding == "mixed":
        assert line == 102
    assert stored() == before
