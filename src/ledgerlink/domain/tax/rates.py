"""Tax rates in percent as Decimals: parsed, compared and shown the same way everywhere."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

RATE_QUANTUM = Decimal("0.0001")
CENT = Decimal("0.01")


def money(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def parse_rate(value) -> Decimal | None:
    """``"13"``, ``13``, ``"9.975"`` -> Decimal with 4 places; None when it is not a percent 0..100."""
    if value is None or isinstance(value, bool):
        return None
    try:
        rate = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not rate.is_finite() or rate < 0 or rate > 100:
        return None
    return rate.quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)


def rate_key(rate: Decimal) -> str:
    """The rate as a person writes it and as the mapping stores it: "13", "9.975", "0"."""
    text = format(Decimal(rate).quantize(RATE_QUANTUM).normalize(), "f")
    return text if text != "-0" else "0"


def rate_label(rate: Decimal) -> str:
    return f"{rate_key(rate)} %"
