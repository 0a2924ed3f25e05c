"""In-memory state (realms, records, tokens, requestids) with optional sqlite persistence.

All mutation happens on the server's event-loop thread, so no locks are needed for it. With
``state_path`` every mutation is written through to sqlite as JSON rows (key -> value).
"""

from __future__ import annotations

import copy
import json
import secrets
import sqlite3
import threading
from collections import deque

from . import schema
from .util import meta_time, now_ts

DEFAULT_LIMITS = {"per_minute": 500, "concurrent": 10, "batch_per_minute": 40}

DEFAULT_CONFIG = {
    "latency": 0,                     # ms, or {"median_ms":..,"p99_ms":..} (lognormal), or {"fixed_ms":..}
    "limits": dict(DEFAULT_LIMITS),   # null/false -> off; per key null -> that limit off
    "access_token_ttl": 3600,
    "refresh_token_ttl": 8640000,
    "webhook_url": None,
    "webhook_verifier": None,
    "webhook_format": "legacy",       # or "cloudevents"
    "webhook_retry_delays": [1, 2, 4, 8, 16],   # seconds between attempts (bounded)
    "webhook_batch_ms": 50,           # events closer than this go in one POST
    "custom_txn_numbers": False,
    "enforce_unique_docnumber": False,
    "timeout_max_s": 30,              # how long the "timeout" fault holds a request at most
    "cdc_max_days": 30,               # null -> no look-back limit
    "user_name": "Sandbox User",      # named in 5010 Details
    "refresh_token_rotation_s": 86400,  # a refresh token's value is kept this long, then replaced (0: every refresh)
    "ast_rate_table": None,           # null -> tax.DEFAULT_AST_RATES (automated sales tax jurisdictions)
    "exchange_rates": None,           # {"EUR": 1.08, ...} US dollars per unit; null -> currency.MARKET_USD
}

# The company a realm models (POST /_sandbox/realms keys; see company.py).
DEFAULT_COMPANY = {"country": "US", "tax_model": "ast", "multicurrency": False, "home_currency": "USD",
                   "sample_company": False}

STATUS_ACTIVE = "Active"
STATUS_INACTIVE = "Inactive"
STATUS_VOIDED = "Voided"
STATUS_DELETED = "Deleted"


def normalize_limits(value):
    if value is None or value is False:
        return None
    if value is True:
        return dict(DEFAULT_LIMITS)
    if not isinstance(value, dict):
        raise ValueError("limits must be an object, null or false")
    out = dict(DEFAULT_LIMITS)
    for k, v in value.items():
        if k not in DEFAULT_LIMITS:
            raise ValueError(f"unknown limit {k!r}")
        if v is not None and v is not False and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise ValueError(f"limit {k} must be a non-negative integer or null")
        out[k] = None if v is False else v
    return out


def _name_key(etype: str, data: dict) -> tuple[str, str] | None:
    field = "DisplayName" if etype in schema.NAME_LISTS else "Name" if etype == "Item" else None
    if field and isinstance(data.get(field), str):
        return field, data[field].strip().lower()
    return None


