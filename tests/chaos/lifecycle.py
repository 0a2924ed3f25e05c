"""After the document, under the same chaos (issue 15): while the workers are killed, stalled and
faulted, a driver thread changes, pays, refunds and cancels some orders through the lifecycle
services (``domain.lifecycle``), at random moments (their document queued, being sent, or posted).
The check then counts, per intent, the QBO records carrying its marker: exactly one Payment per
payment, one CreditMemo / RefundReceipt per refund (and at most one Payment applying a credit memo),
each changed document at the order's new total, each cancelled order's document voided or never
created: 0 duplicate and 0 missing."""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from decimal import Decimal

INTENTS = ("payment", "refund", "update", "cancel")


def prepare(plant) -> None:
    """Sales-receipt areas get a refund account (Checking, 35) so refund receipts can be sent."""
    from ledgerlink.core.models import SiteArea

    for c in plant.companies:
        if c["entity"] == "SalesReceipt":
            SiteArea.objects.filter(order_sources__id=c["source_id"]).update(refund_account="35")


def choose(cfg, plant, failing: set[int], upto: int) -> list[tuple[int, str]]:
    """(order index, intent) for ``cfg.lifecycle`` orders that are built to succeed, spread over the
    Companies and the four intents."""
    rng = random.Random(cfg.seed + 15)
    pool = [i for i in range(upto) if i not in failing]
    picked = rng.sample(pool, min(cfg.lifecycle, len(pool)))  # random order: early and late documents
    return [(i, INTENTS[k % len(INTENTS)]) for k, i in enumerate(picked)]


def _with_retries(fn, log):
    from django.db import connection

    for _ in range(20):  # the database may be restarting
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - OperationalError while PostgreSQL restarts
            if type(e).__name__ == "ServiceError":
                raise
            log(f"lifecycle: {type(e).__name__}: {str(e)[:80]}; retrying")
            connection.close()
            time.sleep(0.5)
    raise RuntimeError("lifecycle intent could not be written")


def drive(cfg, plant, chosen: list[tuple[int, str]], log, errors: list) -> list[dict]:
    """Apply the intents (a random pause before each); returns what was asked."""
    from django.db import connection

    from ledgerlink.core.models import Order
    from ledgerlink.domain.lifecycle.cancel import cancel_order
    from ledgerlink.domain.lifecycle.changes import change_order, order_input
    from ledgerlink.domain.lifecycle.payments import record_payment
    from ledgerlink.domain.lifecycle.refunds import record_refund
    from ledgerlink.domain.payloads.build import money

    rng = random.Random(cfg.seed + 16)
    asked = []
    try:
        for i, intent in chosen:
            time.sleep(rng.uniform(0.0, 0.4))
            c = plant.companies[i % len(plant.companies)]
            order = _with_retries(lambda c=c, i=i: Order.objects.get(order_source_id=c["source_id"],
                                                                      external_id=f"chaos-{i}"), log)
            invoice = c["entity"] == "Invoice"
            try:
                if intent == "payment" and invoice:
                    first = money(order.total / 2)
                    for ext, amount in (("a", first), ("b", order.total - first)):
                        _with_retries(lambda o=order, e=ext, a=amount, n=i: record_payment(
                            o.pk, {"external_id": f"chaos-pay-{n}-{e}", "amount": str(a), "method": "Visa"},
                            actor_label="chaos"), log)
                        asked.append({"order": order.pk, "intent": "payment", "marker": f"payment:chaos-pay-{i}-{ext}",
                                      "amount": str(amount)})
                elif intent in ("payment", "refund"):
                    body = ({"lines": [{"sku": "Chaos gadget", "quantity": 1}]} if intent == "refund"
                            else {"amount": "1.00", "reason": "goodwill"})
                    result = _with_retries(lambda o=order, b=body, n=i: record_refund(
                        o.pk, {"external_id": f"chaos-ref-{n}", **b}, actor_label="chaos"), log)
                    asked.append({"order": order.pk, "intent": "refund", "marker": f"refund:chaos-ref-{i}",
                                  "amount": str(result.refund.amount), "entity": "CreditMemo" if invoice else "RefundReceipt",
                                  "applied": str(result.refund.applied_amount)})
                elif intent == "update":
                    lines = order_input(order)["lines"]
                    lines[0]["quantity"] = lines[0]["quantity"] + 1
                    changed, _, _ = _with_retries(lambda o=order, ls=lines: change_order(
                        o.pk, {"lines": ls}, actor_label="chaos"), log)
                    asked.append({"order": order.pk, "intent": "update", "total": str(changed.total)})
                else:
                    _, void = _with_retries(lambda o=order: cancel_order(o.pk, reason="chaos", actor_label="chaos"),
                                            log)
                    asked.append({"order": order.pk, "intent": "cancel", "void": void.pk if void else None})
            except Exception as e:  # noqa: BLE001
                errors.append(f"lifecycle {intent} of order {order.pk}: {e!r}")
    finally:
        connection.close()
    return asked


