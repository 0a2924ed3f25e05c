"""Read-only figures about the pipeline, computed from the database (shared by `ledgerlink status`,
/metrics and the failure digests). A handful of grouped queries, whatever the number of Companies."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.db.models import Count, Max, Min
from django.utils import timezone

from ledgerlink.core.models import Attempt, AuditLog, Company, PushRequest, WorkerHeartbeat

STATES = [s.value for s in PushRequest.State]
PENDING_STATES = [s.value for s in PushRequest.PENDING_STATES]
TOKEN_REFRESH_ACTION = "company.tokens_refreshed"  # written by domain.companies.tokens.access_token_for


@dataclass
class CompanySnapshot:
    id: int
    name: str
    realm_id: str
    status: str
    requests: dict[str, int] = field(default_factory=dict)
    queue_depth: int = 0  # queued + retrying
    in_flight: int = 0  # sending
    oldest_pending_at: dt.datetime | None = None
    oldest_pending_age_s: float | None = None
    last_success_at: dt.datetime | None = None
    throttled_429_last_hour: int = 0
    throttled_until: dt.datetime | None = None
    access_token_expires_at: dt.datetime | None = None
    refresh_token_expires_at: dt.datetime | None = None

    @property
    def paused(self) -> bool:
        return self.status == Company.Status.PAUSED

    @property
    def needs_reconnect(self) -> bool:
        return self.status == Company.Status.NEEDS_RECONNECT

    def as_json(self) -> dict:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, dt.datetime):
                data[key] = value.isoformat()
        data["paused"] = self.paused
        data["needs_reconnect"] = self.needs_reconnect
        return data


def company_snapshots(now: dt.datetime | None = None) -> list[CompanySnapshot]:
    """One snapshot per Company, ordered by id."""
    now = now or timezone.now()
    snaps: dict[int, CompanySnapshot] = {}
    for c in Company.objects.order_by("id").only(
        "id", "name", "realm_id", "status", "last_success_at", "throttled_until",
        "access_token_expires_at", "refresh_token_expires_at",
    ):
        snaps[c.id] = CompanySnapshot(
            id=c.id,
            name=c.name,
            realm_id=c.realm_id,
            status=c.status,
            requests={s: 0 for s in STATES},
            last_success_at=c.last_success_at,
            throttled_until=c.throttled_until if c.throttled_until and c.throttled_until > now else None,
            access_token_expires_at=c.access_token_expires_at,
            refresh_token_expires_at=c.refresh_token_expires_at,
        )
    for row in PushRequest.objects.order_by().values("company_id", "state").annotate(n=Count("id")):
        snap = snaps.get(row["company_id"])
        if snap is not None:
            snap.requests[row["state"]] = row["n"]
    for snap in snaps.values():
        snap.queue_depth = snap.requests[PushRequest.State.QUEUED] + snap.requests[PushRequest.State.RETRYING]
        snap.in_flight = snap.requests[PushRequest.State.SENDING]
    for row in (
        PushRequest.objects.order_by()
        .filter(state__in=PENDING_STATES)
        .values("company_id")
        .annotate(oldest=Min("created_at"))
    ):
        snap = snaps.get(row["company_id"])
        if snap is not None and row["oldest"] is not None:
            snap.oldest_pending_at = row["oldest"]
            snap.oldest_pending_age_s = max(0.0, (now - row["oldest"]).total_seconds())
    for row in (
        PushRequest.objects.order_by()
        .filter(state=PushRequest.State.SUCCEEDED)
        .values("company_id")
        .annotate(last=Max("completed_at"))
    ):
        snap = snaps.get(row["company_id"])
        if snap is not None and row["last"] is not None:
            if snap.last_success_at is None or row["last"] > snap.last_success_at:
                snap.last_success_at = row["last"]
    for row in (
        Attempt.objects.order_by()
        .filter(http_status=429, started_at__gte=now - dt.timedelta(hours=1))
        .values("company_id")
        .annotate(n=Count("id"))
    ):
        snap = snaps.get(row["company_id"])
        if snap is not None:
            snap.throttled_429_last_hour = row["n"]
    return list(snaps.values())


@dataclass
class HeartbeatInfo:
    worker_id: str
    hostname: str
    pid: int
    age_s: float
    fresh: bool


def worker_heartbeats(now: dt.datetime | None = None) -> list[HeartbeatInfo]:
    """Heartbeats of workers that have not said they stopped."""
    now = now or timezone.now()
    limit = settings.LEDGERLINK_READY_HEARTBEAT_SECONDS
    result = []
    for hb in WorkerHeartbeat.objects.filter(stopped_at__isnull=True).order_by("worker_id"):
        age = max(0.0, (now - hb.last_seen).total_seconds())
        result.append(HeartbeatInfo(hb.worker_id, hb.hostname, hb.pid, age, age <= limit))
    return result


def fresh_heartbeat_count(now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.LEDGERLINK_READY_HEARTBEAT_SECONDS)
    return WorkerHeartbeat.objects.filter(stopped_at__isnull=True, last_seen__gte=cutoff).count()


def token_refresh_counts() -> dict[int, int]:
    """Token refreshes per Company id, from the audit log."""
    counts: dict[int, int] = {}
    for row in (
        AuditLog.objects.order_by()
        .filter(action=TOKEN_REFRESH_ACTION, object_type="company")
        .values("object_id")
        .annotate(n=Count("id"))
    ):
        try:
            counts[int(row["object_id"])] = row["n"]
        except (TypeError, ValueError):
            continue
    return counts


def failed_by_kind() -> dict[tuple[int, str], int]:
    """Failed requests per (Company id, error kind)."""
    return {
        (row["company_id"], row["error_kind"]): row["n"]
        for row in PushRequest.objects.order_by()
        .filter(state=PushRequest.State.FAILED)
        .values("company_id", "error_kind")
        .annotate(n=Count("id"))
    }


__all__ = [
    "CompanySnapshot",
    "HeartbeatInfo",
    "company_snapshots",
    "failed_by_kind",
    "fresh_heartbeat_count",
    "token_refresh_counts",
    "worker_heartbeats",
]
