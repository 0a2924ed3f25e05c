"""Currencies: CurrencyPrefs, CompanyCurrency, ExchangeRate and the CurrencyRef rules of names and transactions.

Facts: ../shared/reference/tax-currency-lifecycle-stores.md §2 (cited as *tcl §2*) and Intuit's CompanyCurrency and
ExchangeRate reference pages (MIRROR api-reference/companycurrency.md, exchangerate.md). docs/sandbox.md lists what is
[inferred].
"""

from __future__ import annotations

import copy
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from . import faults as F
from .store import STATUS_ACTIVE, STATUS_DELETED, STATUS_INACTIVE, Realm
from .util import local_date, meta_time, money, now_ts, num, to_decimal

# English names as QBO spells them. USD, CAD, EUR, GBP, AUD, JPY and ANG ("Dutch Guilder") are verbatim from Intuit's
# samples (CompanyCurrency and Customer pages); the others are [inferred] from the ISO 4217 English names.
NAMES = {
    "USD": "United States Dollar", "CAD": "Canadian Dollar", "EUR": "Euro", "GBP": "British Pound Sterling",
    "AUD": "Australian Dollar", "JPY": "Japanese Yen", "ANG": "Dutch Guilder", "CHF": "Swiss Franc",
    "NZD": "New Zealand Dollar", "MXN": "Mexican Peso", "INR": "Indian Rupee", "CNY": "Chinese Yuan Renminbi",
    "HKD": "Hong Kong Dollar", "SGD": "Singapore Dollar", "SEK": "Swedish Krona", "NOK": "Norwegian Krone",
    "DKK": "Danish Krone", "ZAR": "South African Rand", "BRL": "Brazilian Real", "PHP": "Philippine Peso",
    "PLN": "Polish Zloty", "ILS": "Israeli New Shekel", "KRW": "South Korean Won", "AED": "UAE Dirham",
}

# Market rates in US dollars per unit [inferred, rounded mid-2025 values]; the config key exchange_rates overrides
# entries. A rate between two other currencies goes through USD.
MARKET_USD = {
    "USD": "1", "CAD": "0.73", "EUR": "1.08", "GBP": "1.27", "AUD": "0.66", "JPY": "0.0067", "ANG": "0.56",
    "CHF": "1.13", "NZD": "0.6", "MXN": "0.058", "INR": "0.012", "CNY": "0.14", "HKD": "0.128", "SGD": "0.74",
    "SEK": "0.095", "NOK": "0.093", "DKK": "0.145", "ZAR": "0.055", "BRL": "0.18", "PHP": "0.0175",
    "PLN": "0.25", "ILS": "0.27", "KRW": "0.00073", "AED": "0.2723",
}
RATE_PLACES = Decimal("0.000001")


def ref(code: str) -> dict:
    return {"value": code, "name": NAMES.get(code, code)}


def home(realm: Realm) -> str:
    return realm.company.get("home_currency", "USD")


def multicurrency(realm: Realm) -> bool:
    return bool(realm.company.get("multicurrency"))


def invalid_currency(code, element: str = "CurrencyRef") -> F.QBOFault:
    # 2220 "Invalid Currency Type" / "The specified currency type isn't valid." (ERRCODES, tcl §2.1); the
    # "Supplied value" suffix follows the other validation Details [inferred].
    return F.QBOFault([F.err(2220, "Invalid Currency Type",
                             f"The specified currency type isn't valid. Supplied value:{code}", element)])


def business(detail: str) -> F.QBOFault:
    return F.QBOFault([F.err(6000, "A business validation error has occurred while processing your request",
                             f"Business Validation Error: {detail}", "")])


MISMATCH = "The transaction needs to be in the same currency as the A/R and A/P accounts you use."


def active_codes(realm: Realm) -> set[str]:
    out = {home(realm)}
    for rec in realm.records.get("CompanyCurrency", {}).values():
        if rec["status"] == STATUS_ACTIVE and rec["data"].get("Active", True) is not False:
            out.add(rec["data"]["Code"])
    return out


def check_usable(realm: Realm, code: str, element: str = "CurrencyRef") -> None:
    """A currency other than the home one needs multicurrency on and the currency added (tcl §2.3)."""
    if code == home(realm):
        return
    if code not in NAMES or not multicurrency(realm) or code not in active_codes(realm):
        raise invalid_currency(code, element)


def code_of(value) -> str | None:
    v = value.get("value") if isinstance(value, dict) else value
    if v is None or v == "":
        return None
    return str(v).strip().upper()


