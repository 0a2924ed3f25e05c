"""Sales tax in every model: US automated sales tax (AST), US legacy, US without sales tax, and the global model of
Canada, the UK and Australia. TaxCode / TaxRate / TaxAgency data, the TaxService endpoint and the computation of
TxnTaxDetail on sales forms.

Facts: ../shared/reference/tax-currency-lifecycle-stores.md §1 (cited as *tcl §1.n*). Everything else is marked
[inferred] in docs/sandbox.md, "Sales tax".
"""

from __future__ import annotations

from decimal import Decimal

from . import faults as F
from .store import STATUS_ACTIVE, STATUS_DELETED, Realm
from .util import meta_time, money, now_ts, num, to_decimal

US_CODES = ("TAX", "NON")
GLOBAL_CALC = ("TaxExcluded", "TaxInclusive", "NotApplicable")
MSG_6000 = "A business validation error has occurred while processing your request"

# 6000 Detail when a non-US sales line has no TaxCodeRef (tcl §1.6: GST/HST for Canada, VAT for the UK, verbatim;
# the Australian wording is [inferred] by analogy).
MISSING_CODE_TEXT = {
    "CA": "Business Validation Error: Make sure all your transactions have a GST/HST rate before you save.",
    "GB": "Business Validation Error: Make sure all your transactions have a VAT rate before you save.",
    "AU": "Business Validation Error: Make sure all your transactions have a GST rate before you save.",
}
CALC_ERROR = ("Business Validation Error: We're sorry, QuickBooks encountered an error while calculating tax. Try "
              "reselecting the tax rate or reentering the product/service item and saving the form again.")

# Default tax data. Each code: (Id, Name, Description, [rate names], Taxable). Each rate: (Id, Name, value, agency Id).
# Canada: GST 5 %, HST 13 % / 15 %, PST BC 7 %, QST 9.975 %, zero-rated, exempt (tcl §1.4; names as QBO Canada shows
# them, "GST/QST QC - 9.975" from a Quebec company's codes in the code index; HST and PST names [inferred]).
# UK: 20.0% S, 5.0% R, 0.0% Z, Exempt (tcl §1.4). Australia: GST 10 %, GST free (issue 13; names [inferred]).
# US: TAX/NON pseudo codes and "California" 8 % (Intuit's TaxCode/TaxRate samples, MIRROR taxcode.md, taxrate.md).
TAX_DATA = {
    "US": {
        "agencies": [("1", "Board of Equalization")],
        "rates": [("1", "California", "8", "1")],
        "codes": [("2", "California", "California", ["California"], True)],
    },
    "CA": {
        "agencies": [("1", "Canada Revenue Agency"), ("2", "Revenu Québec"), ("3", "Ministry of Finance (BC)")],
        "rates": [("1", "GST", "5", "1"), ("2", "HST ON", "13", "1"), ("3", "HST NB 2016", "15", "1"),
                  ("4", "PST BC", "7", "3"), ("5", "QST", "9.975", "2"), ("6", "Zero-rated", "0", "1"),
                  ("7", "Exempt", "0", "1")],
        "codes": [("3", "Out of Scope", "Out of Scope", [], False),
                  ("4", "Exempt", "Exempt", ["Exempt"], True),
                  ("5", "Zero-rated", "Zero-rated", ["Zero-rated"], True),
                  ("6", "GST", "GST", ["GST"], True),
                  ("7", "HST ON", "HST ON", ["HST ON"], True),
                  ("8", "HST NB 2016", "HST NB 2016", ["HST NB 2016"], True),
                  ("9", "GST/QST QC - 9.975", "GST/QST QC - 9.975", ["GST", "QST"], True),
                  ("10", "QST QC - 9.975", "QST QC - 9.975", ["QST"], True),
                  ("11", "PST BC", "PST BC", ["PST BC"], True),
                  ("12", "GST/PST BC", "GST/PST BC", ["GST", "PST BC"], True)],
    },
    "GB": {
        "agencies": [("1", "HM Revenue & Customs")],
        "rates": [("1", "20.0% S", "20", "1"), ("2", "5.0% R", "5", "1"), ("3", "0.0% Z", "0", "1"),
                  ("4", "Exempt", "0", "1")],
        "codes": [("2", "20.0% S", "Standard", ["20.0% S"], True),
                  ("3", "5.0% R", "Reduced", ["5.0% R"], True),
                  ("4", "0.0% Z", "Zero", ["0.0% Z"], True),
                  ("5", "Exempt", "Exempt", ["Exempt"], True)],
    },
    "AU": {
        "agencies": [("1", "Australian Taxation Office")],
        "rates": [("1", "GST (sales)", "10", "1"), ("2", "GST free (sales)", "0", "1")],
        "codes": [("2", "GST", "GST", ["GST (sales)"], True),
                  ("3", "GST free", "GST free", ["GST free (sales)"], True)],
    },
}

