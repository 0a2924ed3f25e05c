"""Customers that appear on their own: the ``create`` customer policy, "Create customer in QuickBooks
and re-queue", and the filling of CustomerRef into requests that wait for a customer.

How a missing customer is created
    A push request of kind ``customer`` (one per Company and email while pending) carries the QBO
    Customer JSON. Documents that need it are queued with ``waiting_on = "customer:<email>"``; the
    worker never claims a waiting request, so a customer and its invoice are never in one batch.
    When the customer request succeeds (or a sync / webhook brings a matching customer), every
    request waiting on that email gets CustomerRef in a new revision authored by the system and is
    queued again (``fill_customer_ref``).

DisplayName
    From the order's name, else its company, else the email; QBO forbids ':' tab and newline and
    allows 500 characters. A 6240 duplicate name is resolved by the deterministic suffix " (2)",
    " (3)", ... up to " (9)", unless the existing customer of that name has the same email, in which
    case it is used.
"""

from __future__ import annotations

import copy
import re

from django.db import transaction

from ledgerlink.core.models import Customer, CustomerEmail, Order, PushRequest, SiteArea
from ledgerlink.core.roles import can_see_company
from ledgerlink.domain.audit import actor_label_for, record_audit
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.mirror.match import match_customer_by_email, normalize_email
from ledgerlink.domain.mirror.store import apply_customer
from ledgerlink.domain.outbox.actions import requeue_request
from ledgerlink.domain.outbox.create import create_push_request
from ledgerlink.domain.outbox.selectors import latest_request_keyed
from ledgerlink.domain.outbox.transitions import (
    CUSTOMER_WAIT,
    S,
    customer_waiting_key,
    park_waiting,
    release_with_revision,
    wait_behind,
)
from ledgerlink.domain.payloads.build import qbo_address
from ledgerlink.domain.payloads.preflight import is_valid_email
from ledgerlink.quickbooks import wire

MAX_SUFFIX = 9
_FORBIDDEN = re.compile(r"[:\t\r\n]+")
_SUFFIX = re.compile(r" \((\d+)\)$")


def sanitize_display_name(value: str) -> str:
    """A DisplayName QBO accepts: no ':' tab or newline, single spaces, at most 500 characters."""
    cleaned = _FORBIDDEN.sub(" ", value or "")
    cleaned = " ".join(cleaned.split())
    return cleaned[:490].strip()


def display_name_for(*, name: str = "", company: str = "", email: str = "") -> str:
    for candidate in (name, company, email):
        cleaned = sanitize_display_name(candidate)
        if cleaned:
            return cleaned
    raise ServiceError("The order has no name, company or email to name a QuickBooks customer", field="email")


def foreign_currency(company, currency: str) -> str:
    """``currency`` when a customer of it is not a home-currency one (multicurrency company), else ""."""
    currency = (currency or "").upper()
    if company.multicurrency and company.home_currency and currency and currency != company.home_currency:
        return currency
    return ""


def _payload_currency(pr: PushRequest) -> str:
    ref = (pr.revisions.get(number=pr.revision).payload or {}).get("CurrencyRef")
    return str(ref.get("value") or "").upper() if isinstance(ref, dict) else ""


def customer_payload(*, email: str, name: str = "", company: str = "", bill_address: dict | None = None,
                     currency: str = "") -> dict:
    """The QBO Customer for an order; in a foreign ``currency`` its DisplayName says so ("Acme Tools
    (EUR)") and it gets that CurrencyRef (a customer has one currency, docs/tax.md)."""
    display = display_name_for(name=name, company=company, email=email)
    if currency:
        display = f"{display[:480]} ({currency})"
    payload: dict = {
        "DisplayName": display,
        "PrimaryEmailAddr": {"Address": email.strip()},
    }
    if currency:
        payload["CurrencyRef"] = {"value": currency}
    company = sanitize_display_name(company)[:100]
    if company:
        payload["CompanyName"] = company
    address = qbo_address(bill_address)
    if address:
        payload["BillAddr"] = address
    return payload


def with_suffix(display_name: str) -> str | None:
    """The next deterministic DisplayName after a 6240: "Name" -> "Name (2)" -> "Name (3)" ..."""
    match = _SUFFIX.search(display_name)
    n = int(match.group(1)) + 1 if match else 2
    if n > MAX_SUFFIX:
        return None
    base = display_name[: match.start()] if match else display_name
    return f"{base[:480]} ({n})"


