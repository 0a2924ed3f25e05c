"""Reconciliation: for each order in range, what QBO holds against what it should, and the fix one
click away.

QBO's read limits count, so the documents are found with few queries per Company and entity: one
(paged by 1000) for everything carrying Ledgerlink's PrivateNote marker since the start date
(``PrivateNote LIKE '%ledgerlink-order:%'``), then the DocNumbers of the posted orders, 100 to a
``DocNumber IN (...)`` query (a document made in QBO without the marker, a duplicate under the same
number). Payments, credit memos and refund receipts are found
by their marker the same way (one query each).

Statuses (one per order):

    ok               the order's one document holds its total (a cancelled order: voided, or never sent)
    missing          posted here, absent in QBO (deleted there)          fix: re-queue (post it again)
    duplicate        more than one live document for the order           fix: void the extra document
    amount_mismatch  the document's TotalAmt is not the order's total    fix: accept (or change the order)
    voided_in_qbo    the document was voided in QBO, the order is not cancelled   fix: re-queue or accept
    unposted         the order has no document in QBO yet (failed, waiting, held) fix: re-queue
    payments_mismatch / refunds_mismatch   what Ledgerlink sent does not add up in QBO   fix: accept

"accept" records that a person looked and the difference stands (an audit row); the order reads ok
while QBO shows the same figures.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

import httpx
from django.db import transaction
from django.utils import timezone

from ledgerlink.core.models import AuditLog, Company, Order, OrderPayment, OrderRefund, PushRequest
from ledgerlink.core.roles import limit_to_companies
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.companies.tokens import client_for
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.outbox.actions import requeue_request
from ledgerlink.domain.outbox.create import create_push_request
from ledgerlink.domain.outbox.follow_ups import create_follow_up
from ledgerlink.domain.outbox.transitions import label_of
from ledgerlink.domain.payloads.build import build_payload
from ledgerlink.domain.sync.documents import is_voided
from ledgerlink.quickbooks import wire
from ledgerlink.quickbooks.client import QBOError

S = PushRequest.State
STATUSES = ("ok", "missing", "duplicate", "amount_mismatch", "voided_in_qbo", "unposted", "payments_mismatch",
            "refunds_mismatch")
FIX_FOR = {
    "missing": "requeue", "unposted": "requeue", "duplicate": "void_extra", "amount_mismatch": "accept",
    "voided_in_qbo": "accept", "payments_mismatch": "accept", "refunds_mismatch": "accept",
}
DOC_IN_CHUNK = 100
MARKER_LIKE = wire.sql_quote("%" + wire.PRIVATE_NOTE_PREFIX + "%")
CENT = Decimal("0.01")


@dataclass
class Row:
    order_id: int
    number: str
    company_id: int
    status: str
    expected: Decimal
    found: list[dict] = field(default_factory=list)  # [{"entity", "Id", "DocNumber", "TotalAmt", "voided"}]
    detail: str = ""
    fix: str = ""
    request_id: int | None = None
    extra_id: str = ""  # duplicate: the document to void

    def as_dict(self) -> dict:
        return {
            "order": self.order_id, "number": self.number, "company": self.company_id, "status": self.status,
            "expected": str(self.expected), "found": self.found, "detail": self.detail, "fix": self.fix,
            "request": self.request_id, "extra_id": self.extra_id,
        }


@dataclass
class Report:
    rows: list[Row]
    queries: int
    errors: list[dict] = field(default_factory=list)  # [{"company", "detail"}]: QBO could not be read

    @property
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for row in self.rows:
            out[row.status] += 1
        return out

    @property
    def ok(self) -> bool:
        return not self.errors and all(row.status == "ok" for row in self.rows)


def _money(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT)


class _Reader:
    """The Company's QBO reads, counted."""

    def __init__(self, client):
        self.client = client
        self.queries = 0

    def rows(self, entity: str, where: str) -> list[dict]:
        out = []
        start = 1
        while True:
            self.queries += 1
            page = self.client.query_rows(
                f"SELECT * FROM {entity} WHERE {where} STARTPOSITION {start} MAXRESULTS 1000", entity)
            out += page
            if len(page) < 1000:
                return out
            start += 1000


