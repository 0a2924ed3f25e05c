"""Order ingest (REST API, the batch endpoint, CSV rows, store webhooks, the demo): ONE path.

``ingest_orders(list_of_order_inputs)`` validates each order (``validate_order_input``), then writes
all good new ones in ONE transaction (transactional outbox, invariant 1): orders, lines, rule logs,
push requests, revisions and audit rows, one INSERT per table. What it needs is read once per batch,
before the transaction: the order sources (with the orders that already exist under the batch's
external ids), the enabled automation rules, the mirror's items and customers (``MirrorLookups``). Rules still run per order,
in order, each change logged. Each order's answer comes back in the request's order: 201 created,
200 delivered before (idempotent on (order source, external id), also inside one batch and when
batches race), 422 refused (only that order; nothing of it is written). ``ingest_order`` is the
same path for one order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import F, FilteredRelation, Q

from ledgerlink.core.models import (
    AuditLog,
    Order,
    OrderLine,
    OrderRuleLog,
    OrderSource,
    PushRequest,
    SiteArea,
)
from ledgerlink.core.roles import visible_company_ids
from ledgerlink.domain.audit import actor_label_for, audit_row
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.healing.policies import defer_for_missing, may_defer_for_missing
from ledgerlink.domain.ingest.automation import apply_rules, enabled_rules
from ledgerlink.domain.inputs import MAX_AMOUNT, clean_text, has_surrogate
from ledgerlink.domain.inputs import parse_number as _number
from ledgerlink.domain.mirror.lookups import MirrorLookups
from ledgerlink.domain.outbox.create import (
    PlannedRequest,
    create_planned_requests,
    create_push_request,
    plan_push_request,
)
from ledgerlink.domain.payloads.build import build_payload, mark_order, needs_tax_codes
from ledgerlink.domain.routing.order_sources import OrderSourceIndex, resolve_order_source

ADDRESS_KEYS = ("line1", "line2", "city", "region", "postal_code", "country")
MAX_LINES = 1000
CENT = Decimal("0.01")


# --- input validation -------------------------------------------------------------------------------




def _absent(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _rate(value, name: str) -> Decimal | None:
    """A tax rate in percent ("13", "9.975"): 0..100, at most 4 decimal places; None when absent."""
    if _absent(value):
        return None
    rate = _number(value, name, places=4)
    if rate > 100:
        raise ServiceError("must be a percent from 0 to 100 (e.g. 13 or 9.975)", field=name)
    return rate


_TRUE = ("true", "1", "yes", "y")
_FALSE = ("false", "0", "no", "n")


def _flag(value, name: str) -> bool | None:
    if _absent(value):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ServiceError("must be true or false", field=name)


def _address(value, name: str) -> dict:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ServiceError(f"must be an object with {', '.join(ADDRESS_KEYS)}", field=name)
    out = {}
    for key in value:
        if key not in ADDRESS_KEYS:
            raise ServiceError(f"is not an address field (known: {', '.join(ADDRESS_KEYS)})", field=f"{name}.{key}")
        text = clean_text(value, key, field_name=f"{name}.{key}", max_len=200)
        if text:
            out[key] = text
    return out


def validate_order_input(data, *, sources: OrderSourceIndex | None = None, company_ids=None) -> dict:
    """Cleaned order input, or ServiceError naming the field and the reason. ``sources``: the
    batch's order sources (read once); without it the order source is looked up. ``company_ids``:
    the companies the sender may see (None: every one); a source of another is "no order source"."""
    if not isinstance(data, dict):
        raise ServiceError("the order must be a JSON object", field=None)
    source_value = data.get("order_source")
    source = resolve_order_source(source_value) if sources is None else sources.resolve(source_value)
    if company_ids is not None and source.site_area.company_id not in company_ids:
        raise ServiceError(f"no order source {source_value!r}", field="order_source")
    clean: dict = {"order_source": source}
    clean["external_id"] = clean_text(data, "external_id", required=True, max_len=200)
    clean["number"] = clean_text(data, "number", required=True, max_len=100)
    clean["email"] = clean_text(data, "email", max_len=320)
    clean["customer_name"] = clean_text(data, "customer_name", max_len=300)
    clean["customer_company"] = clean_text(data, "customer_company", max_len=300)
    company = clean["order_source"].site_area.company
    currency = clean_text(data, "currency", max_len=3).upper() or company.home_currency or "USD"
    if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):  # "ÄÖÜ" is alphabetic too
        raise ServiceError("must be a 3-letter ISO 4217 code (A-Z) such as USD", field="currency")
    clean["currency"] = currency
    txn_date = data.get("txn_date")
    if txn_date in (None, ""):
        clean["txn_date"] = None
    elif isinstance(txn_date, date):
        clean["txn_date"] = txn_date
    else:
        try:
            clean["txn_date"] = date.fromisoformat(str(txn_date).strip())
        except ValueError as exc:
            raise ServiceError("must be a date as YYYY-MM-DD", field="txn_date") from exc
    clean["bill_address"] = _address(data.get("bill_address"), "bill_address")
    clean["ship_address"] = _address(data.get("ship_address"), "ship_address")
    for key in ("shipping", "discount", "tax", "shipping_tax"):
        clean[key] = _number(data.get(key), key, places=2, default=Decimal("0.00"))
    tax_given = not _absent(data.get("tax"))
    clean["prices_include_tax"] = bool(_flag(data.get("prices_include_tax"), "prices_include_tax"))
    clean["shipping_tax_rate"] = _rate(data.get("shipping_tax_rate"), "shipping_tax_rate")
    exchange_rate = data.get("exchange_rate")
    clean["exchange_rate"] = None if _absent(exchange_rate) else _number(
        exchange_rate, "exchange_rate", places=8, positive=True)
    itemized = not _absent(data.get("shipping_tax")) or clean["shipping_tax_rate"] is not None

    lines = data.get("lines")
    if not isinstance(lines, list):
        raise ServiceError("must be a list of order lines", field="lines")
    if not lines:
        raise ServiceError("must have at least one line", field="lines")
    if len(lines) > MAX_LINES:
        raise ServiceError(f"must have at most {MAX_LINES} lines", field="lines")
    clean_lines = []
    for index, line in enumerate(lines):
        prefix = f"lines[{index}]"
        if not isinstance(line, dict):
            raise ServiceError("must be an object with sku, description, quantity, unit_price", field=prefix)
        quantity = _number(line.get("quantity"), f"{prefix}.quantity", places=4, positive=True)
        unit_price = _number(line.get("unit_price"), f"{prefix}.unit_price", places=4)
        sku = clean_text(line, "sku", field_name=f"{prefix}.sku", max_len=200)
        description = clean_text(line, "description", field_name=f"{prefix}.description", max_len=4000)
        if not sku and not description:
            raise ServiceError("needs a sku or a description", field=f"{prefix}.sku")
        amount = (quantity * unit_price).quantize(CENT, rounding=ROUND_HALF_UP)
        tax = None if _absent(line.get("tax")) else _number(line.get("tax"), f"{prefix}.tax", places=2)
        tax_rate = _rate(line.get("tax_rate"), f"{prefix}.tax_rate")
        taxable = _flag(line.get("taxable"), f"{prefix}.taxable")
        if tax is not None or tax_rate is not None or taxable is not None:
            itemized = True
        if taxable is None:
            taxable = bool((tax is not None and tax > 0) or (tax_rate is not None and tax_rate > 0))
        clean_lines.append(
            {"sku": sku, "description": description, "quantity": quantity, "unit_price": unit_price, "amount": amount,
             "tax": tax, "tax_rate": tax_rate, "taxable": taxable}
        )
    clean["lines"] = clean_lines
    clean["itemized_tax"] = itemized
    line_taxes = [line["tax"] for line in clean_lines if line["tax"] is not None]
    if line_taxes:
        expected = (sum(line_taxes, Decimal("0.00")) + clean["shipping_tax"]).quantize(CENT)
        if not tax_given:
            clean["tax"] = expected
        elif clean["tax"] != expected:
            raise ServiceError(
                f"must equal the lines' tax plus the shipping tax ({expected}), got {clean['tax']}", field="tax"
            )
    subtotal = sum((line["amount"] for line in clean_lines), Decimal("0.00")).quantize(CENT)
    # Prices that include tax already hold it: the total adds it once, not twice.
    tax_added = Decimal("0.00") if clean["prices_include_tax"] else clean["tax"]
    total = (subtotal + clean["shipping"] - clean["discount"] + tax_added).quantize(CENT)
    if total < 0:
        raise ServiceError(
            f"is larger than the order (subtotal {subtotal} + shipping + tax): the total would be {total}",
            field="discount",
        )
    if subtotal >= MAX_AMOUNT or total >= MAX_AMOUNT:
        raise ServiceError("the order total is too large", field="lines")
    clean["subtotal"], clean["total"] = subtotal, total
    return clean


# --- ingest ------------------------------------------------------------------------------------------

MAX_BATCH = 500  # orders per call of the batch endpoint (and per chunk of the CSV import)
RACE_ATTEMPTS = 5  # a batch that lost a race (another delivery wrote one of its orders) is redone
# PostgreSQL's deadlock_detected and serialization_failure: two batches writing the same orders in
# different order; the loser is redone.
_RACE_SQLSTATES = ("40P01", "40001")


@dataclass
class IngestResult:
    """One order's answer, at its ``index`` in the batch: ``status`` 201 (created), 200 (delivered
    before: ``id`` is the existing order) or 422 (refused: ``error`` says why; nothing was written)."""

    index: int
    status: int = 0
    id: int | None = None
    error: ServiceError | None = None
    # created: the order as written, with its lines, document request and rule log (the API answers
    # from these without reading them back)
    order: Order | None = None
    lines: list[OrderLine] = field(default_factory=list)
    request: PushRequest | None = None
    rule_log: list[OrderRuleLog] = field(default_factory=list)

    @property
    def created(self) -> bool:
        return self.status == 201

    @property
    def detail(self) -> str | None:
        return self.error.message if self.error is not None else None

    @property
    def field(self) -> str | None:
        return self.error.field if self.error is not None else None

    def as_dict(self) -> dict:
        return {"index": self.index, "status": self.status, "id": self.id, "detail": self.detail, "field": self.field}


@dataclass
class _New:
    """A good new order of the batch, built in memory before the transaction."""

    result: IngestResult
    order: Order
    lines: list[OrderLine]
    logs: list[OrderRuleLog]
    plan: PlannedRequest | None = None
    deferrable: bool = False  # pre-flight failed and a create policy may take care of it


def ingest_order(data: dict, *, actor=None, actor_label: str | None = None) -> tuple[Order, bool]:
    """(order, created). Validates ``data`` (ServiceError naming the field), then writes the order, its
    lines, the rule log and its push request in one transaction. A re-delivery of the same
    (order_source, external_id) returns the existing order with ``created=False`` and writes nothing.
    The batch path (``ingest_orders``) with one order."""
    (result,) = ingest_orders([data], actor=actor, actor_label=actor_label)
    if result.error is not None:
        raise result.error
    if result.created:
        return result.order, True
    return Order.objects.select_related("order_source__site_area__company").get(pk=result.id), False


def ingest_orders(items: list, *, actor=None, actor_label: str | None = None) -> list[IngestResult]:
    """Ingest a batch of order inputs (each as ``POST /orders`` takes it) in one transaction; one
    ``IngestResult`` per input, in order. A bad order refuses only itself. A batch that races another
    delivery of the same orders is redone against what was written meanwhile (each order is created
    once). Call it with at most a few hundred orders (``MAX_BATCH``): the batch is one transaction."""
    label = actor_label or actor_label_for(actor)
    for attempt in range(1, RACE_ATTEMPTS + 1):
        try:
            return _ingest(list(items), actor, label, visible_company_ids(actor))
        except IntegrityError:
            # A concurrent delivery wrote one of these orders after we looked: look again.
            if attempt == RACE_ATTEMPTS:
                raise
        except OperationalError as exc:
            if attempt == RACE_ATTEMPTS or getattr(exc.__cause__, "sqlstate", None) not in _RACE_SQLSTATES:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _external_id_candidates(items: list) -> set[str]:
    """The external ids as ``clean_text`` will read them (to look for existing orders up front)."""
    out = set()
    for data in items:
        value = data.get("external_id") if isinstance(data, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**200:
            out.add(str(value))
        elif isinstance(value, str) and value.strip() and not has_surrogate(value):  # else refused later
            out.add(value.strip())
    return out


def _read_sources(items: list) -> tuple[OrderSourceIndex, dict[tuple[int, str], int]]:
    """One query: the order sources the batch names, with their site areas and companies, and the
    orders that exist under the batch's external ids (a filtered join: a source row per existing order)."""
    ids, names = OrderSourceIndex.wanted(data.get("order_source") for data in items if isinstance(data, dict))
    if not ids and not names:
        return OrderSourceIndex([]), {}
    qs = (
        OrderSource.objects.select_related("site_area__company")
        .filter(Q(pk__in=sorted(ids)) | Q(name__in=sorted(names)))
        .order_by()
    )
    external_ids = sorted(_external_id_candidates(items))
    if external_ids:
        qs = qs.annotate(
            hit=FilteredRelation("orders", condition=Q(orders__external_id__in=external_ids)),
            existing_id=F("hit__id"),
            existing_external_id=F("hit__external_id"),
        )
    sources: dict[int, OrderSource] = {}
    existing: dict[tuple[int, str], int] = {}
    for source in qs:
        if getattr(source, "existing_id", None) is not None:
            existing[(source.pk, source.existing_external_id)] = source.existing_id
        sources.setdefault(source.pk, source)
    return OrderSourceIndex(sources.values()), existing


