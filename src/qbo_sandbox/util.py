"""Small helpers: clocks, ids, JSON, money."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

try:  # QBO reports times in the company's time zone (Pacific for US sandboxes)
    from zoneinfo import ZoneInfo

    COMPANY_TZ = ZoneInfo("America/Los_Angeles")
except Exception:  # pragma: no cover - no tz database
    COMPANY_TZ = timezone(timedelta(hours=-7))

# Tests may shift the sandbox clock (control API: PUT /_sandbox/clock).
_CLOCK_OFFSET = [0.0]


def now_ts() -> float:
    return time.time() + _CLOCK_OFFSET[0]


def set_clock_offset(seconds: float) -> None:
    _CLOCK_OFFSET[0] = float(seconds)


def clock_offset() -> float:
    return _CLOCK_OFFSET[0]


def local_dt(ts: float | None = None) -> datetime:
    return datetime.fromtimestamp(now_ts() if ts is None else ts, tz=COMPANY_TZ)


def _offset(dt: datetime) -> str:
    s = dt.strftime("%z")  # -0700
    return s[:3] + ":" + s[3:]


def meta_time(ts: float | None = None) -> str:
    """MetaData time: '2026-05-05T02:05:12-07:00' (seconds, company offset)."""
    dt = local_dt(ts)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + _offset(dt)


def response_time(ts: float | None = None) -> str:
    """Envelope 'time': '2026-05-05T02:05:12.193-07:00' (milliseconds)."""
    dt = local_dt(ts)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}" + _offset(dt)


def local_date(ts: float | None = None) -> str:
    return local_dt(ts).date().isoformat()


def utc_iso_millis(ts: float | None = None) -> str:
    dt = datetime.fromtimestamp(now_ts() if ts is None else ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def utc_iso_nanos(ts: float | None = None) -> str:
    t = now_ts() if ts is None else ts
    dt = datetime.fromtimestamp(t, tz=UTC)
    nanos = int(round((t - int(t)) * 1e9)) % 1_000_000_000
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos:09d}Z"


def parse_datetime(value: str) -> datetime | None:
    """Parse QBO date/datetime literals; naive values are company-local."""
    v = value.strip()
    if not v:
        return None
    try:
        if len(v) == 10:
            d = date.fromisoformat(v)
            return datetime(d.year, d.month, d.day, tzinfo=COMPANY_TZ)
        if v.endswith("Z"):
            v = v[:-1] + "+00:00"
        # '2015-10-05T14:42:19-0700' -> add the colon
        if len(v) >= 5 and v[-5] in "+-" and v[-4:].isdigit() and "T" in v:
            v = v[:-2] + ":" + v[-2:]
        dt = datetime.fromisoformat(v)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=COMPANY_TZ)
    return dt


def intuit_tid() -> str:
    """'1-5f732f68-d4d3c70ce72c15e07d2bc328' (format seen since 2020)."""
    return f"1-{int(now_ts()):08x}-{secrets.token_hex(12)}"


def dumps(obj) -> bytes:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=_default)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: still valid JSON, escaped (never a 500)
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=True, default=_default).encode("ascii")


def _default(o):
    if isinstance(o, Decimal):
        return float(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def to_decimal(v) -> Decimal | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return None
    try:
        return Decimal(str(v))
    except (InvalidOperation, ValueError):
        return None


def money(d: Decimal) -> Decimal:
    return d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def num(d: Decimal | None):
    """Decimal -> JSON number (int when integral, else float)."""
    if d is None:
        return None
    if d == d.to_integral_value():
        return int(d)
    return float(d)