# The sample company adds Intuit's second agency and its Tucson code (MIRROR taxcode.md / taxrate.md / taxagency.md).
US_SAMPLE_EXTRA = {
    "agencies": [("2", "Arizona Dept. of Revenue")],
    "rates": [("2", "AZ State tax", "7.1", "2"), ("3", "Tucson City", "2", "2")],
    "codes": [("3", "Tucson", "Tucson", ["AZ State tax", "Tucson City"], True)],
}

# Automated sales tax: jurisdiction -> rates, looked up by "<state> <5-digit ZIP>" then "<state>" of the ship-to
# address (or the company address). Rates are rounded 2025 values [inferred]; config key ast_rate_table replaces the
# whole table (same shape).
DEFAULT_AST_RATES = {
    "CA": {"name": "CA Statewide", "rates": [
        {"name": "California State", "rate": 6.0, "agency": "California Department of Tax and Fee Administration"},
        {"name": "California County", "rate": 0.25, "agency": "California Department of Tax and Fee Administration"},
        {"name": "California Local", "rate": 1.0, "agency": "California Department of Tax and Fee Administration"}]},
    "NY": {"name": "New York City, NY", "rates": [
        {"name": "New York State", "rate": 4.0, "agency": "New York State Department of Taxation and Finance"},
        {"name": "New York City", "rate": 4.5, "agency": "New York State Department of Taxation and Finance"},
        {"name": "NY Metropolitan Commuter Transportation District", "rate": 0.375,
         "agency": "New York State Department of Taxation and Finance"}]},
    "TX": {"name": "Austin, TX", "rates": [
        {"name": "Texas State", "rate": 6.25, "agency": "Texas Comptroller of Public Accounts"},
        {"name": "Austin City", "rate": 1.0, "agency": "Texas Comptroller of Public Accounts"},
        {"name": "Austin MTA", "rate": 1.0, "agency": "Texas Comptroller of Public Accounts"}]},
    "WA": {"name": "Seattle, WA", "rates": [
        {"name": "Washington State", "rate": 6.5, "agency": "Washington State Department of Revenue"},
        {"name": "Seattle City", "rate": 3.85, "agency": "Washington State Department of Revenue"}]},
    "OR": {"name": "Oregon", "rates": []},
}


def business(detail: str, element: str = "") -> F.QBOFault:
    return F.QBOFault([F.err(6000, MSG_6000, detail if detail.startswith("Business Validation Error") else
                             f"Business Validation Error: {detail}", element)])


def model(realm: Realm) -> str:
    """'ast' | 'legacy' | 'none' for US companies, 'global' for the others."""
    if realm.company.get("country", "US") != "US":
        return "global"
    return realm.company.get("tax_model") or "ast"


# -- records -------------------------------------------------------------------------------------------

def _stamp(ts: float) -> dict:
    t = meta_time(ts)
    return {"CreateTime": t, "LastUpdatedTime": t}


def _put(realm: Realm, etype: str, data: dict, ts: float | None = None) -> dict:
    ts = now_ts() if ts is None else ts
    full = {"SyncToken": "0", "domain": "QBO", "sparse": False, "MetaData": _stamp(ts)}
    full.update(data)
    realm.put(etype, full, STATUS_ACTIVE, ts)
    realm.bump_seq(etype, full["Id"])
    realm.touched.add((etype, full["Id"]))
    return full


def agency_data(id_: str, name: str, config: str = "SYSTEM_GENERATED") -> dict:
    return {"Id": id_, "DisplayName": name, "TaxTrackedOnSales": True, "TaxTrackedOnPurchases": False,
            "TaxAgencyConfig": config}


def rate_data(id_: str, name: str, value, agency_id: str) -> dict:
    return {"Id": id_, "Name": name, "Description": "Sales Tax", "Active": True, "RateValue": num(Decimal(str(value))),
            "AgencyRef": {"value": agency_id}, "SpecialTaxType": "NONE", "DisplayType": "ReadOnly"}