class Realm:
    def __init__(self, realm_id: str, config: dict | None = None, company: dict | None = None,
                 defaults: dict | None = None):
        self.realm_id = realm_id
        self.config = copy.deepcopy(DEFAULT_CONFIG)
        if defaults:
            self.config.update(copy.deepcopy(defaults))
        if config:
            self.config.update(config)
        self.company = dict(DEFAULT_COMPANY)
        if company:
            self.company.update(company)
        self.created_ts = now_ts()
        # type -> id -> {"data": record, "status": str, "ts": float}
        self.records: dict[str, dict[str, dict]] = {t: {} for t in schema.STORED}
        self.seq: dict[str, int] = {"name": 0, "txn": 0, "item": 0, "account": 0, "taxcode": 0, "addr": 0}
        self.docnum: dict[str, int] = {t: 1000 for t in schema.SALES_FORMS}
        self.requestids: dict[str, dict] = {}
        self.doc_index: dict[str, dict[str, set[str]]] = {t: {} for t in schema.TRANSACTIONS}
        self.name_index: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self.touched: set[tuple[str, str]] = set()  # records changed as a side effect (to persist)
        # runtime only
        self.inflight = 0
        self.window: deque[float] = deque()
        self.batch_window: deque[float] = deque()
        self.faults: list[dict] = []
        self.log: list[dict] = []
        self.webhook_log: list[dict] = []
        self.pending_rids: dict = {}  # requestid -> asyncio.Event while a request with it is processed

    # -- ids ---------------------------------------------------------------------------------------
    def next_id(self, etype: str) -> str:
        group = schema.SEQ_GROUP.get(etype, etype)
        self.seq[group] = self.seq.get(group, 0) + 1
        return str(self.seq[group])

    def bump_seq(self, etype: str, id_: str) -> None:
        group = schema.SEQ_GROUP.get(etype, etype)
        if id_.isdigit() and int(id_) > self.seq.get(group, 0):
            self.seq[group] = int(id_)

    def next_addr_id(self) -> str:
        self.seq["addr"] = self.seq.get("addr", 0) + 1
        return str(self.seq["addr"])

    # -- records -----------------------------------------------------------------------------------
    def get(self, etype: str, id_: str) -> dict | None:
        return self.records.get(etype, {}).get(str(id_))

    def active(self, etype: str, id_) -> dict | None:
        rec = self.get(etype, str(id_))
        if rec and rec["status"] in (STATUS_ACTIVE, STATUS_VOIDED):
            return rec
        return None

    def put(self, etype: str, data: dict, status: str, ts: float | None = None) -> dict:
        rec = {"data": data, "status": status, "ts": now_ts() if ts is None else ts}
        table = self.records.setdefault(etype, {})
        self._unindex(etype, table.get(data["Id"]))
        table[data["Id"]] = rec
        self._index(etype, rec)
        return rec

    # Indexes over live (not deleted) records:
    #   doc_index[etype][DocNumber] -> Ids (transactions)
    #   name_index[(field, lower-cased name)] -> {(etype, Id)} (DisplayName of name lists, Name of items)
    def _index(self, etype: str, rec: dict | None) -> None:
        if not rec or rec["status"] == STATUS_DELETED:
            return
        data = rec["data"]
        if etype in self.doc_index and data.get("DocNumber") is not None:
            self.doc_index[etype].setdefault(data["DocNumber"], set()).add(data["Id"])
        key = _name_key(etype, data)
        if key:
            self.name_index.setdefault(key, set()).add((etype, data["Id"]))

    def _unindex(self, etype: str, rec: dict | None) -> None:
        if not rec:
            return
        data = rec["data"]
        if etype in self.doc_index:
            ids = self.doc_index[etype].get(data.get("DocNumber"))
            if ids is not None:
                ids.discard(data["Id"])
                if not ids:
                    del self.doc_index[etype][data.get("DocNumber")]
        key = _name_key(etype, data)
        if key and key in self.name_index:
            self.name_index[key].discard((etype, data["Id"]))
            if not self.name_index[key]:
                del self.name_index[key]

    def reindex(self) -> None:
        self.doc_index = {t: {} for t in schema.TRANSACTIONS}
        self.name_index = {}
        for etype, recs in self.records.items():
            for rec in recs.values():
                self._index(etype, rec)

    def meta_dict(self) -> dict:
        return {"realm_id": self.realm_id, "config": self.config, "created_ts": self.created_ts,
                "seq": self.seq, "docnum": self.docnum, "company": self.company}

    def summary(self) -> dict:
        return {
            "realm_id": self.realm_id,
            "config": self.config,
            **self.company,
            "counts": {t: len(v) for t, v in self.records.items() if v},
            "created": meta_time(self.created_ts),
        }


