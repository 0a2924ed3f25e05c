"""Shopify admin's "Export orders" CSV -> Ledgerlink orders, streaming.

The export writes one row per line item; the order's own fields (totals, discount, addresses, ...)
are on the first row of each order and blank on the rows after it. ``parse_orders`` reads the file
row by row and holds only the current order's rows, so memory does not grow with the file. It yields
per order either ``(line_number, order_dict)`` (the line of the order's first row) or
``(line_number, MappingError)`` (the line of the row that is wrong): a broken order is reported and
the orders after it go on.

The export has no per-line tax: ``lines[].tax`` is None; ``lines[].tax_rate`` is the sum of the
percentages in the ``Tax N Name`` columns (``GST 5%`` + ``PST 7%`` -> ``"12"``) on taxable lines,
None when a tax name carries no percentage. Whether prices include tax is not a column either: it
is read from the totals (Subtotal + Shipping + Taxes = Total: excluded; Subtotal + Shipping = Total
with Taxes > 0: included).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from decimal import Decimal

from ledgerlink.stores._common import iso_date
from ledgerlink.stores.errors import MappingError
from ledgerlink.stores.intents import (
    DEFAULT_OPTIONS,
    MappingOptions,
    address_or_none,
    check_shape,
    order_total,
    text_or_none,
)
from ledgerlink.stores.money import ZERO, amount, fmt_amount, fmt_plain, quantity

#: The columns of Shopify's order export (newer exports add columns at the end; order does not matter).
COLUMNS = (
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at",
    "Accepts Marketing", "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code",
    "Discount Amount", "Shipping Method", "Created at", "Lineitem quantity", "Lineitem name",
    "Lineitem price", "Lineitem compare at price", "Lineitem sku", "Lineitem requires shipping",
    "Lineitem taxable", "Lineitem fulfillment status", "Billing Name", "Billing Street",
    "Billing Address1", "Billing Address2", "Billing Company", "Billing City", "Billing Zip",
    "Billing Province", "Billing Country", "Billing Phone", "Shipping Name", "Shipping Street",
    "Shipping Address1", "Shipping Address2", "Shipping Company", "Shipping City", "Shipping Zip",
    "Shipping Province", "Shipping Country", "Shipping Phone", "Notes", "Note Attributes",
    "Cancelled at", "Payment Method", "Payment Reference", "Refunded Amount", "Vendor",
    "Outstanding Balance", "Employee", "Location", "Device ID", "Id", "Tags", "Risk Level", "Source",
    "Lineitem discount", "Tax 1 Name", "Tax 1 Value", "Tax 2 Name", "Tax 2 Value", "Tax 3 Name",
    "Tax 3 Value", "Tax 4 Name", "Tax 4 Value", "Tax 5 Name", "Tax 5 Value", "Phone",
    "Receipt Number", "Duties", "Billing Province Name", "Shipping Province Name", "Payment ID",
    "Payment Terms Name", "Next Payment Due At", "Payment References",
)  # fmt: skip
REQUIRED = (
    "Name", "Id", "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Amount", "Created at",
    "Lineitem quantity", "Lineitem name", "Lineitem price",
)  # fmt: skip
ORDER_TOTAL_COLUMNS = ("Subtotal", "Shipping", "Taxes", "Total")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")


def _decoded(binary_lines) -> Iterator[str]:
    """Decode line by line, so a bad byte is reported at its own line (UTF-8 never splits a newline)."""
    first = True
    for raw_line in binary_lines:
        if first and raw_line.startswith(b"\xef\xbb\xbf"):
            raw_line = raw_line[3:]
        first = False
        yield raw_line.decode("utf-8")


def _text_lines(source) -> Iterator[str]:
    """Lines of text from a path, a binary or text file, or an iterable of lines (BOM removed)."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as handle:
            yield from _decoded(handle)
        return
    if hasattr(source, "read") and isinstance(source.read(0), bytes):
        yield from _decoded(source)
        return
    first = True
    for line in source:
        if first and line.startswith("\ufeff"):
            line = line[1:]
        first = False
        yield line


def _bool(value: str, field: str) -> bool | None:
    text = (value or "").strip().lower()
    if not text:
        return None
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise MappingError(f"must be true or false (got {value!r})", field)


def _zip(value: str | None) -> str | None:
    text = text_or_none(value)
    return text[1:] if text and text.startswith("'") else text  # the export writes '75008 for spreadsheets


def _address(row: dict, prefix: str) -> dict | None:
    return address_or_none(
        {
            "line1": row.get(f"{prefix} Address1") or row.get(f"{prefix} Street"),
            "line2": row.get(f"{prefix} Address2"),
            "city": row.get(f"{prefix} City"),
            "region": row.get(f"{prefix} Province"),
            "postal_code": _zip(row.get(f"{prefix} Zip")),
            "country": row.get(f"{prefix} Country"),
        }
    )


def _rate_from_names(first: dict) -> str | None:
    total, seen = Decimal(0), False
    for n in range(1, 6):
        name = text_or_none(first.get(f"Tax {n} Name"))
        if not name:
            continue
        match = _PERCENT.search(name)
        if not match:
            return None
        total += Decimal(match.group(1))
        seen = True
    return fmt_plain(total) if seen else None


def _line(row: dict, rate: str | None) -> dict:
    qty = quantity(row.get("Lineitem quantity"), "Lineitem quantity")
    price = amount(row.get("Lineitem price"), "Lineitem price")
    sku = text_or_none(row.get("Lineitem sku"))
    description = text_or_none(row.get("Lineitem name"))
    if not sku and not description:
        raise MappingError("is empty and so is Lineitem sku: a line needs one of them", "Lineitem name")
    taxable = _bool(row.get("Lineitem taxable", ""), "Lineitem taxable")
    return {
        "sku": sku,
        "description": description,
        "quantity": fmt_plain(qty),
        "unit_price": fmt_amount(price),
        "tax": None,
        "tax_rate": rate if taxable else None,
        "taxable": taxable,
    }


