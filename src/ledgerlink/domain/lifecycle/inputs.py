"""Input of the lifecycle endpoints: money (positive, at most 2 decimals), dates, short texts. Each
refusal is a ServiceError naming the field (422); nothing is written."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.inputs import clean_text, parse_number


def parse_decimal(value, field: str, *, places: int = 2, positive: bool = True, required: bool = True) -> Decimal | None:
    """A Decimal with at most ``places`` decimals, > 0 (``positive``) or >= 0; None when absent and
    not ``required``."""
    if not required and (value is None or (isinstance(value, str) and not value.strip())):
        return None
    return parse_number(value, field, places=places, positive=positive)


def parse_date(value, field: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise ServiceError("must be a date as YYYY-MM-DD", field=field) from exc


def require_object(data) -> dict:
    if not isinstance(data, dict):
        raise ServiceError("must be a JSON object", field=None)
    return data


def text(data: dict, key: str, *, max_len: int, required: bool = False) -> str:
    return clean_text(data, key, required=required, max_len=max_len)
