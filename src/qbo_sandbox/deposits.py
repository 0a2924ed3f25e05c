"""Deposits: money moved into a bank account, either transactions waiting in Undeposited Funds (a line's LinkedTxn to
a Payment, SalesReceipt or RefundReceipt) or other money (a line's DepositLineDetail.AccountRef); and the 6540
"Deposited Transaction cannot be changed" refusal of a transaction a live deposit holds.

Facts: Intuit's Deposit reference (MIRROR api-reference/deposit.md: DepositToAccountRef and Line required, the two
line kinds, TotalAmt read only, the linkable transactions), Intuit's SalesReceipt reference ("If a sales receipt is
paid and funds have been deposited, you must delete the associated deposit object before voiding", tcl §3.2) and
ERRCODES (6540 "Deposited Transaction cannot be changed", facts §3.3). Details and the exact checks are [inferred]
(docs/sandbox.md, "Deposits").
"""

from __future__ import annotations

from decimal import Decimal

from . import currency, lists
from . import faults as F
from .payments import _txn_date, business, resolve_link
from .store import STATUS_ACTIVE, STATUS_VOIDED, Realm
from .util import money, num, to_decimal

# The transactions a deposit line may link that the sandbox stores (Intuit also names Transfer and JournalEntry).
DEPOSITABLE = ("Payment", "SalesReceipt", "RefundReceipt")
LABEL = {"Payment": "Payment", "SalesReceipt": "Sales Receipt", "RefundReceipt": "Refund Receipt"}
MSG_6540 = "Deposited Transaction cannot be changed"
ENTITY_TYPES = ("Customer", "Vendor", "Employee")


def _live_deposits(realm: Realm):
    for rec in realm.records.get("Deposit", {}).values():
        if rec["status"] == STATUS_ACTIVE:
            yield rec["data"]


def links_of(data: dict | None) -> list[tuple[str, str]]:
    """(TxnType, TxnId) of every linked line of a stored deposit."""
    out = []
    for line in (data or {}).get("Line") or []:
        for link in line.get("LinkedTxn") or []:
            out.append((link["TxnType"], str(link["TxnId"])))
    return out


def holder(realm: Realm, etype: str, id_: str, exclude: str | None = None) -> dict | None:
    """The live deposit that holds a transaction, if any (the lowest Id when several would)."""
    for dep in sorted(_live_deposits(realm), key=lambda x: int(x["Id"])):
        if dep["Id"] != exclude and (etype, str(id_)) in links_of(dep):
            return dep
    return None


def deposited_fault(etype: str, data: dict, deposit: dict) -> F.QBOFault:
    label = LABEL.get(etype, etype)
    name = data.get("DocNumber") or data["Id"]
    return F.QBOFault([F.err(6540, MSG_6540,
                             f"{MSG_6540} : {label} {name} is part of Deposit {deposit['Id']}. Delete the deposit, "
                             "or remove this transaction from it, first.", "")])


def refuse_if_deposited(realm: Realm, etype: str, data: dict) -> None:
    """Voiding or deleting a transaction a live deposit holds: 6540 (the message of ERRCODES; Detail [inferred])."""
    if etype not in DEPOSITABLE:
        return
    dep = holder(realm, etype, data["Id"])
    if dep is not None:
        raise deposited_fault(etype, data, dep)


def _ref(data: dict, field: str) -> str | None:
    ref = data.get(field)
    v = ref.get("value") if isinstance(ref, dict) else ref
    return None if v in (None, "") else str(v)


def _money_of(value) -> Decimal:
    return money(to_decimal(value) or Decimal("0"))


def _signature(etype: str, data: dict) -> tuple:
    """What a deposit depends on: the amounts, the lines' amounts and items or links, the customer, the account and
    the currency. A change of memo, dates or numbers is allowed [inferred]."""
    lines = []
    for line in data.get("Line") or []:
        if line.get("DetailType") == "SubTotalLineDetail":
            continue
        detail = line.get("SalesItemLineDetail") or {}
        links = tuple((x.get("TxnType"), str(x.get("TxnId"))) for x in line.get("LinkedTxn") or [])
        lines.append((line.get("DetailType"), _money_of(line.get("Amount")), _ref(detail, "ItemRef"),
                      str(to_decimal(detail.get("Qty"))), str(to_decimal(detail.get("UnitPrice"))), links))
    return (_money_of(data.get("TotalAmt")), tuple(lines), _ref(data, "CustomerRef"),
            _ref(data, "DepositToAccountRef"), currency.code_of(data.get("CurrencyRef")))


def refuse_deposited_change(realm: Realm, etype: str, old: dict, new: dict) -> None:
    """An update of a deposited transaction that changes what the deposit holds: 6540 [inferred scope]."""
    if etype not in DEPOSITABLE:
        return
    dep = holder(realm, etype, old["Id"])
    if dep is not None and _signature(etype, old) != _signature(etype, new):
        raise deposited_fault(etype, old, dep)


def _undeposited(realm: Realm, account_id: str | None) -> bool:
    rec = realm.get("Account", account_id) if account_id else None
    return rec is not None and rec["data"].get("AccountSubType") == "UndepositedFunds"