class Persistence:
    """Write-through JSON rows in sqlite: key TEXT PRIMARY KEY, value TEXT."""

    def __init__(self, path: str):
        self.path = path
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def put(self, key: str, value) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO kv(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def delete_prefix(self, prefix: str) -> None:
        with self.lock:
            self.db.execute("DELETE FROM kv WHERE key = ? OR key LIKE ?", (prefix, prefix + "/%"))

    def delete(self, key: str) -> None:
        with self.lock:
            self.db.execute("DELETE FROM kv WHERE key = ?", (key,))

    def items(self):
        with self.lock:
            return list(self.db.execute("SELECT key, value FROM kv ORDER BY key"))

    def close(self) -> None:
        with self.lock:
            self.db.close()


class Store:
    def __init__(self, state_path: str | None = None, realm_defaults: dict | None = None):
        self.realm_defaults = dict(realm_defaults or {})  # config every new realm starts from (testing hook)
        self.realms: dict[str, Realm] = {}
        self.tokens: dict[str, dict] = {}     # token string -> info
        self.grants: dict[str, dict] = {}     # grant id -> {"revoked": bool, "realm_id", "client_id"}
        self.persist = Persistence(state_path) if state_path else None
        if self.persist:
            self._load()

    # -- persistence -------------------------------------------------------------------------------
    def _load(self) -> None:
        rows = self.persist.items()
        for key, value in rows:
            v = json.loads(value)
            kind, _, rest = key.partition("/")
            if kind == "realm" and "/" not in rest:
                r = Realm(v["realm_id"], v["config"], v.get("company"))
                r.config = v["config"]
                r.created_ts = v["created_ts"]
                r.seq.update(v["seq"])
                r.docnum.update(v["docnum"])
                self.realms[r.realm_id] = r
        for key, value in rows:
            v = json.loads(value)
            parts = key.split("/")
            if parts[0] == "realm" and len(parts) == 5 and parts[2] == "rec":
                realm = self.realms.get(parts[1])
                if realm:
                    realm.records.setdefault(parts[3], {})[parts[4]] = v
            elif parts[0] == "realm" and len(parts) >= 4 and parts[2] == "rid":
                realm = self.realms.get(parts[1])
                if realm:
                    realm.requestids["/".join(parts[3:])] = v
            elif parts[0] == "token":
                self.tokens["/".join(parts[1:])] = v
            elif parts[0] == "grant":
                self.grants[parts[1]] = v
        for realm in self.realms.values():
            realm.reindex()

    def save_realm(self, realm: Realm) -> None:
        if self.persist:
            self.persist.put(f"realm/{realm.realm_id}", realm.meta_dict())

    def save_record(self, realm: Realm, etype: str, id_: str) -> None:
        if self.persist:
            self.persist.put(f"realm/{realm.realm_id}/rec/{etype}/{id_}", realm.records[etype][id_])
            self.persist.put(f"realm/{realm.realm_id}", realm.meta_dict())

    def save_requestid(self, realm: Realm, key: str) -> None:
        if self.persist:
            self.persist.put(f"realm/{realm.realm_id}/rid/{key}", realm.requestids[key])

    def save_token(self, token: str) -> None:
        if self.persist:
            self.persist.put(f"token/{token}", self.tokens[token])

    def save_grant(self, grant_id: str) -> None:
        if self.persist:
            self.persist.put(f"grant/{grant_id}", self.grants[grant_id])

    # -- realms ------------------------------------------------------------------------------------
    def new_realm_id(self) -> str:
        while True:
            rid = "9341" + "".join(secrets.choice("0123456789") for _ in range(12))
            if rid not in self.realms:
                return rid

    def create_realm(self, realm_id: str | None = None, config: dict | None = None,
                     company: dict | None = None) -> Realm:
        realm_id = str(realm_id) if realm_id else self.new_realm_id()
        realm = Realm(realm_id, config, company, self.realm_defaults)
        self.realms[realm_id] = realm
        seed_realm(realm)
        self.save_realm(realm)
        if self.persist:
            for etype, recs in realm.records.items():
                for id_ in recs:
                    self.save_record(realm, etype, id_)
        return realm

    def delete_realm(self, realm_id: str) -> bool:
        realm = self.realms.pop(realm_id, None)
        if self.persist:
            self.persist.delete_prefix(f"realm/{realm_id}")
        for tok, info in list(self.tokens.items()):
            if info.get("realm_id") == realm_id:
                info["revoked"] = True
                self.save_token(tok)
        return realm is not None

    def close(self) -> None:
        if self.persist:
            self.persist.close()


def seed_realm(realm: Realm) -> None:
    """Default company data for the realm's country and tax model (company.py)."""
    from .company import seed_company

    seed_company(realm)