def _order(first: dict, lines: list[dict], options: MappingOptions) -> dict:
    external_id = text_or_none(first.get("Id"))
    if not external_id:
        raise MappingError("is empty: the order id is what makes a re-import change nothing", "Id")
    name = text_or_none(first.get("Name")) or ""
    cancelled = text_or_none(first.get("Cancelled at"))
    if cancelled:
        raise MappingError(f"is {cancelled}: order {name} was cancelled and is not imported", "Cancelled at")
    totals = {column: amount(first.get(column), column) for column in ORDER_TOTAL_COLUMNS}
    discount = amount(first.get("Discount Amount"), "Discount Amount", default=ZERO)
    duties = amount(first.get("Duties"), "Duties", default=ZERO)
    if duties:
        lines = [
            *lines,
            {
                "sku": options.duty_sku,
                "description": "Duties",
                "quantity": "1",
                "unit_price": fmt_amount(duties),
                "tax": None,
                "tax_rate": None,
                "taxable": False,
            },
        ]
    currency = text_or_none(first.get("Currency"))
    if not currency:
        raise MappingError("is empty (the order's 3-letter currency code)", "Currency")
    order = {
        "external_id": external_id,
        "number": name[1:].strip() if name.startswith("#") else name,
        "email": text_or_none(first.get("Email")),
        "customer_name": text_or_none(first.get("Billing Name")) or text_or_none(first.get("Shipping Name")),
        "customer_company": text_or_none(first.get("Billing Company"))
        or text_or_none(first.get("Shipping Company")),
        "bill_address": _address(first, "Billing"),
        "ship_address": _address(first, "Shipping"),
        "currency": currency.upper(),
        "exchange_rate": None,
        "txn_date": iso_date(first.get("Created at"), "Created at"),
        "lines": lines,
        "shipping": fmt_amount(totals["Shipping"]),
        "shipping_tax": None,
        "shipping_tax_rate": None,
        "discount": fmt_amount(discount),
        "tax": fmt_amount(totals["Taxes"]),
        "prices_include_tax": False,
    }
    excluded = order_total(order)
    if excluded != totals["Total"]:
        order["prices_include_tax"] = True
        included = order_total(order)
        if not totals["Taxes"] or included != totals["Total"]:
            raise MappingError(
                f"is {fmt_amount(totals['Total'])} but the line items less the discount plus shipping"
                f"{' and duties' if duties else ''} come to {fmt_amount(included)}"
                f" ({fmt_amount(excluded)} with the taxes added): order {name} does not add up",
                "Total",
            )
    check_shape("order", order)
    return order


def parse_orders(source, options: MappingOptions | None = None) -> Iterator[tuple[int, dict | MappingError]]:
    """Stream the orders of a Shopify order export (see the module docstring).

    ``source``: a path, a binary or text file object (left open), or an iterable of text lines."""
    options = options or DEFAULT_OPTIONS
    lines = _text_lines(source)
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        yield 1, MappingError("the file is empty (expected Shopify's order export header)", "header")
        return
    except (csv.Error, UnicodeDecodeError) as exc:
        yield 1, MappingError(f"the header cannot be read: {exc}", "header")
        return
    header = [column.strip() for column in header]
    missing = [column for column in REQUIRED if column not in header]
    if missing:
        yield (
            1,
            MappingError(f"is not Shopify's order export: missing column(s) {', '.join(missing)}", "header"),
        )
        return

    current_name: str | None = None
    first: dict | None = None
    first_line = 0
    order_lines: list[dict] = []
    error: tuple[int, MappingError] | None = None

    def flush():
        if current_name is None:
            return None
        if error is not None:
            return error
        try:
            return first_line, _order(first, order_lines, options)
        except MappingError as exc:
            return first_line, exc

    last = reader.line_num
    while True:
        start = last + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except UnicodeDecodeError as exc:
            if (done := flush()) is not None:
                yield done
            yield (
                start,
                MappingError(f"is not UTF-8 text ({exc.reason}); the rest of the file is not read", "file"),
            )
            return
        except csv.Error as exc:
            last = reader.line_num
            if error is None and current_name is not None:
                error = (start, MappingError(f"the row cannot be read as CSV: {exc}", "row"))
            elif current_name is None:
                yield start, MappingError(f"the row cannot be read as CSV: {exc}", "row")
            continue
        last = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        row = dict(zip(header, cells, strict=False))
        name = (row.get("Name") or "").strip()
        if name != current_name or not name:
            if (done := flush()) is not None:
                yield done
            current_name, first, first_line, order_lines, error = name, row, start, [], None
            if not name:
                current_name = None
                yield start, MappingError("is empty: every row names its order (such as #1001)", "Name")
                continue
            blank = [column for column in ORDER_TOTAL_COLUMNS if not (row.get(column) or "").strip()]
            if blank:
                error = (
                    start,
                    MappingError(
                        f"is empty on the first row of order {name}: the order's totals are on its first row, so"
                        " its rows must be together in the file",
                        blank[-1],
                    ),
                )
        if error is not None:
            continue
        if len(cells) != len(header):
            error = (
                start,
                MappingError(f"has {len(cells)} cells where the header has {len(header)} columns", "row"),
            )
            continue
        try:
            order_lines.append(_line(row, _rate_from_names(first)))
        except MappingError as exc:
            error = (start, MappingError(f"{exc.message} (order {name})", exc.field))
    if (done := flush()) is not None:
        yield done


__all__ = ["COLUMNS", "REQUIRED", "parse_orders"]