def _preload(new: list[_New], lookups: MirrorLookups) -> None:
    """What the payloads of the batch's orders will ask the mirror, in one query per kind."""
    skus: dict[int, set[str]] = {}
    item_ids: dict[int, set[str]] = {}
    emails: dict[int, set[str]] = {}
    customer_ids: dict[int, set[str]] = {}
    tax_companies: set[int] = set()
    for item in new:
        order = item.order
        if order.held:
            continue
        area = order.order_source.site_area
        cid = area.company_id
        skus.setdefault(cid, set()).update(line.sku for line in item.lines if line.sku)
        for qbo_id in (order.default_item or area.default_item, area.shipping_item):
            if qbo_id:
                item_ids.setdefault(cid, set()).add(qbo_id)
        if order.qbo_customer_id:
            customer_ids.setdefault(cid, set()).add(order.qbo_customer_id)
        elif area.customer_policy == SiteArea.CustomerPolicy.DEFAULT and area.default_customer:
            customer_ids.setdefault(cid, set()).add(area.default_customer)
        if order.email:
            emails.setdefault(cid, set()).add(order.email)
        if needs_tax_codes(order, area.company):
            tax_companies.add(cid)
    lookups.preload(
        skus=skus, item_ids=item_ids, emails=emails, customer_ids=customer_ids, tax_companies=tax_companies
    )


