"""Exact decimal parsing and formatting shared by the mappers (no floats anywhere)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ledgerlink.stores.errors import MappingError

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("1000000000")  # Ledgerlink refuses amounts of 10^9 and more


def parse_decimal(value, field: str, *, default: Decimal | None = None) -> Decimal:
    """A store number (string, int or JSON float) as an exact Decimal.

    JSON floats are read through ``str()`` (``0.13`` -> ``Decimal("0.13")``), never through binary.
    Missing or empty values give ``default``, or a MappingError when there is none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is not None:
            return default
        raise MappingError("is missing (a number is required)", field)
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise MappingError(f"must be a number (got {type(value).__name__})", field)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise MappingError(f"must be a number (got {str(value)[:40]!r})", field) from exc
    if not number.is_finite():
        raise MappingError(f"must be a finite number (got {value!r})", field)
    return number


def amount(value, field: str, *, default: Decimal | None = None, allow_negative: bool = False) -> Decimal:
    """A money amount with at most 2 decimal places (more would be silently rounded: refused)."""
    number = parse_decimal(value, field, default=default)
    if number != number.quantize(CENT, rounding=ROUND_HALF_UP):
        raise MappingError(
            f"has more than 2 decimal places ({value!r}); Ledgerlink keeps amounts to the cent", field
        )
    if number < 0 and not allow_negative:
        raise MappingError(f"must not be negative (got {value!r})", field)
    if abs(number) >= MAX_AMOUNT:
        raise MappingError(f"is too large (got {value!r})", field)
    return number.quantize(CENT)


def quantity(value, field: str) -> Decimal:
    """A line quantity: a number greater than 0 with at most 4 decimal places."""
    number = parse_decimal(value, field)
    if number <= 0:
        raise MappingError(f"must be greater than 0 (got {value!r})", field)
    if number != number.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP):
        raise MappingError(f"has more than 4 decimal places ({value!r})", field)
    return number


def fmt_amount(number: Decimal) -> str:
    """``Decimal("5")`` -> ``"5.00"``."""
    return str(number.quantize(CENT, rounding=ROUND_HALF_UP))


def fmt_plain(number: Decimal) -> str:
    """A quantity or percent without trailing zeros or exponent: ``2.000`` -> ``"2"``, ``9.9750`` ->
    ``"9.975"``."""
    if number == number.to_integral_value():
        return str(number.quantize(Decimal(1)))
    return format(number.normalize(), "f")


def rate_percent_from_fraction(value, field: str) -> Decimal:
    """Shopify's ``rate`` is a fraction (0.13); Ledgerlink's ``tax_rate`` is a percent (13)."""
    fraction = parse_decimal(value, field)
    if fraction < 0 or fraction > 1:
        raise MappingError(f"must be a fraction between 0 and 1 such as 0.13 (got {value!r})", field)
    return fraction * 100


def line_amount(qty: Decimal, unit: Decimal) -> Decimal:
    """qty x unit price rounded to the cent, as Ledgerlink computes each line's amount."""
    return (qty * unit).quantize(CENT, rounding=ROUND_HALF_UP)


def unit_price_for(total: Decimal, qty: Decimal, field: str) -> Decimal:
    """The unit price that reproduces a line's total exactly: 2 places when the division is exact,
    else 4 places (Ledgerlink accepts 4 on unit prices) when qty x price rounds back to the total;
    a MappingError when no such price exists."""
    exact = total / qty
    two = exact.quantize(CENT, rounding=ROUND_HALF_UP)
    if two * qty == total:
        return two
    four = exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    if line_amount(qty, four) == total:
        return four
    raise MappingError(
        f"a line total of {total} for quantity {fmt_plain(qty)} has no unit price of at most 4 decimal"
        " places that multiplies back to it",
        field,
    )


def fmt_unit(number: Decimal) -> str:
    """A unit price: 2 places, or 4 when it needs them."""
    if number == number.quantize(CENT):
        return fmt_amount(number)
    return str(number.quantize(Decimal("0.0001")))
