"""Reading push requests: the current payload, the error as shown, and the one definition of the
lists' filters (API, Requests Pending / Completed, bulk re-queue, "similar failed requests")."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import F
from django.utils import timezone

from ledgerlink.core.models import Attempt, Company, PushRequest
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.mirror.match import normalize_email
from ledgerlink.domain.paging import parse_int
from ledgerlink.quickbooks.errors import kind_info

S = PushRequest.State


def current_payload(pr: PushRequest) -> dict:
    return pr.revisions.get(number=pr.revision).payload


def payload_email(payload: dict) -> str:
    """The address a payload bills (``BillEmail.Address``), or ""."""
    bill = payload.get("BillEmail") if isinstance(payload, dict) else None
    address = bill.get("Address") if isinstance(bill, dict) else ""
    return address if isinstance(address, str) else ""


def error_dict(pr: PushRequest) -> dict | None:
    """The request's error as the API shows it (None when it has none)."""
    if not pr.error_kind and not pr.error_message:
        return None
    info = kind_info(pr.error_kind)
    return {
        "kind": pr.error_kind,
        "title": pr.error_title or info["title"],
        "message": pr.error_message,
        "detail": pr.error_detail,
        "code": pr.error_code,
        "element": pr.error_element,
        "fix": info["fix"],
    }


def last_failure_kind(pr: PushRequest) -> str:
    """The request's error kind, else the kind of its newest failed attempt (a re-queued request)."""
    if pr.error_kind:
        return pr.error_kind
    attempt = (
        Attempt.objects.filter(push_request=pr)
        .exclude(error_kind="")
        .order_by("-id")
        .values_list("error_kind", flat=True)
        .first()
    )
    return attempt or ""


def parse_states(value: str | None) -> list[str]:
    """``state`` as the API takes it: one or several, comma-separated (``failed,cancelled``)."""
    states = [s.strip() for s in (value or "").split(",") if s.strip()]
    if any(s not in PushRequest.State.values for s in states):
        raise ServiceError(f"must be one of {', '.join(PushRequest.State.values)}", field="state")
    return states


def filter_requests(qs=None, *, states=None, error_kind=None, site_area=None, order_source=None, order=None,
                    company=None, email=None, day: date | None = None, day_field: str = "created_at"):
    """Push requests matching every filter given (None / "" / 0: not filtered). ``email`` is compared
    case-folded, as stored. The one definition of the lists' filters."""
    qs = PushRequest.objects.all() if qs is None else qs
    if states:
        qs = qs.filter(state__in=list(states))
    if error_kind:
        qs = qs.filter(error_kind=error_kind)
    # Site areas and order sources are few, so each matches many rows: "+ 0" keeps the planner on the
    # (state, id) range scan (stopping after LIMIT rows) instead of sorting every row of the FK index.
    if site_area:
        qs = qs.alias(site_area_key=F("site_area_id") + 0).filter(site_area_key=site_area)
    if order_source:
        qs = qs.alias(source_key=F("order_source_id") + 0).filter(source_key=order_source)
    if order:
        qs = qs.filter(order_id=order)
    if company:
        qs = qs.filter(company_id=company)
    if email:
        # Stored case-folded; the company sub-select lets the (company, email) index answer it.
        qs = qs.filter(company_id__in=Company.objects.values("id"), email=normalize_email(email))
    if day is not None:
        start = timezone.make_aware(datetime.combine(day, time.min))
        qs = qs.filter(**{f"{day_field}__gte": start, f"{day_field}__lt": start + timedelta(days=1)})
    return qs


def list_querysets(tab: str, filters: dict) -> list:
    """The querysets of a Requests Pending / Completed page, for ``paging.keyset_page``: one per
    state when nothing selective is filtered (each an index range scan on (state, id))."""
    states = PushRequest.PENDING_STATES if tab == "pending" else PushRequest.COMPLETED_STATES
    day = None
    if filters.get("date"):
        try:
            day = date.fromisoformat(filters["date"])
        except ValueError:
            day = None
    qs = filter_requests(
        PushRequest.objects.select_related("company", "order", "site_area", "order_source"),
        error_kind=filters.get("error_kind"),
        site_area=parse_int(filters.get("site_area")),
        order_source=parse_int(filters.get("order_source")),
        email=filters.get("email"),
        day=day,
        day_field="created_at" if tab == "pending" else "completed_at",
    )
    outcome = filters.get("outcome") or ""
    if outcome and outcome in states:
        return [qs.filter(state=outcome)]
    if filters.get("error_kind") or filters.get("email"):
        # A selective index ((error_kind, id) or (company, email)) answers these in one query.
        return [qs.filter(state__in=states)]
    return [qs.filter(state=state) for state in states]


def similar_failed(pr: PushRequest, by: str, kind: str):
    """Other failed requests with the same error kind: of the same Company and email, or of the same
    order source ("Apply this fix to all N similar failed requests")."""
    qs = PushRequest.objects.filter(state=S.FAILED).exclude(pk=pr.pk)
    if by == "order_source":
        if not pr.order_source_id:
            return qs.none()
        return qs.filter(order_source_id=pr.order_source_id, error_kind=kind)
    return qs.filter(company_id=pr.company_id, email=pr.email, error_kind=kind)


def latest_request_keyed(company_id: int, kind: str, key: str) -> PushRequest | None:
    """The Company's newest not-cancelled request of ``kind`` (customer / item) for ``key`` (its
    email or SKU, kept in the ``email`` column)."""
    return (
        PushRequest.objects.filter(company_id=company_id, kind=kind, email=key)
        .exclude(state=S.CANCELLED)
        .order_by("-id")
        .first()
    )
