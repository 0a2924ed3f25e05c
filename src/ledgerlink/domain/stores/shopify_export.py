"""``ledgerlink import-orders --format shopify FILE.csv``: Shopify admin's "Export orders" CSV, streamed
(``stores.shopify_csv.parse_orders``), its orders ingested through ``ingest_orders`` in chunks of
``MAX_BATCH`` under one order source. Idempotent on the export's ``Id`` (the same order id the webhooks
carry: importing and receiving never make two orders). Every order that does not map, or that ingest
refuses, is reported at its CSV line with the reason; the good ones are imported."""

from __future__ import annotations

from collections.abc import Callable

from ledgerlink.core.models import OrderSource
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.ingest.csv_import import ImportReport
from ledgerlink.domain.ingest.orders import MAX_BATCH, ingest_orders
from ledgerlink.domain.routing.order_sources import resolve_order_source
from ledgerlink.domain.stores.apply import order_input
from ledgerlink.stores import MappingError, MappingOptions, shopify_csv


def shopify_source(value=None) -> OrderSource:
    """The order source to import into: ``value`` (id or name), else the one order source of kind shopify."""
    if value not in (None, ""):
        return resolve_order_source(value)
    sources = list(OrderSource.objects.filter(kind=OrderSource.Kind.SHOPIFY).order_by("id")[:2])
    if len(sources) != 1:
        raise ServiceError("name the order source to import into (--order-source ID): there is"
                           f" {'no' if not sources else 'more than one'} order source of kind shopify",
                           field="order_source")
    return sources[0]


def _row_error(exc: ServiceError, first_line: int) -> tuple[int, str]:
    field_name = exc.field or ""
    line_no = first_line
    if field_name.startswith("lines["):  # an order's rows are consecutive: its line i is first_line + i
        line_no = first_line + int(field_name[6 : field_name.index("]")])
        field_name = field_name[field_name.index("]") + 2 :]
    return line_no, (f"{field_name}: {exc.message}" if field_name else exc.message)


def import_shopify_orders(
    path_or_file, *, order_source: OrderSource, actor=None, actor_label: str = "shopify-csv",
    progress: Callable[[int, int], None] | None = None, chunk: int = MAX_BATCH,
) -> ImportReport:
    """Import a Shopify order export into ``order_source``; ``progress(done, total)`` after each order
    (``total`` is the orders read so far: the export is read once)."""
    report = ImportReport()
    options = MappingOptions()  # the export holds the shop's money only
    pending: list[tuple[dict, int]] = []
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, done)

    def flush() -> None:
        if not pending:
            return
        results = ingest_orders([data for data, _ in pending], actor=actor, actor_label=actor_label)
        for (_, line_no), result in zip(pending, results, strict=True):
            if result.status == 201:
                report.created += 1
            elif result.status == 200:
                report.existing += 1
            else:
                report.errors.append(_row_error(result.error, line_no))
            tick()
        pending.clear()

    for line_no, item in shopify_csv.parse_orders(path_or_file, options):
        if isinstance(item, MappingError):
            report.errors.append((line_no, str(item)))
            if item.field == "file":
                break
            if item.field != "header":
                tick()
            continue
        pending.append((order_input(order_source, item), line_no))
        if len(pending) >= chunk:
            flush()
    flush()
    report.orders = done
    report.errors.sort(key=lambda error: error[0])
    return report
