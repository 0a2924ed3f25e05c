"""CSV import (`ledgerlink import-orders FILE.csv`): one row per order line, rows grouped by
(order_source, external_id), the orders ingested through ``ingest_orders`` in chunks of
``MAX_BATCH`` (one transaction each). Good orders are kept; every bad row is reported with its CSV
line number and the reason.

The file is streamed, twice, so memory stays flat whatever its size: a first pass checks that it is
UTF-8 (else nothing is imported), counts the orders (for the progress bar) and notes the orders
whose rows are not all next to each other (a Bloom filter of the orders seen, so a few MB for
millions of orders); the second pass imports each order when its last row has been read, and the
scattered ones (their rows kept aside) at the end.

A row the ``csv`` module cannot read is reported and the reading goes on with the next line: a field
longer than 131,072 characters, and a quote that is never closed, which would otherwise swallow
every row after it (a quoted field may hold line breaks; one that reaches the end of the file, runs
past the field limit, or holds a line that is a whole row of the file is taken as an unterminated
quote).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rbloom import Bloom

from ledgerlink.domain.ingest.orders import ADDRESS_KEYS, MAX_BATCH, ingest_orders

CSV_REQUIRED = ("order_source", "external_id", "number", "quantity", "unit_price")
CSV_ORDER_FIELDS = (
    "email", "shipping", "discount", "tax", "customer_name", "customer_company", "currency", "txn_date",
    "prices_include_tax", "shipping_tax", "shipping_tax_rate", "exchange_rate",
)
CSV_LINE_FIELDS = ("sku", "description", "quantity", "unit_price")
# A line's tax columns (the order's own ``tax`` column is its total tax, so the line's amount is ``line_tax``).
CSV_LINE_TAX_FIELDS = {"line_tax": "tax", "tax_rate": "tax_rate", "taxable": "taxable"}
CSV_ADDRESS_PREFIXES = ("bill", "ship")
CSV_KNOWN = (
    set(CSV_REQUIRED) | set(CSV_ORDER_FIELDS) | set(CSV_LINE_FIELDS) | set(CSV_LINE_TAX_FIELDS)
    | {f"{prefix}_{key}" for prefix in CSV_ADDRESS_PREFIXES for key in ADDRESS_KEYS}
)

FIELD_LIMIT = csv.field_size_limit()  # 131,072: csv's own limit on one field
LINE_LIMIT = 1 << 20  # characters of one physical line read at once
COPY_CHUNK = 1 << 20
CHUNK_LINES = 5_000  # order lines per transaction at most (besides MAX_BATCH orders)
BLOOM_ITEMS = 5_000_000  # the filter of orders seen: 18 MB at most (more orders: more false positives,
# each only kept aside until the end of the file)


@dataclass
class ImportReport:
    created: int = 0
    existing: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    orders: int = 0  # order groups seen

    @property
    def ok(self) -> bool:
        return not self.errors


class CsvEncodingError(ValueError):
    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


# --- the file -----------------------------------------------------------------------------------------


@contextmanager
def _binary(path_or_file):
    """A seekable binary stream of the input (a path, bytes, or a file object, binary or text)."""
    if isinstance(path_or_file, bytes | bytearray):
        yield io.BytesIO(bytes(path_or_file))
    elif isinstance(path_or_file, str | os.PathLike):
        with open(path_or_file, "rb") as handle:
            yield handle
    else:
        sample = path_or_file.read(0)
        if isinstance(sample, bytes) and path_or_file.seekable():
            yield path_or_file
            return
        with tempfile.TemporaryFile() as copy:  # a pipe, or text: copied (in chunks) to read it twice
            while chunk := path_or_file.read(COPY_CHUNK):
                copy.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
            yield copy


@contextmanager
def _text(binary) -> Iterator[io.TextIOWrapper]:
    """The stream from its start as text (UTF-8, a BOM dropped, line ends kept as written)."""
    binary.seek(0)
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    try:
        yield text
    finally:
        text.detach()  # the caller's file stays open


def _encoding_error(binary) -> CsvEncodingError:
    """Where the file stops being UTF-8: the line (counted by line feeds) and the byte's column."""
    binary.seek(0)
    for line_no, raw in enumerate(binary, start=1):
        try:
            raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            return CsvEncodingError(
                line_no,
                f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                'save it as "CSV UTF-8" and import it again. Nothing was imported.',
            )
    return CsvEncodingError(1, 'the file is not UTF-8; save it as "CSV UTF-8" and import it again.')  # pragma: no cover


