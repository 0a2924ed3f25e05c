"""Order ingest (REST API and CSV) and the routing set-up (site areas, order sources).

``ingest_order`` validates, then in ONE transaction writes the order and its lines, applies the
automation rules and, unless the order is held, writes its push request (transactional outbox).
It is idempotent on (order source, external id): a re-delivery returns the existing order.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import IntegrityError, transaction

from ledgerlink.core.models import Company, Order, OrderLine, OrderSource, SiteArea
from ledgerlink.core.services.audit import actor_label_for, record_audit
from ledgerlink.core.services.automation import apply_rules
from ledgerlink.core.services.errors import ServiceError
from ledgerlink.core.services.payloads import build_payload
from ledgerlink.core.services.requests import create_push_request

ADDRESS_KEYS = ("line1", "line2", "city", "region", "postal_code", "country")
MAX_LINES = 1000
MAX_AMOUNT = Decimal("1000000000")  # 10^9: well inside max_digits=14
CENT = Decimal("0.01")


# --- input validation -------------------------------------------------------------------------------


def _text(data: dict, key: str, *, field_name: str | None = None, required: bool = False, max_len: int) -> str:
    name = field_name or key
    value = data.get(key)
    if value is None:
        value = ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ServiceError("must be text", field=name)
    value = str(value).strip()
    if "\x00" in value:
        raise ServiceError("must not contain the NUL character (\\u0000)", field=name)
    if required and not value:
        raise ServiceError("is required", field=name)
    if len(value) > max_len:
        raise ServiceError(f"must be at most {max_len} characters (got {len(value)})", field=name)
    return value


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
        text = _text(value, key, field_name=f"{name}.{key}", max_len=200)
        if text:
            out[key] = text
    return out


def resolve_order_source(value) -> OrderSource:
    """An order source by id (int or digits) or by name."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ServiceError("is required", field="order_source")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ServiceError("must be an order source id or name", field="order_source")
    qs = OrderSource.objects.select_related("site_area__company")
    source = None
    if isinstance(value, int):
        source = qs.filter(pk=value).first()
    else:
        source = qs.filter(name=value.strip()).first()
        if source is None and value.strip().isdigit():
            source = qs.filter(pk=int(value.strip())).first()
    if source is None:
        raise ServiceError(f"no order source {value!r}", field="order_source")
    return source


def validate_order_input(data) -> dict:
    """Cleaned order input, or ServiceError naming the field and the reason."""
    if not isinstance(data, dict):
        raise ServiceError("the order must be a JSON object", field=None)
    clean: dict = {"order_source": resolve_order_source(data.get("order_source"))}
    clean["external_id"] = _text(data, "external_id", required=True, max_len=200)
    clean["number"] = _text(data, "number", required=True, max_len=100)
    clean["email"] = _text(data, "email", max_len=320)
    clean["customer_name"] = _text(data, "customer_name", max_len=300)
    clean["customer_company"] = _text(data, "customer_company", max_len=300)
    currency = _text(data, "currency", max_len=3).upper() or "USD"
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
        sku = _text(line, "sku", field_name=f"{prefix}.sku", max_len=200)
        description = _text(line, "description", field_name=f"{prefix}.description", max_len=4000)
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
                )
                order.refresh_from_db(fields=["status"])
    except IntegrityError:
        # A concurrent delivery of the same order won the race: answer with its order.
        existing = _existing(source, clean["external_id"])
        if existing is None:
            raise
        return existing, False
    return order, True


# --- CSV import ----------------------------------------------------------------------------------------

CSV_REQUIRED = ("order_source", "external_id", "number", "quantity", "unit_price")
CSV_ORDER_FIELDS = (
    "email", "shipping", "discount", "tax", "customer_name", "customer_company", "currency", "txn_date",
)
CSV_LINE_FIELDS = ("sku", "description", "quantity", "unit_price")
CSV_ADDRESS_PREFIXES = ("bill", "ship")
CSV_KNOWN = (
    set(CSV_REQUIRED) | set(CSV_ORDER_FIELDS) | set(CSV_LINE_FIELDS)
    | {f"{prefix}_{key}" for prefix in CSV_ADDRESS_PREFIXES for key in ADDRESS_KEYS}
)


@dataclass
class ImportReport:
    created: int = 0
    existing: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    orders: int = 0  # order groups seen

    @property
    def ok(self) -> bool:
        return not self.errors


def _read_bytes(path_or_file) -> bytes:
    if isinstance(path_or_file, bytes | bytearray):
        return bytes(path_or_file)
    if isinstance(path_or_file, str | os.PathLike):
        with open(path_or_file, "rb") as handle:
            return handle.read()
    data = path_or_file.read()
    return data.encode("utf-8") if isinstance(data, str) else data


class CsvEncodingError(ValueError):
    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise CsvEncodingError(
            line,
            f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x} at column {column}); "
            'save it as "CSV UTF-8" and import it again. Nothing was imported.',
        ) from exc


