"""Sign-in and sign-out as the audit log records them, and the sign-in throttle read from it
(5 failures per username and address in 15 minutes, counted across processes)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ledgerlink.core.models import AuditLog
from ledgerlink.domain.audit import record_audit

LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW = timedelta(minutes=15)


def login_failures(username: str, ip: str) -> int:
    since = timezone.now() - LOGIN_WINDOW
    return AuditLog.objects.filter(
        action="auth.login_failed", at__gte=since, data__username=username.strip().lower(), data__ip=ip
    ).count()


def login_blocked(username: str, ip: str) -> bool:
    return bool(username) and login_failures(username, ip) >= LOGIN_MAX_FAILURES


def record_login(user, ip: str) -> None:
    with transaction.atomic():
        record_audit("auth.login", actor=user, obj=user, ip=ip)


def record_login_failed(username: str, ip: str) -> None:
    with transaction.atomic():
        record_audit("auth.login_failed", actor_label="anonymous", username=username.lower(), ip=ip)


def record_login_throttled(username: str, ip: str) -> None:
    with transaction.atomic():
        record_audit("auth.login_throttled", actor_label="anonymous", username=username.lower(), ip=ip)


def record_logout(user) -> None:
    with transaction.atomic():
        record_audit("auth.logout", actor=user, obj=user)