def _order_of(note: str) -> int | None:
    text = str(note or "")
    at = text.find(wire.PRIVATE_NOTE_PREFIX)
    if at < 0:
        return None
    digits = ""
    for ch in text[at + len(wire.PRIVATE_NOTE_PREFIX):]:
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else None


def _intent_of(note: str) -> str:
    """``payment`` / ``refund`` / ``credit`` of a follow-up's marker ("" for a document)."""
    text = str(note or "")
    at = text.find(wire.PRIVATE_NOTE_PREFIX)
    rest = text[at + len(wire.PRIVATE_NOTE_PREFIX):] if at >= 0 else ""
    _, _, tail = rest.partition(" ")
    return tail.partition(":")[0]


def reconcile(*, company: int | None = None, since: date | None = None, clients: dict | None = None,
              actor=None) -> Report:
    """Reconcile the orders created on or after ``since`` (all when None) of one Company (all active
    when None), among those ``actor`` may see."""
    companies = Company.objects.filter(status=Company.Status.ACTIVE).order_by("id")
    if company is not None:
        companies = Company.objects.filter(pk=company)
    companies = limit_to_companies(companies, actor, "id")
    if company is not None and not companies.exists():
        raise ServiceError(f"company {company} does not exist", field="company", status=404)
    rows: list[Row] = []
    errors: list[dict] = []
    queries = 0
    for comp in companies:
        own = clients is None or comp.pk not in clients
        client = client_for(comp) if own else clients[comp.pk]
        reader = _Reader(client)
        try:
            rows += _reconcile_company(comp, since, reader)
        except (QBOError, httpx.HTTPError) as exc:
            errors.append({"company": comp.pk, "detail": f"QuickBooks could not be read: {exc}"})
        finally:
            queries += reader.queries
            if own:
                client.close()
    return Report(rows, queries, errors)