def name_list_currency(realm: Realm, d: dict, existing: dict | None) -> dict:
    """Customer/Vendor CurrencyRef: set at creation (home by default), never changed afterwards (tcl §2.1)."""
    sent = code_of(d.get("CurrencyRef"))
    if existing is not None:
        old = code_of(existing.get("CurrencyRef")) or home(realm)
        if sent is not None and sent != old:
            raise business("You can't change the currency of a customer or vendor once it has been saved.")
        return ref(old)
    code = sent or home(realm)
    check_usable(realm, code)
    return ref(code)


def txn_currency(realm: Realm, d: dict, customer: dict | None, existing: dict | None) -> str:
    """CurrencyRef of a transaction: home by default; a foreign one needs multicurrency and the currency added; it
    must be the customer's currency (one currency per customer)."""
    code = code_of(d.get("CurrencyRef"))
    if code is None and existing is not None:
        code = code_of(existing.get("CurrencyRef"))
    code = code or home(realm)
    check_usable(realm, code)
    if customer is not None:
        cust = code_of(customer.get("CurrencyRef")) or home(realm)
        if cust != code:
            raise business(MISMATCH)
    return code


def market_rate(realm: Realm, source: str, target: str) -> Decimal:
    table = dict(MARKET_USD)
    table.update({k.upper(): str(v) for k, v in (realm.config.get("exchange_rates") or {}).items()})
    if source == target:
        return Decimal("1")
    src, tgt = Decimal(table.get(source, "1")), Decimal(table.get(target, "1"))
    return (src / tgt).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def _key(source: str, as_of: str) -> str:
    return f"{source}:{as_of}"


def stored_rate(realm: Realm, source: str, as_of: str) -> dict | None:
    """The ExchangeRate record effective on as_of: the newest stored one on or before that date."""
    best = None
    for rec in realm.records.get("ExchangeRate", {}).values():
        data = rec["data"]
        if data["SourceCurrencyCode"] == source and data["AsOfDate"] <= as_of:
            if best is None or data["AsOfDate"] > best["AsOfDate"]:
                best = data
    return best


def rate_row(realm: Realm, source: str, as_of: str | None = None, full: bool = True) -> dict:
    """What GET /exchangerate and the query answer for one currency and date."""
    as_of = as_of or local_date()
    target = home(realm)
    data = stored_rate(realm, source, as_of)
    if data is None:
        row = {"SyncToken": "0", "AsOfDate": as_of, "SourceCurrencyCode": source,
               "Rate": num(market_rate(realm, source, target)), "TargetCurrencyCode": target,
               "MetaData": {"LastUpdatedTime": meta_time(realm.created_ts)}}
    else:
        row = {k: copy.deepcopy(v) for k, v in data.items() if k != "Id"}
    if full:
        out = {"SyncToken": row["SyncToken"], "domain": "QBO"}
        out.update({k: v for k, v in row.items() if k != "SyncToken"})
        out["sparse"] = False
        return out
    return row


def effective_rate(realm: Realm, source: str, as_of: str) -> Decimal:
    return to_decimal(rate_row(realm, source, as_of, full=False)["Rate"]) or Decimal("1")


def _iso_date(value, element: str) -> str:
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError:
        raise F.QBOFault([F.err(2170, "Invalid Enumeration", f"Invalid date : {element} {value}", element)]) from None


def read_exchange_rate(realm: Realm, query: dict) -> dict:
    """GET /exchangerate?sourcecurrencycode=EUR[&asofdate=yyyy-mm-dd] (parameter names case-insensitive)."""
    params = {k.lower(): v for k, v in query.items()}
    source = (params.get("sourcecurrencycode") or "").strip().upper()
    if not source:
        raise F.required("SourceCurrencyCode")
    if source not in NAMES:
        raise invalid_currency(source, "SourceCurrencyCode")
    as_of = _iso_date(params["asofdate"], "AsOfDate") if params.get("asofdate") else None
    return rate_row(realm, source, as_of)


def query_rows(realm: Realm, where: list) -> list[dict]:
    """Rows for `select * from ExchangeRate [where SourceCurrencyCode in (...) and AsOfDate = '...']`: one per
    currency, the rate effective on AsOfDate (default today), as Intuit's sample answers it."""
    sources, as_of = None, None
    for name, op, lit in where:
        low = name.lower()
        if low == "sourcecurrencycode" and op in ("=", "in"):
            sources = [str(v).upper() for v in (lit if op == "in" else [lit])]
        elif low == "asofdate" and op == "=":
            as_of = _iso_date(lit, "AsOfDate")
    if sources is None:
        sources = sorted(c for c in active_codes(realm) if c != home(realm))
    return [rate_row(realm, s, as_of, full=False) for s in sources if s in NAMES]


