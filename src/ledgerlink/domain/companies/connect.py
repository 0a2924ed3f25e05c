"""Connecting a Company: without a browser (``connect_company``: `ledgerlink connect`, the demo, the
tests, against a qbo_sandbox), from the web app ("Connect to QuickBooks" and its OAuth callback), and
"Disconnect" (which revokes the tokens). Both ways store the Company through one upsert
(``save_connected_company``).

From the web app the authorize URL comes from the discovery document of the chosen target: Intuit production,
Intuit's sandbox, or a qbo_sandbox base URL. The OAuth ``state`` is random, bound to the person's
session, single use, expires after 10 minutes and is compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets
import time

import httpx
from django.conf import settings
from django.db import transaction

from ledgerlink.core import crypto
from ledgerlink.core.models import Company
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.companies.tokens import store_tokens
from ledgerlink.domain.companies.world import try_read_company_world
from ledgerlink.domain.errors import ServiceError
from ledgerlink.quickbooks import oauth

SESSION_KEY = "qbo_connect"
STATE_TTL = 600
# target -> (discovery document URL, Accounting API base URL)
INTUIT_TARGETS = {
    "intuit_production": (
        "https://developer.api.intuit.com/.well-known/openid_configuration",
        "https://quickbooks.api.intuit.com",
    ),
    "intuit_sandbox": (
        "https://developer.api.intuit.com/.well-known/openid_sandbox_configuration",
        "https://sandbox-quickbooks.api.intuit.com",
    ),
}
TARGETS = (*INTUIT_TARGETS, "qbo_sandbox")


def save_connected_company(*, api_base_url: str, realm_id: str, name: str, discovery: oauth.Discovery,
                           tokens: oauth.TokenSet, actor=None, rename: bool, audit: dict) -> Company:
    """The one upsert of a connected Company, keyed by (API base URL, realm): a new realm is created,
    a known one reconnected (active again, its settings kept; its name replaced only with ``rename``).
    The tokens are stored encrypted in the same transaction."""
    with transaction.atomic():
        company = Company.objects.select_for_update().filter(api_base_url=api_base_url, realm_id=realm_id).first()
        created = company is None
        if created:
            company = Company(api_base_url=api_base_url, realm_id=realm_id, name=name)
        elif rename:
            company.name = name
        company.discovery_url = discovery.url
        company.token_endpoint = discovery.token_endpoint
        company.revocation_endpoint = discovery.revocation_endpoint
        company.status = Company.Status.ACTIVE
        company.last_error = ""
        store_tokens(company, tokens)
        company.save()
        record_audit(
            "company.connected" if created else "company.reconnected",
            actor=actor, obj=company, realm_id=realm_id, base_url=api_base_url, **audit,
        )
    try_read_company_world(company)  # country, tax model, currencies (docs/tax.md)
    return company


def connect_company(
    base_url: str,
    *,
    name: str,
    realm_id: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    redirect_uri: str | None = None,
    actor=None,
) -> Company:
    """Run the OAuth authorization-code flow against ``base_url`` without a browser (discovery,
    authorize with the redirect read instead of followed, state verified, code exchanged) and store
    the Company with its tokens encrypted. Connecting an already known realm reconnects it."""
    client_id = client_id or settings.QBO_CLIENT_ID
    client_secret = client_secret or settings.QBO_CLIENT_SECRET
    redirect_uri = redirect_uri or settings.QBO_REDIRECT_URI
    name = (name or "").strip()
    if not name:
        raise ServiceError("A company name is required", field="name")
    base_url = base_url.rstrip("/")
    try:
        disc = oauth.discover(base_url)
        code, got_realm = oauth.authorize_without_browser(
            disc.authorization_endpoint, client_id=client_id, redirect_uri=redirect_uri, realm_id=realm_id
        )
        if realm_id and got_realm != realm_id:
            raise ServiceError(f"Connected realm {got_realm} is not the requested {realm_id}", field="realm_id")
        tokens = oauth.exchange_code(
            disc.token_endpoint, code=code, redirect_uri=redirect_uri,
            client_id=client_id, client_secret=client_secret,
        )
    except oauth.OAuthError as e:
        raise ServiceError(f"QuickBooks refused the connection: {e}", field="base_url", status=502) from e
    except Exception as e:  # network errors
        if isinstance(e, ServiceError):
            raise
        raise ServiceError(f"Could not reach {base_url}: {e}", field="base_url", status=502) from e

    return save_connected_company(
        api_base_url=base_url, realm_id=got_realm, name=name, discovery=disc, tokens=tokens, actor=actor,
        rename=True, audit={"name": name},
    )



def _discover(discovery_url: str) -> oauth.Discovery:
    try:
        return oauth.fetch_discovery(discovery_url)
    except httpx.HTTPError as e:
        raise ServiceError(f"Could not reach {discovery_url}: {e}", field="base_url", status=502) from e
    except oauth.OAuthError as e:
        message = f"{discovery_url} answered {e.status}" if e.error == "discovery_failed" else e.description
        raise ServiceError(message, field="base_url", status=502) from e


def start_connect(session, *, target: str, name: str, base_url: str = "", actor=None) -> str:
    """Remember the connection attempt in the session and return the authorize URL."""
    name = (name or "").strip()
    if not name:
        raise ServiceError("Give the company a name", field="name")
    if target not in TARGETS:
        raise ServiceError(f"Choose one of: {', '.join(TARGETS)}", field="target")
    if target == "qbo_sandbox" and settings.PRODUCTION and not settings.LEDGERLINK_ALLOW_SANDBOX_CONNECT:
        raise ServiceError(
            "Connecting to a qbo_sandbox is off in production (set LEDGERLINK_ALLOW_SANDBOX_CONNECT=1 to allow it)",
            field="target",
        )
    if target == "qbo_sandbox":
        base_url = (base_url or "").strip().rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ServiceError("Enter the qbo_sandbox base URL, e.g. http://127.0.0.1:8700", field="base_url")
        discovery_url, api_base = oauth.discovery_url(base_url), base_url
    else:
        discovery_url, api_base = INTUIT_TARGETS[target]
    endpoints = _discover(discovery_url)
    state = secrets.token_urlsafe(32)
    session[SESSION_KEY] = {
        "state": state,
        "name": name[:200],
        "api_base_url": api_base,
        "discovery_url": discovery_url,
        "created": time.time(),
        "authorization_endpoint": endpoints.authorization_endpoint,
        "token_endpoint": endpoints.token_endpoint,
        "revocation_endpoint": endpoints.revocation_endpoint,
    }
    return oauth.authorize_url(
        endpoints.authorization_endpoint,
        client_id=settings.QBO_CLIENT_ID,
        redirect_uri=settings.QBO_REDIRECT_URI,
        state=state,
    )


def finish_connect(session, *, state: str, code: str, realm_id: str, error: str = "", actor=None) -> Company:
    """The OAuth callback: check ``state`` against the session (single use), exchange the code and
    store the Company with its tokens encrypted. Reconnecting a known realm keeps its settings."""
    pending = session.pop(SESSION_KEY, None)
    if not pending or not hmac.compare_digest(str(pending.get("state", "")).encode(), (state or "").encode()):
        raise ServiceError(
            "This QuickBooks answer does not belong to a connection started here (state mismatch): "
            "start again with Connect to QuickBooks",
            field="state",
            status=400,
        )
    if time.time() - pending["created"] > STATE_TTL:
        raise ServiceError("The connection attempt expired: start again", field="state", status=400)
    if error:
        raise ServiceError(f"QuickBooks did not connect: {error}", field="error", status=400)
    if not code or not realm_id:
        raise ServiceError("QuickBooks sent no code or realmId", field="code", status=400)
    try:
        tokens = oauth.exchange_code(
            pending["token_endpoint"], code=code, redirect_uri=settings.QBO_REDIRECT_URI,
            client_id=settings.QBO_CLIENT_ID, client_secret=settings.QBO_CLIENT_SECRET,
        )
    except oauth.OAuthError as e:
        raise ServiceError(f"QuickBooks refused the code: {e}", field="code", status=502) from e
    discovery = oauth.Discovery(
        authorization_endpoint=pending["authorization_endpoint"],
        token_endpoint=pending["token_endpoint"],
        revocation_endpoint=pending["revocation_endpoint"],
        url=pending["discovery_url"],
    )
    return save_connected_company(
        api_base_url=pending["api_base_url"], realm_id=realm_id, name=pending["name"], discovery=discovery,
        tokens=tokens, actor=actor, rename=False, audit={"via": "web"},
    )


def disconnect_company(company_id: int, *, actor=None) -> Company:
    """Revoke the tokens at Intuit (or the sandbox), forget them, and mark the Company disconnected.
    Its queue pauses; nothing is failed or lost; reconnecting resumes it."""
    with transaction.atomic():
        company = Company.objects.select_for_update().filter(pk=company_id).first()
        if company is None:
            raise ServiceError(f"company {company_id} does not exist", field="id", status=404)
        token = crypto.decrypt(company.refresh_token_enc) or crypto.decrypt(company.access_token_enc)
        revoked = False
        if token and company.revocation_endpoint:
            try:
                revoked = oauth.revoke(
                    company.revocation_endpoint, token=token,
                    client_id=settings.QBO_CLIENT_ID, client_secret=settings.QBO_CLIENT_SECRET,
                )
            except httpx.HTTPError:
                revoked = False
        company.access_token_enc = company.refresh_token_enc = ""
        company.access_token_expires_at = company.refresh_token_expires_at = None
        company.status = Company.Status.DISCONNECTED
        company.save()
        record_audit("company.disconnected", actor=actor, obj=company, revoked=revoked)
    return company