def ensure_customer_request(
    company, *, email: str, name: str = "", company_name: str = "", bill_address: dict | None = None,
    actor=None, actor_label: str | None = None, currency: str = "",
) -> PushRequest:
    """The Company's customer request for ``email`` (in ``currency``, a foreign one, or the home
    currency): an existing one (pending, succeeded or failed) or a new queued one. Call inside a
    transaction."""
    if not is_valid_email(email):
        raise ServiceError(
            f"{email!r} is not a valid email address: fix the email before creating a customer", field="email"
        )
    existing = latest_request_keyed(company.pk, PushRequest.Kind.CUSTOMER, normalize_email(email))
    if existing is not None and (not company.multicurrency or _payload_currency(existing) == currency):
        return existing
    if existing is not None:
        existing = next((
            pr for pr in PushRequest.objects.filter(
                company=company, kind=PushRequest.Kind.CUSTOMER, email=normalize_email(email)
            ).exclude(state=S.CANCELLED).order_by("-id")[:20]
            if _payload_currency(pr) == currency
        ), None)
        if existing is not None:
            return existing
    payload = customer_payload(email=email, name=name, company=company_name, bill_address=bill_address,
                               currency=currency)
    pr = create_push_request(
        company=company,
        kind=PushRequest.Kind.CUSTOMER,
        payload=payload,
        actor=actor,
        actor_label=actor_label or "system",
        note=f"customer for {normalize_email(email)}",
    )
    if pr.email != normalize_email(email):
        pr.email = normalize_email(email)
        pr.save(update_fields=["email"])
    return pr


def customer_policy_applies(order: Order) -> bool:
    """Whether the ``create`` customer policy may take care of the order's missing customer (no
    database look-up: batch ingest asks before it writes)."""
    site_area = order.order_source.site_area
    return (
        site_area.customer_policy == SiteArea.CustomerPolicy.CREATE
        and bool(order.email)
        and is_valid_email(order.email)
    )


def defer_until_customer_exists(pr: PushRequest, order: Order) -> bool:
    """For the ``create`` policy: called when a new document request lacks CustomerRef. Queues (or
    reuses) the customer request and parks the document as waiting. Returns False when the policy
    does not apply (then the usual pre-flight failure stands)."""
    if not customer_policy_applies(order):
        return False
    site_area = order.order_source.site_area
    currency = foreign_currency(site_area.company, order.currency)
    customer_req = ensure_customer_request(
        site_area.company,
        email=order.email,
        name=order.customer_name,
        company_name=order.customer_company,
        bill_address=order.bill_address,
        actor_label="policy:create",
        currency=currency,
    )
    if customer_req.state == S.SUCCEEDED and customer_req.qbo_id:
        return False  # the mirror will have it; the caller's payload should already match
    park_waiting(pr, customer_waiting_key(order.email, currency), order)
    return True


def create_customer_for_request(request_id: int, *, actor=None, actor_label: str | None = None) -> PushRequest:
    """"Create customer in QuickBooks and re-queue" for a failed ``customer_ref_required`` request:
    queues the customer (from the order's name, company and email, or the payload's BillEmail) and
    parks the request until the customer exists; then it is re-queued with CustomerRef filled in.
    Returns the customer request."""
    label = actor_label or actor_label_for(actor)
    with transaction.atomic():
        pr = (
            PushRequest.objects.select_for_update(of=("self",))
            .select_related("order", "company")
            .filter(pk=request_id)
            .first()
        )
        if pr is None or not can_see_company(actor, pr.company_id):
            raise ServiceError(f"push request {request_id} does not exist", field="id", status=404)
        if pr.state != S.FAILED or pr.error_kind != "customer_ref_required":
            raise ServiceError(
                f"request {pr.pk} is {pr.state} ({pr.error_kind or 'no error'}); only a failed "
                "'CustomerRef is required' request needs a new customer",
                field="state",
                status=409,
            )
        payload = pr.revisions.get(number=pr.revision).payload
        email = ((payload.get("BillEmail") or {}).get("Address") or "").strip() or (pr.email or "")
        if not email:
            raise ServiceError(
                "The request has no BillEmail: add the customer's email (Edit for Re-Queue) first",
                field="BillEmail.Address",
            )
        order = pr.order
        customer_req = ensure_customer_request(
            pr.company,
            email=email,
            name=order.customer_name if order else "",
            company_name=order.customer_company if order else "",
            bill_address=order.bill_address if order else None,
            actor=actor,
            actor_label=label,
        )
        wait_behind(pr, customer_waiting_key(email))
        record_audit(
            "push_request.create_customer", actor=actor, actor_label=label, obj=pr,
            customer_request=customer_req.pk, email=normalize_email(email),
        )
    if customer_req.state == S.SUCCEEDED:
        fill_customer_ref(pr.company, email)
    return customer_req


def _customer_currency(company, customer: Customer) -> str:
    return foreign_currency(company, customer.currency)


