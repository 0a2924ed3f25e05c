"""Sign-in and sign-out as the audit log records them, and what the sign-in throttle counts on.

The throttle is django-axes (settings ``AXES_*``): 5 failures per (username, client address) in 15
minutes lock that pair out for 15 minutes, counted in the database across processes. It counts on
``throttle_username`` (the name as Django signs in with it: NFKC, so full-width ``ｖｉｃｔｉｍ`` is
``victim``, and case-folded) and ``client_address``: ``REMOTE_ADDR``, unless that is one of
``LEDGERLINK_TRUSTED_PROXIES``; only then is ``X-Forwarded-For`` read (right to left, skipping the
trusted proxies), so a client's own header never moves it off its address.
"""

from __future__ import annotations

import ipaddress
import unicodedata

from django.conf import settings
from django.db import transaction

from ledgerlink.domain.audit import record_audit

LOGIN_MAX_FAILURES = 5  # settings.AXES_FAILURE_LIMIT
LOGIN_WINDOW_MINUTES = 15  # settings.AXES_COOLOFF_TIME
MAX_USERNAME_COUNTED = 150


def normalized_username(username: str | None) -> str:
    """NFKC (as Django's login form reads it), trimmed and case-folded."""
    return unicodedata.normalize("NFKC", username or "").strip().casefold()[:MAX_USERNAME_COUNTED]


def throttle_username(request, credentials: dict | None = None) -> str:
    """``AXES_USERNAME_CALLABLE``: the name a failure counts on (from the credentials, else the form)."""
    name = (credentials or {}).get("username")
    if name is None and request is not None:
        name = request.POST.get("username", "")
    return normalized_username(name if isinstance(name, str) else "")


def _networks(entries) -> list:
    out = []
    for entry in entries or ():
        try:
            out.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            continue
    return out


def _ip(value: str):
    try:
        return ipaddress.ip_address((value or "").strip().split("%", 1)[0])
    except ValueError:
        return None


def client_address(request) -> str:
    """``AXES_CLIENT_IP_CALLABLE``: the client's address. ``REMOTE_ADDR`` unless it is a trusted proxy
    (``LEDGERLINK_TRUSTED_PROXIES``, addresses or networks); then the right-most ``X-Forwarded-For``
    entry that is not itself a trusted proxy (a client may prepend anything; the proxy appends the
    address it saw)."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    trusted = _networks(getattr(settings, "LEDGERLINK_TRUSTED_PROXIES", ()))
    remote_ip = _ip(remote)
    if remote_ip is None or not any(remote_ip in net for net in trusted):
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    for entry in reversed(forwarded):
        ip = _ip(entry)
        if ip is None:
            return remote  # a proxy we trust wrote garbage: do not guess
        if not any(ip in net for net in trusted):
            return str(ip)
    return remote


def record_login(user, ip: str) -> None:
    with transaction.atomic():
        record_audit("auth.login", actor=user, obj=user, ip=ip)


def record_login_failed(username: str, ip: str) -> None:
    with transaction.atomic():
        record_audit("auth.login_failed", actor_label="anonymous", username=normalized_username(username), ip=ip)


def record_login_throttled(username: str, ip: str) -> None:
    with transaction.atomic():
        record_audit("auth.login_throttled", actor_label="anonymous", username=normalized_username(username), ip=ip)


def record_logout(user) -> None:
    with transaction.atomic():
        record_audit("auth.logout", actor=user, obj=user)
