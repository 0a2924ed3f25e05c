"""Read helpers for the admin area (no writes except audit rows of login attempts).

Domain writes go through ``ledgerlink.core.services``; they are looked up lazily with
:func:`core_function` so the UI keeps working (with the action hidden) while a service is missing.
"""

from __future__ import annotations

import difflib
import importlib
import json
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Min
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from ledgerlink.core.models import Attempt, AuditLog, PushRequest, PushRevision

PAGE_SIZE = 50
LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW = timedelta(minutes=15)

QUICK_FIX_KEYS = ("BillEmail", "CustomerRef")


def core_function(module: str, name: str):
    """``ledgerlink.core.services.<module>.<name>`` or ``ledgerlink.core.<module>`` if it exists."""
    for path in (f"ledgerlink.core.services.{module}", f"ledgerlink.core.{module}"):
        try:
            mod = importlib.import_module(path)
        except ImportError:
            continue
        fn = getattr(mod, name, None)
        if fn is not None:
            return fn
    return None


def error_kinds() -> dict:
    try:
        from ledgerlink.core.qbo.errors import ERROR_KINDS
    except ImportError:
        return {}
    return ERROR_KINDS


def error_info(kind: str, title: str = "") -> dict:
    info = error_kinds().get(kind) or {}
    return {
        "kind": kind,
        "title": title or info.get("title") or kind.replace("_", " ").capitalize(),
        "fix": info.get("fix", ""),
    }


# ---------------------------------------------------------------- keyset pagination


@dataclass
class Page:
    rows: list
    next_after: int | None
    after: int | None


def parse_int(value) -> int | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def keyset_page(qs, after, size: int = PAGE_SIZE) -> Page:
    """Rows ordered by -id, starting below ``after``. One query, no COUNT, no OFFSET."""
    after_id = parse_int(after)
    if after_id:
        qs = qs.filter(id__lt=after_id)
    rows = list(qs.order_by("-id")[: size + 1])
    next_after = rows[size - 1].id if len(rows) > size else None
    return Page(rows=rows[:size], next_after=next_after, after=after_id)


# ---------------------------------------------------------------- requests


def request_list_queryset(tab: str, filters: dict):
    states = PushRequest.PENDING_STATES if tab == "pending" else PushRequest.COMPLETED_STATES
    qs = PushRequest.objects.select_related("company", "order", "site_area", "order_source")
    outcome = filters.get("outcome") or ""
    if outcome and outcome in states:
        qs = qs.filter(state=outcome)
    else:
        qs = qs.filter(state__in=states)
    if filters.get("error_kind"):
        qs = qs.filter(error_kind=filters["error_kind"])
    if parse_int(filters.get("site_area")):
        qs = qs.filter(site_area_id=parse_int(filters["site_area"]))
    if parse_int(filters.get("order_source")):
        qs = qs.filter(order_source_id=parse_int(filters["order_source"]))
    if filters.get("email"):
        qs = qs.filter(email__iexact=filters["email"].strip())
    day = filters.get("date")
    if day:
        try:
            from datetime import date, datetime, time

            d = date.fromisoformat(day)
            start = timezone.make_aware(datetime.combine(d, time.min))
            field = "created_at" if tab == "pending" else "completed_at"
            qs = qs.filter(**{f"{field}__gte": start, f"{field}__lt": start + timedelta(days=1)})
        except ValueError:
            pass
    return qs


def pretty(payload) -> str:
    return json.dumps(payload, indent=2, sort_keys=False, ensure_ascii=False)


def diff_lines(old, new, old_label: str, new_label: str) -> list[tuple[str, str]]:
    """Unified diff of two payloads as (css class, text) pairs; the template escapes the text."""
    out = []
    for line in difflib.unified_diff(
        pretty(old).splitlines(), pretty(new).splitlines(), old_label, new_label, lineterm="", n=3
    ):
        if line.startswith(("+++", "---")):
            cls = "meta"
        elif line.startswith("@@"):
            cls = "hunk"
        elif line.startswith("+"):
            cls = "add"
        elif line.startswith("-"):
            cls = "del"
        else:
            cls = "ctx"
        out.append((cls, line))
    return out


def revisions_with_diffs(push_request: PushRequest) -> list[dict]:
    revisions = list(push_request.revisions.select_related("author").order_by("number"))
    out = []
    previous = None
    for rev in revisions:
        out.append(
            {
                "rev": rev,
                "diff": diff_lines(previous.payload, rev.payload, f"revision {previous.number}", f"revision {rev.number}")
                if previous is not None
                else [],
            }
        )
        previous = rev
    out.reverse()
    return out


def last_failure_kind(push_request: PushRequest) -> str:
    if push_request.error_kind:
        return push_request.error_kind
    attempt = (
        Attempt.objects.filter(push_request=push_request)
        .exclude(error_kind="")
        .order_by("-id")
        .values_list("error_kind", flat=True)
        .first()
    )
    return attempt or ""


def fix_patch(push_request: PushRequest) -> dict:
    """BillEmail / CustomerRef as set by the newest edit (keys changed against the revision before)."""
    revs = list(PushRevision.objects.filter(push_request=push_request).order_by("-number")[:2])
    if len(revs) < 2:
        return {}
    new, old = revs[0].payload or {}, revs[1].payload or {}
    return {k: new[k] for k in QUICK_FIX_KEYS if k in new and new.get(k) != old.get(k)}


def similar_failed_queryset(push_request: PushRequest, by: str, kind: str):
    qs = PushRequest.objects.filter(state=PushRequest.State.FAILED).exclude(pk=push_request.pk)
    if by == "order_source":
        if not push_request.order_source_id:
            return qs.none()
        return qs.filter(order_source_id=push_request.order_source_id, error_kind=kind)
    return qs.filter(company_id=push_request.company_id, email=push_request.email, error_kind=kind)