def _order_data(rows: list[tuple[int, dict]]) -> tuple[dict, list[int]]:
    """One order's input from its rows; the CSV line numbers of its lines, in order."""
    first = rows[0][1]
    data = {"order_source": first["order_source"], "external_id": first["external_id"], "number": first["number"]}
    for key in CSV_ORDER_FIELDS:
        data[key] = next((row.get(key, "") for _, row in rows if (row.get(key) or "").strip()), "")
    for prefix in CSV_ADDRESS_PREFIXES:
        address = {}
        for key in ADDRESS_KEYS:
            value = next((row.get(f"{prefix}_{key}", "") for _, row in rows if (row.get(f"{prefix}_{key}") or "").strip()), "")
            if value:
                address[key] = value
        data[f"{prefix}_address"] = address
    data["lines"] = [{key: row.get(key, "") for key in CSV_LINE_FIELDS} for _, row in rows]
    return data, [line_no for line_no, _ in rows]


def _conflicts(rows: list[tuple[int, dict]]) -> list[tuple[int, str]]:
    """Rows whose order-level values differ from an earlier row of the same order."""
    errors = []
    seen: dict[str, tuple[int, str]] = {}
    for line_no, row in rows:
        for key in ("number", *CSV_ORDER_FIELDS):
            value = (row.get(key) or "").strip()
            if not value:
                continue
            if key in seen and seen[key][1] != value:
                errors.append(
                    (line_no, f"{key}: {value!r} differs from {seen[key][1]!r} on line {seen[key][0]} of the same order")
                )
            seen.setdefault(key, (line_no, value))
    return errors


def import_orders_csv(path_or_file, *, actor=None, actor_label: str = "csv", progress=None) -> ImportReport:
    """Import a CSV (one row per order line; rows grouped by order_source + external_id).

    Good orders are kept; every bad row is reported with its CSV line number and the reason, and its
    order is not imported. A file that is not UTF-8 is refused as a whole (one error, nothing
    imported). ``progress(done, total)`` is called after each order."""
    report = ImportReport()
    try:
        text = _decode(_read_bytes(path_or_file))
    except CsvEncodingError as exc:
        report.errors.append((exc.line, exc.reason))
        return report
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [name for name in CSV_REQUIRED if name not in header]
    if missing:
        report.errors.append((1, f"missing column(s): {', '.join(missing)} (header: {', '.join(header) or 'empty'})"))
        return report
    unknown = [name for name in header if name and name not in CSV_KNOWN]
    if unknown:
        report.errors.append((1, f"unknown column(s): {', '.join(unknown)}; known: {', '.join(sorted(CSV_KNOWN))}"))
        return report

    groups: dict[tuple[str, str], list[tuple[int, dict]]] = {}
    broken: dict[tuple[str, str], int] = {}  # order -> first unreadable line: the order is not imported
    start = reader.line_num + 1
    for row in reader:
        line_no = start
        start = reader.line_num + 1
        if None in row:  # more cells than columns
            report.errors.append((line_no, f"has {len(header) + len(row[None])} cells, the header has {len(header)}"))
            key = ((row.get("order_source") or "").strip(), (row.get("external_id") or "").strip())
            if all(key):
                broken.setdefault(key, line_no)
            continue
        row = {key: (value or "").strip() for key, value in row.items()}
        if not any(row.values()):
            continue  # blank line
        if not row.get("order_source"):
            report.errors.append((line_no, "order_source: is required"))
            continue
        if not row.get("external_id"):
            report.errors.append((line_no, "external_id: is required"))
            continue
        groups.setdefault((row["order_source"], row["external_id"]), []).append((line_no, row))

    total = len(groups)
    report.orders = total
    for done, (key, rows) in enumerate(groups.items(), start=1):
        conflicts = _conflicts(rows)
        if key in broken:
            # importing the other rows would store the order without one of its lines
            report.errors.append((rows[0][0], f"order not imported: its line {broken[key]} could not be read"))
        elif conflicts:
            report.errors.extend(conflicts)
            report.errors.append((rows[0][0], "order not imported: its rows disagree (see the lines reported)"))
        else:
            data, line_numbers = _order_data(rows)
            try:
                _, created = ingest_order(data, actor=actor, actor_label=actor_label)
            except ServiceError as exc:
                line_no = line_numbers[0]
                field_name = exc.field or ""
                if field_name.startswith("lines["):
                    index = int(field_name[6 : field_name.index("]")])
                    line_no = line_numbers[index]
                    field_name = field_name[field_name.index("]") + 2 :]
                reason = f"{field_name}: {exc.message}" if field_name else exc.message
                report.errors.append((line_no, reason))
            else:
                if created:
                    report.created += 1
                else:
                    report.existing += 1
        if progress is not None:
            progress(done, total)
    report.errors.sort(key=lambda item: item[0])
    return report


# --- routing set-up: site areas and order sources -------------------------------------------------------

