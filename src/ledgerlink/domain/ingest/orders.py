"""Order ingest (REST API, CSV rows, the demo): validate, then in ONE transaction write the order and
its lines, apply the automation rules and, unless the order is held, write its push request
(transactional outbox, invariant 1). Idempotent on (order source, external id): a re-delivery
returns the existing order.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import IntegrityError, transaction

from ledgerlink.core.models import Order, OrderLine, OrderSource
from ledgerlink.domain.audit import actor_label_for, record_audit
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.healing.policies import defer_for_missing
from ledgerlink.domain.ingest.automation import apply_rules
from ledgerlink.domain.inputs import clean_text
from ledgerlink.domain.outbox.create import create_push_request
from ledgerlink.domain.payloads.build import build_payload
from ledgerlink.domain.routing.order_sources import resolve_order_source

ADDRESS_KEYS = ("line1", "line2", "city", "region", "postal_code", "country")
MAX_LINES = 1000
MAX_AMOUNT = Decimal("1000000000")  # 10^9: well inside max_digits=14
CENT = Decimal("0.01")


# --- input validation -------------------------------------------------------------------------------


def _number(value, name: str, *, places: int, positive: bool = False, default: Decimal | None = None) -> Decimal:
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is not None:
            return default
        raise ServiceError("is required", field=name)
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ServiceError("must be a number", field=name)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ServiceError(f"must be a number (got {str(value)[:40]!r})", field=name) from exc
    if not number.is_finite():
        raise ServiceError("must be a finite number", field=name)
    if positive and number <= 0:
        raise ServiceError("must be a number greater than 0", field=name)
    if number < 0:
        raise ServiceError("must be a number of at least 0", field=name)
    if number >= MAX_AMOUNT:
        raise ServiceError(f"must be less than {MAX_AMOUNT:,}", field=name)
    quantum = Decimal(1).scaleb(-places)
    if number != number.quantize(quantum, rounding=ROUND_HALF_UP):
        raise ServiceError(f"must have at most {places} decimal places", field=name)
    return number.quantize(quantum)


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


def validate_order_input(data) -> dict:
    """Cleaned order input, or ServiceError naming the field and the reason."""
    if not isinstance(data, dict):
        raise ServiceError("the order must be a JSON object", field=None)
    clean: dict = {"order_source": resolve_order_source(data.get("order_source"))}
    clean["external_id"] = clean_text(data, "external_id", required=True, max_len=200)
    clean["number"] = clean_text(data, "number", required=True, max_len=100)
    clean["email"] = clean_text(data, "email", max_len=320)
    clean["customer_name"] = clean_text(data, "customer_name", max_len=300)
    clean["customer_company"] = clean_text(data, "customer_company", max_len=300)
    currency = clean_text(data, "currency", max_len=3).upper() or "USD"
    if len(currency) != 3 or not currency.isalpha():
        raise ServiceError("must be a 3-letter ISO 4217 code such as USD", field="currency")
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
    for key in ("shipping", "discount", "tax"):
        clean[key] = _number(data.get(key), key, places=2, default=Decimal("0.00"))

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
        clean_lines.append(
            {"sku": sku, "description": description, "quantity": quantity, "unit_price": unit_price, "amount": amount}
        )
    clean["lines"] = clean_lines
    subtotal = sum((line["amount"] for line in clean_lines), Decimal("0.00")).quantize(CENT)
    total = (subtotal + clean["shipping"] - clean["discount"] + clean["tax"]).quantize(CENT)
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


def _existing(source: OrderSource, external_id: str) -> Order | None:
    return Order.objects.filter(order_source=source, external_id=external_id).first()


def ingest_order(data: dict, *, actor=None, actor_label: str | None = None) -> tuple[Order, bool]:
    """(order, created). Validates ``data`` (ServiceError naming the field), then writes the order, its
    lines, the rule log and its push request in one transaction. A re-delivery of the same
    (order_source, external_id) returns the existing order with ``created=False`` and writes nothing."""
    clean = validate_order_input(data)
    source: OrderSource = clean["order_source"]
    existing = _existing(source, clean["external_id"])
    if existing is not None:
        return existing, False
    label = actor_label or actor_label_for(actor)
    lines = clean.pop("lines")
    try:
        with transaction.atomic():
            order = Order.objects.create(**clean, status=Order.Status.RECEIVED)
            OrderLine.objects.bulk_create(
                [OrderLine(order=order, position=index, **line) for index, line in enumerate(lines)]
            )
            order.order_source = source  # keep the select_related site area / company
            logs = apply_rules(order)
            record_audit(
                "order.ingest",
                actor=actor,
                actor_label=label,
                obj=order,
                order_source=source.pk,
                external_id=order.external_id,
                number=order.number,
                total=str(order.total),
                rules=[{"rule": log.rule_name, "field": log.field, "new": log.new_value} for log in logs],
                held=order.held,
            )
            if not order.held:
                kind, payload = build_payload(order)
                create_push_request(
                    company=source.site_area.company,
                    kind=kind,
                    payload=payload,
                    order=order,
                    actor=actor,
                    actor_label=label,
                    on_preflight_error=defer_for_missing,
                )
                order.refresh_from_db(fields=["status"])
    except IntegrityError:
        # A concurrent delivery of the same order won the race: answer with its order.
        existing = _existing(source, clean["external_id"])
        if existing is None:
            raise
        return existing, False
    return order, True
