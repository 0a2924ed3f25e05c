"""``ledgerlink reconcile [--company ID] [--since YYYY-MM-DD]``: per order, what QBO holds against what
it should; prints a table and exits 1 when anything is wrong."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.lifecycle.inputs import parse_date
from ledgerlink.domain.reconcile.orders import reconcile


class Command(BaseCommand):
    help = "Reconcile orders with QuickBooks Online (documents, payments, refunds); exit 1 when anything is wrong."

    def add_arguments(self, parser):
        parser.add_argument("--company", type=int, default=None, help="Company id (default: all active)")
        parser.add_argument("--since", default=None, help="orders created on or after YYYY-MM-DD")

    def handle(self, *args, **opts):
        try:
            report = reconcile(company=opts["company"], since=parse_date(opts["since"], "since"))
        except ServiceError as exc:
            raise CommandError(f"{exc.field}: {exc.message}" if exc.field else exc.message) from exc
        header = ("order", "number", "company", "status", "expected", "in QuickBooks", "fix", "detail")
        table = [header]
        for row in report.rows:
            found = ", ".join(f"{f['entity']} {f['Id']} {f['TotalAmt']}{' (voided)' if f['voided'] else ''}"
                              for f in row.found) or "-"
            table.append((str(row.order_id), row.number, str(row.company_id), row.status, str(row.expected), found,
                          row.fix or "-", row.detail or ""))
        widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
        for r in table:
            self.stdout.write("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
        for error in report.errors:
            self.stderr.write(f"company {error['company']}: {error['detail']}")
        counts = ", ".join(f"{k} {v}" for k, v in report.counts.items() if v)
        self.stdout.write(f"{len(report.rows)} order(s): {counts or 'none'}; {report.queries} QuickBooks queries")
        if not report.ok:
            sys.exit(1)