def code_data(id_: str, name: str, description: str, rates: list[tuple[str, str]], taxable: bool = True,
              config: str = "USER_DEFINED") -> dict:
    return {"Id": id_, "Name": name, "Description": description, "Active": True, "Hidden": False,
            "Taxable": taxable, "TaxGroup": True,
            "SalesTaxRateList": {"TaxRateDetail": [
                {"TaxRateRef": {"value": rid, "name": rname}, "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0}
                for rid, rname in rates]},
            "PurchaseTaxRateList": {"TaxRateDetail": []}, "TaxCodeConfigType": config}


def pseudo_code(code: str, ts: float) -> dict:
    # Intuit's TaxCode query sample: the pseudo codes TAX and NON have no SyncToken, domain, sparse or Active, so
    # `WHERE Active = true` leaves them out (reported by Nine-Minds/alga-psa#3200).
    return {"TaxGroup": False, "Name": code, "Taxable": code == "TAX", "Description": code, "Id": code,
            "MetaData": _stamp(ts)}


def seed(realm: Realm, ts: float, sample: bool = False) -> None:
    """Tax agencies, rates and codes of a new company for its country and tax model."""
    country = realm.company.get("country", "US")
    if country == "US":
        pseudo = {c: pseudo_code(c, ts) for c in US_CODES}
        for code in US_CODES:
            realm.put("TaxCode", pseudo[code], STATUS_ACTIVE, ts)
        if model(realm) == "none":
            return
    parts = [TAX_DATA[country]]
    if country == "US" and sample:
        parts.append(US_SAMPLE_EXTRA)
    for part in parts:
        for id_, name in part["agencies"]:
            _put(realm, "TaxAgency", agency_data(id_, name), ts)
        for id_, name, value, agency in part["rates"]:
            _put(realm, "TaxRate", rate_data(id_, name, value, agency), ts)
        by_name = {r["data"]["Name"]: r["data"]["Id"] for r in realm.records["TaxRate"].values()}
        for id_, name, desc, rates, taxable in part["codes"]:
            _put(realm, "TaxCode", code_data(id_, name, desc, [(by_name[n], n) for n in rates], taxable), ts)


def code_rates(realm: Realm, code: dict) -> list[dict]:
    out = []
    for det in (code.get("SalesTaxRateList") or {}).get("TaxRateDetail") or []:
        rec = realm.get("TaxRate", str((det.get("TaxRateRef") or {}).get("value")))
        if rec is not None:
            out.append(rec["data"])
    return out


def _find(realm: Realm, etype: str, field: str, value: str) -> dict | None:
    for rec in realm.records.get(etype, {}).values():
        if rec["status"] != STATUS_DELETED and str(rec["data"].get(field, "")).lower() == value.lower():
            return rec["data"]
    return None


def ast_table(realm: Realm) -> dict:
    return realm.config.get("ast_rate_table") or DEFAULT_AST_RATES


def ast_jurisdiction(realm: Realm, ship: dict | None) -> tuple[str, dict] | None:
    """The rate-table entry for the destination: the transaction's ship-to address, else the company address
    (tcl §1.2)."""
    addr = ship if isinstance(ship, dict) and ship.get("CountrySubDivisionCode") else None
    if addr is None:
        info = realm.get("CompanyInfo", "1")
        addr = (info["data"].get("CompanyAddr") or {}) if info else {}
    state = str(addr.get("CountrySubDivisionCode") or "").strip().upper()
    zip5 = str(addr.get("PostalCode") or "").strip()[:5]
    table = ast_table(realm)
    for key in (f"{state} {zip5}", state):
        if key in table:
            return key, table[key]
    return None


def ast_code(realm: Realm, entry: dict) -> dict:
    """The SYSTEM_GENERATED TaxCode (with its agencies and rates) the AST engine assigns for a jurisdiction; made on
    first use, so an AST company's code list grows the way Intuit's does (tcl §1.5, TaxCodeConfigType)."""
    existing = _find(realm, "TaxCode", "Name", entry["name"])
    wanted = [(r["name"], Decimal(str(r["rate"]))) for r in entry.get("rates") or []]
    if existing is not None and existing.get("TaxCodeConfigType") == "SYSTEM_GENERATED":
        have = [(r["Name"], Decimal(str(r["RateValue"]))) for r in code_rates(realm, existing)]
        if have == wanted:
            return existing
    ts = now_ts()
    rates = []
    for r in entry.get("rates") or []:
        agency = _find(realm, "TaxAgency", "DisplayName", r["agency"]) or _put(
            realm, "TaxAgency", agency_data(realm.next_id("TaxAgency"), r["agency"]), ts)
        rate = None
        for rec in realm.records.get("TaxRate", {}).values():
            d = rec["data"]
            if (d["Name"] == r["name"] and d["AgencyRef"]["value"] == agency["Id"]
                    and Decimal(str(d["RateValue"])) == Decimal(str(r["rate"]))):
                rate = d
        if rate is None:
            rate = _put(realm, "TaxRate", rate_data(realm.next_id("TaxRate"), r["name"], r["rate"], agency["Id"]), ts)
        rates.append((rate["Id"], rate["Name"]))
    return _put(realm, "TaxCode", code_data(realm.next_id("TaxCode"), entry["name"], entry["name"], rates,
                                            config="SYSTEM_GENERATED"), ts)


# -- line tax codes ------------------------------------------------------------------------------------

def line_code(realm: Realm, detail: dict):
    """Validate a SalesItemLine's TaxCodeRef. US: TAX or NON (else 6100). Global: the Id of an active TaxCode (None
    when absent; the caller raises the country's 6000 once all lines are seen)."""
    from .entities import ref_value

    tc = ref_value(detail.get("TaxCodeRef"))
    if model(realm) != "global":
        tc = tc or "NON"
        if tc not in US_CODES:
            # verbatim from a real capture (tcl §1.8b)
            raise F.QBOFault([F.err(6100, "Invalid Line TaxCode in the request",
                                    f"Valid line TaxCodes for US should be TAX or NON. Supplied value: {tc}",
                                    "Line.SalesItemLineDetail.TaxCodeRef")])
        detail["TaxCodeRef"] = {"value": tc}
        return tc
    if tc is None:
        return None
    rec = realm.get("TaxCode", tc)
    if rec is None or rec["status"] == STATUS_DELETED or tc in US_CODES:
        raise F.invalid_ref("Line.SalesItemLineDetail.TaxCodeRef")
    if rec["data"].get("Active") is False:
        raise F.not_found()
    detail["TaxCodeRef"] = {"value": tc}
    return rec["data"]


# -- computation ---------------------------------------------------------------------------------------

class TaxLineSpec:
    """One line's contribution: its output dict, its amount (net, or gross under TaxInclusive) and its code."""

    __slots__ = ("out", "amount", "code")

    def __init__(self, out: dict, amount: Decimal, code):
        self.out, self.amount, self.code = out, amount, code


def _split(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Spread total over weights, each rounded half-up to the cent, the last taking the remainder."""
    if not weights:
        return []
    s = sum(weights)
    out, used = [], Decimal("0")
    for i, w in enumerate(weights):
        if i == len(weights) - 1:
            out.append(total - used)
        else:
            part = money(total * w / s) if s else Decimal("0")
            out.append(part)
            used += part
    return out


def _tax_line(rate: dict, amount: Decimal, base: Decimal, delta: Decimal | None = None) -> dict:
    detail = {"TaxRateRef": {"value": rate["Id"]}, "PercentBased": True,
              "TaxPercent": num(Decimal(str(rate["RateValue"]))), "NetAmountTaxable": num(money(base))}
    if delta is not None:
        detail["OverrideDeltaAmount"] = num(delta)
    return {"Amount": num(money(amount)), "DetailType": "TaxLineDetail", "TaxLineDetail": detail}


def _discount_share(bases: dict, subtotal: Decimal, discount: Decimal) -> dict:
    """Reduce each base by its share of the discount (discount before tax)."""
    if not discount or not subtotal:
        return bases
    keys = list(bases)
    shares = _split(money(discount * sum(bases.values()) / subtotal), [bases[k] for k in keys])
    return {k: bases[k] - s for k, s in zip(keys, shares, strict=True)}


def _sent_tax(d: dict):
    sent = d.get("TxnTaxDetail")
    return sent if isinstance(sent, dict) else {}


def compute_us(realm: Realm, d: dict, specs: list[TaxLineSpec], subtotal: Decimal, discount: Decimal) -> dict:
    """TxnTaxDetail of a US sales form."""
    from .entities import ref_value

    sent = _sent_tax(d)
    override = to_decimal(sent.get("TotalTax"))
    mdl = model(realm)
    taxable = sum((s.amount for s in specs if s.code == "TAX"), Decimal("0"))
    if d.get("ApplyTaxAfterDiscount") is True and subtotal:
        taxable = _discount_share({"t": taxable}, subtotal, discount)["t"]
    if mdl == "none":
        # Sales tax off: TxnTaxDetail is ignored (CreditMemo reference: "If sales tax is disabled ... TxnTaxDetail is
        # ignored and not stored"); an explicit tax amount is refused with 6470 [inferred, stricter].
        if override:
            raise F.QBOFault([F.err(6470, "Tax not allowed", "You either selected a tax on a transaction that's "
                                    "not allowed, or haven't specified a tax rate.", "TxnTaxDetail")])
        return {"TotalTax": 0}
    code = None
    if mdl == "legacy" or ref_value(sent.get("TxnTaxCodeRef")):
        cid = ref_value(sent.get("TxnTaxCodeRef"))
        if cid:
            rec = realm.get("TaxCode", cid)
            if rec is None or rec["status"] == STATUS_DELETED or cid in US_CODES:
                raise F.invalid_ref("TxnTaxDetail.TxnTaxCodeRef")
            code = rec["data"]
    if mdl == "ast" and code is None:
        found = ast_jurisdiction(realm, d.get("ShipAddr"))
        if found is not None and (taxable or override is not None):
            code = ast_code(realm, found[1])
    if code is None:
        out = {"TotalTax": num(money(override or Decimal("0")))}
        if mdl == "ast" and override:
            out["TaxReviewStatus"] = "AST_TAX_OVERRIDE"
        return out
    rates = code_rates(realm, code)
    computed = [money(taxable * Decimal(str(r["RateValue"])) / 100) for r in rates]
    total = sum(computed, Decimal("0"))
    honour = override is not None and money(override) != total and not (
        mdl == "ast" and sent.get("UseAutomatedSalesTax") is True)
    out = {"TxnTaxCodeRef": {"value": code["Id"]}}
    if honour:
        # "the AST engine honors the amount and prorates it across tax rates in the AST-assigned tax code" (tcl §1.2)
        amounts = _split(money(override), [Decimal(str(r["RateValue"])) for r in rates]) if rates else []
        out["TotalTax"] = num(money(override))
        out["TaxLine"] = [_tax_line(r, a, taxable, delta=money(a - c))
                          for r, a, c in zip(rates, amounts, computed, strict=True)]
        if mdl == "ast":
            out["TaxReviewStatus"] = "AST_TAX_OVERRIDE"
    else:
        out["TotalTax"] = num(total)
        out["TaxLine"] = [_tax_line(r, a, taxable) for r, a in zip(rates, computed, strict=True)]
    if not out["TaxLine"]:
        del out["TaxLine"]
    return out


def check_global(realm: Realm, d: dict, specs: list[TaxLineSpec]) -> str:
    """Non-US rules, in QBO's order: every sales line needs a TaxCodeRef (6000, the capture
    invoice-create-6000-gst-hst-rate-required.json has no GlobalTaxCalculation and still gets this fault first),
    then GlobalTaxCalculation is required, then NotApplicable refuses a TxnTaxDetail (6170)."""
    if any(s.code is None for s in specs):
        raise F.QBOFault([F.err(6000, MSG_6000, MISSING_CODE_TEXT[realm.company["country"]], "")])
    calc = d.get("GlobalTaxCalculation")
    if not calc:
        raise F.required("GlobalTaxCalculation")
    if calc not in GLOBAL_CALC:
        raise F.QBOFault([F.err(2170, "Invalid Enumeration", f"Invalid Enumeration : {calc}",
                                "GlobalTaxCalculation")])
    sent = _sent_tax(d)
    if calc == "NotApplicable" and any(sent.get(k) not in (None, "", [], {}) for k in
                                       ("TotalTax", "TaxLine", "TxnTaxCodeRef")):
        raise F.QBOFault([F.err(6170, "Invalid TxnTaxDetail",
                                "The TxnTaxDetail attribute isn't allowed when GlobalTaxCalculation is set to "
                                "NotApplicable.", "TxnTaxDetail")])
    return calc


def split_inclusive(realm: Realm, specs: list[TaxLineSpec]) -> dict:
    """TaxInclusive: each line's gross amount becomes its net `Amount` (gross / (1 + sum of its code's rates),
    rounded half-up) and `TaxInclusiveAmt` keeps the gross. Returns code Id -> (gross, net) per code."""
    groups: dict = {}
    for s in specs:
        rates = code_rates(realm, s.code)
        factor = Decimal("1") + sum((Decimal(str(r["RateValue"])) for r in rates), Decimal("0")) / 100
        gross = money(s.amount)
        net = money(gross / factor)
        s.out["Amount"] = num(net)
        s.out["SalesItemLineDetail"]["TaxInclusiveAmt"] = num(gross)
        g = groups.setdefault(s.code["Id"], [Decimal("0"), Decimal("0")])
        g[0] += gross
        g[1] += net
        s.amount = net
    return groups


def compute_global(realm: Realm, d: dict, specs: list[TaxLineSpec], calc: str, groups: dict,
                   subtotal: Decimal, discount: Decimal) -> dict:
    """TxnTaxDetail of a Canadian, UK or Australian sales form: one TaxLine per rate; each rate's tax is rounded
    half-up on the sum of the net amounts it applies to; discounts come off before tax [inferred]. Under
    TaxInclusive without discount a code's tax is gross minus net, so TotalAmt is the sum of the gross prices."""
    if calc == "NotApplicable":
        return {"TotalTax": 0}
    by_code: dict = {}
    for s in specs:
        by_code.setdefault(s.code["Id"], [s.code, Decimal("0")])[1] += s.amount
    bases = {cid: v[1] for cid, v in by_code.items()}
    if discount:
        bases = _discount_share(bases, subtotal, discount)
    rate_base: dict = {}
    rate_tax: dict = {}
    rate_obj: dict = {}
    for cid, (code, _) in by_code.items():
        rates = code_rates(realm, code)
        base = bases[cid]
        if calc == "TaxInclusive" and not discount:
            gross, net = groups[cid]
            amounts = _split(gross - net, [Decimal(str(r["RateValue"])) for r in rates]) if rates else []
        else:
            amounts = [money(base * Decimal(str(r["RateValue"])) / 100) for r in rates]
        for r, a in zip(rates, amounts, strict=True):
            rate_obj[r["Id"]] = r
            rate_base[r["Id"]] = rate_base.get(r["Id"], Decimal("0")) + base
            rate_tax[r["Id"]] = rate_tax.get(r["Id"], Decimal("0")) + a
    sent = _sent_tax(d)
    given = sent.get("TaxLine") if isinstance(sent.get("TaxLine"), list) else []
    overrides: dict = {}
    from .entities import ref_value

    for tl in given:
        if not isinstance(tl, dict):
            continue
        det = tl.get("TaxLineDetail") or {}
        rid = ref_value(det.get("TaxRateRef"))
        amount = to_decimal(tl.get("Amount"))
        if rid is None or amount is None:
            continue
        if rid not in rate_obj or rid in overrides:
            # "a TaxLine rate must be referenced by a TaxCode used on a transaction line. Any given rate may only be
            # listed once." (XSD, tcl §1.4)
            raise business(CALC_ERROR)
        overrides[rid] = money(amount)
    lines = []
    total = Decimal("0")
    for rid in sorted(rate_obj, key=lambda x: int(x) if x.isdigit() else 0):
        amount = overrides.get(rid, rate_tax[rid])
        total += amount
        delta = money(amount - rate_tax[rid]) if rid in overrides and amount != rate_tax[rid] else None
        lines.append(_tax_line(rate_obj[rid], amount, rate_base[rid], delta))
    out = {"TotalTax": num(money(total))}
    if lines:
        out["TaxLine"] = lines
    return out


