"""``ledgerlink sync [--company ID] [--entity Customer --entity Item]``: full paged mirror sync."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ledgerlink.core.models import Company
from ledgerlink.domain.sync.full import sync_company
from ledgerlink.quickbooks.client import QBOError


class Command(BaseCommand):
    help = "Sync the Customer and Item mirrors from QuickBooks Online (inactive records included)."

    def add_arguments(self, parser):
        parser.add_argument("--company", type=int, default=None, help="Company id (default: all active)")
        parser.add_argument("--entity", action="append", choices=["Customer", "Item"], default=None)
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **opts):
        qs = Company.objects.all()
        if opts["company"] is not None:
            qs = qs.filter(pk=opts["company"])
            if not qs.exists():
                raise CommandError(f"no Company {opts['company']}")
        else:
            qs = qs.filter(status=Company.Status.ACTIVE)
        entities = tuple(opts["entity"] or ("Customer", "Item"))
        failed = False
        for company in qs:
            bars: dict[str, tqdm] = {}

            def progress(entity, done, total, company=company, bars=bars):
                bar = bars.get(entity)
                if bar is None:
                    bar = bars[entity] = tqdm(
                        total=total, desc=f"{company.name}: {entity}", unit="rec",
                        disable=opts["no_progress"], file=self.stderr._out,
                    )
                bar.total = max(total, done)
                bar.n = done
                bar.refresh()

            try:
                result = sync_company(company, entities, progress=progress)
            except QBOError as e:
                failed = True
                self.stderr.write(f"{company.name}: sync failed: {e}")
                continue
            finally:
                for bar in bars.values():
                    bar.close()
            summary = ", ".join(f"{n} {entity}" for entity, n in result.items())
            self.stdout.write(f"{company.name} (#{company.pk}): {summary}")
        if failed:
            raise CommandError("some companies failed to sync")
