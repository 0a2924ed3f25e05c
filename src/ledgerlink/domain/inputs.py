"""Cleaning of input shared by the services that take it (ingest, routing, automation, the outbox):
text (``clean_text``, ``check_text``) and JSON documents (``check_json``).

Every text that reaches the database or a page must be valid Unicode: a lone UTF-16 surrogate
(``"\\ud800"``, which JSON can spell) cannot be encoded as UTF-8, so SQLite, PostgreSQL and every
page that shows it would fail. JSON documents (edited payloads, patches, rule conditions) are at
most ``MAX_JSON_DEPTH`` levels deep: a QuickBooks document is about five (Invoice > Line[] > line >
SalesItemLineDetail > ItemRef), and deeper ones would exhaust Python's recursion when copied.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ledgerlink.domain.errors import ServiceError

MAX_AMOUNT = Decimal("1000000000")  # 10^9: well inside max_digits=14

# Levels of objects and lists in a JSON document a service takes (the document itself is level 1).
MAX_JSON_DEPTH = 32
SURROGATE_MESSAGE = "must not contain a lone UTF-16 surrogate (\\ud800-\\udfff): it is not valid Unicode text"


def has_surrogate(text: str) -> bool:
    """True when ``text`` holds a lone surrogate (it cannot be encoded as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_text(value, field: str | None):
    """``value`` unchanged, or ServiceError naming ``field`` when it is text holding a lone surrogate."""
    if isinstance(value, str) and has_surrogate(value):
        raise ServiceError(SURROGATE_MESSAGE, field=field)
    return value


def check_json(value, field: str, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse (ServiceError naming the path, ``payload.Line[0].Description``) a JSON document nested
    deeper than ``max_depth`` or holding a lone surrogate in a key or a string. Walks without
    recursion, so any depth is measured safely."""
    stack = [(value, field, 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, str):
            if has_surrogate(node):
                raise ServiceError(SURROGATE_MESSAGE, field=path)
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > max_depth:
            raise ServiceError(
                f"is nested more than {max_depth} levels deep: a QuickBooks document is a few levels deep",
                field=path,
            )
        children = []
        if isinstance(node, dict):
            for key, inner in node.items():
                key_text = str(key)
                if has_surrogate(key_text):
                    raise ServiceError("has a key with a lone UTF-16 surrogate (\\ud800-\\udfff)", field=path)
                children.append((inner, f"{path}.{key_text}", depth + 1))
        else:
            children = [(inner, f"{path}[{index}]", depth + 1) for index, inner in enumerate(node)]
        stack.extend(reversed(children))


def clean_text(data: dict, key: str, *, field_name: str | None = None, required: bool = False, max_len: int) -> str:
    """``data[key]`` as trimmed text, or ServiceError naming the field (``field_name`` or ``key``)."""
    name = field_name or key
    value = data.get(key)
    if value is None:
        value = ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ServiceError("must be text", field=name)
    value = str(value).strip()
    if "\x00" in value:
        raise ServiceError("must not contain the NUL character (\\u0000)", field=name)
    check_text(value, name)
    if required and not value:
        raise ServiceError("is required", field=name)
    if len(value) > max_len:
        raise ServiceError(f"must be at most {max_len} characters (got {len(value)})", field=name)
    return value


def parse_number(value, name: str, *, places: int, positive: bool = False, default: Decimal | None = None) -> Decimal:
    """A decimal input (JSON number or string) with at most ``places`` decimals, >= 0 (> 0 when
    ``positive``), below MAX_AMOUNT; absent: ``default``, else "is required". Refusals name the field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is not None:
            return default
        raise ServiceError("is required", field=name)
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ServiceError("must be a number", field=name)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ServiceError(f"must be a number (got {str(value)[:40]!r})", field=name) from exc
    if not number.is_finite():
        raise ServiceError("must be a finite number", field=name)
    if positive and number <= 0:
        raise ServiceError("must be a number greater than 0", field=name)
    if number < 0:
        raise ServiceError("must be a number of at least 0", field=name)
    if number >= MAX_AMOUNT:
        raise ServiceError(f"must be less than {MAX_AMOUNT:,}", field=name)
    quantum = Decimal(1).scaleb(-places)
    if number != number.quantize(quantum, rounding=ROUND_HALF_UP):
        raise ServiceError(f"must have at most {places} decimal places", field=name)
    return number.quantize(quantum)
