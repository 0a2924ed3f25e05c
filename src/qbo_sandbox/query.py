"""The QBO query language (a small SQL subset) and its evaluation against a realm.

    SELECT * | COUNT(*) | *, Sku | field[, field...] FROM Entity
      [WHERE cond [AND cond]...]  cond: field (=|<|>|<=|>=|LIKE) literal | field IN (literal, ...)
      [ORDERBY|ORDER BY field [ASC|DESC][, ...]] [STARTPOSITION n] [MAXRESULTS n]

Keywords, entity and property names are case-insensitive; string comparison is case-insensitive.
"""

from __future__ import annotations

import re
from decimal import Decimal

from . import faults as F
from . import schema
from .store import STATUS_DELETED, Realm
from .util import parse_datetime, to_decimal

MAX_RESULTS = 1000
DEFAULT_RESULTS = 100

_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),*])
  | (?P<ident>[A-Za-z_][\w.]*)
""", re.VERBOSE)

_KEYWORDS = {"select", "from", "where", "and", "or", "in", "like", "order", "orderby", "by", "asc", "desc",
             "startposition", "maxresults", "count", "true", "false", "null"}


class Tok:
    __slots__ = ("kind", "value", "col")

    def __init__(self, kind, value, col):
        self.kind, self.value, self.col = kind, value, col

    def kw(self, *words) -> bool:
        return self.kind == "ident" and self.value.lower() in words


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s[1:-1])


def tokenize(text: str) -> list[Tok]:
    toks = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise F.query_parse(f'Lexical error at line 1, column {pos + 1}.  Encountered: "{text[pos]}"')
        kind = m.lastgroup
        if kind != "ws":
            toks.append(Tok(kind, m.group(), pos + 1))
        pos = m.end()
    return toks


class Query:
    def __init__(self):
        self.count = False
        self.select: list[str] = []
        self.entity = ""
        self.where: list[tuple[str, str, object]] = []
        self.order: list[tuple[str, bool]] = []
        self.start = 1
        self.max = DEFAULT_RESULTS


class _Parser:
    def __init__(self, text: str):
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def next(self) -> Tok:
        t = self.peek()
        if t is None:
            raise F.query_parse('Encountered "<EOF>" at line 1.\nWas expecting one of more tokens.')
        self.i += 1
        return t

    def fail(self, t: Tok | None, expecting: str):
        if t is None:
            raise F.query_parse(f'Encountered "<EOF>" at line 1.\nWas expecting:\n    {expecting} ...\n    ')
        # JavaCC wording, as QBO returns it: keywords show as their literal, others as <KIND>
        if t.kind == "ident" and t.value.lower() in _KEYWORDS:
            kind = f'"{t.value.lower()}"'
        else:
            kind = {"ident": "<IDENTIFIER>", "string": "<STRING_LITERAL>", "number": "<INTEGER>"}.get(
                t.kind, f'"{t.value}"')
        raise F.query_parse(f'Encountered " {kind} "{t.value.upper() if t.kind == "ident" else t.value} "" '
                            f"at line 1, column {t.col}.\nWas expecting:\n    {expecting} ...\n    ")

    def expect_kw(self, *words):
        t = self.peek()
        if t is None or not t.kw(*words):
            self.fail(t, words[0].upper())
        self.i += 1
        return t

    def literal(self):
        t = self.next()
        if t.kind == "string":
            return _unescape(t.value)
        if t.kind == "number":
            return Decimal(t.value)
        if t.kw("true"):
            return True
        if t.kw("false"):
            return False
        if t.kw("null"):
            return None
        self.fail(t, "<STRING_LITERAL>")

    def field(self) -> str:
        t = self.next()
        if t.kind != "ident" or t.value.lower() in _KEYWORDS:
            self.fail(t, "<IDENTIFIER>")
        return t.value

    def parse(self) -> Query:
        q = Query()
        if not self.toks:
            raise F.QBOFault([F.err(4000, "Error parsing query", "\nQueryParserError: The query provided was empty")])
        self.expect_kw("select")
        t = self.peek()
        if t and t.kw("count"):
            self.next()
            for p in "(*)":
                t = self.next()
                if t.value != p:
                    self.fail(t, f'"{p}"')
            q.count = True
        elif t and t.value == "*":
            self.next()
            q.select.append("*")
            while self.peek() and self.peek().value == ",":
                self.next()
                q.select.append(self.field())
        else:
            q.select.append(self.field())
            while self.peek() and self.peek().value == ",":
                self.next()
                q.select.append(self.field())
        self.expect_kw("from")
        t = self.next()
        if t.kind != "ident" or t.value.lower() in _KEYWORDS:
            self.fail(t, "<IDENTIFIER>")
        q.entity = t.value
        t = self.peek()
        if t and t.kw("where"):
            self.next()
            while True:
                name = self.field()
                t = self.next()
                if t.kw("in"):
                    t2 = self.next()
                    if t2.value != "(":
                        self.fail(t2, '"("')
                    values = [self.literal()]
                    while True:
                        t3 = self.next()
                        if t3.value == ")":
                            break
                        if t3.value != ",":
                            self.fail(t3, '")"')
                        values.append(self.literal())
                    q.where.append((name, "in", values))
                elif t.kw("like"):
                    q.where.append((name, "like", self.literal()))
                elif t.kind == "op" and t.value in ("=", "<", ">", "<=", ">="):
                    q.where.append((name, t.value, self.literal()))
                else:
                    self.fail(t, '"="')
                t = self.peek()
                if t and t.kw("and"):
                    self.next()
                    continue
                break
        while self.peek() is not None:
            t = self.next()
            if t.kw("orderby") or t.kw("order"):
                if t.kw("order"):
                    self.expect_kw("by")
                while True:
                    name = self.field()
                    desc = False
                    t2 = self.peek()
                    if t2 and t2.kw("asc", "desc"):
                        desc = t2.value.lower() == "desc"
                        self.next()
                    q.order.append((name, desc))
                    if self.peek() and self.peek().value == ",":
                        self.next()
                        continue
                    break
            elif t.kw("startposition"):
                n = self.next()
                if n.kind != "number":
                    self.fail(n, "<INTEGER>")
                q.start = max(1, int(Decimal(n.value)))
            elif t.kw("maxresults"):
                n = self.next()
                if n.kind != "number":
                    self.fail(n, "<INTEGER>")
                q.max = min(MAX_RESULTS, max(0, int(Decimal(n.value))))
            else:
                self.fail(t, "<EOF>")
        return q


def parse(text: str) -> Query:
    return _Parser(text).parse()


# -- evaluation ------------------------------------------------------------------------------------

def _get(data: dict, dotted: str):
    cur = data
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        if part in cur:
            cur = cur[part]
            continue
        low = part.lower()
        for k, v in cur.items():
            if k.lower() == low:
                cur = v
                break
        else:
            return None
    if isinstance(cur, dict):
        # refs compare by value; email/phone/web objects by their single text field
        for key in ("value", "Address", "FreeFormNumber", "URI"):
            if key in cur:
                return cur[key]
    return cur


def _coerce_pair(field_value, literal):
    """Return comparable (a, b) or None when not comparable."""
    if field_value is None:
        return None
    if isinstance(field_value, bool) or isinstance(literal, bool):
        fv = field_value if isinstance(field_value, bool) else str(field_value).lower() == "true"
        lv = literal if isinstance(literal, bool) else str(literal).lower() == "true"
        return fv, lv
    if isinstance(field_value, int | float | Decimal):
        lv = to_decimal(literal)
        if lv is None:
            return None
        return Decimal(str(field_value)), lv
    fv = str(field_value)
    lv = str(literal) if not isinstance(literal, Decimal) else format(literal, "f")
    if re.match(r"^\d{4}-\d{2}-\d{2}", fv) and re.match(r"^\d{4}-\d{2}-\d{2}", lv):
        a, b = parse_datetime(fv), parse_datetime(lv)
        if a is not None and b is not None:
            if len(fv) == 10 and len(lv) == 10:
                return fv, lv
            return a, b
    if fv.lstrip("-").replace(".", "", 1).isdigit() and lv.lstrip("-").replace(".", "", 1).isdigit():
        return Decimal(fv), Decimal(lv)
    return fv.lower(), lv.lower()


def _match(data: dict, cond) -> bool:
    name, op, lit = cond
    fv = _get(data, name)
    if op == "in":
        for v in lit:
            pair = _coerce_pair(fv, v)
            if pair and pair[0] == pair[1]:
                return True
        return False
    if op == "like":
        if fv is None:
            return False
        pattern = "^" + ".*".join(re.escape(p) for p in str(lit).split("%")) + "$"
        return re.match(pattern, str(fv), re.IGNORECASE | re.DOTALL) is not None
    pair = _coerce_pair(fv, lit)
    if pair is None:
        return False
    a, b = pair
    try:
        return {"=": a == b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
    except TypeError:
        return False


def _sort_key(value):
    if value is None:
        return (2, "")
    if isinstance(value, bool):
        return (0, str(value))
    if isinstance(value, int | float | Decimal):
        return (0, Decimal(str(value)))
    s = str(value)
    if s.isdigit():
        return (0, Decimal(s))
    dt = parse_datetime(s) if re.match(r"^\d{4}-\d{2}-\d{2}", s) else None
    if dt is not None:
        return (1, dt.timestamp())
    return (1, s.lower())


def canonical_entity(name: str) -> str | None:
    return schema.CANON.get(name.lower())


def _check_field(entity: str, name: str) -> None:
    known = schema.KNOWN_PROPERTIES.get(entity)
    if known is None:
        return
    top = name.split(".")[0].lower()
    if top not in {k.lower() for k in known}:
        raise F.query_invalid(f"property '{name}' is not queryable")


def run(realm: Realm, text: str) -> dict:
    """Execute a query; returns the QueryResponse object (not the envelope)."""
    q = parse(text)
    entity = canonical_entity(q.entity)
    if entity is None:
        raise F.query_invalid(f"invalid context declaration: {q.entity}")
    if entity == "TaxService":
        # verbatim from ruckus/quickbooks-ruby#628 (TaxService is an endpoint, not a queryable entity)
        raise F.query_invalid("Metadata not found for Entity: TaxService")
    for name, _, _ in q.where:
        _check_field(entity, name)
    for name, _ in q.order:
        _check_field(entity, name)
    rows = []
    if entity == "ExchangeRate":
        from .currency import query_rows

        rows = query_rows(realm, q.where)
    else:
        for rec in realm.records.get(entity, {}).values():
            if rec["status"] == STATUS_DELETED:
                continue
            rows.append(rec["data"])
    if entity in schema.ACTIVE_FILTERED and not any(n.lower() == "active" for n, _, _ in q.where):
        rows = [r for r in rows if r.get("Active", True) is not False]
    where = q.where
    if entity == "ExchangeRate":  # AsOfDate picks the effective rate (query_rows), it does not filter
        where = [c for c in where if c[0].lower() != "asofdate"]
    rows = [r for r in rows if all(_match(r, c) for c in where)]
    rows.sort(key=lambda r: _sort_key(r.get("Id")))
    for name, desc in reversed(q.order):
        rows.sort(key=lambda r, n=name: _sort_key(_get(r, n)), reverse=desc)
    if q.count:
        return {"totalCount": len(rows)}
    page = rows[q.start - 1:q.start - 1 + q.max]
    if not page:
        return {}
    if entity in schema.WITH_TOTAL_COUNT:
        # Intuit's samples of these list entities carry totalCount (all matching rows) next to the page
        return {"startPosition": q.start, "totalCount": len(rows), entity: list(page), "maxResults": len(page)}
    with_sku = any(s.lower() == "sku" for s in q.select)
    out = []
    for r in page:
        if entity == "Item" and not with_sku and "Sku" in r:
            r = {k: v for k, v in r.items() if k != "Sku"}
        out.append(r)
    return {entity: out, "startPosition": q.start, "maxResults": len(out)}
