"""Prometheus metrics computed from the database at scrape time.

Every figure is an exact count read from the tables the workers write (PushRequest, Attempt,
AuditLog, WorkerHeartbeat), so it does not matter how many web or worker processes run, nor which
one is scraped: nothing is kept in process memory. Workers need no call into this module; they
only have to record Attempts (duration_ms, http_status, outcome, error_kind), audit token refreshes
as ``company.tokens_refreshed`` (obj=company) and beat their WorkerHeartbeat.

Counters (``*_total``) are counts of rows; `ledgerlink prune` deletes old attempts, which
Prometheus sees as a counter reset.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, Sum
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from ledgerlink.core.models import Attempt, PushRequest
from ledgerlink.ops import stats

# Attempt latency buckets, in milliseconds (upper bounds); +Inf is added.
LATENCY_BUCKETS_MS = (50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)


def _ts(value: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if value is None else (value - now).total_seconds()


class LedgerlinkCollector(Collector):
    def collect(self):
        now = timezone.now()
        snaps = stats.company_snapshots(now)

        info = GaugeMetricFamily(
            "ledgerlink_company_info", "Connected QBO Companies (value 1)", labels=["company", "name", "realm_id", "status"]
        )
        reconnect = GaugeMetricFamily(
            "ledgerlink_company_needs_reconnect", "1 when the Company must be reconnected", labels=["company"]
        )
        paused = GaugeMetricFamily("ledgerlink_company_paused", "1 when the Company is paused", labels=["company"])
        by_state = GaugeMetricFamily(
            "ledgerlink_push_requests", "Push requests by state", labels=["company", "state"]
        )
        depth = GaugeMetricFamily(
            "ledgerlink_queue_depth", "Push requests waiting to be sent (queued + retrying)", labels=["company"]
        )
        in_flight = GaugeMetricFamily("ledgerlink_in_flight", "Push requests being sent", labels=["company"])
        oldest = GaugeMetricFamily(
            "ledgerlink_oldest_pending_age_seconds",
            "Age of the oldest pending push request (0 when none)",
            labels=["company"],
        )
        last_success = GaugeMetricFamily(
            "ledgerlink_last_success_timestamp_seconds", "Unix time of the last success", labels=["company"]
        )
        r429_hour = GaugeMetricFamily(
            "ledgerlink_http_429_last_hour", "Attempts answered 429 in the last hour", labels=["company"]
        )
        access_exp = GaugeMetricFamily(
            "ledgerlink_access_token_expires_in_seconds", "Seconds until the access token expires", labels=["company"]
        )
        refresh_exp = GaugeMetricFamily(
            "ledgerlink_refresh_token_expires_in_seconds",
            "Seconds until the refresh token expires (reconnect before then)",
            labels=["company"],
        )
        for s in snaps:
            cid = str(s.id)
            info.add_metric([cid, s.name, s.realm_id, s.status], 1)
            reconnect.add_metric([cid], 1 if s.needs_reconnect else 0)
            paused.add_metric([cid], 1 if s.paused else 0)
            for state in stats.STATES:
                by_state.add_metric([cid, state], s.requests[state])
            depth.add_metric([cid], s.queue_depth)
            in_flight.add_metric([cid], s.in_flight)
            oldest.add_metric([cid], s.oldest_pending_age_s or 0)
            if s.last_success_at is not None:
                last_success.add_metric([cid], s.last_success_at.timestamp())
            r429_hour.add_metric([cid], s.throttled_429_last_hour)
            if s.access_token_expires_at is not None:
                access_exp.add_metric([cid], _ts(s.access_token_expires_at, now))
            if s.refresh_token_expires_at is not None:
                refresh_exp.add_metric([cid], _ts(s.refresh_token_expires_at, now))
        yield from (info, reconnect, paused, by_state, depth, in_flight, oldest, last_success, r429_hour)
        yield from (access_exp, refresh_exp)

        errors = GaugeMetricFamily(
            "ledgerlink_push_request_errors",
            "Push requests carrying an error kind, by state (failed: waiting for a person)",
            labels=["company", "state", "error_kind"],
        )
        for row in (
            PushRequest.objects.order_by()
            .exclude(error_kind="")
            .values("company_id", "state", "error_kind")
            .annotate(n=Count("id"))
            .order_by("company_id", "state", "error_kind")
        ):
            errors.add_metric([str(row["company_id"]), row["state"], row["error_kind"]], row["n"])
        yield errors

        mismatches = GaugeMetricFamily(
            "ledgerlink_amount_mismatch_documents",
            "Succeeded documents whose QBO TotalAmt differs from the order's total (warning amount_mismatch)",
            labels=["company"],
        )
        for row in (
            PushRequest.objects.order_by()
            .filter(state=PushRequest.State.SUCCEEDED)
            .exclude(warnings=[])
            .values("company_id")
            .annotate(n=Count("id"))
            .order_by("company_id")
        ):
            mismatches.add_metric([str(row["company_id"])], row["n"])
        yield mismatches

        # One scan of the attempts table for the counters, the 429s and the latency histogram.
        attempts = CounterMetricFamily(
            "ledgerlink_attempts", "Attempts (HTTP exchanges with QBO) by outcome and error kind",
            labels=["company", "outcome", "error_kind"],
        )
        r429 = CounterMetricFamily("ledgerlink_http_429", "Attempts answered 429 (throttled)", labels=["company"])
        latency = HistogramMetricFamily(
            "ledgerlink_attempt_duration_seconds", "Duration of attempts", labels=["company"]
        )
        aggregates = {f"le{b}": Count("id", filter=Q(duration_ms__lte=b)) for b in LATENCY_BUCKETS_MS}
        per_company: dict[int, dict[str, int]] = {}
        for row in (
            Attempt.objects.order_by()
            .values("company_id", "outcome", "error_kind")
            .annotate(n=Count("id"), timed=Count("duration_ms"), total=Sum("duration_ms"),
                      throttled=Count("id", filter=Q(http_status=429)), **aggregates)
            .order_by("company_id", "outcome", "error_kind")
        ):
            attempts.add_metric([str(row["company_id"]), row["outcome"], row["error_kind"]], row["n"])
            acc = per_company.setdefault(row["company_id"], dict.fromkeys(["timed", "total", "throttled", *aggregates], 0))
            for key in acc:
                acc[key] += row[key] or 0
        for company_id, acc in sorted(per_company.items()):
            if acc["throttled"]:
                r429.add_metric([str(company_id)], acc["throttled"])
            if acc["timed"]:
                buckets = [(_le(b), acc[f"le{b}"]) for b in LATENCY_BUCKETS_MS] + [("+Inf", acc["timed"])]
                latency.add_metric([str(company_id)], buckets, acc["total"] / 1000.0)
        yield attempts
        yield r429
        yield latency

        refreshes = CounterMetricFamily(
            "ledgerlink_token_refreshes", "OAuth token refreshes (audit log)", labels=["company"]
        )
        for company_id, n in sorted(stats.token_refresh_counts().items()):
            refreshes.add_metric([str(company_id)], n)
        yield refreshes

        beats = stats.worker_heartbeats(now)
        hb_age = GaugeMetricFamily(
            "ledgerlink_worker_heartbeat_age_seconds", "Seconds since each running worker's last heartbeat",
            labels=["worker", "hostname"],
        )
        for hb in beats:
            hb_age.add_metric([hb.worker_id, hb.hostname], hb.age_s)
        yield hb_age
        workers = GaugeMetricFamily(
            "ledgerlink_workers_fresh", "Workers whose heartbeat is fresh (what /readyz requires)"
        )
        workers.add_metric([], sum(1 for hb in beats if hb.fresh))
        yield workers


def _le(bucket_ms: int) -> str:
    seconds = bucket_ms / 1000.0
    return repr(seconds) if seconds != int(seconds) else f"{int(seconds)}.0"


registry = CollectorRegistry(auto_describe=False)
registry.register(LedgerlinkCollector())


def render() -> bytes:
    """The Prometheus text exposition of every Ledgerlink metric."""
    return generate_latest(registry)
