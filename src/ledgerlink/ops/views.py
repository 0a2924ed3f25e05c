"""Health, readiness and metrics endpoints (no login; /metrics limited by token or address)."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from ledgerlink.ops import metrics, stats

_migrations_applied = False  # once true it stays true for the life of the process


@login_not_required
@require_GET
@never_cache
def healthz(request):
    """The process is alive."""
    return JsonResponse({"status": "ok"})


def _pending_migrations() -> list[str]:
    global _migrations_applied
    if _migrations_applied:
        return []
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    pending = [f"{m.app_label}.{m.name}" for m, _backwards in plan]
    if not pending:
        _migrations_applied = True
    return pending


@login_not_required
@require_GET
@never_cache
def readyz(request):
    """Ready to serve: database reachable, migrations applied, a worker heartbeat fresh."""
    checks: dict[str, object] = {}
    reasons: list[str] = []
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means "not ready"
        checks["database"] = "unreachable"
        reasons.append(f"database unreachable: {type(exc).__name__}")
        return _unavailable({"status": "unavailable", "reason": "; ".join(reasons), "checks": checks})
    try:
        pending = _pending_migrations()
    except Exception as exc:
        pending = [f"? ({type(exc).__name__})"]
    checks["migrations"] = "ok" if not pending else {"unapplied": pending}
    if pending:
        reasons.append(f"{len(pending)} unapplied migration(s)")
    try:
        fresh = stats.fresh_heartbeat_count()
    except Exception as exc:
        fresh = 0
        reasons.append(f"heartbeats unreadable: {type(exc).__name__}")
    checks["workers_fresh"] = fresh
    if fresh == 0 and not any(r.startswith("heartbeats") for r in reasons):
        reasons.append(
            f"no worker heartbeat in the last {settings.LEDGERLINK_READY_HEARTBEAT_SECONDS} s"
        )
    if reasons:
        return _unavailable({"status": "unavailable", "reason": "; ".join(reasons), "checks": checks})
    return JsonResponse({"status": "ok", "checks": checks})


def _unavailable(body: dict) -> JsonResponse:
    response = JsonResponse(body, status=503)
    # "Not ready" is a state a load balancer polls for, not a server error: the access log has it,
    # django.request need not log an ERROR line per poll.
    response._has_been_logged = True
    return response


def _address_allowed(addr: str) -> bool:
    try:
        ip = ipaddress.ip_address((addr or "").split("%", 1)[0])
    except ValueError:
        return False
    for entry in settings.LEDGERLINK_METRICS_ALLOW:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _token_ok(request) -> bool:
    token = settings.LEDGERLINK_METRICS_TOKEN
    if not token:
        return False
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


@login_not_required
@require_GET
@never_cache
def metrics_view(request):
    """Prometheus exposition. Allowed with the bearer token, or (outside production) from an allowed
    source address. In production the token is required even from loopback: behind a same-host
    proxy every request comes from 127.0.0.1, and the metrics name companies and realm ids."""
    by_address = not settings.PRODUCTION and _address_allowed(request.META.get("REMOTE_ADDR", ""))
    if not (_token_ok(request) or by_address):
        if settings.PRODUCTION and not settings.LEDGERLINK_METRICS_TOKEN:
            return HttpResponse(
                "forbidden: in production /metrics needs LEDGERLINK_METRICS_TOKEN (Authorization: Bearer ...)\n",
                status=403, content_type="text/plain",
            )
        if settings.LEDGERLINK_METRICS_TOKEN:
            response = HttpResponse("authentication required\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)
