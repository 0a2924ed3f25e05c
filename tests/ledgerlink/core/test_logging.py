"""Structured JSON logs: one object per line, and no token, secret or payload in any line."""

import io
import json
import logging
import re

import pytest
from django.core.management import call_command
from django.utils import timezone

from ledgerlink.core import crypto
from ledgerlink.core.logging import (
    JsonFormatter,
    RedactionFilter,
    TextFormatter,
    log_attempt,
    log_context,
    log_event,
    redact_text,
)
from ledgerlink.core.models import Attempt, PushRequest
from tests.ledgerlink.factories import (  # noqa: F401 - smtp_server is a fixture
    ACCESS_TOKEN,
    REFRESH_TOKEN,
    make_attempt,
    make_company,
    make_request,
    make_source,
    smtp_server,
)

CLIENT_SECRET = "cs-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
PAYLOAD_MARKER = "Confidential Widget Deluxe 7731"


@pytest.fixture
def json_log():
    """Every log record of every logger, through the production formatter, into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactionFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    loggers = [root] + [logging.getLogger(n) for n in ("ledgerlink", "httpx", "httpcore", "django", "qbo_sandbox")]
    old_levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        for lg, level in zip(loggers, old_levels, strict=True):
            lg.setLevel(level)


def lines_of(buffer) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in (ACCESS_TOKEN, REFRESH_TOKEN, CLIENT_SECRET, PAYLOAD_MARKER, *secrets):
        assert secret not in text
    # Nothing that looks like a JWT, a Fernet ciphertext or a bearer credential.
    assert not re.search(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.", text)
    assert not re.search(r"gAAAAA[A-Za-z0-9_\-=]{20,}", text)
    assert not re.search(r"(?i)bearer\s+(?!\[redacted\])[A-Za-z0-9\-._~+/=]{6,}", text)


def test_one_json_object_per_line_with_the_event_fields(json_log):
    with log_context(worker="host-1:77"):
        log_event("push.succeeded", push_request=12, requestid="ll-12-r1", company=3, intuit_tid="1-abc-def",
                  outcome="succeeded", qbo_id="145")
    logging.getLogger("ledgerlink.worker").warning("lease expired for %s", "ll-9-r2")
    first, second = lines_of(json_log)
    assert set(first) == {"ts", "level", "event", "logger", "worker", "push_request", "requestid", "company",
                          "intuit_tid", "outcome", "qbo_id"}
    assert first["ts"].endswith("+00:00")
    assert {k: v for k, v in first.items() if k != "ts"} == {
        "level": "info", "event": "push.succeeded", "logger": "ledgerlink", "worker": "host-1:77",
        "push_request": 12, "requestid": "ll-12-r1", "company": 3, "intuit_tid": "1-abc-def",
        "outcome": "succeeded", "qbo_id": "145",
    }
    assert {k: v for k, v in second.items() if k != "ts"} == {
        "level": "warning", "event": "lease expired for ll-9-r2", "logger": "ledgerlink.worker",
    }


def test_sensitive_fields_are_redacted_and_bodies_reduced_to_their_size(json_log):
    payload = {"Line": [{"Description": PAYLOAD_MARKER, "Amount": 10}], "CustomerRef": {"value": "56"}}
    log_event(
        "oauth.refreshed",
        company=1,
        access_token=ACCESS_TOKEN,
        refresh_token=REFRESH_TOKEN,
        client_secret=CLIENT_SECRET,
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}", "Accept": "application/json"},
        payload=payload,
        response_body=f'{{"Invoice": {{"Line": [{{"Description": "{PAYLOAD_MARKER}"}}]}}}}',
        access_token_expires_at="2026-11-25T16:00:00+00:00",
        error_code="6240",
    )
    (line,) = lines_of(json_log)
    assert line["access_token"] == line["refresh_token"] == line["client_secret"] == "[redacted]"
    assert line["headers"] == {"Authorization": "[redacted]", "Accept": "application/json"}
    assert line["payload"] == f"[{len(json.dumps(payload))} bytes redacted]"
    assert re.fullmatch(r"\[\d+ bytes redacted\]", line["response_body"])
    assert line["access_token_expires_at"] == "2026-11-25T16:00:00+00:00"
    assert line["error_code"] == "6240"
    assert_no_secret(json_log.getvalue())


@pytest.mark.parametrize(
    "text, expected",
    [
        (f"Authorization: Bearer {ACCESS_TOKEN}", "Authorization: Bearer [redacted]"),
        ("Authorization: Basic bGVkZ2VybGluazpzZWNyZXQ=", "Authorization: Basic [redacted]"),
        (f"grant_type=refresh_token&refresh_token={REFRESH_TOKEN}&x=1",
         "grant_type=refresh_token&refresh_token=[redacted]&x=1"),
        ("GET /connections/callback?code=AB11xyz&state=s1&realmId=9130",
         "GET /connections/callback?code=[redacted]&state=s1&realmId=9130"),
        (f'{{"access_token": "{ACCESS_TOKEN}", "expires_in": 3600}}',
         '{"access_token": "[redacted]", "expires_in": 3600}'),
        (f"{{'refresh_token': '{REFRESH_TOKEN}'}}", "{'refresh_token': '[redacted]'}"),
        (f"client_secret={CLIENT_SECRET}", "client_secret=[redacted]"),
        (f"token is {ACCESS_TOKEN} here", "token is [redacted] here"),
        ("error_code=6240 requestid=ll-7-r2 intuit_tid=1-5f3-a9", "error_code=6240 requestid=ll-7-r2 intuit_tid=1-5f3-a9"),
        ('{"error_code": "6240", "DocNumber": "1001"}', '{"error_code": "6240", "DocNumber": "1001"}'),
    ],
)
def test_redact_text(text, expected):
    assert redact_text(text) == expected


@pytest.mark.django_db
def test_fernet_ciphertext_and_exceptions_are_redacted(json_log):
    ciphertext = crypto.encrypt(REFRESH_TOKEN)
    try:
        raise RuntimeError(f"token endpoint said no to refresh_token={REFRESH_TOKEN} (stored as {ciphertext})")
    except RuntimeError:
        logging.getLogger("ledgerlink.qbo").exception("refresh failed for %s", ciphertext)
    out = json_log.getvalue()
    (line,) = lines_of(json_log)
    assert line["event"] == "refresh failed for [redacted]"
    assert "refresh_token=[redacted]" in line["exc"]
    assert_no_secret(out, ciphertext)


def test_text_formatter_redacts_too():
    record = logging.LogRecord("ledgerlink", logging.INFO, __file__, 1, "sent %s", (f"Bearer {ACCESS_TOKEN}",), None)
    record.fields = {"refresh_token": REFRESH_TOKEN, "requestid": "ll-1-r1"}
    text = TextFormatter().format(record)
    assert "sent Bearer [redacted]" in text
    assert 'refresh_token="[redacted]" requestid="ll-1-r1"' in text
    assert_no_secret(text)


@pytest.mark.django_db
def test_log_attempt_carries_the_identifiers_and_not_the_body(json_log):
    company = make_company()
    pr = make_request(company, PushRequest.State.SUCCEEDED, source=make_source(company))
    attempt = make_attempt(pr, Attempt.Outcome.SUCCEEDED, duration_ms=321, intuit_tid="1-abc", worker="w1",
                           response_body=f'{{"Invoice": {{"Id": "9", "Line": "{PAYLOAD_MARKER}"}}}}')
    log_attempt(attempt, push_request=pr)
    (line,) = lines_of(json_log)
    assert {k: v for k, v in line.items() if k != "ts"} == {
        "level": "info", "event": "push.attempt", "logger": "ledgerlink", "push_request": pr.pk,
        "requestid": f"ll-{pr.pk}-r1", "company": company.pk, "order": pr.order_id, "revision": 1, "worker": "w1",
        "batched": False, "http_status": 200, "outcome": "succeeded", "error_kind": None, "fault_code": None,
        "intuit_tid": "1-abc", "duration_ms": 321,
    }
    assert_no_secret(json_log.getvalue())


@pytest.mark.django_db
def test_logs_of_an_ops_run_hold_no_secret(json_log, smtp_server, settings, client):  # noqa: F811
    """Status, metrics, digests and retention over rows holding real encrypted tokens and payloads."""
    settings.LEDGERLINK_ADMIN_EMAILS = ["ops@example.com"]
    company = make_company()
    source = make_source(company)
    for state, kind in (("failed", "invalid_email"), ("succeeded", ""), ("queued", "")):
        pr = make_request(company, state, source=source, error_kind=kind)
        pr.revisions.update(payload={"Line": [{"Description": PAYLOAD_MARKER}]})
        log_attempt(make_attempt(pr, "failed" if kind else "succeeded", response_body=PAYLOAD_MARKER))
    call_command("status", "--json", stdout=io.StringIO())
    call_command("send_digests", stdout=io.StringIO())
    call_command("prune", "--days", "1", stdout=io.StringIO())
    assert client.get("/metrics").status_code == 200
    assert client.get("/readyz").status_code == 503
    out = json_log.getvalue()
    events = [line["event"] for line in lines_of(json_log)]
    assert events.count("push.attempt") == 3
    assert "digest.sent" in events
    assert_no_secret(out, company.access_token_enc, company.refresh_token_enc)


@pytest.mark.django_db
def test_logs_of_a_full_pipeline_run_hold_no_token_secret_or_payload(
    json_log, qbo, company, site_area_factory, order_source_factory, customer_factory, order_factory,
    run_worker_until_idle, fast_retries, settings, client,
):
    """Everything at DEBUG, every logger: OAuth connect (the company fixture), mirror, ingest,
    worker sends (success, 003202 retried, preflight failures), an access token refreshed after a
    401, then a refused refresh token; status, metrics and digests on top."""
    from ledgerlink.core.models import Company

    seen_tokens = {crypto.decrypt(company.access_token_enc), crypto.decrypt(company.refresh_token_enc)}
    ciphertexts = {company.access_token_enc, company.refresh_token_enc}
    source = order_source_factory(site_area_factory(company, "Wholesale", "invoice"), "Portal")
    customer_factory(company, "Acme Tools", "buyer@acme.example")
    lines = [{"sku": "", "description": PAYLOAD_MARKER, "quantity": 1, "unit_price": "99.00"}]
    order_factory(source, email="buyer@acme.example", lines=lines)
    order_factory(source, email="nobody@nowhere.example", lines=lines)  # customer_ref_required
    order_factory(source, email="bad@@example..com", lines=lines)  # invalid_email
    qbo.add_fault(company.realm_id, "003202", entity="Invoice", count=1)
    order_factory(source, email="buyer@acme.example", lines=lines)
    run_worker_until_idle(timeout=30)

    # QBO forgets the access token: a 401, a refresh, the request goes through.
    qbo.expire_tokens(company.realm_id)
    order_factory(source, email="buyer@acme.example", lines=lines)
    run_worker_until_idle(timeout=30)
    company.refresh_from_db()
    seen_tokens |= {crypto.decrypt(company.access_token_enc), crypto.decrypt(company.refresh_token_enc)}
    ciphertexts |= {company.access_token_enc, company.refresh_token_enc}
    assert len(seen_tokens) == 4  # both tokens were rotated

    # Then the refresh token is refused too: the Company needs reconnecting.
    qbo.expire_tokens(company.realm_id, refresh=True)
    Company.objects.filter(pk=company.pk).update(access_token_expires_at=timezone.now())
    order_factory(source, email="buyer@acme.example", lines=lines)
    run_worker_until_idle(timeout=30)
    company.refresh_from_db()
    assert company.status == "needs_reconnect"

    settings.LEDGERLINK_ADMIN_EMAILS = []
    call_command("status", "--json", stdout=io.StringIO())
    assert client.get("/metrics").status_code == 200

    out = json_log.getvalue()
    lines_out = lines_of(json_log)
    assert len(lines_out) > 20
    assert any(line["logger"] == "httpx" and f"/v3/company/{company.realm_id}/" in line["event"] for line in lines_out)
    assert_no_secret(out, settings.QBO_CLIENT_SECRET, *seen_tokens, *ciphertexts)


def test_long_texts_are_cut_so_no_document_reaches_a_line_whole(json_log):
    document = json.dumps({"Line": [{"Description": f"line {i} {PAYLOAD_MARKER}"} for i in range(400)]})
    assert len(document) > 10000
    try:
        raise ValueError(f"QBO said no to {document}")
    except ValueError:
        logging.getLogger("ledgerlink.worker").exception("could not send %s", document)
    log_event("push.debug", note=document)
    first, second = lines_of(json_log)
    assert len(first["event"]) == 2000 + len(f"...[{len('could not send ' + document) - 2000} chars cut]")
    assert first["event"].endswith(" chars cut]")
    assert len(first["exc"]) < 6100 and first["exc"].startswith("[") and first["exc"].endswith(
        f"ValueError: QBO said no to {document}"[-100:])
    assert len(second["note"]) < 2100
    assert document not in json_log.getvalue()
