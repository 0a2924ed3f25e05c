"""OAuth tokens of a Company: handed out (refreshed under a row lock), refreshed on demand, re-encrypted
under a new key, and the QBO client wired to them.

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
from ledgerlink.core.models import Company, OrderSource
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.companies.health import mark_refresh_refused
from ledgerlink.domain.errors import ServiceError
from ledgerlink.quickbooks import oauth
from ledgerlink.quickbooks.client import CompanyNeedsReconnect, QBOClient
from ledgerlink.quickbooks.oauth import REFRESH_AHEAD


def store_tokens(company: Company, tokens: oauth.TokenSet) -> None:
    """Put a token set on the Company, encrypted (the caller saves it)."""
    company.access_token_enc = crypto.encrypt(tokens.access_token)
    company.refresh_token_enc = crypto.encrypt(tokens.refresh_token)
    company.access_token_expires_at = tokens.access_expires_at
    company.refresh_token_expires_at = tokens.refresh_expires_at
    company.token_refreshed_at = timezone.now()


def access_token_for(company_id: int, *, force: bool = False, stale_token: str | None = None,
                     ahead: timedelta = REFRESH_AHEAD, actor=None) -> tuple[str, datetime | None]:
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
            store_tokens(company, tokens)
            company.save(update_fields=[
                "access_token_enc", "refresh_token_enc", "access_token_expires_at",
                "refresh_token_expires_at", "token_refreshed_at", "updated_at",
            ])
            record_audit("company.tokens_refreshed", actor=actor, obj=company, forced=force)
            return tokens.access_token, tokens.access_expires_at
        if error.invalid_grant or error.error in {"invalid_client", "unauthorized_client"}:
            mark_refresh_refused(company, error)
    # Outside the transaction so the needs_reconnect state is committed.
    if error.invalid_grant or error.error in {"invalid_client", "unauthorized_client"}:
        raise CompanyNeedsReconnect(str(error))
    raise error  # a transient token-endpoint failure: the caller retries later


def client_for(company: Company, **kwargs) -> QBOClient:
    """A QBO client for the Company, its tokens handed out by ``access_token_for``."""
    return QBOClient(company.api_base_url, company.realm_id, partial(access_token_for, company.pk), **kwargs)


def refresh_company_tokens(company_id: int, *, actor=None) -> Company:
    """Refresh the Company's tokens now (under the row lock); one ``company.tokens_refreshed`` audit
    row, by ``actor``. Raises ServiceError if refused."""
    try:
        access_token_for(company_id, force=True, actor=actor)
    except CompanyNeedsReconnect as e:
        raise ServiceError(f"The company needs to be reconnected: {e}", status=409) from e
    except oauth.OAuthError as e:
        raise ServiceError(f"Token refresh failed: {e}", status=502) from e
    return Company.objects.get(pk=company_id)


def rotate_token_keys(*, actor=None) -> int:
    """Re-encrypt every Company's tokens, and every store order source's webhook secrets, under the
    newest key. Returns the number of Companies."""
    count = 0
    for pk in Company.objects.values_list("pk", flat=True):
        with transaction.atomic():
            company = Company.objects.select_for_update().get(pk=pk)
            company.access_token_enc = crypto.rotate(company.access_token_enc)
            company.refresh_token_enc = crypto.rotate(company.refresh_token_enc)
            company.save(update_fields=["access_token_enc", "refresh_token_enc", "updated_at"])
            count += 1
    sources = 0
    for pk in OrderSource.objects.exclude(webhook_secret_enc="", previous_webhook_secret_enc="").values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            source = OrderSource.objects.select_for_update().get(pk=pk)
            source.webhook_secret_enc = crypto.rotate(source.webhook_secret_enc)
            source.previous_webhook_secret_enc = crypto.rotate(source.previous_webhook_secret_enc)
            source.save(update_fields=["webhook_secret_enc", "previous_webhook_secret_enc"])
            sources += 1
    with transaction.atomic():
        record_audit("company.keys_rotated", actor=actor, companies=count, order_sources=sources)
    return count
