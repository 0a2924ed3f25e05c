"""Small helpers the store modules share (not part of the public API)."""

from __future__ import annotations

import json
from datetime import date, datetime

from ledgerlink.stores.errors import MappingError


def parse_json_body(raw: bytes | str, field: str = "body") -> dict:
    """A webhook body as a JSON object, or a MappingError that says what it is instead."""
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MappingError(f"is not JSON ({exc})", field) from exc
    if not isinstance(value, dict):
        raise MappingError(f"must be a JSON object (got {type(value).__name__})", field)
    return value


def obj(value, field: str, *, required: bool = True) -> dict:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise MappingError(f"must be an object (got {type(value).__name__})", field)
    return value


def array(value, field: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MappingError(f"must be a list (got {type(value).__name__})", field)
    return value


def ident(value, field: str) -> str:
    """A store id (int or digits) as a string."""
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise MappingError("is missing (the store's id is required)", field)
    if not isinstance(value, int | str):
        raise MappingError(f"must be an id (got {type(value).__name__})", field)
    return str(value).strip()


def iso_date(value, field: str) -> str:
    """The calendar date of an ISO 8601 timestamp as the store wrote it (its own time zone, not
    converted to UTC): ``2024-03-01T23:30:00-05:00`` -> ``2024-03-01``."""
    if not isinstance(value, str) or not value.strip():
        raise MappingError("is missing (a date-time such as 2024-03-01T10:00:00-05:00 is required)", field)
    text = value.strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        pass
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError as exc:
        raise MappingError(f"is not a date-time (got {text[:40]!r})", field) from exc
