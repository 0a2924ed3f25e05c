"""Structured JSON logs: one JSON object per line, secrets never reach a line.

Use from any layer::

    from ledgerlink.core.logging import log_event
    log_event("push.attempt", push_request=pr.pk, requestid=pr.requestid, company=pr.company_id,
              intuit_tid=tid, outcome="succeeded", duration_ms=120)

    with log_context(worker="host-123"):   # fields added to every line logged inside the block
        ...

``JsonFormatter`` writes ``{"ts", "level", "event", "logger", "message", ...fields}``. Redaction is
done twice: by ``RedactionFilter`` (attach it to any handler, JSON or not) and again inside
``JsonFormatter`` itself, so a handler configured without the filter still cannot leak:

* a field whose name looks sensitive (token, secret, password, authorization, cookie, payload,
  body, ...) is replaced by ``"[redacted]"`` (payloads and bodies: by their size only);
* inside any text (the message, string fields, tracebacks): ``Bearer``/``Basic`` credentials,
  ``access_token``/``refresh_token``/``client_secret``/``code``... in JSON, form or query strings,
  JWTs and Fernet ciphertexts are replaced by ``[redacted]``.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

REDACTED = "[redacted]"

# Field names whose value is never logged. Matched against the lower-cased name, as a substring.
SENSITIVE_NAME_PARTS = (
    "token",
    "secret",
    "password",
    "passwd",
    "authorization",
    "cookie",
    "api_key",
    "apikey",
    "credential",
    "signature",
    "verifier",
    "session",
)
# Field names whose value is a document or HTTP body: logged as its size only.
BODY_NAMES = frozenset(
    {"payload", "body", "request_body", "response_body", "content", "data", "json", "text", "raw"}
)
# Names that contain a sensitive part but carry no secret.
SAFE_NAMES = frozenset({"token_expires_at", "refresh_token_expires_at", "access_token_expires_at", "tokens"})

_SECRET_KEYS = r"(?:access_token|refresh_token|id_token|client_secret|client_assertion|password|secret|code|token|api_key|apikey|authorization)"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Authorization: Bearer xxx / Basic xxx
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/=]{6,}"), r"\1 " + REDACTED),
    # "access_token": "xxx"  /  'refresh_token': 'xxx'
    (
        re.compile(r"""(?i)(["']?(?<![A-Za-z0-9_])""" + _SECRET_KEYS + r"""["']?\s*[:=]\s*["'])[^"']*(["'])"""),
        r"\1" + REDACTED + r"\2",
    ),
    # access_token=xxx&...  (forms, query strings, key=value lines)
    (
        re.compile(r"(?i)((?<![A-Za-z0-9_])" + _SECRET_KEYS + r"=)[^&\s\"',;]+"),
        r"\1" + REDACTED,
    ),
    # JWT (three base64url parts, header starts with {" -> eyJ)
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"), REDACTED),
    # Fernet ciphertexts (our tokens at rest) start with gAAAAA
    (re.compile(r"\bgAAAAA[A-Za-z0-9_\-=]{20,}"), REDACTED),
]

_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "event", "fields", "taskName"}
)

_context: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "ledgerlink_log_context", default=None
)


# Long texts are cut: a document or response body pasted into a message or an exception never
# reaches a line whole.
MAX_TEXT = 2000
MAX_EXC = 6000


def _cut(text: str, limit: int = MAX_TEXT, *, keep_tail: bool = False) -> str:
    if len(text) <= limit + 40:  # the slack keeps an already cut text as it is
        return text
    cut = len(text) - limit
    if keep_tail:
        return f"[{cut} chars cut]..." + text[-limit:]
    return text[:limit] + f"...[{cut} chars cut]"