# --- records --------------------------------------------------------------------------------------------


class _LineTooLong(Exception):
    pass


class _Feed:
    """Physical lines for ``csv.reader``, numbered. The lines of the record being read are kept, so a
    record that turns out broken is reported at its first line and its other lines are read again
    as records of their own."""

    def __init__(self, text: io.TextIOWrapper):
        self.text = text
        self.next_no = 1
        self.again: deque[tuple[int, str]] = deque()
        self.record: list[tuple[int, str]] = []
        self.eof_in_record = False

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.again:
            no, line = self.again.popleft()
        else:
            line = self.text.readline(LINE_LIMIT)
            if not line:
                self.eof_in_record = bool(self.record)
                raise StopIteration
            no, self.next_no = self.next_no, self.next_no + 1
            if len(line) == LINE_LIMIT and not line.endswith(("\n", "\r")):
                while (more := self.text.readline(LINE_LIMIT)) and not more.endswith(("\n", "\r")):
                    pass  # the rest of the line: skipped
                self.record.append((no, ""))
                raise _LineTooLong
        self.record.append((no, line))
        return line

    def start_record(self) -> None:
        self.record = []
        self.eof_in_record = False

    def read_again(self, lines: list[tuple[int, str]]) -> None:
        self.again.extendleft(reversed(lines))


def _cells(line: str) -> list[str]:
    try:
        return next(csv.reader([line]), [])
    except csv.Error:
        return []


UNTERMINATED = (
    "a quote (\") opened on this line is never closed, so the rows after it would be read as part of one "
    "field; close the quote, or write a quote inside a field as two (\"\")"
)


def _records(text: io.TextIOWrapper, width: int | None = None) -> Iterator[tuple[int, list[str] | None, str, str]]:
    """(line number, cells, reason, first line) per record; ``cells`` None when the record cannot be
    read (``reason`` says why), and then the reading goes on with the record's second line.
    ``width``: the header's number of cells (a line inside a quoted field that is a whole row of
    that many cells shows an unterminated quote)."""
    feed = _Feed(text)
    reader = csv.reader(feed)
    while True:
        feed.start_record()
        try:
            cells = next(reader)
        except StopIteration:
            return
        except _LineTooLong:
            lines = feed.record
            reason = (f"is longer than {LINE_LIMIT:,} characters" if len(lines) == 1
                      else f"{UNTERMINATED} (line {lines[-1][0]} is longer than {LINE_LIMIT:,} characters)")
            yield lines[0][0], None, reason, lines[0][1]
            feed.read_again(lines[1:-1])
            continue
        except csv.Error as exc:
            lines = feed.record
            if "field limit" in str(exc):
                reason = (f"has a field longer than {FIELD_LIMIT:,} characters" if len(lines) == 1
                          else f"{UNTERMINATED} (the field runs past {FIELD_LIMIT:,} characters)")
            else:
                reason = f"cannot be read as CSV ({exc})"
            yield lines[0][0], None, reason, lines[0][1]
            feed.read_again(lines[1:])
            continue
        lines = feed.record
        if feed.eof_in_record or (
            len(lines) > 1 and width and width > 1 and any(len(_cells(line)) == width for _, line in lines[1:])
        ):
            yield lines[0][0], None, UNTERMINATED, lines[0][1]
            feed.read_again(lines[1:])
            continue
        yield lines[0][0], cells, "", ""


