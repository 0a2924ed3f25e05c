"""The ASGI application: routing, the API gateway (auth, limits, injected faults, latency), request log.

Everything runs on the server's event loop; state changes between two awaits are atomic, which is what
makes the per-realm limits exact.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from urllib.parse import parse_qs

from . import api
from . import control as C
from . import faults as F
from .oauth import OAuth, discovery, parse_form
from .store import Realm, Store
from .util import dumps, intuit_tid, meta_time, now_ts, response_time
from .webhooks import Dispatcher

log = logging.getLogger("qbo_sandbox")

HTML_503 = (b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body bgcolor=\"white\">"
            b"\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>Avi Vantage/</center>"
            b"\r\n</body>\r\n</html>\r\n")
XML_504 = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<IntuitResponse time="{time}" xmlns="http://schema.intuit.com/finance/v3">\n'
           '    <Fault type="SERVICE">\n        <Error code="6002">\n'
           '            <Message>message=GatewayTimeout; errorCode=006002; statusCode=504</Message>\n'
           '        </Error>\n    </Fault>\n</IntuitResponse>\n')

DISCOVERY_PATHS = {"/.well-known/openid-configuration", "/.well-known/openid_configuration",
                   "/.well-known/openid_sandbox_configuration"}
WRITE_OPS = ("create", "update", "delete", "void", "send")
REQUEST_LOG_MAX = 20000


class Reply:
    __slots__ = ("status", "body", "content_type", "headers", "action")

    def __init__(self, status=200, body=b"", content_type="application/json;charset=utf-8", headers=None,
                 action=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}
        self.action = action  # None | "drop" | "hang"


def json_reply(status: int, obj, content_type="application/json;charset=utf-8", headers=None) -> Reply:
    return Reply(status, dumps(obj) if obj is not None else b"", content_type, headers)


def gateway_reply(kind: str, detail=...) -> Reply:
    status, body = F.gateway_body(kind, detail)
    headers = {}
    if status == 401:
        headers["www-authenticate"] = 'Bearer realm="Intuit", error="invalid_token"'
    return json_reply(status, body, "application/json", headers)


def sample_latency_ms(spec) -> float:
    if not spec:
        return 0.0
    if isinstance(spec, int | float):
        return float(spec)
    if "fixed_ms" in spec:
        return float(spec["fixed_ms"])
    if "min_ms" in spec:
        return random.uniform(spec["min_ms"], spec["max_ms"])
    median = float(spec["median_ms"])
    p99 = float(spec.get("p99_ms", median))
    sigma = (math.log(p99) - math.log(median)) / 2.326 if p99 > median else 0.0
    return min(random.lognormvariate(math.log(median), sigma), 120000.0)


class SandboxApp:
    def __init__(self, data=None, state_path: str | None = None, realm_defaults: dict | None = None):
        self.store = Store(state_path, C.validate_config(realm_defaults or {}))
        self.webhooks = Dispatcher()
        self.oauth = OAuth(self.store, self._create_realm_via_oauth)
        if data is not None:
            self.load_data(data)

    # -- setup -------------------------------------------------------------------------------------
    def _create_realm_via_oauth(self, realm_id: str | None) -> Realm:
        realm = self.store.create_realm(realm_id)
        C.apply_preferences(realm, None)
        return realm

    def persist_realm_all(self, realm: Realm) -> None:
        realm.touched.clear()
        self.store.save_realm(realm)
        if self.store.persist:
            for etype, recs in realm.records.items():
                for id_ in recs:
                    self.store.save_record(realm, etype, id_)

    def load_data(self, data) -> None:
        """--data: {"realms": [spec, ...]} or a list of specs (same shape as POST /_sandbox/realms)."""
        if isinstance(data, str):
            with open(data, encoding="utf-8") as fh:
                data = json.load(fh)
        specs = data.get("realms", []) if isinstance(data, dict) else data
        for spec in specs:
            rid = str(spec.get("realm_id")) if spec.get("realm_id") else None
            if rid and rid in self.store.realms:
                continue  # already restored from --state
            C.realm_from_spec(self, {k: v for k, v in spec.items() if k != "tokens"})

    def close(self) -> None:
        self.webhooks.stop()
        self.store.close()

    # -- ASGI --------------------------------------------------------------------------------------
    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    self.webhooks.stop()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        server = scope.get("server") or ("127.0.0.1", 80)
        host = headers.get("host") or f"{server[0]}:{server[1]}"
        base = f"{scope.get('scheme', 'http')}://{host}"
        req = api.Request(scope["method"].upper(), scope["path"], scope.get("query_string", b"").decode("latin-1"),
                          headers, body, base)
        tid = intuit_tid()
        req.tid = tid
        try:
            reply = await self.route(req, receive, send)
        except Exception as exc:  # never leak a traceback page; look like QBO's gateway
            log.exception("qbo_sandbox: error while handling %s %s", req.method, req.path)
            reply = gateway_reply("003100", f"sandbox error: {type(exc).__name__}: {exc}")
        if reply.action == "drop":
            await self._abort(send)
            return
        # Intuit sends the transaction id as "intuit_tid" (token endpoint, older API) or "Intuit-Tid".
        out_headers = [(b"content-type", reply.content_type.encode()), (b"intuit_tid", tid.encode()),
                       (b"intuit-tid", tid.encode())]
        for k, v in reply.headers.items():
            out_headers.append((k.encode(), str(v).encode()))
        if reply.content_type.startswith("application/json"):
            out_headers.append((b"cache-control", b"max-age=0, no-cache, no-store, must-revalidate, private"))
            out_headers.append((b"expires", b"0"))
        await send({"type": "http.response.start", "status": reply.status, "headers": out_headers})
        await send({"type": "http.response.body", "body": reply.body})

    async def _abort(self, send) -> None:
        """Close the connection without any response (client sees RemoteProtocolError)."""
        cycle = getattr(send, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is not None:
            transport.abort()
            cycle.disconnected = True
            await asyncio.sleep(0)
            return
        raise ConnectionAbortedError("drop_after_commit")  # fallback: server answers 500

    # -- routing -----------------------------------------------------------------------------------
    async def route(self, req: api.Request, receive, send) -> Reply:
        path = req.path
        if path.startswith("/v3/company/"):
            return await self.gateway(req, receive)
        if path.rstrip("/") in DISCOVERY_PATHS:
            return json_reply(200, discovery(req.base))
        if path.rstrip("/") == "/connect/oauth2" and req.method == "GET":
            status, headers, text = self.oauth.authorize(req.query)
            return Reply(status, text.encode(), "text/plain; charset=utf-8", headers)
        if path == "/oauth2/v1/tokens/bearer" and req.method == "POST":
            status, body = self.oauth.token(req.headers, parse_form(req.body))
            return json_reply(status, body)
        if path in ("/oauth2/v1/tokens/revoke", "/v2/oauth2/tokens/revoke") and req.method == "POST":
            try:
                payload = json.loads(req.body or b"{}")
            except ValueError:
                payload = {k: v[-1] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
            status, body = self.oauth.revoke(req.headers, payload if isinstance(payload, dict) else {})
            return json_reply(status, body)
        if path == "/v1/openid_connect/userinfo" and req.method == "GET":
            status, body = self.oauth.userinfo(req.headers)
            return json_reply(status, body)
        if path == "/op/v1/jwks":
            return json_reply(200, {"keys": []})
        if path.startswith("/_sandbox/") or path == "/_sandbox":
            parts = [p for p in path.split("/")[2:] if p]
            try:
                status, body = C.handle(self, req.method, parts, req.query, req.body)
            except C.ControlError as exc:
                status, body = exc.status, exc.body
            return json_reply(status, body, "application/json")
        if path == "/":
            return json_reply(200, {"service": "qbo_sandbox", "discovery": f"{req.base}/.well-known/openid-configuration",
                                    "api": f"{req.base}/v3/company/{{realmId}}/", "control": f"{req.base}/_sandbox/"})
        return json_reply(404, {"error": "not found"}, "application/json")

    # -- gateway -----------------------------------------------------------------------------------
    async def gateway(self, req: api.Request, receive) -> Reply:
        rest = req.path[len("/v3/company/"):]
        realm_id, _, sub = rest.partition("/")
        segments = [s for s in sub.split("/") if s]
        auth = req.headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        realm = self.store.realms.get(realm_id)
        operation, ents = api.classify(req, segments)
        started = now_ts()
        entry = {"method": req.method, "path": req.path, "query": req.query_string,
                 "requestid": req.query.get("requestid") or None, "operation": operation,
                 "entities": sorted(ents), "time": meta_time(started), "started": started, "finished": None,
                 "status": None, "fault_code": None, "intuit_tid": req.tid, "replayed": False, "injected": None,
                 "throttled": None, "inflight_at_start": realm.inflight if realm else 0}

        def reject(reply: Reply) -> Reply:
            if realm is not None:
                errs = json.loads(reply.body)["fault"]["error"]
                entry.update(status=reply.status, fault_code=errs[0]["code"], finished=now_ts())
                self._log(realm, entry)
            return reply

        if not token or not realm_id:
            return reject(gateway_reply("003202"))
        state, info = self.oauth.access_info(token)
        if state == "expired":
            return reject(gateway_reply("003200", f"Token expired: {token[:50]}"))
        if state != "ok":
            return reject(gateway_reply("003200", "Malformed bearer token: too short or too long"
                                        if len(token) < 100 or len(token) > 4096 else "Token revoked or not recognised"))
        if info["realm_id"] != realm_id:
            return reject(gateway_reply("003100_403"))
        if realm is None:
            return gateway_reply("003200", "Token revoked or not recognised")
        throttle = self._throttle(realm, operation)
        if throttle:
            entry.update(status=429, fault_code="3001", throttled=throttle, finished=now_ts())
            self._log(realm, entry)
            return gateway_reply("003001")
        realm.inflight += 1
        try:
            reply = await self._perform(realm, req, segments, operation, ents, entry, receive)
        finally:
            realm.inflight -= 1
            entry["finished"] = now_ts()
            self._log(realm, entry)
        return reply

    def _throttle(self, realm: Realm, operation: str) -> str | None:
        limits = realm.config.get("limits")
        if not limits:
            return None
        now = time.monotonic()
        for dq in (realm.window, realm.batch_window):
            while dq and dq[0] <= now - 60.0:
                dq.popleft()
        conc = limits.get("concurrent")
        if conc is not None and realm.inflight >= conc:
            return "concurrent"
        per_min = limits.get("per_minute")
        if per_min is not None and len(realm.window) >= per_min:
            return "per_minute"
        batch_min = limits.get("batch_per_minute")
        if operation == "batch" and batch_min is not None and len(realm.batch_window) >= batch_min:
            return "batch_per_minute"
        realm.window.append(now)
        if operation == "batch":
            realm.batch_window.append(now)
        return None

    def _pick_fault(self, realm: Realm, operation: str, ents: set[str]) -> dict | None:
        for fault in list(realm.faults):
            if fault["entity"] and fault["entity"] not in ents:
                continue
            op = fault.get("operation")
            if op and not (op == operation or (op == "write" and operation in WRITE_OPS + ("batch",))):
                continue
            if fault["rate"] is not None:
                if random.random() >= fault["rate"]:
                    continue
            else:
                fault["count"] -= 1
                if fault["count"] <= 0:
                    realm.faults.remove(fault)
            fault["fired"] += 1
            return fault
        return None

    async def _perform(self, realm: Realm, req: api.Request, segments, operation, ents, entry, receive) -> Reply:
        rid = req.query.get("requestid") or None
        if not rid or req.method != "POST" or operation == "query":
            return await self._perform_once(realm, req, segments, operation, ents, entry, receive)
        # A repeat of a requestid that is still being processed waits for the first to finish, then gets
        # its answer (or runs, if the first produced nothing to replay): never two actions for one requestid.
        while rid in realm.pending_rids:
            await realm.pending_rids[rid].wait()
        done = realm.pending_rids[rid] = asyncio.Event()
        try:
            return await self._perform_once(realm, req, segments, operation, ents, entry, receive)
        finally:
            del realm.pending_rids[rid]
            done.set()

    async def _perform_once(self, realm: Realm, req: api.Request, segments, operation, ents, entry,
                            receive) -> Reply:
        fault = self._pick_fault(realm, operation, ents)
        latency = sample_latency_ms(realm.config.get("latency"))
        if latency > 0:
            await asyncio.sleep(latency / 1000.0)
        if fault is not None:
            entry["injected"] = fault["kind"]
            kind = fault["kind"]
            if kind in ("003202", "500", "429", "401"):
                gk = {"003202": "003202", "500": "003100", "429": "003001", "401": "003200"}[kind]
                reply = gateway_reply(gk)
                entry["status"] = reply.status
                entry["fault_code"] = F.GATEWAY[gk][2]
                return reply
            if kind == "503":  # the load balancer's HTML page (gateway-503-html-avi-vantage.json)
                entry.update(status=503, fault_code=None)
                return Reply(503, HTML_503, "text/html", {"connection": "close"})
            if kind == "504":  # XML gateway timeout even for JSON clients (gateway-504-gateway-timeout-6002-xml.json)
                entry.update(status=504, fault_code="6002")
                return Reply(504, XML_504.replace("{time}", response_time()).encode(), "application/xml")
            if kind == "timeout":
                entry["status"] = None
                await self._hold(receive, float(realm.config.get("timeout_max_s", 30)))
                return Reply(action="drop")
        reply = self._api(realm, req, segments, operation, entry)
        if fault is not None and fault["kind"] == "drop_after_commit":
            entry["status"] = None
            return Reply(action="drop")
        return reply

    async def _hold(self, receive, max_s: float) -> None:
        async def wait_disconnect():
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    return

        try:
            await asyncio.wait_for(wait_disconnect(), timeout=max_s)
        except TimeoutError:
            pass

    def _api(self, realm: Realm, req: api.Request, segments, operation, entry) -> Reply:
        rid = req.query.get("requestid") or None
        if rid and req.method == "POST" and operation != "query":
            if len(rid) > api.REQUESTID_MAX:
                exc = F.QBOFault([F.err(2130, "Invalid Request Id Format",
                                        f"Invalid Request Id Format : requestid may have at most "
                                        f"{api.REQUESTID_MAX} characters. Supplied length:{len(rid)}", "")])
                entry.update(status=400, fault_code="2130")
                return json_reply(400, exc.body(), "application/json")
            stored = realm.requestids.get(rid)
            bids = api.batch_bids(req) if operation == "batch" else None
            if stored is not None and (operation != "batch" or stored.get("bids") == bids):
                entry.update(status=stored["status"], replayed=True)
                return Reply(stored["status"], stored["body"].encode("utf-8"), stored["content_type"])
        result = api.handle(realm, req, segments)
        entry["status"] = result.status
        entry["fault_code"] = result.fault_code
        body = result.raw if result.raw is not None else (dumps(result.body) if result.body is not None else b"")
        for etype, id_ in set(result.changed) | realm.touched:
            if realm.get(etype, id_):
                self.store.save_record(realm, etype, id_)
        realm.touched.clear()
        if rid and req.method == "POST" and operation != "query" and result.status == 200:
            realm.requestids[rid] = {"status": result.status, "body": body.decode("utf-8"),
                                     "content_type": result.content_type, "path": req.path,
                                     "bids": api.batch_bids(req) if operation == "batch" else None,
                                     "time": now_ts()}
            self.store.save_requestid(realm, rid)
        if result.events:
            self.webhooks.submit(realm, result.events)
        return Reply(result.status, body, result.content_type)

    def _log(self, realm: Realm, entry: dict) -> None:
        realm.log.append(entry)
        if len(realm.log) > REQUEST_LOG_MAX:
            del realm.log[: len(realm.log) - REQUEST_LOG_MAX]


def create_app(data=None, state_path: str | None = None, realm_defaults: dict | None = None) -> SandboxApp:
    """Return the ASGI app. ``data``: dict/list (or a path to a JSON file) of realm specs. ``realm_defaults``:
    config keys every new realm starts from (e.g. ``{"refresh_token_rotation_s": 0}``)."""
    return SandboxApp(data=data, state_path=state_path, realm_defaults=realm_defaults)
