"""Presentation helpers of the admin area: error kinds as shown, payloads pretty-printed and diffed,
the revisions with their diffs, the quick fix an edit made, the dashboard's figures and charts.
Nothing here writes; the views call ``ledgerlink.domain`` for every change."""

from __future__ import annotations

import difflib
import json
from datetime import timedelta

from django.db.models import Count
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from ledgerlink.core.models import Attempt, Company, PushRequest, PushRevision
from ledgerlink.domain.inputs import has_surrogate
from ledgerlink.domain.payloads.edit import quick_fix_of
from ledgerlink.quickbooks.errors import ERROR_KINDS, kind_info

CAUGHT_BEFORE_SENDING = "Caught before sending"
QUICKBOOKS_SAID = "QuickBooks said"


def caught_before_sending(push_request: PushRequest) -> bool:
    """Whether the request's error is pre-flight's (QBO never saw this revision): a failure QBO
    answered always counts an attempt of the current revision, pre-flight never does."""
    return bool(push_request.error_kind) and push_request.attempt_count == 0


def said_label(push_request: PushRequest) -> str:
    """Who gave the request's error message: QuickBooks, or pre-flight before sending."""
    return CAUGHT_BEFORE_SENDING if caught_before_sending(push_request) else QUICKBOOKS_SAID


def error_info(kind: str, title: str = "", push_request: PushRequest | None = None) -> dict:
    """An error kind as the pages show it: the request's own title, else the kind's, else its name;
    with ``push_request``, ``said`` labels its message ("QuickBooks said" / "Caught before sending")."""
    info = kind_info(kind)
    return {
        "kind": kind,
        "title": title or info["title"] or kind.replace("_", " ").capitalize(),
        "fix": info["fix"],
        "said": said_label(push_request) if push_request is not None else QUICKBOOKS_SAID,
    }


def pretty(payload) -> str:
    """The payload as indented JSON. A lone surrogate stored before input was checked for them stays
    escaped (``\\ud800``): it cannot be sent as UTF-8, and the page must still show."""
    text = json.dumps(payload, indent=2, sort_keys=False, ensure_ascii=False)
    if has_surrogate(text):
        text = json.dumps(payload, indent=2, sort_keys=False, ensure_ascii=True)
    return text


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


def fix_patch(push_request: PushRequest) -> dict:
    """BillEmail / CustomerRef as set by the newest edit (keys changed against the revision before)."""
    revs = list(PushRevision.objects.filter(push_request=push_request).order_by("-number")[:2])
    if len(revs) < 2:
        return {}
    return quick_fix_of(revs[1].payload, revs[0].payload)


def person_note(push_request: PushRequest) -> str:
    """The note a person wrote with the request's newest revision ("" when the system made it or the
    person wrote none: "edited" / "re-queued unchanged" are the defaults, not their words)."""
    rev = PushRevision.objects.filter(push_request=push_request).order_by("-number").first()
    if rev is None or (rev.author_id is None and rev.author_label == "system"):
        return ""
    return "" if rev.note in ("edited", "re-queued unchanged") else rev.note


SIMILAR_COUNT_CAP = 1000


def capped_count(qs, cap: int = SIMILAR_COUNT_CAP) -> int:
    """COUNT over at most cap + 1 rows (never over a whole table)."""
    return qs.order_by()[: cap + 1].count()


# ---------------------------------------------------------------- dashboard

OUTCOME_COLOURS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "transient": "#ef6c00",
    "unknown": "#6a1b9a",
    "preflight": "#ad1457",
    "abandoned": "#757575",
}
# One colour per error kind, the same on every day and page; no two kinds share one (a test).
KIND_COLOURS = {
    "customer_ref_required": "#1565c0",
    "invalid_email": "#c62828",
    "connection_003202": "#ef6c00",
    "auth_reconnect": "#6a1b9a",
    "throttled": "#f9a825",
    "server_error": "#4e342e",
    "network": "#00838f",
    "stale_object": "#558b2f",
    "duplicate_name": "#ad1457",
    "duplicate_doc_number": "#283593",
    "doc_number_too_long": "#80cbc4",
    "invalid_reference": "#37474f",
    "shipping_item_missing": "#7986cb",
    "amount_mismatch": "#9e9d24",
    "tax_code_unmapped": "#4fc3f7",
    "tax_code_invalid": "#0277bd",
    "currency_not_enabled": "#6d4c41",
    "customer_currency_mismatch": "#e6ee9c",
    "validation": "#ff8a65",
    "unknown": "#9e9e9e",
}
# For a kind no longer (or not yet) in ERROR_KINDS, e.g. on attempts recorded by another version.
SPARE_COLOURS = ["#000000", "#b39ddb", "#f48fb1", "#a1887f", "#81d4fa", "#c5e1a5", "#ffe082", "#bf360c"]