def _reconcile_company(company: Company, since: date | None, reader: _Reader) -> list[Row]:
    orders = Order.objects.filter(order_source__site_area__company=company).select_related(
        "order_source__site_area").order_by("id")
    if since is not None:
        orders = orders.filter(created_at__gte=timezone.make_aware(datetime.combine(since, time.min)))
    orders = list(orders)
    if not orders:
        return []
    ids = [o.pk for o in orders]
    docs_by_order = defaultdict(list)
    requests = defaultdict(list)
    for pr in PushRequest.objects.filter(order_id__in=ids).order_by("id"):
        requests[pr.order_id].append(pr)
    since_sql = f" AND MetaData.CreateTime >= '{since.isoformat()}'" if since is not None else ""
    # 1. Everything with the marker (documents, payments, credit memos, refund receipts).
    marked = {}
    for entity in ("Invoice", "SalesReceipt", "Payment", "CreditMemo", "RefundReceipt"):
        marked[entity] = reader.rows(entity, f"PrivateNote LIKE {MARKER_LIKE}{since_sql}")
    seen = set()
    for entity in ("Invoice", "SalesReceipt"):
        for doc in marked[entity]:
            order_id = _order_of(doc.get("PrivateNote"))
            if order_id is not None:
                docs_by_order[order_id].append((entity, doc))
                seen.add((entity, doc["Id"]))
    # 2. The posted orders' DocNumbers, 100 to a query: what the marker did not find (a document a
    #    person made or edited in QBO without it, a duplicate under the same number).
    by_number = defaultdict(list)
    for order in orders:
        doc_pr = _document(requests[order.pk])
        if doc_pr is not None and doc_pr.state == S.SUCCEEDED:
            number = doc_pr.qbo_doc_number or order.number
            if number:
                by_number[(wire.ENTITY_FOR_KIND[doc_pr.kind], number)].append(order.pk)
    for entity in ("Invoice", "SalesReceipt"):
        numbers = sorted({n for (e, n) in by_number if e == entity})
        for start in range(0, len(numbers), DOC_IN_CHUNK):
            chunk = numbers[start:start + DOC_IN_CHUNK]
            found = reader.rows(entity, "DocNumber IN (" + ", ".join(wire.sql_quote(n) for n in chunk) + ")")
            for doc in found:
                if (entity, doc["Id"]) in seen:
                    continue
                seen.add((entity, doc["Id"]))
                marked_for = _order_of(doc.get("PrivateNote"))
                for order_id in by_number.get((entity, str(doc.get("DocNumber"))), []):
                    if marked_for is None or marked_for == order_id:
                        docs_by_order[order_id].append((entity, doc))
    money_by_order = defaultdict(lambda: {"payment": Decimal(0), "refund": Decimal(0)})
    for entity in ("Payment", "CreditMemo", "RefundReceipt"):
        for doc in marked[entity]:
            order_id = _order_of(doc.get("PrivateNote"))
            intent = _intent_of(doc.get("PrivateNote"))
            if order_id is not None and intent in ("payment", "refund"):
                money_by_order[order_id][intent] += _money(doc.get("TotalAmt"))
    sent_payments = defaultdict(Decimal)
    for p in OrderPayment.objects.filter(order_id__in=ids, push_request__state=S.SUCCEEDED):
        sent_payments[p.order_id] += p.amount
    sent_refunds = defaultdict(Decimal)
    for r in OrderRefund.objects.filter(order_id__in=ids, push_request__state=S.SUCCEEDED):
        sent_refunds[r.order_id] += r.amount
    accepted = _accepted(ids)
    rows = []
    for order in orders:
        row = _row(order, requests[order.pk], docs_by_order.get(order.pk, []))
        if row.status == "ok":
            paid_qbo, paid_here = money_by_order[order.pk]["payment"], sent_payments[order.pk]
            refund_qbo, refund_here = money_by_order[order.pk]["refund"], sent_refunds[order.pk]
            if paid_qbo != paid_here:
                row.status, row.detail = "payments_mismatch", f"payments sent {paid_here}, in QuickBooks {paid_qbo}"
            elif refund_qbo != refund_here:
                row.status, row.detail = "refunds_mismatch", f"refunds sent {refund_here}, in QuickBooks {refund_qbo}"
        if row.status != "ok" and accepted.get(order.pk) == _signature(row):
            row.detail = f"accepted ({row.status}): {row.detail}".rstrip(": ")
            row.status = "ok"
        row.fix = FIX_FOR.get(row.status, "")
        rows.append(row)
    return rows


def _document(requests: list[PushRequest]) -> PushRequest | None:
    docs = [pr for pr in requests if pr.kind in wire.DOCUMENT_KINDS]
    return docs[-1] if docs else None


def _row(order: Order, requests: list[PushRequest], docs: list[tuple[str, dict]]) -> Row:
    doc_pr = _document(requests)
    cancelled = order.status == Order.Status.CANCELLED
    expected = Decimal("0.00") if cancelled else order.total
    found = [{"entity": e, "Id": d.get("Id"), "DocNumber": d.get("DocNumber", ""), "TotalAmt": str(_money(
        d.get("TotalAmt"))), "voided": is_voided(d)} for e, d in docs]
    row = Row(order.pk, order.number, order.order_source.site_area.company_id, "ok", expected, found,
              request_id=doc_pr.pk if doc_pr is not None else None)
    live = [f for f in found if not f["voided"]]
    posted = doc_pr is not None and doc_pr.state == S.SUCCEEDED
    if len(live) > 1:
        keep = doc_pr.qbo_id if posted else live[0]["Id"]
        extra = next((f for f in live if f["Id"] != keep), live[-1])
        row.status, row.extra_id = "duplicate", str(extra["Id"])
        row.detail = f"{len(live)} documents for the order: {', '.join(str(f['Id']) for f in live)}; extra {extra['Id']}"
        return row
    if not found:
        if posted:
            row.status, row.detail = "missing", f"posted here as {doc_pr.qbo_id}, absent in QuickBooks"
        elif not cancelled:
            row.status = "unposted"
            row.detail = f"document request {doc_pr.state}" if doc_pr is not None else "held: no document request"
        return row
    if not live:
        if not cancelled:
            row.status, row.detail = "voided_in_qbo", f"document {found[0]['Id']} voided in QuickBooks"
        return row
    amount = _money(live[0]["TotalAmt"])
    if amount != expected:
        row.status, row.detail = "amount_mismatch", f"QuickBooks {amount}, expected {expected}"
    return row


