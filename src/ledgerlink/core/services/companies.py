"""Companies: connect (OAuth code flow), token refresh under a row lock, key rotation.

Invariant 7: OAuth tokens are encrypted at rest (``core/crypto.py``), refreshed under a row lock with
the newest refresh token saved in the same transaction; ``invalid_grant`` pauses the Company
(``needs_reconnect``) until it is reconnected. Nothing is failed by a pause.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ledgerlink.core import crypto
from ledgerlink.core.models import Company
from ledgerlink.core.services.audit import record_audit
from ledgerlink.core.services.errors import ServiceError
from ledgerlink.quickbooks import oauth
from ledgerlink.quickbooks.client import CompanyNeedsReconnect, QBOClient
from ledgerlink.quickbooks.oauth import REFRESH_AHEAD


def _store_tokens(company: Company, tokens: oauth.TokenSet) -> None:
    company.access_token_enc = crypto.encrypt(tokens.access_token)
    company.refresh_token_enc = crypto.encrypt(tokens.refresh_token)
    company.access_token_expires_at = tokens.access_expires_at
    company.refresh_token_expires_at = tokens.refresh_expires_at
    company.token_refreshed_at = timezone.now()


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

    with transaction.atomic():
        company = (
            Company.objects.select_for_update().filter(api_base_url=base_url, realm_id=got_realm).first()
        )
        created = company is None
        if created:
            company = Company(api_base_url=base_url, realm_id=got_realm)
        company.name = name
        company.discovery_url = disc.url
        company.token_endpoint = disc.token_endpoint
        company.revocation_endpoint = disc.revocation_endpoint
        company.status = Company.Status.ACTIVE
        company.last_error = ""
        _store_tokens(company, tokens)
        company.save()
        record_audit(
            "company.connected" if created else "company.reconnected",
            actor=actor, obj=company, realm_id=got_realm, base_url=base_url, name=name,
        )
    return company


def access_token_for(company_id: int, *, force: bool = False, stale_token: str | None = None,
                     ahead: timedelta = REFRESH_AHEAD) -> tuple[str, datetime | None]:
    """A plaintext access token for the Company valid for at least ``ahead``; refreshed if needed.

    ``force`` refreshes (after a 401) unless another worker already did: ``stale_token`` is the
    token that was refused; if the stored one differs, it is returned without a new refresh.
    Raises ``CompanyNeedsReconnect`` when the Company must be reconnected.
    """
    now = timezone.now()
    if not force:
        row = Company.objects.filter(pk=company_id).values(
            "access_token_enc", "access_token_expires_at", "status"
        ).first()
        if row is None:
            raise CompanyNeedsReconnect(f"Company {company_id} does not exist")
        if row["access_token_enc"] and row["access_token_expires_at"] and row["access_token_expires_at"] - now > ahead:
            return crypto.decrypt(row["access_token_enc"]), row["access_token_expires_at"]
    error: oauth.OAuthError | None = None
    with transaction.atomic():
        company = Company.objects.select_for_update(no_key=True).get(pk=company_id)
        token = crypto.decrypt(company.access_token_enc)
        expires = company.access_token_expires_at
        fresh = bool(token) and expires is not None and expires - timezone.now() > ahead
        if force:
            if stale_token is not None and token and token != stale_token and expires and expires > timezone.now():
                return token, expires  # someone else refreshed while we were refused
        elif fresh:
            return token, expires  # someone else refreshed while we waited for the lock
        if company.status in (Company.Status.NEEDS_RECONNECT, Company.Status.DISCONNECTED):
            raise CompanyNeedsReconnect(f"Company {company.pk} is {company.status}")
        refresh_token = crypto.decrypt(company.refresh_token_enc)
        if not refresh_token or not company.token_endpoint:
            error = oauth.OAuthError("invalid_grant", "no refresh token stored")
        else:
            try:
                tokens = oauth.refresh(
                    company.token_endpoint, refresh_token=refresh_token,
                    client_id=settings.QBO_CLIENT_ID, client_secret=settings.QBO_CLIENT_SECRET,
                )
            except oauth.OAuthError as e:
                error = e
        if error is None:
            _store_tokens(company, tokens)
            company.save(update_fields=[
                "access_token_enc", "refresh_token_enc", "access_token_expires_at",
                "refresh_token_expires_at", "token_refreshed_at", "updated_at",
            ])
            record_audit("company.tokens_refreshed", obj=company, forced=force)
            return tokens.access_token, tokens.access_expires_at
        if error.invalid_grant or error.error in {"invalid_client", "unauthorized_client"}:
            company.status = Company.Status.NEEDS_RECONNECT
            company.last_error = f"Token refresh refused: {error}"
            company.save(update_fields=["status", "last_error", "updated_at"])
            record_audit("company.needs_reconnect", obj=company, error=error.error, description=error.description)
    # Outside the transaction so the needs_reconnect state is committed.
    if error.invalid_grant or error.error in {"invalid_client", "unauthorized_client"}:
        raise CompanyNeedsReconnect(str(error))
    raise error  # a transient token-endpoint failure: the caller retries later


def client_for(company: Company, **kwargs) -> QBOClient:
    """A QBO client for the Company, its tokens handed out by ``access_token_for``."""
    return QBOClient(company.api_base_url, company.realm_id, partial(access_token_for, company.pk), **kwargs)


def refresh_company_tokens(company_id: int) -> Company:
    """Refresh the Company's tokens now (under the row lock). Raises ServiceError if refused."""
    try:
        access_token_for(company_id, force=True)
    except CompanyNeedsReconnect as e:
        raise ServiceError(f"The company needs to be reconnected: {e}", status=409) from e
    except oauth.OAuthError as e:
        raise ServiceError(f"Token refresh failed: {e}", status=502) from e
    return Company.objects.get(pk=company_id)


def set_company_status(company_id: int, status: str, *, actor=None, reason: str = "") -> Company:
    if status not in Company.Status.values:
        raise ServiceError(f"Unknown status {status!r}", field="status")
    with transaction.atomic():
        company = Company.objects.select_for_update().get(pk=company_id)
        old = company.status
        company.status = status
        company.save(update_fields=["status", "updated_at"])
        record_audit("company.status_changed", actor=actor, obj=company, old=old, new=status, reason=reason)
    return company


def rotate_token_keys(*, actor=None) -> int:
    """Re-encrypt every Company's tokens under the newest key. Returns the number of Companies."""
    count = 0
    for pk in Company.objects.values_list("pk", flat=True):
        with transaction.atomic():
            company = Company.objects.select_for_update().get(pk=pk)
            company.access_token_enc = crypto.rotate(company.access_token_enc)
            company.refresh_token_enc = crypto.rotate(company.refresh_token_enc)
            company.save(update_fields=["access_token_enc", "refresh_token_enc", "updated_at"])
            count += 1
    with transaction.atomic():
        record_audit("company.keys_rotated", actor=actor, companies=count)
    return count