def _linked_line(realm: Realm, line: dict, amount: Decimal, code: str, me: str | None,
                 seen: set[tuple[str, str]]) -> tuple[dict, Decimal]:
    links = [x for x in line.get("LinkedTxn") or [] if isinstance(x, dict)]
    if len(links) != 1:
        raise business("A deposit line links exactly one transaction.", "Line.LinkedTxn")
    link = links[0]
    ttype, tid, rec = resolve_link(realm, link, DEPOSITABLE)
    target = rec["data"]
    name = f"{LABEL[ttype]} {target.get('DocNumber') or tid}"
    if rec["status"] == STATUS_VOIDED:
        raise business(f"{name} is voided; it can't be deposited.", "Line.LinkedTxn")
    if not _undeposited(realm, _ref(target, "DepositToAccountRef")):
        raise business(f"{name} isn't in Undeposited Funds, so it can't be deposited.", "Line.LinkedTxn")
    if (ttype, tid) in seen:
        raise business(f"{name} is linked twice in this deposit.", "Line.LinkedTxn")
    other = holder(realm, ttype, tid, exclude=me)
    if other is not None:
        raise business(f"{name} has already been deposited (Deposit {other['Id']}).", "Line.LinkedTxn")
    if (currency.code_of(target.get("CurrencyRef")) or currency.home(realm)) != code:
        raise business("A deposit and the transactions it deposits must be in the same currency.",
                       "Line.LinkedTxn")
    total = _money_of(target.get("TotalAmt"))
    if amount != total:
        raise business(f"The amount deposited for {name} ({num(amount)}) must be its total ({num(total)}).",
                       "Line.Amount")
    seen.add((ttype, tid))
    out_link = {"TxnId": tid, "TxnType": ttype}
    if link.get("TxnLineId") not in (None, ""):
        out_link["TxnLineId"] = str(link["TxnLineId"])
    # money out of Undeposited Funds (a refund receipt paid from it) lowers the deposit [inferred]
    signed = -amount if ttype == "RefundReceipt" else amount
    return {"LinkedTxn": [out_link]}, signed


def _direct_line(realm: Realm, line: dict) -> dict:
    from .entities import _resolve_ref, ref_value

    detail = dict(line.get("DepositLineDetail") or {})
    if not ref_value(detail.get("AccountRef")):
        raise F.required("Line.DepositLineDetail.AccountRef")
    detail["AccountRef"] = _resolve_ref(realm, "Account", detail["AccountRef"], "Line.DepositLineDetail.AccountRef",
                                        "Name")
    entity = detail.get("Entity")
    if ref_value(entity):
        etype = entity.get("type") if isinstance(entity, dict) and entity.get("type") else "Customer"
        if etype not in ENTITY_TYPES:
            raise F.QBOFault([F.err(2170, "Invalid Enumeration", f"Invalid Enumeration : {etype}",
                                    "Line.DepositLineDetail.Entity.type")])
        resolved = _resolve_ref(realm, etype, entity, "Line.DepositLineDetail.Entity", "DisplayName")
        resolved["type"] = etype
        detail["Entity"] = resolved
    if ref_value(detail.get("PaymentMethodRef")):
        detail["PaymentMethodRef"] = _resolve_ref(realm, "PaymentMethod", detail["PaymentMethodRef"],
                                                  "Line.DepositLineDetail.PaymentMethodRef", "Name")
    return {"DetailType": "DepositLineDetail", "DepositLineDetail": detail}


def finalize_deposit(realm: Realm, d: dict, existing: dict | None) -> dict:
    from .entities import ref_value

    if not ref_value(d.get("DepositToAccountRef")):
        raise F.required("DepositToAccountRef")  # "Required" (MIRROR deposit.md); the 2020 pattern of the others
    lines = [x for x in d.get("Line") or [] if isinstance(x, dict)]
    if not lines:
        raise F.required("Line")  # "Must include at least one line item"
    for field, limit in (("PrivateNote", 4000), ("DocNumber", 21)):
        if isinstance(d.get(field), str) and len(d[field]) > limit:
            raise F.string_length(field, limit, len(d[field]))
    d["DepositToAccountRef"] = lists.money_account(realm, d["DepositToAccountRef"], "DepositToAccountRef")
    if _undeposited(realm, d["DepositToAccountRef"]["value"]):
        raise business("A deposit can't be made into Undeposited Funds; choose a bank account.",
                       "DepositToAccountRef")
    code = currency.txn_currency(realm, d, None, existing)
    me = existing["Id"] if existing else None
    kept_ids = {str(x.get("Id")) for x in (existing.get("Line") or [])} if existing else set()
    next_id = max((int(i) for i in kept_ids if i.isdigit()), default=0)
    seen: set[tuple[str, str]] = set()
    total = Decimal("0")
    out_lines = []
    for n, line in enumerate(lines, 1):
        amount = to_decimal(line.get("Amount"))
        if amount is None:
            raise F.required("Line.Amount")
        amount = money(amount)
        if amount < 0:
            raise F.QBOFault([F.err(2290, "Negative amounts aren't supported on transaction lines.",
                                    "Negative amounts aren't supported on transaction lines.", "Line.Amount")])
        line_id = str(line["Id"]) if line.get("Id") is not None else None
        if not line_id or line_id not in kept_ids:
            next_id += 1
            line_id = str(next_id)
        out = {"Id": line_id, "LineNum": n}
        if line.get("Description") is not None:
            out["Description"] = line["Description"]
        out["Amount"] = num(amount)
        if line.get("LinkedTxn"):
            rest, signed = _linked_line(realm, line, amount, code, me, seen)
            total += signed
        else:
            rest = _direct_line(realm, line)
            total += amount
        out.update(rest)
        out_lines.append(out)
    if total < 0:
        raise business(f"The deposit's total ({num(total)}) can't be negative.", "Line.Amount")
    d["Line"] = out_lines
    d["TotalAmt"] = num(total)
    d["TxnDate"] = _txn_date(d)
    currency.apply_home_amounts(realm, d, code, d.get("ExchangeRate"))
    return d
