"""The control API under /_sandbox/ (not part of QBO). Documented in docs/sandbox.md."""

from __future__ import annotations

import copy
import json

from . import company as CO
from . import currency, schema
from . import entities as E
from . import faults as F
from .store import (
    DEFAULT_CONFIG,
    STATUS_ACTIVE,
    STATUS_INACTIVE,
    Realm,
    normalize_limits,
)
from .util import clock_offset, meta_time, now_ts, set_clock_offset

FAULT_KINDS = ("003202", "401", "500", "429", "503", "504", "timeout", "drop_after_commit")
FAULT_OPERATIONS = ("create", "update", "delete", "void", "read", "query", "batch", "cdc", "send", "write")


class ControlError(Exception):
    def __init__(self, status: int, message: str, extra: dict | None = None):
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **(extra or {})}


def validate_config(patch: dict) -> dict:
    if not isinstance(patch, dict):
        raise ControlError(400, "config must be a JSON object")
    out = {}
    for key, value in patch.items():
        if key not in DEFAULT_CONFIG:
            raise ControlError(400, f"unknown config key {key!r}", {"known": sorted(DEFAULT_CONFIG)})
        if key == "limits":
            try:
                value = normalize_limits(value)
            except ValueError as exc:
                raise ControlError(400, str(exc)) from None
        elif key == "latency":
            _check_latency(value)
        elif key == "webhook_format" and value not in ("legacy", "cloudevents"):
            raise ControlError(400, "webhook_format must be 'legacy' or 'cloudevents'")
        elif key in ("access_token_ttl", "refresh_token_ttl", "timeout_max_s", "refresh_token_rotation_s") and (
                not isinstance(value, int | float) or isinstance(value, bool) or value < 0):
            raise ControlError(400, f"{key} must be a non-negative number")
        elif key == "ast_rate_table" and value is not None:
            _check_ast_table(value)
        elif key == "exchange_rates" and value is not None:
            if not isinstance(value, dict) or not all(
                    isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) and v > 0
                    for k, v in value.items()):
                raise ControlError(400, "exchange_rates must be an object of currency code -> US dollars per unit")
        elif key == "webhook_retry_delays" and (not isinstance(value, list) or len(value) > 20):
            raise ControlError(400, "webhook_retry_delays must be a list of at most 20 numbers")
        out[key] = value
    return out


def _check_ast_table(value) -> None:
    msg = ('ast_rate_table must be {"<state>" or "<state> <zip>": {"name": str, "rates": [{"name": str, '
           '"rate": number, "agency": str}]}}')
    if not isinstance(value, dict):
        raise ControlError(400, msg)
    for entry in value.values():
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not isinstance(
                entry.get("rates"), list):
            raise ControlError(400, msg)
        for r in entry["rates"]:
            if not (isinstance(r, dict) and isinstance(r.get("name"), str) and isinstance(r.get("agency"), str)
                    and isinstance(r.get("rate"), int | float) and not isinstance(r.get("rate"), bool)
                    and 0 <= r["rate"] <= 100):
                raise ControlError(400, msg)


def _check_latency(value) -> None:
    if value is None or value is False:
        return
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return
    if isinstance(value, dict):
        if set(value) <= {"fixed_ms"} and isinstance(value.get("fixed_ms"), int | float):
            return
        if set(value) <= {"median_ms", "p99_ms"} and "median_ms" in value:
            m, p = value["median_ms"], value.get("p99_ms", value["median_ms"])
            if isinstance(m, int | float) and isinstance(p, int | float) and 0 < m <= p:
                return
        if set(value) == {"min_ms", "max_ms"} and 0 <= value["min_ms"] <= value["max_ms"]:
            return
    raise ControlError(400, "latency must be ms, {fixed_ms}, {median_ms, p99_ms} (lognormal) or {min_ms, max_ms}")