def fill_customer_ref(company, email: str, customer: Customer | None = None, *, limit: int = 1000,
                      currency: str = "") -> list[int]:
    """Requests of this Company waiting on ``email`` (queued behind a customer request, or failed with
    ``customer_ref_required``) get CustomerRef from the mirror's customer with that email in a new
    revision authored by the system, and are queued (a failed one is re-queued). Returns the ids.
    ``currency``: those waiting on a customer in that (foreign) currency."""
    if customer is None and currency:
        customer = next((c for c in Customer.objects.filter(
            company=company, emails__email=normalize_email(email), active=True
        ).order_by("-qbo_updated_at", "-id") if _customer_currency(company, c) == currency), None)
    customer = customer or match_customer_by_email(company, email)
    if customer is None:
        return []
    key = customer_waiting_key(email, currency)
    healed: list[int] = []
    waiting = PushRequest.objects.filter(
        company=company, waiting_on=key, state__in=(S.QUEUED, S.FAILED)
    ).exclude(kind=PushRequest.Kind.CUSTOMER).order_by("id")[:limit]
    ref = {"value": customer.qbo_id, "name": customer.display_name}
    note = f"customer {customer.display_name} [{customer.qbo_id}] has {normalize_email(email)}"
    for pr in waiting:
        with transaction.atomic():
            locked = PushRequest.objects.select_for_update().get(pk=pr.pk)
            if locked.waiting_on != key or locked.state not in (S.QUEUED, S.FAILED):
                continue
            payload = copy.deepcopy(locked.revisions.get(number=locked.revision).payload)
            current = payload.get("CustomerRef")
            if isinstance(current, dict) and current.get("value") and locked.state == S.FAILED:
                continue  # a person chose a customer: leave it to them
            payload["CustomerRef"] = ref
            if locked.state == S.FAILED:
                requeue_request(locked.pk, payload=payload, note=note, actor_label="system")
            else:
                release_with_revision(locked, payload, note)
                record_audit("push_request.healed", actor_label="system", obj=locked, customer=customer.qbo_id)
            healed.append(pr.pk)
    return healed


def fill_customer_refs_for_waiting(company) -> list[int]:
    """After a full sync: every email this Company's requests wait on that the mirror now matches."""
    keys = (
        PushRequest.objects.filter(company=company, waiting_on__startswith=CUSTOMER_WAIT, state__in=(S.QUEUED, S.FAILED))
        .values_list("waiting_on", flat=True)
        .distinct()
    )
    healed: list[int] = []
    for key in list(keys):
        email, _, currency = key[len(CUSTOMER_WAIT):].partition("|")
        healed += fill_customer_ref(company, email, currency=currency)
    return healed


def fill_customer_refs_for(company, customers: list[Customer]) -> list[int]:
    """After the mirror upserted ``customers`` (CDC, a webhook, a created customer): every request
    waiting on one of their (active) emails gets its CustomerRef."""
    healed: list[int] = []
    active = [c for c in customers if c is not None and c.active]
    for start in range(0, len(active), 500):
        chunk = active[start:start + 500]
        emails = list(CustomerEmail.objects.filter(customer__in=chunk).order_by("customer_id", "id")
                      .values_list("customer_id", "email"))
        # One query for which of these emails anything waits on (a CDC page is mostly unrelated changes).
        currencies = {c.pk: _customer_currency(company, c) for c in chunk}
        waiting = set(PushRequest.objects.filter(
            company=company, waiting_on__in={customer_waiting_key(e, currencies[c]) for c, e in emails},
            state__in=(S.QUEUED, S.FAILED),
        ).values_list("waiting_on", flat=True))
        by_customer: dict[int, list[str]] = {}
        for customer_id, email in emails:
            by_customer.setdefault(customer_id, []).append(email)
        for customer in chunk:
            currency = currencies[customer.pk]
            for email in by_customer.get(customer.pk, []):
                if customer_waiting_key(email, currency) in waiting:
                    healed += fill_customer_ref(company, email, customer if currency else None, currency=currency)
    return healed


def after_customer_request(pr: PushRequest, response_entity: dict | None, client=None) -> list[int]:
    """After the worker recorded a customer request. Success: the new customer enters the mirror and
    fills the CustomerRef of what waits on it. A 6240 duplicate name: use the existing customer if it
    has the same email, else re-queue with the next deterministic suffix."""
    if pr.state == S.SUCCEEDED and response_entity:
        customer = apply_customer(pr.company, response_entity)
        return fill_customer_refs_for(pr.company, [customer]) if customer else []
    if pr.state != S.FAILED or pr.error_code != "6240":
        return []
    payload = pr.revisions.get(number=pr.revision).payload
    name = str(payload.get("DisplayName", ""))
    if client is not None:
        rows = client.query_rows(
            f"SELECT * FROM Customer WHERE DisplayName = {wire.sql_quote(name)} AND Active IN (true,false)", "Customer"
        )
        for row in rows:
            existing = normalize_email((row.get("PrimaryEmailAddr") or {}).get("Address", ""))
            if pr.email and pr.email in [e.strip() for e in re.split(r"[,;]", existing)]:
                customer = apply_customer(pr.company, row)
                return fill_customer_refs_for(pr.company, [customer]) if customer else []
    nxt = with_suffix(name)
    if nxt is None:
        return []
    requeue_request(
        pr.pk, payload={**payload, "DisplayName": nxt}, note=f"DisplayName {name!r} is taken in QuickBooks",
        actor_label="system",
    )
    return []
