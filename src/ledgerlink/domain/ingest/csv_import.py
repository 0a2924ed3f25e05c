"""CSV import (`ledgerlink import-orders FILE.csv`): one row per order line, rows grouped by
(order_source, external_id), each order ingested through ``ingest_order``. Good orders are kept;
every bad row is reported with its CSV line number and the reason."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field

from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.ingest.orders import ADDRESS_KEYS, ingest_order

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