# -- TaxAgency and TaxService ----------------------------------------------------------------------------

def finalize_agency(realm: Realm, d: dict, existing: dict | None) -> dict:
    name = d.get("DisplayName")
    name = name.strip() if isinstance(name, str) else name
    if not name:
        raise F.required("DisplayName")
    if len(name) > 100:
        raise F.string_length("DisplayName", 100, len(name))
    other = _find(realm, "TaxAgency", "DisplayName", name)
    if other is not None and (existing is None or other["Id"] != existing["Id"]):
        raise F.duplicate_name()
    d["DisplayName"] = name
    d.setdefault("TaxTrackedOnSales", True)
    d.setdefault("TaxTrackedOnPurchases", False)
    d["TaxAgencyConfig"] = (existing or {}).get("TaxAgencyConfig", "USER_DEFINED")
    return d


def create_tax_code(realm: Realm, body) -> tuple[dict, list[tuple[str, str]]]:
    """POST /taxservice/taxcode (MIRROR taxservice.md): a new TaxCode with existing rates (TaxRateId) or new ones
    (TaxRateName + RateValue 0..100 + TaxAgencyId of an existing agency); a rate may be listed once. Answers the bare
    TaxService object (no entity wrapper), as Intuit's sample does."""
    from .entities import clean

    if not isinstance(body, dict):
        raise F.required("TaxCode")
    body = clean(body)
    name = body.get("TaxCode")
    name = name.strip() if isinstance(name, str) else None
    if not name:
        raise F.required("TaxCode")
    if len(name) > 100:
        raise F.string_length("TaxCode", 100, len(name))
    details = body.get("TaxRateDetails")
    if not isinstance(details, list) or not [x for x in details if isinstance(x, dict)]:
        raise F.required("TaxRateDetails")
    if _find(realm, "TaxCode", "Name", name) is not None:
        raise F.duplicate_name()
    plan = []
    seen = set()
    for det in details:
        if not isinstance(det, dict):
            continue
        applicable = det.get("TaxApplicableOn") or "Sales"
        if applicable not in ("Sales", "Purchase"):
            raise F.QBOFault([F.err(2170, "Invalid Enumeration", f"Invalid Enumeration : {applicable}",
                                    "TaxRateDetails.TaxApplicableOn")])
        rid = det.get("TaxRateId")
        if rid not in (None, "", 0, "0"):
            rec = realm.get("TaxRate", str(rid))
            if rec is None or rec["status"] == STATUS_DELETED:
                raise F.invalid_ref("TaxRateDetails.TaxRateId")
            key = ("id", str(rid))
            plan.append(("existing", rec["data"], applicable))
        else:
            rname = det.get("TaxRateName")
            if not rname:
                raise F.required("TaxRateDetails.TaxRateName")
            value = to_decimal(str(det.get("RateValue", "")).rstrip("%"))
            if value is None:
                raise F.required("TaxRateDetails.RateValue")
            if value < 0 or value > 100:
                raise business("TaxService.RateValue must be between 0 and 100.", "TaxRateDetails.RateValue")
            agency_id = det.get("TaxAgencyId")
            agency = realm.get("TaxAgency", str(agency_id)) if agency_id not in (None, "") else None
            if agency is None or agency["status"] == STATUS_DELETED:
                raise F.invalid_ref("TaxRateDetails.TaxAgencyId")
            if _find(realm, "TaxRate", "Name", str(rname)) is not None:
                raise F.duplicate_name()
            key = ("name", str(rname).lower())
            plan.append(("new", (str(rname), value, str(agency_id)), applicable))
        if key in seen:
            raise business("A single tax rate may not be listed twice in the list of tax rates of a tax code.")
        seen.add(key)
    ts = now_ts()
    touched = []
    sales, purchase, out_details = [], [], []
    for kind, what, applicable in plan:
        if kind == "existing":
            rate = what
        else:
            rname, value, agency_id = what
            rate = _put(realm, "TaxRate", rate_data(realm.next_id("TaxRate"), rname, value, agency_id), ts)
            touched.append(("TaxRate", rate["Id"]))
        (sales if applicable == "Sales" else purchase).append((rate["Id"], rate["Name"]))
        out_details.append({"TaxRateName": rate["Name"], "TaxRateId": rate["Id"],
                            "RateValue": format(Decimal(str(rate["RateValue"])).normalize(), "f"),
                            "TaxAgencyId": rate["AgencyRef"]["value"], "TaxApplicableOn": applicable})
    code = code_data(realm.next_id("TaxCode"), name, name, sales)
    code["PurchaseTaxRateList"]["TaxRateDetail"] = [
        {"TaxRateRef": {"value": rid, "name": rname}, "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0}
        for rid, rname in purchase]
    code = _put(realm, "TaxCode", code, ts)
    touched.append(("TaxCode", code["Id"]))
    return {"TaxCode": name, "TaxCodeId": code["Id"], "TaxRateDetails": out_details}, touched

