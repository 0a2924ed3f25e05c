"""The tax fields of a QBO sales form, per tax model (docs/tax.md): ``apply_tax(world, lines, ...)``
sets each line's ``SalesItemLineDetail.TaxCodeRef`` and answers the form's top-level tax fields
(``TxnTaxDetail``, ``GlobalTaxCalculation``). Orders use it (``payloads.build``); credit memos and
refund receipts pass their own lines the same way.

* US automated sales tax (``ast``): lines ``TAX``/``NON``; when the order carries a tax amount, an
  override ``TxnTaxDetail`` (``TotalTax`` and, when the rate is mapped, ``TxnTaxCodeRef``) so the
  document's total is what the customer paid.
* US legacy: ``TAX``/``NON`` and ``TxnTaxCodeRef`` = the mapping's code for the order's rate, with
  ``TotalTax``.
* global (Canada, UK, Australia): every line's ``TaxCodeRef`` from the mapping (untaxed lines the exempt
  code), ``GlobalTaxCalculation`` ``TaxInclusive``/``TaxExcluded``, and the order's tax per rate as
  ``TaxLine`` overrides (so ``TotalAmt`` is the order's total to the cent).
* ``none``: no tax fields.

A rate with no code gets the placeholder ref ``{"value": "", "name": "unmapped:<rate>"}``: pre-flight
reports it (``tax_code_unmapped``) before anything is sent (``find_unmapped``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ledgerlink.domain.tax.rates import CENT, money, parse_rate, rate_key
from ledgerlink.domain.tax.world import TaxWorld

UNMAPPED = "unmapped:"
ZERO = Decimal("0.00")


@dataclass
class TaxableLine:
    """One sales line of the form: ``entry`` is its payload line (a ``SalesItemLineDetail`` line, set
    here); ``amount`` its amount as the order gives it (gross when prices include tax)."""

    entry: dict
    amount: Decimal
    tax: Decimal | None = None
    rate: Decimal | None = None
    taxable: bool = False


@dataclass
class TaxFields:
    fields: dict = field(default_factory=dict)  # top-level fields of the form
    discount: Decimal | None = None  # the discount line's amount, when the model changes it (net)
    unmapped: list[str] = field(default_factory=list)  # rate keys without a code


def unmapped_ref(rate: Decimal) -> dict:
    return {"value": "", "name": f"{UNMAPPED}{rate_key(rate)}"}


def find_unmapped(payload: dict) -> str | None:
    """The first rate (as "13") the payload has no tax code for, or None."""
    refs = [((payload.get("TxnTaxDetail") or {}).get("TxnTaxCodeRef"))]
    for line in payload.get("Line") or []:
        if isinstance(line, dict):
            refs.append((line.get("SalesItemLineDetail") or {}).get("TaxCodeRef"))
    for ref in refs:
        if isinstance(ref, dict) and not str(ref.get("value") or "").strip():
            name = str(ref.get("name") or "")
            if name.startswith(UNMAPPED):
                return name[len(UNMAPPED):]
    return None


def _num(value: Decimal) -> int | float:
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value.normalize())


def _split(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """``total`` over ``weights``, each part rounded half-up to the cent, the last one the rest."""
    if not weights:
        return []
    s = sum(weights, Decimal("0"))
    out, used = [], ZERO
    for i, w in enumerate(weights):
        if i == len(weights) - 1:
            out.append(money(total - used))
        else:
            part = money(total * w / s) if s else ZERO
            out.append(part)
            used += part
    return out


def _tax_at(amount: Decimal, rate: Decimal, inclusive: bool) -> Decimal:
    if inclusive:
        return Decimal(amount) - Decimal(amount) / (1 + rate / 100)
    return Decimal(amount) * rate / 100


def infer_rate(world: TaxWorld, base: Decimal, tax: Decimal, *, inclusive: bool, lines: int = 1) -> Decimal | None:
    """The rate ``tax`` was charged at on ``base``: a known rate (mapping, codes) within a cent per line,
    else the rate it works out at (2 places); None for a zero base or tax."""
    if base <= 0 or tax <= 0:
        return None
    tolerance = CENT * max(1, lines)
    best = None
    for rate in world.candidate_rates():
        diff = abs(_tax_at(base, rate, inclusive) - tax)
        if diff <= tolerance and (best is None or diff < best[0]):
            best = (diff, rate)
    if best is not None:
        return best[1]
    net = base - tax if inclusive else base
    return parse_rate((tax * 100 / net).quantize(CENT)) if net > 0 else None


def _resolve_rates(world: TaxWorld, lines: list[TaxableLine], order_tax: Decimal, *, inclusive: bool,
                   itemized: bool) -> list[Decimal | None]:
    """Each line's rate (None: untaxed): its own, else inferred from its tax, else the order's tax over
    the taxable lines that say nothing (a bare ``tax``: every line)."""
    if not itemized:
        for line in lines:
            line.taxable = order_tax > 0
    rates: list[Decimal | None] = []
    unknown = []
    for index, line in enumerate(lines):
        if not line.taxable:
            rates.append(None)
        elif line.rate is not None:
            rates.append(line.rate)
        elif line.tax is not None:
            rates.append(infer_rate(world, line.amount, line.tax, inclusive=inclusive))
        else:
            rates.append(None)
            unknown.append(index)
    if unknown:
        known = sum((line.tax for line in lines if line.tax is not None), ZERO)
        rest = order_tax - known
        base = sum((lines[i].amount for i in unknown), ZERO)
        rate = infer_rate(world, base, rest, inclusive=inclusive, lines=len(unknown))
        for i in unknown:
            rates[i] = rate
            if rate is None:
                lines[i].taxable = False
    return rates


def _line_taxes(lines: list[TaxableLine], rates: list[Decimal | None], order_tax: Decimal,
                inclusive: bool) -> list[Decimal]:
    """Each line's share of the order's tax: its own amount when it says one, the rest spread over the
    other taxed lines by what their rate gives."""
    taxes = [line.tax if line.tax is not None and rate is not None else ZERO for line, rate in zip(lines, rates, strict=True)]
    rest = order_tax - sum((line.tax for line in lines if line.tax is not None), ZERO)
    others = [i for i, (line, rate) in enumerate(zip(lines, rates, strict=True)) if line.tax is None and rate is not None]
    if others and rest:
        weights = [_tax_at(lines[i].amount, rates[i], inclusive) for i in others]
        if not any(weights):
            weights = [lines[i].amount for i in others]
        for i, part in zip(others, _split(rest, weights), strict=True):
            taxes[i] = part
    return taxes


def _detail(line: TaxableLine) -> dict:
    return line.entry.setdefault("SalesItemLineDetail", {})


def apply_tax(world: TaxWorld, lines: list[TaxableLine], *, order_tax: Decimal, discount: Decimal = ZERO,
              prices_include_tax: bool = False, itemized: bool = False) -> TaxFields:
    """Set the lines' tax codes for ``world``'s model and answer the form's tax fields. ``order_tax``:
    the tax the customer paid; ``itemized``: the lines (or shipping) said their tax or rate."""
    order_tax = money(order_tax or ZERO)
    out = TaxFields()
    model = world.model
    if model == "none":
        return out
    if model not in ("ast", "legacy", "global"):
        # The tax world is not known (not read from QBO yet): what Ledgerlink always sent.
        if order_tax > 0:
            out.fields["TxnTaxDetail"] = {"TotalTax": _num(order_tax)}
        return out
    inclusive = prices_include_tax and model == "global"
    if model != "global" and not itemized:
        if order_tax > 0:
            out.fields["TxnTaxDetail"] = {"TotalTax": _num(order_tax)}
        return out
    said_taxable = [line.taxable for line in lines]  # US: a taxable line is TAX even without a rate
    rates = _resolve_rates(world, lines, order_tax, inclusive=inclusive, itemized=itemized)
    if model in ("ast", "legacy"):
        for line, rate, taxable in zip(lines, rates, said_taxable, strict=True):
            _detail(line)["TaxCodeRef"] = {"value": "TAX" if rate is not None or taxable else "NON"}
        rate = next((r for r in rates if r is not None), None)
        detail: dict = {}
        if rate is not None:
            code = world.code_for_rate(rate)
            if code:
                detail["TxnTaxCodeRef"] = {"value": code}
            elif model == "legacy":
                detail["TxnTaxCodeRef"] = unmapped_ref(rate)
                out.unmapped.append(rate_key(rate))
        if order_tax > 0:
            detail["TotalTax"] = _num(order_tax)
        if detail and (order_tax > 0 or model == "legacy"):
            out.fields["TxnTaxDetail"] = detail
        return out

    # global: a code on every line; the order's tax per rate.
    codes: list[str] = []
    for line, rate in zip(lines, rates, strict=True):
        code = world.code_for_rate(rate) if rate is not None else world.exempt_code or world.code_for_rate(ZERO)
        if code:
            _detail(line)["TaxCodeRef"] = {"value": code}
        else:
            key_rate = rate if rate is not None else ZERO
            _detail(line)["TaxCodeRef"] = unmapped_ref(key_rate)
            if rate_key(key_rate) not in out.unmapped:
                out.unmapped.append(rate_key(key_rate))
        codes.append(code or "")
        if inclusive:
            _detail(line)["TaxInclusiveAmt"] = _num(money(line.amount))
    out.fields["GlobalTaxCalculation"] = "TaxInclusive" if inclusive else "TaxExcluded"
    if out.unmapped:
        return out
    if inclusive:
        # QBO books the net of each gross price; the discount goes in net so that the total is the
        # gross prices less the discount the customer got.
        gross = sum((money(line.amount) for line in lines), ZERO)
        net = sum((money(money(line.amount) / (1 + world.code_total(code) / 100)) for line, code in
                   zip(lines, codes, strict=True)), ZERO)
        if discount > 0:
            out.discount = max(ZERO, money(discount - (gross - net - order_tax)))
    if order_tax <= 0:
        return out
    taxes = _line_taxes(lines, rates, order_tax, inclusive)
    per_rate: dict[str, list] = {}  # TaxRate Id -> [amount, percent, base]
    for line, code_id, tax in zip(lines, codes, taxes, strict=True):
        code = world.codes.get(code_id)
        if code is None or not code.rates:
            continue
        parts = _split(tax, [r[2] for r in code.rates]) if any(r[2] for r in code.rates) else [ZERO] * len(code.rates)
        base = money(line.amount) if not inclusive else money(money(line.amount) / (1 + code.total / 100))
        for (rate_id, _, percent), part in zip(code.rates, parts, strict=True):
            entry = per_rate.setdefault(rate_id, [ZERO, percent, ZERO])
            entry[0] += part
            entry[2] += base
    tax_lines = [
        {
            "Amount": _num(money(amount)),
            "DetailType": "TaxLineDetail",
            "TaxLineDetail": {
                "TaxRateRef": {"value": rate_id},
                "PercentBased": True,
                "TaxPercent": _num(percent),
                "NetAmountTaxable": _num(money(base)),
            },
        }
        for rate_id, (amount, percent, base) in sorted(per_rate.items(), key=lambda kv: (len(kv[0]), kv[0]))
    ]
    out.fields["TxnTaxDetail"] = {"TotalTax": _num(order_tax), **({"TaxLine": tax_lines} if tax_lines else {})}
    return out