def _note(record: dict) -> str:
    note = str(record.get("PrivateNote") or "")
    return note[len("Voided - "):] if note.startswith("Voided - ") else note


def check(control, plant, asked: list[dict]) -> dict:
    """Per intent, the QBO records that carry its marker (see the module docstring)."""
    from ledgerlink.core.models import Order

    records: dict[str, list[dict]] = defaultdict(list)
    docs: dict[int, list[dict]] = defaultdict(list)
    for c in plant.companies:
        for entity in ("Payment", "CreditMemo", "RefundReceipt"):
            for record in control.entities(c["realm_id"], entity):
                records[_note(record)].append(dict(record, entity=entity))
        for record in control.entities(c["realm_id"], c["entity"]):
            note = _note(record)
            if note.startswith("ledgerlink-order:"):
                docs[int(note.split(":", 1)[1].split()[0])].append(record)
    outcome = Counter()
    violations: dict[str, list] = defaultdict(list)
    for a in asked:
        order = Order.objects.get(pk=a["order"])
        prefix = f"ledgerlink-order:{a['order']}"
        if a["intent"] in ("payment", "refund"):
            found = [r for r in records.get(f"{prefix} {a['marker']}", []) if r.get("status") != "Deleted"]
            if len(found) > 1:
                outcome[f"{a['intent']}_duplicate"] += 1
                violations[f"{a['intent']}_duplicate"].append({**a, "found": [r["Id"] for r in found]})
            elif not found:
                outcome[f"{a['intent']}_missing"] += 1
                violations[f"{a['intent']}_missing"].append(a)
            elif Decimal(str(found[0]["TotalAmt"])) != Decimal(a["amount"]):
                violations[f"{a['intent']}_amount"].append({**a, "TotalAmt": found[0]["TotalAmt"]})
            else:
                outcome[f"{a['intent']}_once"] += 1
            if a["intent"] == "refund" and Decimal(a.get("applied", "0")) > 0:
                applied = records.get(f"{prefix} {a['marker'].replace('refund:', 'credit:')}", [])
                if len(applied) != 1:
                    violations["credit_applied"].append({**a, "found": [r["Id"] for r in applied]})
                else:
                    outcome["credit_applied_once"] += 1
        elif a["intent"] == "update":
            found = docs.get(a["order"], [])
            if len(found) != 1 or Decimal(str(found[0]["TotalAmt"])) != Decimal(a["total"]):
                violations["update"].append({**a, "found": [(r["Id"], r["TotalAmt"]) for r in found]})
            else:
                outcome["update_applied"] += 1
        else:
            found = docs.get(a["order"], [])
            if order.status != "cancelled":
                violations["cancel_not_recorded"].append(a)
            elif not found:
                outcome["cancel_before_sending"] += 1
            elif len(found) == 1 and found[0].get("status") == "Voided":
                outcome["cancel_voided"] += 1
            else:
                violations["cancel"].append({**a, "found": [(r["Id"], r.get("status")) for r in found]})
    return {"asked": dict(Counter(a["intent"] for a in asked)), "outcome": dict(outcome),
            "violations": {k: v[:20] for k, v in violations.items()},
            "violation_counts": {k: len(v) for k, v in violations.items()}}
