"""Failure digests: email the admins (settings.LEDGERLINK_ADMIN_EMAILS) when

* the failed requests of one error kind grow in a Company (one email per growth, with the count,
  the first few orders and a link to the list),
* a Company needs reconnecting (one email per time it enters that state),
* a Company's oldest pending request passes settings.LEDGERLINK_DIGEST_PENDING_AGE_SECONDS (one
  email per time the queue gets that old),
* orders' documents were voided or deleted inside QBO (``Order.qbo_status``; one email per growth),
* documents were stored in QuickBooks with a total other than the order's (warning
  ``amount_mismatch``, docs/tax.md; one email per growth).

``maybe_send_digests()`` is what a worker's loop calls on every turn: at most once every
settings.LEDGERLINK_DIGEST_INTERVAL_SECONDS per process, and it never raises. ``send_digests()`` is
safe to call from any number of processes at once and from `ledgerlink send-digests` (cron): the
figure last notified lives in ``ops.DigestState``, read and
written under a row lock in the same transaction that sends, so two workers never send the same
email twice, and an SMTP failure rolls back so the next call tries again.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Count
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import urlencode

from ledgerlink.core.logging import log_event
from ledgerlink.core.models import Company, Order, PushRequest
from ledgerlink.core.roles import visible_company_ids
from ledgerlink.ops import stats
from ledgerlink.ops.models import DigestState
from ledgerlink.quickbooks.errors import title_of

RECONNECT_KEY = "reconnect"
OLDEST_PENDING_KEY = "oldest_pending"
CHANGED_IN_QBO_KEY = "changed_in_qbo"
AMOUNT_MISMATCH_KEY = "amount_mismatch"


@dataclass
class Digest:
    company_id: int
    key: str
    subject: str
    body: str
    count: int


def _link(list_name: str, **params) -> str:
    try:
        path = reverse(f"web:requests_{list_name}")
    except NoReverseMatch:
        path = f"/requests/{list_name}/"
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{settings.LEDGERLINK_BASE_URL}{path}{'?' + query if query else ''}"


def _connections_link(company: Company) -> str:
    """Connections > Reconnect for this company (the page the email's words name)."""
    try:
        path = reverse("web:connection_new")
    except NoReverseMatch:
        path = "/connections/new"
    return f"{settings.LEDGERLINK_BASE_URL}{path}?{urlencode({'reconnect': company.pk})}"


def _age_text(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 86400:
        return f"{seconds // 86400} d {seconds % 86400 // 3600} h"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 60} min {seconds % 60} s"


def _order_lines(requests) -> list[str]:
    lines = []
    for pr in requests:
        order = pr.order
        label = f"order {order.number}" if order is not None else f"{pr.kind}"
        email = f" <{pr.email}>" if pr.email else ""
        message = (pr.error_message or pr.error_title or "").replace("\n", " ").strip()
        if len(message) > 160:
            message = message[:157] + "..."
        lines.append(f"  - request #{pr.pk}, {label}{email}: {message}")
    return lines


def _failure_digest(company: Company, kind: str, count: int, previous: int) -> Digest:
    title = (title_of(kind) or kind) if kind else "Unclassified failure"
    first = list(
        PushRequest.objects.filter(company=company, state=PushRequest.State.FAILED, error_kind=kind)
        .select_related("order")
        .order_by("id")[: settings.LEDGERLINK_DIGEST_ORDERS]
    )
    body = [
        f"{count} request(s) of {company.name} (realm {company.realm_id}) failed with: {title}",
        f"(error kind {kind or '-'}; {count - previous} new since the last digest).",
        "",
        f"First {len(first)}:",
        *_order_lines(first),
        "",
        "Open them, fix and re-queue:",
        _link("completed", outcome="failed", error_kind=kind, company=company.pk),
    ]
    subject = f"{company.name}: {count} failed request(s) - {title}"
    return Digest(company.pk, f"failed:{kind}", subject, "\n".join(body) + "\n", count)


def _reconnect_digest(company: Company) -> Digest:
    body = [
        f"The QuickBooks Online connection of {company.name} (realm {company.realm_id}) must be renewed.",
        "QuickBooks refused its OAuth tokens (expired, revoked, or the connecting user lost access).",
        "Its requests wait, nothing is lost: an admin reconnects it in the QBO admin area",
        "(Connections > Reconnect, then sign in to QuickBooks and choose the same company; or",
        "`ledgerlink connect` from a shell) and they are sent again by themselves.",
        _connections_link(company),
    ]
    if company.last_error:
        body += ["", f"Last error: {company.last_error[:300]}"]
    pending = PushRequest.objects.filter(company=company, state__in=PushRequest.PENDING_STATES).count()
    body += ["", f"Requests waiting: {pending}", _link("pending", company=company.pk)]
    return Digest(company.pk, RECONNECT_KEY, f"{company.name}: QuickBooks connection needs reconnecting",
                  "\n".join(body) + "\n", 1)


def _pending_digest(company: Company, snap: stats.CompanySnapshot, threshold: int) -> Digest:
    oldest = (
        PushRequest.objects.filter(company=company, state__in=PushRequest.PENDING_STATES)
        .select_related("order")
        .order_by("created_at", "id")[: settings.LEDGERLINK_DIGEST_ORDERS]
    )
    body = [
        f"The oldest pending request of {company.name} (realm {company.realm_id}) is "
        f"{_age_text(snap.oldest_pending_age_s or 0)} old (threshold {_age_text(threshold)}).",
        f"Pending: {snap.queue_depth} waiting, {snap.in_flight} being sent; company status: {snap.status}.",
        "",
        "Oldest:",
        *[
            f"  - request #{pr.pk} ({pr.state}, attempt {pr.attempt_count}), "
            f"{'order ' + pr.order.number if pr.order else pr.kind}"
            for pr in oldest
        ],
        "",
        "Check that workers are running (`ledgerlink status`, /readyz) and the Company is connected:",
        _link("pending", company=company.pk),
    ]
    subject = f"{company.name}: oldest pending request is {_age_text(snap.oldest_pending_age_s or 0)} old"
    return Digest(company.pk, OLDEST_PENDING_KEY, subject, "\n".join(body) + "\n", 1)


def _changed_in_qbo_digest(company: Company, count: int, previous: int) -> Digest:
    orders = list(
        Order.objects.filter(order_source__site_area__company=company).exclude(qbo_status="")
        .order_by("-updated_at", "-id")[: settings.LEDGERLINK_DIGEST_ORDERS]
    )
    words = {"voided_in_qbo": "voided in QuickBooks", "deleted_in_qbo": "deleted in QuickBooks"}
    body = [
        f"{count} order(s) of {company.name} (realm {company.realm_id}) have a document that someone voided "
        f"or deleted inside QuickBooks Online ({count - previous} new since the last digest).",
        "Nothing is re-posted by itself. Open each order: re-queue its document, cancel the order, or accept.",
        "",
        *[f"  - order {o.number} (#{o.pk}): {words.get(o.qbo_status, o.qbo_status)}, QuickBooks Id {o.qbo_id}"
          for o in orders],
    ]
    return Digest(company.pk, CHANGED_IN_QBO_KEY, f"{company.name}: {count} order document(s) voided or deleted "
                  "in QuickBooks", "\n".join(body) + "\n", count)
def _mismatch_requests(company_id: int | None = None):
    qs = PushRequest.objects.filter(state=PushRequest.State.SUCCEEDED).exclude(warnings=[])
    return qs.filter(company_id=company_id) if company_id is not None else qs


def _mismatch_digest(company: Company, count: int, previous: int) -> Digest:
    first = list(_mismatch_requests(company.pk).select_related("order").order_by("id")[: settings.LEDGERLINK_DIGEST_ORDERS])
    lines = []
    for pr in first:
        warning = next((w for w in pr.warnings if w.get("kind") == "amount_mismatch"), {})
        label = f"order {pr.order.number}" if pr.order is not None else pr.kind
        lines.append(f"  - request #{pr.pk}, {label}: QuickBooks total {warning.get('qbo_total')}, "
                     f"order total {warning.get('order_total')}")
    body = [
        f"{count} document(s) of {company.name} (realm {company.realm_id}) were stored in QuickBooks with a "
        f"total that differs from the order's ({count - previous} new since the last digest).",
        "QuickBooks computed its own tax (or rounded differently): check the tax mapping and the documents.",
        "",
        f"First {len(first)}:",
        *lines,
        "",
        _link("completed", outcome="succeeded", company=company.pk),
    ]
    return Digest(company.pk, AMOUNT_MISMATCH_KEY, f"{company.name}: {count} document(s) with a different total",
                  "\n".join(body) + "\n", count)


def _send(digest: Digest, recipients: list[str]) -> None:
    EmailMessage(
        subject=f"{settings.EMAIL_SUBJECT_PREFIX}{digest.subject}",
        body=digest.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    ).send(fail_silently=False)


def _transition(company: Company, key: str, target: int, build, recipients: list[str], now,
                dry_run: bool) -> Digest | None:
    """Lock the (company, key) state; send one email when ``target`` is above the figure last
    notified; store ``target`` in every case (so a drop re-arms the trigger)."""
    if dry_run:
        state = DigestState.objects.filter(company=company, key=key).first()
        previous = state.last_count if state is not None else 0
        return build(previous) if target > previous else None
    # Make sure the row exists first so the lock below always has a row to lock (two workers
    # creating it at once: get_or_create settles on one).
    DigestState.objects.get_or_create(company=company, key=key)
    with transaction.atomic():
        state = DigestState.objects.select_for_update().get(company=company, key=key)
        previous = state.last_count
        if target == previous:
            return None
        digest = None
        if target > previous:
            digest = build(previous)
            if recipients:  # nobody may read this company's digest: remembered, not sent
                _send(digest, recipients)
            state.notified_at = now
            log_event("digest.sent", company=company.pk, key=key, count=target, previous=previous,
                      recipients=len(recipients))
        state.last_count = target
        state.updated_at = now
        state.save(update_fields=["last_count", "updated_at", "notified_at"])
        return digest


def recipients_by_company(recipients: list[str]):
    """``to(company_id)``: the addresses of ``recipients`` that may read that company's digests. An
    address that is an active user's email gets only the companies that user may see (access per
    company, ``core.roles.visible_company_ids``; several users on one address: any of theirs); any
    other address (a team mailbox) gets every company."""
    scopes: dict[str, frozenset[int] | None] = {}
    wanted = {address.strip().casefold() for address in recipients}
    users = get_user_model().objects.filter(is_active=True).exclude(email="").select_related("profile")
    for user in users:
        address = user.email.strip().casefold()
        if address not in wanted:
            continue
        ids = visible_company_ids(user)
        if address in scopes and (scopes[address] is None or ids is None):
            scopes[address] = None
        elif address in scopes:
            scopes[address] = scopes[address] | ids
        else:
            scopes[address] = ids

    def to(company_id: int) -> list[str]:
        out = []
        for address in recipients:
            scope = scopes.get(address.strip().casefold())
            if scope is None or company_id in scope:
                out.append(address)
        return out

    return to


def send_digests(*, now: dt.datetime | None = None, dry_run: bool = False) -> list[Digest]:
    """Send every digest due now; return them. With no admin address configured nothing is sent
    and nothing is remembered (so the digests go out once addresses are set)."""
    recipients = list(settings.LEDGERLINK_ADMIN_EMAILS)
    if not recipients and not dry_run:
        return []
    now = now or timezone.now()
    min_failures = max(1, settings.LEDGERLINK_DIGEST_MIN_FAILURES)
    age_threshold = settings.LEDGERLINK_DIGEST_PENDING_AGE_SECONDS
    companies = {c.pk: c for c in Company.objects.order_by("id")}
    to = recipients_by_company(recipients)
    sent: list[Digest] = []

    failed = stats.failed_by_kind()
    known = {
        (s.company_id, s.key[len("failed:"):]): s.last_count
        for s in DigestState.objects.filter(key__startswith="failed:")
    }
    for company_id, kind in sorted(set(failed) | set(known)):
        company = companies.get(company_id)
        if company is None:
            continue
        count = failed.get((company_id, kind), 0)
        if count == known.get((company_id, kind), 0):
            continue
        # Below the threshold the figure is still remembered, so the email tells the growth once it
        # passes; a shrinking count (fixed and re-queued) is remembered too: the next growth emails.
        target = count if count >= min_failures else min(count, known.get((company_id, kind), 0))
        digest = _transition(
            company, f"failed:{kind}", target,
            lambda previous, c=company, k=kind, n=count: _failure_digest(c, k, n, previous),
            to(company_id), now, dry_run,
        )
        if digest:
            sent.append(digest)

    states = {(s.company_id, s.key): s.last_count for s in DigestState.objects.exclude(key__startswith="failed:")}
    for snap in stats.company_snapshots(now):
        company = companies[snap.id]
        target = 1 if snap.needs_reconnect else 0
        if target != states.get((snap.id, RECONNECT_KEY), 0):
            digest = _transition(company, RECONNECT_KEY, target, lambda previous, c=company: _reconnect_digest(c),
                                 to(snap.id), now, dry_run)
            if digest:
                sent.append(digest)
        too_old = snap.oldest_pending_age_s is not None and snap.oldest_pending_age_s > age_threshold
        target = 1 if too_old else 0
        if target != states.get((snap.id, OLDEST_PENDING_KEY), 0):
            digest = _transition(
                company, OLDEST_PENDING_KEY, target,
                lambda previous, c=company, s=snap: _pending_digest(c, s, age_threshold),
                to(snap.id), now, dry_run,
            )
            if digest:
                sent.append(digest)
    changed = dict(
        Order.objects.exclude(qbo_status="").values("order_source__site_area__company")
        .annotate(n=Count("id")).values_list("order_source__site_area__company", "n")
    )
    for company_id, company in companies.items():
        target = changed.get(company_id, 0)
        if target != states.get((company_id, CHANGED_IN_QBO_KEY), 0):
            digest = _transition(
                company, CHANGED_IN_QBO_KEY, target,
                lambda previous, c=company, n=target: _changed_in_qbo_digest(c, n, previous),
                recipients, now, dry_run,
            )
            if digest:
                sent.append(digest)
    mismatched: dict[int, int] = {}
    for company_id in _mismatch_requests().values_list("company_id", flat=True):
        mismatched[company_id] = mismatched.get(company_id, 0) + 1
    for company_id in sorted(set(mismatched) | {c for c, k in states if k == AMOUNT_MISMATCH_KEY}):
        company = companies.get(company_id)
        target = mismatched.get(company_id, 0)
        if company is None or target == states.get((company_id, AMOUNT_MISMATCH_KEY), 0):
            continue
        digest = _transition(company, AMOUNT_MISMATCH_KEY, target,
                             lambda previous, c=company, n=target: _mismatch_digest(c, n, previous),
                             recipients, now, dry_run)
        if digest:
            sent.append(digest)
    if not recipients:
        logging.getLogger("ledgerlink.digests").warning("LEDGERLINK_ADMIN_EMAILS is empty: digests not sent")
    return sent


_last_run = 0.0
_run_lock = threading.Lock()


def maybe_send_digests(*, every: float | None = None) -> list[Digest]:
    """For the worker's loop: ``send_digests()`` at most once every ``every`` seconds (default
    settings.LEDGERLINK_DIGEST_INTERVAL_SECONDS) in this process; an error is logged, not raised."""
    global _last_run
    interval = settings.LEDGERLINK_DIGEST_INTERVAL_SECONDS if every is None else every
    with _run_lock:
        now = time.monotonic()
        if _last_run and now - _last_run < interval:
            return []
        _last_run = now
    try:
        return send_digests()
    except Exception as exc:  # SMTP down, database hiccup: the next turn tries again
        log_event("digest.failed", level=logging.WARNING, error=type(exc).__name__, exc_info=True)
        return []