def kind_colours(kinds: list[str]) -> dict[str, str]:
    """A distinct colour for each of ``kinds``: the kind's own, else a spare one no other kind shown
    uses, else one spread round the colour wheel."""
    out = {k: KIND_COLOURS[k] for k in kinds if k in KIND_COLOURS}
    spare = [c for c in SPARE_COLOURS if c not in out.values()]
    others = [k for k in kinds if k not in out]
    for n, k in enumerate(others):
        out[k] = spare[n] if n < len(spare) else f"hsl({(n * 137) % 360}, 60%, {35 + (n * 7) % 40}%)"
    return out


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


def dashboard_data(now=None, company_ids=None) -> dict:
    """The dashboard's figures; ``company_ids`` (None: every company) limits them to those companies."""
    now = now or timezone.now()
    companies = Company.objects.values("id") if company_ids is None else Company.objects.filter(
        pk__in=sorted(company_ids)).values("id")
    requests = PushRequest.objects.all() if company_ids is None else PushRequest.objects.filter(
        company_id__in=sorted(company_ids))
    hour0 = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    hours = [hour0 + timedelta(hours=i) for i in range(24)]
    hour_buckets = [{"key": h, "label": h.strftime("%Y-%m-%d %H:00 UTC"), "short": h.strftime("%H")} for h in hours]
    hour_values: dict = {}
    per_hour = (
        Attempt.objects.filter(company_id__in=companies, started_at__gte=hour0)
        .annotate(bucket=TruncHour("started_at"))
        .values("bucket", "outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in per_hour:
        i = _bucket_index(hour_buckets, row["bucket"])
        if i is not None:
            hour_values[(i, row["outcome"])] = hour_values.get((i, row["outcome"]), 0) + row["n"]
    outcomes = [o for o in Attempt.Outcome.values if any(key[1] == o for key in hour_values)]
    hourly_chart = stacked_bars(hour_buckets, outcomes, hour_values, OUTCOME_COLOURS)

    day0 = (now - timedelta(days=13)).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [(day0 + timedelta(days=i)).date() for i in range(14)]
    day_buckets = [{"key": d, "label": d.isoformat(), "short": d.strftime("%d %b")} for d in days]
    per_day = (
        Attempt.objects.filter(company_id__in=companies, started_at__gte=day0)
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
    kind_chart = stacked_bars(day_buckets, kinds, day_values, kind_colours(kinds))

    oldest = (
        requests.filter(state__in=PushRequest.PENDING_STATES)
        .select_related("company", "order")
        .order_by("id")
        .first()
    )
    pending_by_state = {
        row["state"]: row["n"]
        for row in requests.filter(state__in=PushRequest.PENDING_STATES)
        .values("state")
        .annotate(n=Count("id"))
        .order_by()
    }
    # Failed requests per error kind, each counted through the (error_kind, id) index and capped.
    failed_open = []
    for kind in ERROR_KINDS:
        n = capped_count(requests.filter(error_kind=kind, state=PushRequest.State.FAILED))
        if n:
            failed_open.append({"error_kind": kind, "n": n, "label": f"{n:,}" if n <= SIMILAR_COUNT_CAP
                                else f"{SIMILAR_COUNT_CAP:,}+"})
    failed_open.sort(key=lambda row: -row["n"])
    return {
        "hourly_chart": hourly_chart,
        "kind_chart": kind_chart,
        "oldest": oldest,
        "oldest_age": (now - oldest.created_at) if oldest else None,
        "pending_by_state": pending_by_state,
        "failed_by_kind": [{**row, "title": error_info(row["error_kind"])["title"]} for row in failed_open],
        "count_cap": SIMILAR_COUNT_CAP,
    }
