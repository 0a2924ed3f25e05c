"""A Company's tax world as the payload builder reads it: its tax model, its active TaxCodes (from the
mirror), its tax mapping (order rate -> TaxCode Id) and the code of untaxed lines. ``load_worlds``
reads the codes of many Companies in one query (a batch); ``MirrorLookups.tax_world`` keeps them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from ledgerlink.core.models import Company, TaxCode
from ledgerlink.domain.tax.rates import parse_rate, rate_key

# The models whose documents carry tax fields (an unknown model, "", sends what Ledgerlink always sent).
TAXED_MODELS = ("ast", "legacy", "global")


@dataclass(frozen=True)
class Code:
    qbo_id: str
    name: str
    active: bool
    rates: tuple[tuple[str, str, Decimal], ...]  # (TaxRate Id, name, percent)
    total: Decimal

    @classmethod
    def from_row(cls, row: TaxCode) -> Code:
        rates = tuple(
            (str(r.get("id", "")), str(r.get("name", "")), parse_rate(r.get("percent")) or Decimal("0"))
            for r in row.rates or ()
        )
        return cls(row.qbo_id, row.name, row.active, rates, Decimal(row.total))


@dataclass
class TaxWorld:
    model: str
    codes: dict[str, Code] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)  # rate_key -> TaxCode Id (as saved)
    exempt_code: str = ""

    @property
    def taxed(self) -> bool:
        return self.model in TAXED_MODELS

    def suggestion(self, rate: Decimal) -> str | None:
        """The one active code whose rates add up to ``rate`` (none when no code or several do)."""
        found = [c.qbo_id for c in self.codes.values() if c.active and c.rates and c.total == rate]
        return found[0] if len(found) == 1 else None

    def code_for_rate(self, rate: Decimal) -> str | None:
        """The mapping's code for ``rate``, else the suggestion; None: unmapped."""
        return self.mapping.get(rate_key(rate)) or self.suggestion(rate)

    def code_total(self, qbo_id: str) -> Decimal:
        code = self.codes.get(qbo_id)
        return code.total if code is not None else Decimal("0")

    def candidate_rates(self) -> list[Decimal]:
        """The rates an order's tax amount may have been charged at (to infer a line's rate)."""
        rates = {parse_rate(key) for key in self.mapping} | {c.total for c in self.codes.values() if c.active}
        return sorted(r for r in rates if r is not None and r > 0)


def world_of(company: Company, codes: Iterable[TaxCode] = ()) -> TaxWorld:
    return TaxWorld(
        model=company.tax_model,
        codes={row.qbo_id: Code.from_row(row) for row in codes},
        mapping={str(k): str(v) for k, v in (company.tax_mapping or {}).items()},
        exempt_code=company.exempt_tax_code,
    )


def load_codes(company_ids: Iterable[int]) -> dict[int, list[TaxCode]]:
    """The mirrored TaxCodes of these Companies, one query."""
    out: dict[int, list[TaxCode]] = {cid: [] for cid in company_ids}
    if not out:
        return out
    for row in TaxCode.objects.filter(company_id__in=sorted(out)).order_by("company_id", "qbo_id"):
        out[row.company_id].append(row)
    return out