def _ingest(items: list, actor, label: str, company_ids=None) -> list[IngestResult]:
    results = [IngestResult(index=i) for i in range(len(items))]
    lookups = MirrorLookups()
    sources, existing = _read_sources(items)

    # Validate each order; find the ones delivered before (or twice in this batch).
    new: list[_New] = []
    first: dict[tuple[int, str], _New] = {}
    duplicates: list[tuple[IngestResult, _New]] = []
    for result, data in zip(results, items, strict=True):
        try:
            clean = validate_order_input(data, sources=sources, company_ids=company_ids)
        except ServiceError as exc:
            result.status, result.error = 422, exc
            continue
        key = (clean["order_source"].pk, clean["external_id"])
        if key in existing:
            result.status, result.id = 200, existing[key]
            continue
        if key in first:
            duplicates.append((result, first[key]))
            continue
        lines = clean.pop("lines")
        order = Order(**clean, status=Order.Status.RECEIVED)
        item = _New(result, order, [OrderLine(order=order, position=k, **line) for k, line in enumerate(lines)], [])
        first[key] = item
        new.append(item)
    if not new:
        for result, original in duplicates:  # pragma: no cover - a duplicate needs a first
            result.status, result.id = 200, original.order.pk
        return results

    # Rules per order, in order (in memory); then each document's payload, pre-flighted.
    rules = enabled_rules()
    if any((rule.conditions or {}).get("email") == "unmatched" for rule in rules):
        # Those rules ask the customer mirror: the batch's emails in one query.
        by_company: dict[int, list[str]] = {}
        for item in new:
            by_company.setdefault(item.order.order_source.site_area.company_id, []).append(item.order.email)
        lookups.preload(emails=by_company)
    for item in new:
        item.logs = apply_rules(item.order, rules=rules, save=False, lookups=lookups)
    _preload(new, lookups)
    for item in new:
        order = item.order
        if order.held:
            continue
        kind, payload = build_payload(order, order_lines=item.lines, lookups=lookups)
        item.plan = plan_push_request(
            company=order.order_source.site_area.company, kind=kind, payload=payload, order=order, lookups=lookups
        )
        if item.plan.error is not None and may_defer_for_missing(order, item.plan.error):
            item.deferrable = True  # written through create_push_request with the policy
        else:
            order.status = item.plan.order_status

    with transaction.atomic():
        Order.objects.bulk_create([item.order for item in new])
        OrderLine.objects.bulk_create([line for item in new for line in item.lines], batch_size=1000)
        logs = [log for item in new for log in item.logs]
        if logs:
            OrderRuleLog.objects.bulk_create(logs)
        audit: list[AuditLog] = []
        planned: list[PlannedRequest] = []
        for item in new:
            order = item.order
            audit.append(
                audit_row(
                    "order.ingest",
                    actor=actor,
                    actor_label=label,
                    obj=order,
                    order_source=order.order_source_id,
                    external_id=order.external_id,
                    number=order.number,
                    total=str(order.total),
                    rules=[{"rule": log.rule_name, "field": log.field, "new": log.new_value} for log in item.logs],
                    held=order.held,
                )
            )
            if item.plan is None:
                continue
            mark_order(item.plan.payload, order)
            if not item.deferrable:
                planned.append(item.plan)
                continue
            # Requests in the batch's order: write the planned ones before this one.
            _write_planned(planned, actor, label, lookups, audit)
            item.result.request = create_push_request(
                company=item.plan.company, kind=item.plan.kind, payload=item.plan.payload, order=order, actor=actor,
                actor_label=label, on_preflight_error=defer_for_missing, lookups=lookups,
            )
        _write_planned(planned, actor, label, lookups, audit)
        AuditLog.objects.bulk_create(audit)

    for item in new:
        result = item.result
        result.status, result.id = 201, item.order.pk
        result.order, result.lines, result.rule_log = item.order, item.lines, item.logs
        if item.plan is not None and result.request is None:
            result.request = item.plan.request
    for result, original in duplicates:
        result.status, result.id = 200, original.order.pk
    return results


def _write_planned(planned: list[PlannedRequest], actor, label: str, lookups: MirrorLookups, audit: list) -> None:
    if planned:
        create_planned_requests(planned, actor=actor, actor_label=label, lookups=lookups, audit=audit)
        planned.clear()