SITE_AREA_FIELDS = (
    "name", "company", "push_method", "customer_policy", "item_policy", "default_item", "shipping_item",
    "discount_item", "default_customer", "income_account",
)


def _clean_site_area(changes: dict, *, creating: bool) -> dict:
    unknown = set(changes) - set(SITE_AREA_FIELDS)
    if unknown:
        raise ServiceError("is not a site area field", field=sorted(unknown)[0])
    clean = {}
    if "name" in changes or creating:
        clean["name"] = _text(changes, "name", required=True, max_len=200)
    if "company" in changes or creating:
        value = changes.get("company")
        company = Company.objects.filter(pk=value).first() if isinstance(value, int) and not isinstance(value, bool) else None
        if company is None:
            raise ServiceError(f"no company {value!r}", field="company")
        clean["company"] = company
    for key, choices in (
        ("push_method", SiteArea.PushMethod.values),
        ("customer_policy", SiteArea.CustomerPolicy.values),
        ("item_policy", SiteArea.ItemPolicy.values),
    ):
        if key in changes and changes[key] is not None:
            if changes[key] not in choices:
                raise ServiceError(f"must be one of {', '.join(choices)}", field=key)
            clean[key] = changes[key]
    for key in ("default_item", "shipping_item", "discount_item", "default_customer", "income_account"):
        if key in changes:
            clean[key] = _text(changes, key, max_len=32)
    return clean


def create_site_area(*, actor=None, actor_label: str | None = None, **fields) -> SiteArea:
    clean = _clean_site_area(fields, creating=True)
    with transaction.atomic():
        if SiteArea.objects.filter(company=clean["company"], name=clean["name"]).exists():
            raise ServiceError("a site area with this name exists for this company", field="name", status=409)
        site_area = SiteArea.objects.create(**clean)
        record_audit("site_area.create", actor=actor, actor_label=actor_label, obj=site_area,
                     **{k: (v.pk if k == "company" else v) for k, v in clean.items()})
    return site_area


def update_site_area(site_area_id: int, *, actor=None, actor_label: str | None = None, **changes) -> SiteArea:
    clean = _clean_site_area(changes, creating=False)
    with transaction.atomic():
        site_area = SiteArea.objects.select_for_update().filter(pk=site_area_id).first()
        if site_area is None:
            raise ServiceError(f"site area {site_area_id} does not exist", field="id", status=404)
        company = clean.get("company", site_area.company)
        name = clean.get("name", site_area.name)
        if SiteArea.objects.filter(company=company, name=name).exclude(pk=site_area.pk).exists():
            raise ServiceError("a site area with this name exists for this company", field="name", status=409)
        before = {key: getattr(site_area, key + ("_id" if key == "company" else "")) for key in clean}
        for key, value in clean.items():
            setattr(site_area, key, value)
        site_area.save()
        record_audit("site_area.update", actor=actor, actor_label=actor_label, obj=site_area, before=before,
                     after={k: (v.pk if k == "company" else v) for k, v in clean.items()})
    return site_area


def _site_area(value) -> SiteArea:
    site_area = SiteArea.objects.filter(pk=value).first() if isinstance(value, int) and not isinstance(value, bool) else None
    if site_area is None:
        raise ServiceError(f"no site area {value!r}", field="site_area")
    return site_area


def create_order_source(*, name: str, site_area: int, actor=None, actor_label: str | None = None) -> OrderSource:
    clean_name = _text({"name": name}, "name", required=True, max_len=200)
    area = _site_area(site_area)
    with transaction.atomic():
        if OrderSource.objects.filter(name=clean_name).exists():
            raise ServiceError("an order source with this name exists", field="name", status=409)
        source = OrderSource.objects.create(name=clean_name, site_area=area)
        record_audit("order_source.create", actor=actor, actor_label=actor_label, obj=source, name=clean_name,
                     site_area=area.pk)
    return source


def update_order_source(source_id: int, *, actor=None, actor_label: str | None = None, **changes) -> OrderSource:
    unknown = set(changes) - {"name", "site_area"}
    if unknown:
        raise ServiceError("is not an order source field", field=sorted(unknown)[0])
    with transaction.atomic():
        source = OrderSource.objects.select_for_update().filter(pk=source_id).first()
        if source is None:
            raise ServiceError(f"order source {source_id} does not exist", field="id", status=404)
        before = {"name": source.name, "site_area": source.site_area_id}
        if "name" in changes:
            name = _text(changes, "name", required=True, max_len=200)
            if OrderSource.objects.filter(name=name).exclude(pk=source.pk).exists():
                raise ServiceError("an order source with this name exists", field="name", status=409)
            source.name = name
        if "site_area" in changes:
            source.site_area = _site_area(changes["site_area"])
        source.save()
        record_audit("order_source.update", actor=actor, actor_label=actor_label, obj=source, before=before,
                     after={"name": source.name, "site_area": source.site_area_id})
    return source
