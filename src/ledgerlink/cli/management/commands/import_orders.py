"""`ledgerlink import-orders FILE.csv`: import orders from a CSV (one row per order line).
`ledgerlink import-orders --format shopify FILE.csv [--order-source ID]`: Shopify admin's order export.

Exit code 0 when every row was good, 1 when some rows were bad (the good orders are still imported).
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.ingest.csv_import import CSV_KNOWN, import_orders_csv
from ledgerlink.domain.stores.shopify_export import import_shopify_orders, shopify_source


class Command(BaseCommand):
    help = (
        "Import orders from a CSV file: one row per order line, rows grouped by (order_source, external_id). "
        "Columns: " + ", ".join(sorted(CSV_KNOWN)) + ". With --format shopify: Shopify admin's "
        '"Export orders" CSV, into --order-source (default: the one order source of kind shopify).'
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path to the CSV file (UTF-8)")
        parser.add_argument("--actor", default="", help='audit label (default "csv:<file name>")')
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument("--format", choices=("ledgerlink", "shopify"), default="ledgerlink",
                            help="ledgerlink (default: the columns above) or shopify (Shopify's order export)")
        parser.add_argument("--order-source", default=None,
                            help="with --format shopify: the order source (id or name) the orders belong to")

    def handle(self, *args, **options):
        path = options["file"]
        label = options["actor"] or f"csv:{path.rsplit('/', 1)[-1]}"
        bar = None
        shopify = options["format"] == "shopify"
        if options["order_source"] is not None and not shopify:
            raise CommandError("--order-source is for --format shopify (a Ledgerlink CSV names it per row)")
        source = None
        if shopify:
            try:
                source = shopify_source(options["order_source"])
            except ServiceError as exc:
                raise CommandError(f"--order-source: {exc.message}") from exc

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if options["no_progress"]:
                return
            if bar is None:
                bar = tqdm(total=None if shopify else total, unit="order", desc="import", file=sys.stderr)
            bar.update(done - bar.n)

        try:
            if shopify:
                report = import_shopify_orders(path, order_source=source, actor_label=label, progress=progress)
            else:
                report = import_orders_csv(path, actor_label=label, progress=progress)
        except FileNotFoundError as exc:
            raise CommandError(f"{path}: no such file") from exc
        except IsADirectoryError as exc:
            raise CommandError(f"{path}: is a directory") from exc
        finally:
            if bar is not None:
                bar.close()
        for line_no, reason in report.errors:
            self.stderr.write(f"{path}:{line_no}: {reason}")
        self.stdout.write(
            f"{report.created} created, {report.existing} already imported, {len(report.errors)} bad row(s)"
        )
        if report.errors:
            sys.exit(1)