# --- orders -------------------------------------------------------------------------------------------


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
    data["lines"] = [
        {**{key: row.get(key, "") for key in CSV_LINE_FIELDS},
         **{ours: row[column] for column, ours in CSV_LINE_TAX_FIELDS.items() if (row.get(column) or "").strip()}}
        for _, row in rows
    ]
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


@dataclass
class _Group:
    """An order's rows (and the first of its lines that could not be read)."""

    key: tuple[str, str]
    rows: list[tuple[int, dict]] = field(default_factory=list)
    first_line: int = 0
    broken: int | None = None


class _Header:
    def __init__(self, names: list[str]):
        self.names = names
        self.width = len(names)
        self.source = names.index("order_source")
        self.external_id = names.index("external_id")

    def row(self, cells: list[str]) -> dict:
        return {name: (cells[i] if i < len(cells) else "").strip() for i, name in enumerate(self.names)}

    def key_of(self, cells: list[str]) -> tuple[str, str]:
        def cell(i: int) -> str:
            return cells[i].strip() if i < len(cells) else ""

        return cell(self.source), cell(self.external_id)


def _rows(text: io.TextIOWrapper, header: _Header, report: ImportReport | None) -> Iterator[tuple[int, tuple, list | None]]:
    """(line number, order key, cells) per record after the header that names an order (cells None:
    the line could not be read). The bad rows are reported into ``report`` (the second pass)."""
    records = _records(text, header.width)
    next(records, None)  # the header
    for line_no, cells, reason, first_line in records:
        if cells is None:
            if report is not None:
                report.errors.append((line_no, reason))
            key = header.key_of(_cells(first_line))
            if all(key):
                yield line_no, key, None
            continue
        key = header.key_of(cells)
        if len(cells) > header.width:  # more cells than columns
            if report is not None:
                report.errors.append((line_no, f"has {len(cells)} cells, the header has {header.width}"))
            if all(key):
                yield line_no, key, None
            continue
        if all(key):
            yield line_no, key, cells
        elif any(cell.strip() for cell in cells) and report is not None:  # not a blank line
            report.errors.append((line_no, "order_source: is required" if not key[0] else "external_id: is required"))


def _groups(rows: Iterator[tuple[int, tuple, list | None]], header: _Header, scattered: set) -> Iterator[_Group]:
    """Each order's rows, when its run of rows ends; the scattered orders' rows are kept until the
    end of the file, then those orders come last."""
    later: dict[tuple, _Group] = {}
    current: _Group | None = None
    for line_no, key, cells in rows:
        if key in scattered:
            group = later.setdefault(key, _Group(key, first_line=line_no))
        else:
            if current is None or current.key != key:
                if current is not None:
                    yield current
                current = _Group(key, first_line=line_no)
            group = current
        if cells is None:
            if group.broken is None:
                group.broken = line_no
        else:
            group.rows.append((line_no, header.row(cells)))
    if current is not None:
        yield current
    yield from later.values()


def _scan(text: io.TextIOWrapper, header: _Header, expected: int) -> tuple[int, set]:
    """The first pass: (orders, the orders whose rows are not all next to each other)."""
    seen = Bloom(min(max(expected, 1000), BLOOM_ITEMS), 1e-6)
    scattered: set = set()
    orders = 0
    current = None
    counted = True
    for _, key, cells in _rows(text, header, None):
        if key != current:
            current, counted = key, False
            if key in scattered:
                counted = True
            elif key in seen:  # (or, rarely, a false positive: its rows are kept aside all the same)
                scattered.add(key)
                counted = True
            else:
                seen.add(key)
        if not counted and cells is not None:
            orders += 1  # an order: it has a row that can be read
            counted = True
    return orders, scattered