def update_exchange_rate(realm: Realm, body) -> tuple[dict, None]:
    """POST /exchangerate: SourceCurrencyCode, Rate and AsOfDate are required; TargetCurrencyCode defaults to the home
    currency; a rate for the home currency is refused; source = target is forced to 1 (MIRROR exchangerate.md)."""
    if not isinstance(body, dict):
        raise F.required("ExchangeRate")
    source = str(body.get("SourceCurrencyCode") or "").strip().upper()
    if not source:
        raise F.required("SourceCurrencyCode")
    if body.get("Rate") in (None, ""):
        raise F.required("Rate")
    if not body.get("AsOfDate"):
        raise F.required("AsOfDate")
    if len(source) != 3:
        raise F.string_length("SourceCurrencyCode", 3, len(source))
    if source not in NAMES:
        raise invalid_currency(source, "SourceCurrencyCode")
    target = str(body.get("TargetCurrencyCode") or home(realm)).strip().upper()
    if source == home(realm):
        raise business("You can't set an exchange rate for the home currency.")
    if target != home(realm):
        raise business("The target currency of an exchange rate must be the home currency.")
    rate = to_decimal(body.get("Rate"))
    if rate is None or rate <= 0:
        raise F.QBOFault([F.err(2170, "Invalid Enumeration", f"Invalid Enumeration : Rate {body.get('Rate')}", "Rate")])
    as_of = _iso_date(body["AsOfDate"], "AsOfDate")
    key = _key(source, as_of)
    rec = realm.get("ExchangeRate", key)
    token = body.get("SyncToken")
    if rec is not None:
        if token is None or token == "":
            raise F.required("SyncToken")
        try:
            sent = int(str(token))
        except ValueError:
            sent = None
        if sent != int(rec["data"]["SyncToken"]):
            raise F.stale(realm.config.get("user_name", "Sandbox User"))
        sync = int(rec["data"]["SyncToken"]) + 1
    else:
        sync = 0
    ts = now_ts()
    data = {"Id": key, "SyncToken": str(sync), "AsOfDate": as_of, "SourceCurrencyCode": source,
            "Rate": num(Decimal("1") if source == target else rate), "TargetCurrencyCode": target,
            "MetaData": {"LastUpdatedTime": meta_time(ts)}}
    realm.put("ExchangeRate", data, STATUS_ACTIVE, ts)
    realm.touched.add(("ExchangeRate", key))
    return rate_row(realm, source, as_of), None


def apply_home_amounts(realm: Realm, d: dict, code: str, sent_rate) -> None:
    """ExchangeRate and the home-currency totals of a foreign transaction (tcl §2.1: HomeTotalAmt, HomeBalance are
    read only; single-currency companies do not have them)."""
    d["CurrencyRef"] = ref(code)
    if code == home(realm):
        d.pop("ExchangeRate", None)
        d.pop("HomeTotalAmt", None)
        d.pop("HomeBalance", None)
        return
    rate = to_decimal(sent_rate)
    if not rate or rate <= 0:
        rate = effective_rate(realm, code, d.get("TxnDate") or local_date())
    d["ExchangeRate"] = num(rate)
    total = to_decimal(d.get("TotalAmt")) or Decimal("0")
    d["HomeTotalAmt"] = num(money(total * rate))
    if "Balance" in d and d.get("Balance") is not None:
        d["HomeBalance"] = num(money((to_decimal(d["Balance"]) or Decimal("0")) * rate))


# -- CompanyCurrency ----------------------------------------------------------------------------------

def finalize_company_currency(realm: Realm, d: dict, existing: dict | None) -> dict:
    if not multicurrency(realm):
        raise business("Multicurrency isn't turned on for this company. Turn it on in Preferences.CurrencyPrefs "
                       "before adding currencies.")
    code = str(d.get("Code") or (existing or {}).get("Code") or "").strip().upper()
    if not code:
        raise F.required("Code")
    if existing is not None and code != existing["Code"]:
        raise business("The currency code of a company currency can't be changed.")
    if code not in NAMES:
        raise invalid_currency(code, "Code")
    if code == home(realm):
        raise business(f"{code} is the home currency of this company; it can't be added again.")
    for rec in realm.records.get("CompanyCurrency", {}).values():
        if rec["status"] != STATUS_DELETED and rec["data"]["Code"] == code and (
                existing is None or rec["data"]["Id"] != existing["Id"]):
            raise F.duplicate_name()
    d["Code"] = code
    d["Name"] = NAMES[code]
    d.setdefault("Active", True)
    return d


def status_for(data: dict) -> str:
    return STATUS_ACTIVE if data.get("Active", True) is not False else STATUS_INACTIVE
