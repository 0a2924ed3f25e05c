"""Input of the lifecycle endpoints: money (positive, at most 2 decimals), dates, short texts. Each
refusal is a ServiceError naming the field (422); nothing is written."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.inputs import clean_text

MAX_AMOUNT = Decimal("1000000000")


def parse_decimal(value, field: str, *, places: int = 2, positive: bool = True, required: bool = True) -> Decimal | None:
    """A Decimal with at most ``places`` decimals, > 0 (``positive``) or >= 0; None when absent and
    not ``required``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ServiceError("is required", field=field)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ServiceError("must be a number", field=field)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ServiceError(f"must be a number (got {str(value)[:40]!r})", field=field) from exc
    if not number.is_finite():
        raise ServiceError("must be a finite number", field=field)
    if positive and number <= 0:
        raise ServiceError("must be a number greater than 0", field=field)
    if number < 0:
        raise ServiceError("must be a number of at least 0", field=field)
    if number >= MAX_AMOUNT:
        raise ServiceError(f"must be less than {MAX_AMOUNT:,}", field=field)
    if number.as_tuple().exponent < -places and number != number.quantize(Decimal(1).scaleb(-places)):
        raise ServiceError(f"must have at most {places} decimal places", field=field)
    return number.quantize(Decimal(1).scaleb(-places))


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
