"""The mirror's answers a payload needs (items by SKU or Id, customers by Id or email), asked once.

``MirrorLookups`` answers what ``find_item_for_sku`` and ``match_customer_by_email`` answer. Alone it
asks the database when a question comes (one order's payload: what ``build_payload`` always did);
a batch ``preload``s what all its orders name, one query per kind of record. A question about
something not preloaded is asked live and remembered, so the answers never depend on what was
preloaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import zip_longest

from django.db.models import Q

from ledgerlink.core.models import Company, Customer, CustomerEmail, Item, TaxCode
from ledgerlink.domain.mirror.match import normalize_email

# Values per IN (...) list: well inside SQLite's and PostgreSQL's limits on query parameters.
IN_CHUNK = 500


def _cid(company: Company | int) -> int:
    return company.pk if isinstance(company, Company) else int(company)


def _chunks(values: list, size: int = IN_CHUNK) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class MirrorLookups:
    """Items and customers of the mirror, per Company, as the payload builder and pre-flight ask."""

    def __init__(self) -> None:
        self._items: dict[tuple[int, str], Item | None] = {}  # (company, QBO Id) -> item, active or not
        self._skus: dict[tuple[int, str], Item | None] = {}  # (company, sku) -> active item by Sku, else Name
        self._has_items: dict[int, bool] = {}
        self._customers: dict[tuple[int, str], Customer | None] = {}  # (company, QBO Id)
        self._emails: dict[tuple[int, str], list[Customer]] = {}  # active, newest QBO update first
        self._tax_codes: dict[int, list[TaxCode]] = {}  # company -> its mirrored TaxCodes
        self.queries = 0  # look-ups that went to the database (for the benchmarks)

    # --- a batch: one query per kind ----------------------------------------------------------------

    def preload(
        self,
        *,
        skus: Mapping[int, Iterable[str]] | None = None,
        item_ids: Mapping[int, Iterable[str]] | None = None,
        emails: Mapping[int, Iterable[str]] | None = None,
        customer_ids: Mapping[int, Iterable[str]] | None = None,
        tax_companies: Iterable[int] | None = None,
    ) -> None:
        """Load the answers about these SKUs, item Ids, emails and customer Ids (per Company id) that
        are not known yet: one query per kind of record (per 500 values)."""
        want_skus = {(c, s.strip()) for c, values in (skus or {}).items() for s in values if s and s.strip()}
        want_skus -= self._skus.keys()
        want_ids = {(c, i) for c, values in (item_ids or {}).items() for i in values if i} - self._items.keys()
        if want_skus or want_ids:
            self._load_items(want_skus, want_ids)
        want_emails = {(c, normalize_email(e)) for c, values in (emails or {}).items() for e in values}
        want_emails = {key for key in want_emails if key[1]} - self._emails.keys()
        if want_emails:
            self._load_emails(want_emails)
        want_customers = {(c, i) for c, values in (customer_ids or {}).items() for i in values if i}
        want_customers -= self._customers.keys()
        if want_customers:
            self._load_customers(want_customers)
        want_tax = {int(c) for c in tax_companies or ()} - self._tax_codes.keys()
        if want_tax:
            self._load_tax_codes(want_tax)

    def _load_tax_codes(self, companies: set[int]) -> None:
        for cid in companies:
            self._tax_codes[cid] = []
        self.queries += 1
        for row in TaxCode.objects.filter(company_id__in=sorted(companies)).order_by("company_id", "qbo_id"):
            self._tax_codes[row.company_id].append(row)

    def _load_items(self, want_skus: set[tuple[int, str]], want_ids: set[tuple[int, str]]) -> None:
        companies = sorted({c for c, _ in want_skus | want_ids})
        names = sorted({s for _, s in want_skus})
        ids = sorted({i for _, i in want_ids})
        rows: dict[int, Item] = {}
        # One query when the lists are short (the usual batch); else one per IN_CHUNK values of each.
        for name_chunk, id_chunk in zip_longest(list(_chunks(names)), list(_chunks(ids)), fillvalue=[]):
            cond = Q()
            if name_chunk:
                cond |= Q(sku__in=name_chunk) | Q(name__in=name_chunk)
            if id_chunk:
                cond |= Q(qbo_id__in=id_chunk)
            self.queries += 1
            for item in Item.objects.filter(cond, company_id__in=companies).order_by():
                rows[item.pk] = item
        by_company: dict[int, list[Item]] = {}
        for item in sorted(rows.values(), key=lambda i: i.pk):
            by_company.setdefault(item.company_id, []).append(item)
            self._has_items[item.company_id] = True
            self._items.setdefault((item.company_id, item.qbo_id), item)  # (company, QBO Id) is unique
        for cid, sku in want_skus:
            items = [i for i in by_company.get(cid, ()) if i.active]
            self._skus[(cid, sku)] = next((i for i in items if i.sku == sku), None) or next(
                (i for i in items if i.name == sku), None
            )
        for cid, qbo_id in want_ids:
            self._items[(cid, qbo_id)] = next((i for i in by_company.get(cid, ()) if i.qbo_id == qbo_id), None)

    def _load_emails(self, want: set[tuple[int, str]]) -> None:
        for key in want:
            self._emails[key] = []
        companies = sorted({c for c, _ in want})
        for chunk in _chunks(sorted({e for _, e in want})):
            self.queries += 1
            rows = (
                CustomerEmail.objects.filter(company_id__in=companies, email__in=chunk, customer__active=True)
                .select_related("customer")
                .order_by("company_id", "email", "-customer__qbo_updated_at", "-customer__id")
            )
            for row in rows:
                if (row.company_id, row.email) in self._emails:
                    self._emails[(row.company_id, row.email)].append(row.customer)

    def _load_customers(self, want: set[tuple[int, str]]) -> None:
        for key in want:
            self._customers[key] = None
        companies = sorted({c for c, _ in want})
        for chunk in _chunks(sorted({i for _, i in want})):
            self.queries += 1
            for customer in Customer.objects.filter(company_id__in=companies, qbo_id__in=chunk).order_by():
                if (customer.company_id, customer.qbo_id) in self._customers:
                    self._customers[(customer.company_id, customer.qbo_id)] = customer

    # --- the questions ------------------------------------------------------------------------------

    def item_for_sku(self, company: Company | int, sku: str) -> Item | None:
        """Active item whose Sku is ``sku``, else whose Name is ``sku`` (``find_item_for_sku``)."""
        sku = (sku or "").strip()
        if not sku:
            return None
        key = (_cid(company), sku)
        if key not in self._skus:
            self._load_items({key}, set())
        return self._skus[key]

    def item(self, company: Company | int, qbo_id: str) -> Item | None:
        """The item with this QBO Id, active or not."""
        key = (_cid(company), qbo_id)
        if key not in self._items:
            self._load_items(set(), {key})
        return self._items[key]

    def has_items(self, company: Company | int) -> bool:
        """Whether the item mirror holds anything for the Company (not synced yet: QBO judges)."""
        cid = _cid(company)
        if cid not in self._has_items:
            self.queries += 1
            self._has_items[cid] = Item.objects.filter(company_id=cid).exists()
        return self._has_items[cid]

    def customer(self, company: Company | int, qbo_id: str) -> Customer | None:
        key = (_cid(company), qbo_id)
        if key not in self._customers:
            self._load_customers({key})
        return self._customers[key]

    def tax_codes(self, company: Company | int) -> list[TaxCode]:
        """The Company's mirrored TaxCodes (active or not), by QBO Id."""
        cid = _cid(company)
        if cid not in self._tax_codes:
            self._load_tax_codes({cid})
        return self._tax_codes[cid]

    def customers_for_email(self, company: Company | int, email: str | None) -> list[Customer]:
        """The active customers with this (normalised) email, the most recently updated in QBO first."""
        norm = normalize_email(email)
        if not norm:
            return []
        key = (_cid(company), norm)
        if key not in self._emails:
            self._load_emails({key})
        return self._emails[key]

    def customer_for_email(self, company: Company | int, email: str | None) -> Customer | None:
        """``match_customer_by_email``: the active customer with this email, most recently updated first."""
        found = self.customers_for_email(company, email)
        return found[0] if found else None
