"""Writing a push request (revision 1) in the caller's transaction: the transactional outbox."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from ledgerlink.core.models import Company, CustomerEmail, Order, PushRequest, PushRevision
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.mirror.match import normalize_email
from ledgerlink.domain.outbox.selectors import payload_email
from ledgerlink.domain.outbox.transitions import S, author_of, fail_preflight, label_of, set_order_status
from ledgerlink.domain.payloads.preflight import PreflightError, preflight_payload

# (new request, its order, the pre-flight error) -> True when the policy took care of it
PreflightPolicy = Callable[[PushRequest, Order, PreflightError], bool]


def create_push_request(
    *,
    company: Company,
    kind: str,
    payload: dict,
    order: Order | None = None,
    actor=None,
    actor_label: str | None = "system",
    note: str = "",
    on_preflight_error: PreflightPolicy | None = None,
) -> PushRequest:
    """Write a push request with revision 1 (state queued), or failed at once when pre-flight finds
    what QBO would reject. Call inside the order's transaction (transactional outbox).

    ``on_preflight_error(pr, order, error) -> bool``: for an order's document, a policy that may take
    care of the pre-flight error instead (the site area's create policies, ``healing.policies``,
    queue the missing customer or item and park the request); True when it did."""
    if kind not in PushRequest.Kind.values:
        raise ServiceError(f"unknown kind {kind!r}", field="kind")
    label = label_of(actor, actor_label)
    with transaction.atomic():
        site_area = order.order_source.site_area if order is not None else None
        email = (order.email if order is not None else "") or payload_email(payload)
        now = timezone.now()
        pr = PushRequest.objects.create(
            company=company,
            order=order,
            site_area=site_area,
            order_source=order.order_source if order is not None else None,
            email=normalize_email(email)[:320],
            kind=kind,
            state=S.QUEUED,
            revision=1,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        flag = shared_email_flag(company, pr.email, payload)
        if flag:
            note = f"{note}; {flag}" if note else flag
        PushRevision.objects.create(
            push_request=pr, number=1, payload=payload, author=author_of(actor), author_label=label, note=note
        )
        error = preflight_payload(company, kind, payload)
        handled = (
            error is not None and order is not None and on_preflight_error is not None
            and on_preflight_error(pr, order, error)
        )
        if error is not None and not handled:
            fail_preflight(pr, error)
        elif error is None:
            set_order_status(order, Order.Status.QUEUED)
        record_audit(
            "push_request.create",
            actor=actor,
            actor_label=label,
            obj=pr,
            kind=kind,
            order=order.pk if order is not None else None,
            state=pr.state,
            error_kind=pr.error_kind,
        )
    return pr


def shared_email_flag(company: Company, email: str, payload: dict) -> str:
    """A note when several active QBO customers share the email the CustomerRef was matched by: the
    choice (active first, then the most recently updated) is deterministic, but a person should know."""
    ref = payload.get("CustomerRef") if isinstance(payload, dict) else None
    if not email or not isinstance(ref, dict) or not ref.get("value"):
        return ""
    ids = list(
        CustomerEmail.objects.filter(company=company, email=email, customer__active=True)
        .order_by("customer__qbo_id")
        .values_list("customer__qbo_id", flat=True)[:10]
    )
    if len(ids) < 2 or str(ref["value"]) not in ids:
        return ""
    return (
        f"flag: {len(ids)} active QuickBooks customers have {email} (Ids {', '.join(ids)}); "
        f"used {ref['value']}, the most recently updated"
    )