def _signature(row: Row) -> str:
    return f"{row.status}:" + ",".join(f"{f['Id']}={f['TotalAmt']}{'v' if f['voided'] else ''}" for f in row.found)


def _accepted(order_ids: list[int]) -> dict[int, str]:
    out = {}
    for row in AuditLog.objects.filter(action="reconcile.accept", object_type="order",
                                       object_id__in=[str(i) for i in order_ids]).order_by("id"):
        out[int(row.object_id)] = row.data.get("signature", "")
    return out


# --- the fixes ----------------------------------------------------------------------------------------


def fix_row(order_id: int, fix: str, *, since: date | None = None, actor=None, actor_label: str | None = None,
            clients: dict | None = None) -> dict:
    """Apply a row's fix: ``requeue`` (the document again: re-queue a failed/cancelled request, or a
    new document request when QBO lost the posted one), ``void_extra`` (a ``void`` request for the
    duplicate), ``accept`` (the difference stands). Re-reads the order's row first."""
    label = label_of(actor, actor_label)
    order = Order.objects.select_related("order_source__site_area__company").filter(pk=order_id).first() if (
        isinstance(order_id, int) and 0 < order_id < 2**63) else None
    if order is None or not limit_to_companies(Company.objects.filter(pk=order.order_source.site_area.company_id),
                                               actor, "id").exists():
        raise ServiceError(f"order {order_id} does not exist", field="order", status=404)
    company = order.order_source.site_area.company
    report = reconcile(company=company.pk, since=since, clients=clients, actor=actor)
    row = next((r for r in report.rows if r.order_id == order.pk), None)
    if row is None or row.status == "ok":
        raise ServiceError(f"order {order.pk} reconciles; nothing to fix", field="order", status=409)
    if fix not in ("requeue", "void_extra", "accept") or (fix != "accept" and fix != row.fix):
        raise ServiceError(f"is not a fix for a {row.status} row (use {row.fix} or accept)", field="fix")
    with transaction.atomic():
        if fix == "accept":
            record_audit("reconcile.accept", actor=actor, actor_label=label, obj=order, status=row.status,
                         signature=_signature(row), detail=row.detail)
            return {"order": order.pk, "fix": fix, "status": row.status, "request": None}
        if fix == "void_extra":
            entity = next(f["entity"] for f in row.found if str(f["Id"]) == row.extra_id)
            pr = create_follow_up(order=order, company=company, kind=PushRequest.Kind.VOID,
                                  payload={"_entity": entity, "Id": row.extra_id, "SyncToken": ""},
                                  actor=actor, actor_label=label, note=f"reconciliation: void duplicate {row.extra_id}")
        else:
            pr = _repost(order, company, actor, label)
        record_audit("reconcile.fix", actor=actor, actor_label=label, obj=order, status=row.status, fix=fix,
                     request=pr.pk)
    return {"order": order.pk, "fix": fix, "status": row.status, "request": pr.pk}


def _repost(order: Order, company: Company, actor, label: str) -> PushRequest:
    doc = PushRequest.objects.filter(order=order, kind__in=wire.DOCUMENT_KINDS).order_by("-id").first()
    if doc is not None and doc.state in (S.FAILED, S.CANCELLED, S.RETRYING):
        return requeue_request(doc.pk, note="reconciliation: re-queue", actor=actor, actor_label=label)
    if doc is not None and doc.state != S.SUCCEEDED:
        raise ServiceError(f"its document request #{doc.pk} is {doc.state}: it is on its way", field="order",
                           status=409)
    kind, payload = build_payload(order)
    return create_push_request(company=company, kind=kind, payload=payload, order=order, actor=actor,
                               actor_label=label, note="reconciliation: the document is missing in QuickBooks")