def redact_text(text: str) -> str:
    """Replace credentials found in free text."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def _is_sensitive(name: str) -> bool:
    lowered = name.lower()
    if lowered in SAFE_NAMES:
        return False
    return any(part in lowered for part in SENSITIVE_NAME_PARTS)


def redact_value(name: str, value: Any) -> Any:
    """The loggable form of one field."""
    lowered = name.lower()
    if isinstance(value, str) and value.startswith("[") and value.endswith("redacted]"):
        return value
    if _is_sensitive(lowered):
        return REDACTED if value not in (None, "") else value
    if lowered in BODY_NAMES:
        if value in (None, ""):
            return value
        try:
            size = len(value if isinstance(value, str | bytes) else json.dumps(value, default=str))
        except (TypeError, ValueError):
            size = -1
        return f"[{size} bytes redacted]" if size >= 0 else REDACTED
    return _redact_nested(value)


def _redact_nested(value: Any) -> Any:
    if isinstance(value, str):
        return _cut(redact_text(value))
    if isinstance(value, bytes):
        return _cut(redact_text(value.decode("utf-8", "replace")))
    if isinstance(value, Mapping):
        return {str(k): redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_nested(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return _cut(redact_text(str(value)))


def redact_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): redact_value(str(k), v) for k, v in fields.items()}


def _record_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = dict(_context.get() or {})
    for key, value in vars(record).items():
        if key not in _STANDARD_ATTRS and not key.startswith("_"):
            fields[key] = value
    extra = getattr(record, "fields", None)
    if isinstance(extra, Mapping):
        fields.update(extra)
    return fields


class RedactionFilter(logging.Filter):
    """Scrub a record in place (message, args and extra fields). Attach to any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the line
            message = str(record.msg)
        record.msg = _cut(redact_text(message))
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                setattr(record, key, redact_value(key, value))
        extra = getattr(record, "fields", None)
        if isinstance(extra, Mapping):
            record.fields = redact_fields(extra)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, event, logger, message and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        event = getattr(record, "event", None) or message
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": _cut(redact_text(str(event))),
            "logger": record.name,
        }
        if message != event:
            line["message"] = _cut(redact_text(message))
        for key, value in redact_fields(_record_fields(record)).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exc"] = _cut(redact_text(self.formatException(record.exc_info)), MAX_EXC, keep_tail=True)
        elif record.exc_text:
            line["exc"] = _cut(redact_text(record.exc_text), MAX_EXC, keep_tail=True)
        return json.dumps(line, default=str, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """Human-readable ``ts level logger event key=value ...`` with the same redaction."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        fields = redact_fields(_record_fields(record))
        ts = dt.datetime.fromtimestamp(record.created, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        text = f"{ts} {record.levelname:<7} {record.name}: {_cut(redact_text(message))}"
        if fields:
            text += " " + " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in fields.items())
        if record.exc_info:
            text += "\n" + _cut(redact_text(self.formatException(record.exc_info)), MAX_EXC, keep_tail=True)
        return text


_logger = logging.getLogger("ledgerlink")


def log_event(event: str, *, level: int = logging.INFO, logger: str | logging.Logger | None = None,
              exc_info: Any = None, **fields: Any) -> None:
    """Log one structured event, e.g. ``log_event("push.succeeded", push_request=7, outcome="succeeded")``.

    Conventional field names: push_request (id), requestid, company (id), order (id), intuit_tid,
    outcome, error_kind, http_status, duration_ms, attempt, worker.
    """
    target = logging.getLogger(logger) if isinstance(logger, str) else (logger or _logger)
    if target.isEnabledFor(level):
        target.log(level, event, extra={"event": event, "fields": fields}, exc_info=exc_info, stacklevel=2)


def log_attempt(attempt, *, push_request=None, **fields: Any) -> None:
    """Log one recorded ``Attempt`` (never its response body). Reads only the attempt's own
    columns (no query); pass ``push_request`` (or ``order=<id>``) to add the order."""
    if push_request is not None:
        fields.setdefault("order", getattr(push_request, "order_id", None))
    log_event(
        "push.attempt",
        push_request=attempt.push_request_id,
        requestid=attempt.requestid,
        company=attempt.company_id,
        revision=attempt.revision,
        worker=attempt.worker or None,
        batched=attempt.batched,
        http_status=attempt.http_status,
        outcome=attempt.outcome,
        error_kind=attempt.error_kind or None,
        fault_code=attempt.fault_code or None,
        intuit_tid=attempt.intuit_tid or None,
        duration_ms=attempt.duration_ms,
        level=logging.WARNING if attempt.outcome not in ("succeeded",) else logging.INFO,
        **fields,
    )


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields to every line logged (in this thread / task) inside the block."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)