# ---------------------------------------------------------------- login throttle


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or ""


def login_failures(username: str, ip: str) -> int:
    since = timezone.now() - LOGIN_WINDOW
    return AuditLog.objects.filter(
        action="auth.login_failed", at__gte=since, data__username=username.strip().lower(), data__ip=ip
    ).count()


def login_blocked(username: str, ip: str) -> bool:
    return bool(username) and login_failures(username, ip) >= LOGIN_MAX_FAILURES


# ---------------------------------------------------------------- dashboard

OUTCOME_COLOURS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "cancelled": "#757575",
    "retrying": "#ef6c00",
}
PALETTE = ["#1565c0", "#c62828", "#6a1b9a", "#ef6c00", "#00838f", "#558b2f", "#ad1457", "#4e342e", "#37474f"]


def stacked_bars(buckets: list[dict], series: list[str], values: dict, colours: dict, width=720, height=220):
    """Geometry of a stacked bar chart; ``values[(bucket index, series)] -> count``.

    Only numbers and our own labels reach the SVG (and the template escapes them anyway)."""
    left, bottom, top = 40, 30, 10
    plot_h = height - bottom - top
    totals = [sum(values.get((i, s), 0) for s in series) for i in range(len(buckets))]
    peak = max(totals + [1])
    slot = (width - left - 10) / max(len(buckets), 1)
    bar_w = max(slot * 0.7, 1)
    bars, labels = [], []
    step = 1 if len(buckets) <= 14 else max(len(buckets) // 8, 1)
    for i, b in enumerate(buckets):
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h
        for s in series:
            v = values.get((i, s), 0)
            if not v:
                continue
            h = plot_h * v / peak
            y -= h
            bars.append(
                {"x": round(x, 1), "y": round(y, 1), "w": round(bar_w, 1), "h": round(h, 1),
                 "colour": colours.get(s, "#555"), "title": f"{b['label']}: {s} {v}"}
            )
        if i % step == 0:
            labels.append({"x": round(x + bar_w / 2, 1), "y": height - 12, "text": b["short"]})
    return {
        "width": width, "height": height, "bars": bars, "labels": labels, "peak": peak,
        "axis_y": top + plot_h, "left": left, "top": top,
        "legend": [{"name": s, "colour": colours.get(s, "#555")} for s in series],
        "empty": not any(totals),
        "total": sum(totals),
    }


def _bucket_index(buckets: list[dict], key) -> int | None:
    for i, b in enumerate(buckets):
        if b["key"] == key:
            return i
    return None


def dashboard_data(now=None) -> dict:
    now = now or timezone.now()
    hour0 = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    hours = [hour0 + timedelta(hours=i) for i in range(24)]
    hour_buckets = [{"key": h, "label": h.strftime("%Y-%m-%d %H:00 UTC"), "short": h.strftime("%H")} for h in hours]
    hour_values: dict = {}
    per_hour = (
        PushRequest.objects.filter(completed_at__gte=hour0)
        .annotate(bucket=TruncHour("completed_at"))
        .values("bucket", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in per_hour:
        i = _bucket_index(hour_buckets, row["bucket"])
        if i is not None:
            hour_values[(i, row["state"])] = hour_values.get((i, row["state"]), 0) + row["n"]
    outcomes = ["succeeded", "failed", "cancelled"]
    hourly_chart = stacked_bars(hour_buckets, outcomes, hour_values, OUTCOME_COLOURS)

    day0 = (now - timedelta(days=13)).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [(day0 + timedelta(days=i)).date() for i in range(14)]
    day_buckets = [{"key": d, "label": d.isoformat(), "short": d.strftime("%d %b")} for d in days]
    per_day = (
        Attempt.objects.filter(started_at__gte=day0)
        .exclude(error_kind="")
        .annotate(bucket=TruncDay("started_at"))
        .values("bucket", "error_kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    kinds: list[str] = []
    day_values: dict = {}
    for row in per_day:
        bucket = row["bucket"]
        i = _bucket_index(day_buckets, bucket.date() if hasattr(bucket, "date") else bucket)
        if i is None:
            continue
        if row["error_kind"] not in kinds:
            kinds.append(row["error_kind"])
        day_values[(i, row["error_kind"])] = day_values.get((i, row["error_kind"]), 0) + row["n"]
    kinds.sort()
    kind_colours = {k: PALETTE[n % len(PALETTE)] for n, k in enumerate(kinds)}
    kind_chart = stacked_bars(day_buckets, kinds, day_values, kind_colours)

    oldest = (
        PushRequest.objects.filter(state__in=PushRequest.PENDING_STATES)
        .select_related("company", "order")
        .order_by("id")
        .first()
    )
    pending_by_state = {
        row["state"]: row["n"]
        for row in PushRequest.objects.filter(state__in=PushRequest.PENDING_STATES)
        .values("state")
        .annotate(n=Count("id"))
        .order_by()
    }
    failed_open = (
        PushRequest.objects.filter(state=PushRequest.State.FAILED)
        .values("error_kind")
        .annotate(n=Count("id"), first=Min("id"))
        .order_by("-n")[:10]
    )
    return {
        "hourly_chart": hourly_chart,
        "kind_chart": kind_chart,
        "oldest": oldest,
        "oldest_age": (now - oldest.created_at) if oldest else None,
        "pending_by_state": pending_by_state,
        "failed_by_kind": [{**row, "title": error_info(row["error_kind"])["title"]} for row in failed_open],
    }
