"""OAuth 2.0 for QBO: discovery, the authorization-code flow (driven without a browser against a
qbo_sandbox), the token endpoint (HTTP Basic, form body) and revocation. No database access here."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
from django.conf import settings
from django.utils import timezone

SCOPE = "com.intuit.quickbooks.accounting"
# An access token is refreshed when it has less than this left (by the client and the token provider).
REFRESH_AHEAD = timedelta(minutes=5)


class OAuthError(Exception):
    """The token or authorization endpoint refused. ``error`` is the OAuth error code
    (``invalid_grant``, ``invalid_client``, ...)."""

    def __init__(self, error: str, description: str = "", status: int | None = None, body: str = ""):
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.status = status
        self.body = body

    @property
    def invalid_grant(self) -> bool:
        return self.error == "invalid_grant"


@dataclass
class TokenSet:
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime | None
    raw: dict


@dataclass
class Discovery:
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str
    url: str


def _timeout() -> float:
    return float(getattr(settings, "LEDGERLINK_HTTP_TIMEOUT", 30))


def discovery_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/.well-known/openid-configuration"


def fetch_discovery(url: str, *, http: httpx.Client | None = None) -> Discovery:
    """GET an OpenID discovery document (Intuit's published URL, or a qbo_sandbox's). Raises
    ``OAuthError("discovery_failed")`` when it does not answer 200, ``OAuthError("discovery_invalid")``
    when the answer is not a discovery document; network errors propagate (``httpx.HTTPError``)."""
    client = http or httpx.Client(timeout=_timeout())
    try:
        r = client.get(url, headers={"Accept": "application/json"})
    finally:
        if http is None:
            client.close()
    if r.status_code != 200:
        raise OAuthError("discovery_failed", f"GET {url} answered {r.status_code}", r.status_code, r.text)
    try:
        doc = r.json()
        return Discovery(
            authorization_endpoint=doc["authorization_endpoint"],
            token_endpoint=doc["token_endpoint"],
            revocation_endpoint=doc.get("revocation_endpoint", ""),
            url=url,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise OAuthError(
            "discovery_invalid", f"{url} is not an OpenID discovery document", r.status_code, r.text[:500]
        ) from exc


def discover(base_url: str, *, http: httpx.Client | None = None) -> Discovery:
    """The discovery document of a qbo_sandbox (or any server publishing it under ``base_url``)."""
    return fetch_discovery(discovery_url(base_url), http=http)


def authorize_without_browser(
    authorization_endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    realm_id: str | None = None,
    http: httpx.Client | None = None,
) -> tuple[str, str]:
    """GET the authorization endpoint as a consenting user would and read the redirect.

    Returns ``(code, realm_id)``. The ``state`` sent is verified on the way back. ``realm_id`` is a
    qbo_sandbox-only parameter choosing the company to connect.
    """
    state = secrets.token_urlsafe(24)
    params = {
        "client_id": client_id,
        "response_type": "code",
        "scope": SCOPE,
        "redirect_uri": redirect_uri,
        "state": state,
    }
    if realm_id:
        params["realm_id"] = realm_id
    client = http or httpx.Client(timeout=_timeout())
    try:
        r = client.get(authorization_endpoint, params=params, follow_redirects=False)
    finally:
        if http is None:
            client.close()
    if r.status_code not in (301, 302, 303, 307, 308) or "location" not in r.headers:
        raise OAuthError("authorize_failed", f"authorization endpoint answered {r.status_code}", r.status_code, r.text)
    location = r.headers["location"]
    query = parse_qs(urlparse(location).query)
    if "error" in query:
        raise OAuthError(query["error"][0], (query.get("error_description") or [""])[0], r.status_code)
    got_state = (query.get("state") or [""])[0]
    if not secrets.compare_digest(got_state, state):
        raise OAuthError("state_mismatch", "the state returned by the authorization server is not ours")
    code = (query.get("code") or [""])[0]
    got_realm = (query.get("realmId") or [""])[0]
    if not code or not got_realm:
        raise OAuthError("authorize_failed", f"redirect without code or realmId: {location}")
    return code, got_realm


def _token_request(token_endpoint: str, data: dict, client_id: str, client_secret: str,
                   http: httpx.Client | None) -> TokenSet:
    client = http or httpx.Client(timeout=_timeout())
    try:
        r = client.post(
            token_endpoint,
            data=data,
            auth=(client_id, client_secret),
            headers={"Accept": "application/json"},
        )
    finally:
        if http is None:
            client.close()
    try:
        body = r.json()
    except ValueError:
        body = {}
    if r.status_code != 200 or "access_token" not in body:
        error = body.get("error") if isinstance(body, dict) else None
        raise OAuthError(error or f"http_{r.status_code}", (body or {}).get("error_description", ""), r.status_code, r.text)
    now = timezone.now()
    refresh_in = body.get("x_refresh_token_expires_in")
    return TokenSet(
        access_token=body["access_token"],
        refresh_token=body.get("refresh_token") or data.get("refresh_token", ""),
        access_expires_at=now + timedelta(seconds=int(body.get("expires_in", 3600))),
        refresh_expires_at=now + timedelta(seconds=int(refresh_in)) if refresh_in else None,
        raw=body,
    )


def exchange_code(token_endpoint: str, *, code: str, redirect_uri: str, client_id: str, client_secret: str,
                  http: httpx.Client | None = None) -> TokenSet:
    return _token_request(
        token_endpoint,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        client_id, client_secret, http,
    )


def refresh(token_endpoint: str, *, refresh_token: str, client_id: str, client_secret: str,
            http: httpx.Client | None = None) -> TokenSet:
    return _token_request(
        token_endpoint,
        {"grant_type": "refresh_token", "refresh_token": refresh_token},
        client_id, client_secret, http,
    )


def revoke(revocation_endpoint: str, *, token: str, client_id: str, client_secret: str,
           http: httpx.Client | None = None) -> bool:
    client = http or httpx.Client(timeout=_timeout())
    try:
        r = client.post(revocation_endpoint, json={"token": token}, auth=(client_id, client_secret),
                        headers={"Accept": "application/json"})
    finally:
        if http is None:
            client.close()
    return r.status_code == 200


def authorize_url(authorization_endpoint: str, *, client_id: str, redirect_uri: str, state: str) -> str:
    """The URL to send a person's browser to (the web app's Connect button)."""
    return authorization_endpoint + "?" + urlencode({
        "client_id": client_id, "response_type": "code", "scope": SCOPE,
        "redirect_uri": redirect_uri, "state": state,
    })
