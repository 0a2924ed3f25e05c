"""Accounting API handlers under /v3/company/{realmId}/ (after the gateway checks)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import parse_qs

from . import currency, prefs, schema, tax
from . import entities as E
from . import faults as F
from . import query as Q
from .store import STATUS_DELETED, Realm
from .util import local_dt, parse_datetime, response_time

BATCH_MAX_ITEMS = 30
CDC_MAX_PER_ENTITY = 1000
REQUESTID_MAX = 50
BATCH_REQUESTID_MAX = 36
BATCH_BID_MAX = 10
NUMERIC_ID_TYPES = set(schema.WRITABLE) | {"Account"}


class Result:
    """What the API layer answers: status + JSON body, the entity events and replay metadata."""

    def __init__(self, status: int, body, events=None, content_type="application/json;charset=utf-8",
                 raw: bytes | None = None):
        self.status = status
        self.body = body
        self.events = events or []
        self.content_type = content_type
        self.raw = raw
        self.changed: list[tuple[str, str]] = []  # (etype, id) to persist
        self.replayed = False

    @property
    def fault_code(self) -> str | None:
        if isinstance(self.body, dict) and "Fault" in self.body:
            errs = self.body["Fault"].get("Error") or []
            return errs[0].get("code") if errs else None
        return None


_SURROGATE = re.compile("[\ud800-\udfff]")
# A surrogate reaches a parsed body only through a JSON escape (\uD800-\uDFFF): strict UTF-8 cannot encode one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _lone_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def refuse_unstorable(value, path: str = "") -> None:
    """Text QBO cannot store: a lone UTF-16 surrogate (an unpaired \\uD800-\\uDFFF escape) anywhere in the body is
    refused with 2010 before anything is looked at, so it never reaches the store (and never breaks later answers of
    the realm) [inferred code; QBO's exact answer is not captured]."""
    stack = [(value, path)]
    while stack:
        v, p = stack.pop()
        if isinstance(v, str):
            if _lone_surrogate(v):
                raise F.QBOFault([F.err(2010, "Request has invalid or unsupported property",
                                        f"Property Name:Invalid UTF-16 text (an unpaired surrogate escape) in "
                                        f"{p or 'the request body'} specified is unsupported or invalid")])
        elif isinstance(v, dict):
            for k, item in v.items():
                if isinstance(k, str) and _lone_surrogate(k):
                    raise F.QBOFault([F.err(2010, "Request has invalid or unsupported property",
                                            "Property Name:Invalid UTF-16 text (an unpaired surrogate escape) in a "
                                            "property name specified is unsupported or invalid")])
                stack.append((item, f"{p}.{k}" if p else str(k)))
        elif isinstance(v, list):
            stack.extend((item, p) for item in v)


def fault_result(exc: F.QBOFault) -> Result:
    return Result(exc.status, exc.body(), content_type="application/json")


def _unsupported_path(path: str, base: str) -> F.QBOFault:
    return F.unsupported_operation(
        f"Operation Could not find resource for relative : {path} of full path: {base}{path} is not supported.")


class Request:
    """A parsed HTTP request (the parts the handlers need)."""

    def __init__(self, method: str, path: str, query_string: str, headers: dict, body: bytes, base: str):
        self.method = method
        self.path = path
        self.query_string = query_string
        self.query = {k: v[-1] for k, v in parse_qs(query_string, keep_blank_values=True).items()}
        self.headers = headers
        self.body = body
        self.base = base
        self.tid: str | None = None

    def json(self):
        if not self.body.strip():
            return None
        value = json.loads(self.body.decode("utf-8"))
        if _SURROGATE_ESCAPE.search(self.body):  # else no string of it can hold one: nothing to walk
            refuse_unstorable(value)
        return value

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def classify(req: Request, segments: list[str]) -> tuple[str, set[str]]:
    """(operation, entities) of a request, for fault matching and the request log."""
    if not segments:
        return "unknown", set()
    head = segments[0].lower()
    if head == "query":
        text = req.query.get("query") or req.body.decode("utf-8", "replace")
        ent = set()
        try:
            q = Q.parse(text)
            c = Q.canonical_entity(q.entity)
            if c:
                ent.add(c)
        except F.QBOFault:
            pass
        return "query", ent
    if head == "batch":
        ents = set()
        try:
            for item in (req.json() or {}).get("BatchItemRequest", []):
                for k in item:
                    c = Q.canonical_entity(k)
                    if c:
                        ents.add(c)
        except Exception:
            pass
        return "batch", ents
    if head == "cdc":
        ents = {Q.canonical_entity(e.strip()) for e in req.query.get("entities", "").split(",") if e.strip()}
        return "cdc", {e for e in ents if e}
    etype = Q.canonical_entity(head)
    ents = {etype} if etype else set()
    if req.method == "GET":
        return "read", ents
    op = (req.query.get("operation") or "").lower()
    if op == "delete":
        return "delete", ents
    if op == "void" or (op == "update" and (req.query.get("include") or "").lower() == "void"):
        return "void", ents
    if len(segments) >= 3 and segments[2].lower() == "send":
        return "send", ents
    try:
        body = req.json()
    except Exception:
        body = None
    if isinstance(body, dict) and body.get("Id") not in (None, ""):
        return "update", ents
    return "create", ents


# -- dispatch --------------------------------------------------------------------------------------

def handle(realm: Realm, req: Request, segments: list[str]) -> Result:
    try:
        return _handle(realm, req, segments)
    except F.QBOFault as exc:
        return fault_result(exc)


def _handle(realm: Realm, req: Request, segments: list[str]) -> Result:
    if not segments:
        raise _unsupported_path(req.path, req.base)
    head = segments[0].lower()
    if head == "query" and len(segments) == 1 and req.method in ("GET", "POST"):
        text = req.query.get("query")
        if text is None:
            text = req.body.decode("utf-8", "replace")
        return Result(200, {"QueryResponse": Q.run(realm, text), "time": response_time()})
    if head == "batch" and len(segments) == 1 and req.method == "POST":
        return _batch(realm, req)
    if head == "cdc" and len(segments) == 1 and req.method == "GET":
        return _cdc(realm, req)
    etype = Q.canonical_entity(head)
    if etype == "Preferences" and len(segments) == 1 and req.method == "GET":
        return _single("Preferences", E.read(realm, "Preferences", "1"))
    if etype == "Preferences" and len(segments) == 1 and req.method == "POST":
        try:
            body = req.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        data, event = prefs.update_preferences(realm, body)
        r = _single("Preferences", data)
        r.events.append(event)
        r.changed.append(("Preferences", "1"))
        return r
    if etype == "ExchangeRate" and len(segments) == 1 and req.method == "GET":
        return _single("ExchangeRate", currency.read_exchange_rate(realm, req.query))
    if etype == "ExchangeRate" and len(segments) == 1 and req.method == "POST":
        data, _ = currency.update_exchange_rate(realm, _body(req))
        return _single("ExchangeRate", data)
    if etype == "TaxService" and len(segments) == 2 and segments[1].lower() == "taxcode" and req.method == "POST":
        body, _ = tax.create_tax_code(realm, _body(req))
        return Result(200, body)
    if etype == "CompanyInfo" and len(segments) == 2 and req.method == "GET":
        if segments[1] != realm.realm_id:
            raise F.not_found()
        return _single("CompanyInfo", E.read(realm, "CompanyInfo", "1"))
    if etype is None or etype not in schema.STORED:
        raise _unsupported_path(req.path, req.base)
    if len(segments) == 1 and req.method == "POST":
        return _write(realm, req, etype)
    if len(segments) == 2 and req.method == "GET":
        id_ = segments[1]
        if etype in NUMERIC_ID_TYPES and not id_.isdigit():
            raise F.invalid_id(id_)
        return _single(etype, E.read(realm, etype, id_))
    if etype == "Invoice" and len(segments) == 3 and segments[1].isdigit():
        action = segments[2].lower()
        if action == "send" and req.method == "POST":
            data, event = E.send_invoice(realm, segments[1], req.query.get("sendTo"))
            r = _single("Invoice", data)
            r.events.append(event)
            r.changed.append(("Invoice", data["Id"]))
            return r
        if action == "pdf" and req.method == "GET":
            E.read(realm, "Invoice", segments[1])
            return Result(200, None, content_type="application/pdf", raw=_pdf(segments[1]))
    raise _unsupported_path(req.path, req.base)


def _single(etype: str, data: dict) -> Result:
    return Result(200, {etype: data, "time": response_time()})


def _body(req: Request):
    try:
        body = req.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise F.QBOFault([F.err(2010, "Request has invalid or unsupported property",
                                f"Property Name:Can not parse request body: {exc} specified is unsupported or invalid")]
                         ) from None
    if body is None:
        raise F.QBOFault([F.err(2010, "Request has invalid or unsupported property",
                                "Property Name:No content to map due to end-of-input specified is unsupported or invalid")])
    return body


def _write(realm: Realm, req: Request, etype: str) -> Result:
    body = _body(req)
    op, _ = classify(req, [etype.lower()])
    data, event = _apply(realm, etype, op, body)
    r = _single(etype, data)
    r.events.append(event)
    r.changed.append((etype, event.id))
    return r


def _apply(realm: Realm, etype: str, op: str, body):
    if etype in schema.READ_ONLY:
        raise F.unsupported_operation(f"Operation {op.capitalize()} is not supported for {etype} in this sandbox.")
    if op == "delete":
        return E.delete(realm, etype, body)
    if op == "void":
        return E.void(realm, etype, body)
    if op == "update":
        return E.update(realm, etype, body)
    if op == "create":
        return E.create(realm, etype, body)
    raise F.unsupported_operation(f"Operation {op} is not supported.")


def _pdf(id_: str) -> bytes:
    text = f"Invoice {id_}"
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + o + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


# -- batch -----------------------------------------------------------------------------------------

def batch_bids(req: Request) -> list[str] | None:
    try:
        body = req.json()
        return [str(i.get("bId")) for i in body.get("BatchItemRequest", [])]
    except Exception:
        return None


def _batch(realm: Realm, req: Request) -> Result:
    try:
        body = req.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    items = body.get("BatchItemRequest") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise F.required("BatchItemRequest")
    if len(items) > BATCH_MAX_ITEMS:
        raise F.QBOFault([F.err(1040, "Batch size exceeds allowed limit",
                                f"Number of Items in Batch Request exceeded the permissible limit of "
                                f"{BATCH_MAX_ITEMS} items. Supplied: {len(items)}", "")])
    rid = req.query.get("requestid")
    if rid:
        if len(rid) > BATCH_REQUESTID_MAX or any(len(str(i.get("bId", ""))) > BATCH_BID_MAX
                                                 for i in items if isinstance(i, dict)):
            raise F.QBOFault([F.err(2130, "Invalid Request Id Format",
                                    f"Invalid Request Id Format : with a requestid, the batch requestid may have at "
                                    f"most {BATCH_REQUESTID_MAX} characters and each bId at most {BATCH_BID_MAX}", "")])
    result = Result(200, None)
    responses = []
    for item in items:
        bid = item.get("bId") if isinstance(item, dict) else None
        try:
            out = _batch_item(realm, item, result)
        except F.QBOFault as exc:
            out = {"Fault": exc.fault()}
            for e in out["Fault"]["Error"]:
                e.setdefault("element", "")
        out["bId"] = bid
        responses.append(out)
    result.body = {"BatchItemResponse": responses, "time": response_time()}
    return result


def _batch_item(realm: Realm, item: dict, result: Result) -> dict:
    if not isinstance(item, dict):
        raise F.required("BatchItemRequest")
    for key in ("Query", "operation"):
        if item.get(key) is not None and not isinstance(item[key], str):
            raise E._type_fault(key, item[key])
    if "Query" in item:
        return {"QueryResponse": Q.run(realm, item["Query"] or "")}
    keys = [k for k in item if k not in ("bId", "operation", "optionsData")]
    if len(keys) != 1:
        raise F.required("BatchItemRequest entity")
    etype = Q.canonical_entity(keys[0])
    if etype is None or etype not in schema.STORED:
        raise F.unsupported_operation(f"Operation {item.get('operation')} is not supported for {keys[0]}.")
    op = (item.get("operation") or "").lower()
    body = item[keys[0]]
    if op not in ("create", "update", "delete", "void"):
        raise F.QBOFault([F.err(2170, "Invalid Enumeration", f"Invalid Enumeration : operation {op}", "operation")])
    if op == "create" and isinstance(body, dict) and body.get("Id"):
        op = "update"
    data, event = _apply(realm, etype, op, body)
    result.events.append(event)
    result.changed.append((etype, event.id))
    return {etype: data}


# -- CDC -------------------------------------------------------------------------------------------

def _cdc(realm: Realm, req: Request) -> Result:
    raw_entities = req.query.get("entities")
    since_raw = req.query.get("changedSince")
    if not raw_entities:
        raise F.required("entities")
    if not since_raw:
        raise F.required("changedSince")
    since = parse_datetime(since_raw)
    if since is None:
        raise F.QBOFault([F.err(2170, "Invalid Enumeration", f"Invalid date : changedSince {since_raw}",
                                "changedSince")])
    max_days = realm.config.get("cdc_max_days")
    if max_days is not None and since < local_dt() - timedelta(days=float(max_days)):
        raise F.unsupported_operation(
            f"Operation cdc with changedSince date {since_raw} which is older than fixed days is not supported.")
    names = []
    for e in raw_entities.split(","):
        e = e.strip()
        if not e:
            continue
        c = Q.canonical_entity(e)
        if c is None:
            raise F.query_invalid(f"invalid context declaration: {e}")
        if c in schema.NO_CDC:
            # "Not supported for JournalCode, TimeActivity, TaxAgency, TaxCode, TaxRate" (facts §6.1)
            raise F.unsupported_operation(f"Operation cdc is not supported for {c}.")
        if c not in names:
            names.append(c)
    since_ts = since.timestamp()
    groups = []
    for etype in names:
        recs = [r for r in realm.records.get(etype, {}).values() if r["ts"] >= since_ts]
        live = sorted([r for r in recs if r["status"] != STATUS_DELETED], key=lambda r: r["ts"])
        dead = sorted([r for r in recs if r["status"] == STATUS_DELETED], key=lambda r: r["ts"])
        out = [r["data"] for r in live]
        out += [{"domain": "QBO", "status": "Deleted", "Id": r["data"]["Id"],
                 "MetaData": {"LastUpdatedTime": r.get("deleted_time") or r["data"]["MetaData"]["LastUpdatedTime"]}}
                for r in dead]
        out = out[:CDC_MAX_PER_ENTITY]
        if out:
            groups.append({etype: out, "startPosition": 1, "maxResults": len(out)})
    return Result(200, {"CDCResponse": [{"QueryResponse": groups or [{}]}], "time": response_time()})