def _read_header(text: io.TextIOWrapper) -> tuple[list[str] | None, str]:
    for _, cells, reason, _ in _records(text):
        if cells is None:
            return None, reason
        return [name.strip() for name in cells], ""
    return [], ""


def import_orders_csv(
    path_or_file, *, actor=None, actor_label: str = "csv", progress: Callable[[int, int], None] | None = None,
    chunk: int = MAX_BATCH,
) -> ImportReport:
    """Import a CSV (one row per order line; rows grouped by order_source + external_id).

    Good orders are kept; every bad row is reported with its CSV line number and the reason, and its
    order is not imported. A file that is not UTF-8 is refused as a whole (one error, nothing
    imported). The orders go in through ``ingest_orders``, ``chunk`` at a time (and at most
    ``CHUNK_LINES`` lines: a transaction each).
    ``progress(done, total)`` is called after each order."""
    report = ImportReport()
    with _binary(path_or_file) as binary:
        size = binary.seek(0, io.SEEK_END)
        try:
            with _text(binary) as text:
                names, reason = _read_header(text)
                if names is None:
                    report.errors.append((1, reason))
                    return report
                missing = [name for name in CSV_REQUIRED if name not in names]
                if missing:
                    report.errors.append(
                        (1, f"missing column(s): {', '.join(missing)} (header: {', '.join(names) or 'empty'})"))
                    return report
                unknown = [name for name in names if name and name not in CSV_KNOWN]
                if unknown:
                    report.errors.append(
                        (1, f"unknown column(s): {', '.join(unknown)}; known: {', '.join(sorted(CSV_KNOWN))}"))
                    return report
                header = _Header(names)
            with _text(binary) as text:
                total, scattered = _scan(text, header, expected=size // 40)
        except UnicodeDecodeError:
            error = _encoding_error(binary)
            report.errors.append((error.line, error.reason))
            return report

        done = 0
        pending: list[tuple[dict, list[int]]] = []
        pending_lines = 0

        def flush() -> None:
            nonlocal done, pending_lines
            if not pending:
                return
            results = ingest_orders([data for data, _ in pending], actor=actor, actor_label=actor_label)
            for (_, line_numbers), result in zip(pending, results, strict=True):
                if result.status == 201:
                    report.created += 1
                elif result.status == 200:
                    report.existing += 1
                else:
                    report.errors.append(_row_error(result.error, line_numbers))
                done += 1
                if progress is not None:
                    progress(done, max(total, done))
            pending.clear()
            pending_lines = 0

        with _text(binary) as text:
            for group in _groups(_rows(text, header, report), header, scattered):
                if group.broken is not None:
                    if group.rows:  # importing the other rows would store the order without one of its lines
                        report.errors.append(
                            (group.first_line, f"order not imported: its line {group.broken} could not be read"))
                    else:
                        continue  # no row of it could be read: its line's error says it all
                elif conflicts := _conflicts(group.rows):
                    report.errors.extend(conflicts)
                    report.errors.append((group.rows[0][0], "order not imported: its rows disagree (see the lines reported)"))
                else:
                    pending.append(_order_data(group.rows))
                    pending_lines += len(group.rows)
                    if len(pending) >= chunk or pending_lines >= CHUNK_LINES:
                        flush()
                    continue
                done += 1
                if progress is not None:
                    progress(done, max(total, done))
            flush()
    report.orders = done
    report.errors.sort(key=lambda item: item[0])
    return report


def _row_error(exc, line_numbers: list[int]) -> tuple[int, str]:
    """A refused order's error at the CSV line it is about (``lines[2].quantity`` is the order's third row)."""
    line_no = line_numbers[0]
    field_name = exc.field or ""
    if field_name.startswith("lines["):
        index = int(field_name[6 : field_name.index("]")])
        line_no = line_numbers[index]
        field_name = field_name[field_name.index("]") + 2 :]
    return line_no, (f"{field_name}: {exc.message}" if field_name else exc.message)