def _seed_accounts(realm: Realm, accounts: list) -> list[dict]:
    out = []
    for a in accounts:
        if not isinstance(a, dict) or not a.get("Name"):
            raise ControlError(400, "each account needs a Name")
        data = {"SubAccount": False, "Active": True, "Classification": "Revenue", "AccountType": "Income",
                "CurrentBalance": 0, "CurrentBalanceWithSubAccounts": 0,
                "CurrencyRef": currency.ref(currency.home(realm))}
        data.update(copy.deepcopy(a))
        id_ = str(data.get("Id") or realm.next_id("Account"))
        realm.bump_seq("Account", id_)
        data["Id"] = id_
        data["FullyQualifiedName"] = data["Name"]
        stamp = meta_time()
        data.update({"domain": "QBO", "sparse": False, "SyncToken": "0",
                     "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp}})
        realm.put("Account", data, STATUS_ACTIVE if data.get("Active", True) else STATUS_INACTIVE)
        out.append(data)
    return out


def deep_merge(base: dict, patch: dict) -> dict:
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base


def apply_preferences(realm: Realm, prefs: dict | None) -> None:
    rec = realm.get("Preferences", "1")
    if prefs:
        deep_merge(rec["data"], prefs)
        ctn = rec["data"].get("SalesFormsPrefs", {}).get("CustomTxnNumbers")
        if isinstance(ctn, bool):
            realm.config["custom_txn_numbers"] = ctn
    rec["data"].setdefault("SalesFormsPrefs", {})["CustomTxnNumbers"] = bool(realm.config.get("custom_txn_numbers"))
    realm.company["multicurrency"] = bool(rec["data"].get("CurrencyPrefs", {}).get("MultiCurrencyEnabled"))


def seed(app, realm: Realm, spec: dict) -> dict:
    """Apply a realm spec (POST /_sandbox/realms body or one entry of --data)."""
    created: dict[str, list] = {}
    if spec.get("accounts"):
        created["Account"] = _seed_accounts(realm, spec["accounts"])
    apply_preferences(realm, spec.get("preferences"))
    for key, etype in (("company_currencies", "CompanyCurrency"), ("terms", "Term"),
                       ("payment_methods", "PaymentMethod"), ("items", "Item"), ("customers", "Customer"),
                       ("vendors", "Vendor"), ("employees", "Employee"), ("invoices", "Invoice"),
                       ("sales_receipts", "SalesReceipt"), ("credit_memos", "CreditMemo"),
                       ("refund_receipts", "RefundReceipt"), ("payments", "Payment")):
        for body in spec.get(key) or []:
            try:
                data, _ = E.create(realm, etype, body)
            except F.QBOFault as exc:
                raise ControlError(400, f"seeding {etype} failed", exc.body()) from None
            created.setdefault(etype, []).append(data)
    return created


def realm_from_spec(app, spec: dict, default_id: str | None = None) -> tuple[Realm, dict]:
    if not isinstance(spec, dict):
        raise ControlError(400, "body must be a JSON object")
    known = {"realm_id", "customers", "items", "accounts", "preferences", "vendors", "employees", "invoices",
             "sales_receipts", "config", "limits", "client_id", "tokens", "country", "tax_model", "multicurrency",
             "home_currency", "sample_company", "company_currencies", "terms", "payment_methods", "credit_memos",
             "refund_receipts", "payments"}
    unknown = set(spec) - known
    if unknown:
        raise ControlError(400, f"unknown keys: {sorted(unknown)}", {"known": sorted(known)})
    try:
        company = CO.validate(spec)
    except ValueError as exc:
        raise ControlError(400, str(exc)) from None
    config = validate_config(spec.get("config") or {})
    if "limits" in spec:
        config.update(validate_config({"limits": spec["limits"]}))
    realm_id = spec.get("realm_id") or default_id
    if realm_id is not None:
        realm_id = str(realm_id)
        if not realm_id or "/" in realm_id:
            raise ControlError(400, "bad realm_id")
        if realm_id in app.store.realms:
            raise ControlError(409, f"realm {realm_id} exists (DELETE it first)")
    realm = app.store.create_realm(realm_id, config, company)
    try:
        created = seed(app, realm, spec)
    except ControlError:
        app.store.delete_realm(realm.realm_id)
        raise
    app.persist_realm_all(realm)
    return realm, created


def entity_listing(realm: Realm, etype: str) -> list[dict]:
    out = []
    for rec in sorted(realm.records.get(etype, {}).values(),
                      key=lambda r: (int(r["data"]["Id"]) if str(r["data"]["Id"]).isdigit() else 0, r["data"]["Id"])):
        item = copy.deepcopy(rec["data"])
        item["status"] = rec["status"]
        out.append(item)
    return out


def add_fault(realm: Realm, spec) -> dict:
    if not isinstance(spec, dict):
        raise ControlError(400, "body must be a JSON object")
    kind = str(spec.get("kind", ""))
    if kind not in FAULT_KINDS:
        raise ControlError(400, f"kind must be one of {list(FAULT_KINDS)}")
    entity = spec.get("entity")
    if entity is not None:
        canon = schema.CANON.get(str(entity).lower())
        if canon is None:
            raise ControlError(400, f"unknown entity {entity!r}")
        entity = canon
    operation = spec.get("operation")
    if operation is not None and operation not in FAULT_OPERATIONS:
        raise ControlError(400, f"operation must be one of {list(FAULT_OPERATIONS)}")
    count, rate = spec.get("count"), spec.get("rate")
    if count is not None and rate is not None:
        raise ControlError(400, "give count or rate, not both")
    if rate is not None:
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
            raise ControlError(400, "rate must be between 0 and 1")
    else:
        count = 1 if count is None else count
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ControlError(400, "count must be a positive integer")
    fault = {"fault_id": f"f{len(realm.faults) + 1}-{int(now_ts() * 1000) % 100000}", "kind": kind,
             "entity": entity, "operation": operation, "count": count, "rate": rate, "fired": 0}
    realm.faults.append(fault)
    return fault


def parse_json(body: bytes):
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except ValueError:
        raise ControlError(400, "body is not valid JSON") from None
    from .api import refuse_unstorable

    try:
        refuse_unstorable(value)
    except F.QBOFault as exc:
        raise ControlError(400, "body has text QBO cannot store", exc.body()) from None
    return value


def handle(app, method: str, parts: list[str], query: dict, body: bytes) -> tuple[int, dict | list | None]:
    store = app.store
    if parts == ["realms"]:
        if method == "POST":
            realm, created = realm_from_spec(app, parse_json(body))
            spec = parse_json(body)
            out = {"realm_id": realm.realm_id, "config": realm.config, **realm.company, "entities": created}
            if spec.get("tokens", True):
                out.update(app.oauth.mint(realm, str(spec.get("client_id") or "sandbox-client")))
            return 201, out
        if method == "GET":
            return 200, {"realms": [r.summary() for r in store.realms.values()]}
    if parts == ["clock"]:
        if method == "PUT":
            spec = parse_json(body)
            offset = spec.get("offset_seconds")
            if not isinstance(offset, int | float) or isinstance(offset, bool):
                raise ControlError(400, "offset_seconds must be a number")
            set_clock_offset(offset)
        if method in ("PUT", "GET"):
            return 200, {"offset_seconds": clock_offset(), "now": meta_time()}
    if len(parts) >= 2 and parts[0] == "realms":
        realm_id = parts[1]
        realm = store.realms.get(realm_id)
        rest = parts[2:]
        if not rest and method == "DELETE":
            if realm is None:
                raise ControlError(404, f"no realm {realm_id}")
            store.delete_realm(realm_id)
            return 200, {"realm_id": realm_id, "deleted": True}
        if realm is None:
            raise ControlError(404, f"no realm {realm_id}")
        if not rest and method == "GET":
            return 200, realm.summary()
        if len(rest) == 2 and rest[0] == "entities" and method == "GET":
            etype = schema.CANON.get(rest[1].lower())
            if etype is None:
                raise ControlError(404, f"unknown entity {rest[1]}")
            return 200, {etype: entity_listing(realm, etype)}
        if rest == ["faults"]:
            if method == "POST":
                return 201, add_fault(realm, parse_json(body))
            if method == "GET":
                return 200, {"faults": realm.faults}
            if method == "DELETE":
                realm.faults.clear()
                return 200, {"faults": []}
        if rest == ["config"]:
            if method == "PUT":
                patch = validate_config(parse_json(body))
                realm.config.update(patch)
                if "custom_txn_numbers" in patch:
                    apply_preferences(realm, None)
                    app.store.save_record(realm, "Preferences", "1")
                app.store.save_realm(realm)
                return 200, {"realm_id": realm.realm_id, "config": realm.config}
            if method == "GET":
                return 200, {"realm_id": realm.realm_id, "config": realm.config}
        if rest == ["expire-tokens"] and method == "POST":
            spec = parse_json(body)
            n_access = n_refresh = 0
            t = now_ts() - 1
            for tok, info in store.tokens.items():
                if info.get("realm_id") != realm.realm_id:
                    continue
                if info.get("type") == "access" and info["expires_at"] > t:
                    info["expires_at"] = t
                    n_access += 1
                    store.save_token(tok)
                elif info.get("type") == "refresh" and spec.get("refresh") and info["expires_at"] > t:
                    info["expires_at"] = t
                    n_refresh += 1
                    store.save_token(tok)
            return 200, {"realm_id": realm.realm_id, "expired_access_tokens": n_access,
                         "expired_refresh_tokens": n_refresh}
        if rest == ["reset"] and method == "POST":
            # wipe the company data back to a new company; config, tokens and the realm id stay
            config = copy.deepcopy(realm.config)
            fresh = Realm(realm.realm_id, config, copy.deepcopy(realm.company))
            from .store import seed_realm

            seed_realm(fresh)
            apply_preferences(fresh, None)
            fresh.log, fresh.webhook_log = realm.log, realm.webhook_log
            store.realms[realm.realm_id] = fresh
            if store.persist:
                store.persist.delete_prefix(f"realm/{realm.realm_id}")
            app.persist_realm_all(fresh)
            return 200, fresh.summary()
        if rest == ["tokens"] and method == "POST":
            spec = parse_json(body)
            return 201, dict(app.oauth.mint(realm, str(spec.get("client_id") or "sandbox-client")),
                             realm_id=realm.realm_id)
        if rest == ["requests"]:
            if method == "GET":
                entries = list(realm.log)
                if query.get("since"):
                    try:
                        since = float(query["since"])
                    except ValueError:
                        raise ControlError(400, "since must be epoch seconds") from None
                    entries = [e for e in entries if e["started"] > since]
                return 200, {"requests": entries}
            if method == "DELETE":
                realm.log.clear()
                return 200, {"requests": []}
        if rest == ["webhooks"]:
            if method == "GET":
                return 200, {"deliveries": list(realm.webhook_log)}
            if method == "DELETE":
                realm.webhook_log.clear()
                return 200, {"deliveries": []}
    raise ControlError(404, f"no control route {method} /_sandbox/{'/'.join(parts)}")
