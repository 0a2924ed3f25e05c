"""The QBO Accounting API v3 client: httpx, Bearer tokens, requestid/minorversion, fault capture.

Knows HTTP, OAuth and QBO's wire format, nothing of orders. Every call returns a ``QBOResponse``
(status, parsed body, ``intuit_tid``, duration, and a ``fault`` Classification when it failed); the
helpers that need data (``query_rows``, ``query_pages``) raise ``QBOError`` instead.

Tokens: the client imports no models. It is given a *token provider*, a callable
``provider(force=False, stale_token=None) -> (access_token, expires_at)`` (the domain's is
``ledgerlink.domain.companies.access_token_for`` bound to one Company, wired by
``ledgerlink.domain.companies.client_for``). It asks for a token valid for at least
``REFRESH_AHEAD`` more, caches it in memory, and on a 401 asks once more with ``force=True`` and
retries once. A provider that raises ``CompanyNeedsReconnect`` (an ``invalid_grant``) makes the call
answer with the ``auth_reconnect`` fault without sending anything.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from django.conf import settings
from django.utils import timezone

from ledgerlink.quickbooks import wire
from ledgerlink.quickbooks.errors import Classification, classify, classify_fault, make
from ledgerlink.quickbooks.oauth import REFRESH_AHEAD, OAuthError

# httpx errors raised before any byte of the request could have reached the server.
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)

# provider(force=False, stale_token=None) -> (access token, its expiry or None)
TokenProvider = Callable[..., tuple[str, datetime | None]]


class QBOError(Exception):
    def __init__(self, response: QBOResponse):
        fault = response.fault
        super().__init__(f"{fault.kind}: {fault.message} {fault.detail}".strip() if fault else "QBO error")
        self.response = response
        self.classification = fault


class CompanyNeedsReconnect(Exception):
    """Raised by a token provider: the Company's refresh token was refused (invalid_grant) or it is
    not connected."""


@dataclass
class QBOResponse:
    method: str
    url: str
    status: int | None
    body_text: str
    data: Any
    intuit_tid: str
    duration_ms: int
    started_at: datetime
    requestid: str = ""
    exc: BaseException | None = None
    sent: bool = True  # False when the request certainly did not reach QBO
    forced_fault: Classification | None = field(default=None, repr=False)

    @property
    def fault(self) -> Classification | None:
        if self.forced_fault is not None:
            return self.forced_fault
        if self.exc is not None:
            return classify(None, None, self.exc)
        if self.status is not None and self.status >= 400:
            return classify(self.status, self.body_text)
        if isinstance(self.data, dict) and ("Fault" in self.data or "fault" in self.data):
            return classify(self.status, self.body_text)
        if self.data is None and self.status == 200 and self.body_text.strip() and not self.body_text.lstrip().startswith("{"):
            return classify(self.status, self.body_text)
        return None

    @property
    def ok(self) -> bool:
        return self.fault is None

    @property
    def outcome_unknown(self) -> bool:
        """True when the request may have been applied by QBO but we did not get the answer."""
        return self.exc is not None and self.sent

    def entity(self, name: str) -> dict | None:
        if isinstance(self.data, dict):
            return self.data.get(name)
        return None

    def raise_for_fault(self) -> QBOResponse:
        if not self.ok:
            raise QBOError(self)
        return self


class QBOClient:
    """One company's (realm's) API client. Thread-safe; share one per realm within a process.

    ``api_base_url`` is the Accounting API host (Intuit's, or a qbo_sandbox); ``token_provider`` hands
    out access tokens (see the module docstring)."""

    def __init__(self, api_base_url: str, realm_id: str, token_provider: TokenProvider, *,
                 http: httpx.Client | None = None, minorversion: str | None = None, timeout: float | None = None):
        self.realm_id = realm_id
        self.base = f"{api_base_url.rstrip('/')}/v3/company/{realm_id}"
        self.token_provider = token_provider
        self.minorversion = str(minorversion or settings.QBO_MINOR_VERSION)
        self.timeout = float(timeout if timeout is not None else settings.LEDGERLINK_HTTP_TIMEOUT)
        self._own_http = http is None
        self.http = http or httpx.Client(
            timeout=self.timeout,
            # TCP_NODELAY: a request's headers and body go out at once instead of waiting on Nagle.
            transport=httpx.HTTPTransport(
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            ),
        )
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_expires: datetime | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def __enter__(self) -> QBOClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- tokens --------------------------------------------------------------------------------

    def _access_token(self, *, force: bool = False, stale: str | None = None) -> str:
        with self._lock:
            if not force and self._token and self._token_expires and (
                self._token_expires - timezone.now() > REFRESH_AHEAD
            ):
                return self._token
            token, expires = self.token_provider(force=force, stale_token=stale)
            self._token, self._token_expires = token, expires
            return token

    # -- transport -----------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: dict | None = None, json_body: Any = None,
                content: str | bytes | None = None, content_type: str | None = None,
                requestid: str | None = None) -> QBOResponse:
        url = f"{self.base}/{path.lstrip('/')}"
        query = {"minorversion": self.minorversion}
        if requestid:
            query["requestid"] = requestid
        if params:
            query.update(params)
        started = timezone.now()
        token, fault = self._token_or_fault()
        if fault is not None:
            return QBOResponse(method, url, None, "", None, "", 0, started, requestid or "", sent=False,
                               forced_fault=fault)
        response = self._send(method, url, query, json_body, content, content_type, token, requestid)
        if response.status == 401:
            token, fault = self._token_or_fault(force=True, stale=token)
            if fault is not None:
                response.forced_fault = fault
                return response
            response = self._send(method, url, query, json_body, content, content_type, token, requestid)
        return response

    def _token_or_fault(self, **kwargs) -> tuple[str, Classification | None]:
        """A token, or the fault explaining why there is none (nothing was sent to the API)."""
        try:
            return self._access_token(**kwargs), None
        except CompanyNeedsReconnect as e:
            return "", make("auth_reconnect", "Company needs to be reconnected", str(e))
        except OAuthError as e:  # the token endpoint failed in another way: try again later
            kind = "server_error" if (e.status or 500) >= 500 or e.status is None else "auth_reconnect"
            return "", make(kind, f"Token refresh failed: {e.error}", e.description or e.body[:500],
                            str(e.status or ""))
        except httpx.HTTPError as e:
            return "", classify(None, None, e)

    def _send(self, method, url, query, json_body, content, content_type, token, requestid) -> QBOResponse:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        body = None
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":"), default=str).encode()
            headers["Content-Type"] = "application/json"
        elif content is not None:
            body = content.encode() if isinstance(content, str) else content
            headers["Content-Type"] = content_type or "application/text"
        started = timezone.now()
        t0 = time.perf_counter()
        try:
            r = self.http.request(method, url, params=query, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return QBOResponse(
                method, url, None, "", None, "", int((time.perf_counter() - t0) * 1000), started,
                requestid or "", exc=exc, sent=not isinstance(exc, NOT_SENT_ERRORS),
            )
        duration = int((time.perf_counter() - t0) * 1000)
        text = r.text
        data = None
        ctype = r.headers.get("content-type", "")
        if "json" in ctype or text[:1] in ("{", "["):
            try:
                data = json.loads(text) if text else None
            except ValueError:
                data = None
        tid = r.headers.get("intuit_tid") or r.headers.get("intuit-tid") or ""
        return QBOResponse(method, url, r.status_code, text, data, tid, duration, started, requestid or "")

    # -- API -----------------------------------------------------------------------------------

    @staticmethod
    def path_for(entity: str) -> str:
        return wire.path_for(entity)

    def create(self, entity: str, body: dict, *, requestid: str | None = None) -> QBOResponse:
        return self.request("POST", self.path_for(entity), json_body=body, requestid=requestid)

    def update(self, entity: str, body: dict, *, requestid: str | None = None, sparse: bool = True) -> QBOResponse:
        if sparse:
            body = {**body, "sparse": True}
        return self.request("POST", self.path_for(entity), json_body=body, requestid=requestid)

    def read(self, entity: str, entity_id: str) -> QBOResponse:
        return self.request("GET", f"{self.path_for(entity)}/{entity_id}")

    def query(self, sql: str) -> QBOResponse:
        return self.request("POST", "query", content=sql, content_type="application/text")

    def query_rows(self, sql: str, entity: str) -> list[dict]:
        r = self.query(sql).raise_for_fault()
        return list(((r.data or {}).get("QueryResponse") or {}).get(entity) or [])

    def count(self, entity: str, where: str = "") -> int:
        sql = f"SELECT COUNT(*) FROM {entity}" + (f" WHERE {where}" if where else "")
        r = self.query(sql).raise_for_fault()
        return int(((r.data or {}).get("QueryResponse") or {}).get("totalCount") or 0)

    def query_pages(self, entity: str, where: str = "", *, select: str = "*", page_size: int = 1000):
        """Yield lists of records, STARTPOSITION/MAXRESULTS paging until a short page."""
        start = 1
        while True:
            sql = f"SELECT {select} FROM {entity}"
            if where:
                sql += f" WHERE {where}"
            sql += f" STARTPOSITION {start} MAXRESULTS {page_size}"
            rows = self.query_rows(sql, entity)
            if rows:
                yield rows
            if len(rows) < page_size:
                return
            start += page_size

    def find_by_doc_number(self, entity: str, doc_number: str) -> list[dict]:
        return self.query_rows(f"SELECT * FROM {entity} WHERE DocNumber = {wire.sql_quote(doc_number)}", entity)

    def find_by_private_note(self, entity: str, marker: str) -> list[dict]:
        return self.query_rows(
            f"SELECT * FROM {entity} WHERE PrivateNote LIKE {wire.sql_quote('%' + marker + '%')}", entity
        )

    def batch(self, items: list[dict], *, requestid: str | None = None) -> QBOResponse:
        """POST /batch with ``{"BatchItemRequest": items}`` (each item carries its ``bId``)."""
        return self.request("POST", "batch", json_body={"BatchItemRequest": items}, requestid=requestid)

    def cdc(self, entities: list[str] | tuple[str, ...], changed_since: datetime | str) -> QBOResponse:
        since = changed_since if isinstance(changed_since, str) else changed_since.isoformat(timespec="seconds")
        return self.request("GET", "cdc", params={"entities": ",".join(entities), "changedSince": since})


def batch_results(response: QBOResponse) -> dict[str, tuple[dict | None, Classification | None]]:
    """bId -> (item body, fault) for a batch response."""
    out: dict[str, tuple[dict | None, Classification | None]] = {}
    for item in (response.data or {}).get("BatchItemResponse") or []:
        bid = str(item.get("bId", ""))
        if "Fault" in item:
            out[bid] = (item, classify_fault(item["Fault"], response.status))
        else:
            out[bid] = (item, None)
    return out
