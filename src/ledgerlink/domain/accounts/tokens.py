"""Per-user API tokens: a random secret shown once, stored as its SHA-256 hex and a short prefix."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from ledgerlink.core.models import ApiToken
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.errors import ServiceError

TOKEN_PREFIX = "llk_"
PREFIX_LEN = 12
LAST_USED_RESOLUTION = timedelta(seconds=60)  # write last_used_at at most once a minute per token


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def create_api_token(user, name: str = "", *, actor=None, actor_label: str | None = None) -> str:
    """Create a token for ``user`` and return the secret (the only time it is visible)."""
    if user is None or not getattr(user, "pk", None):
        raise ServiceError("no such user", field="user", status=404)
    name = (name or "").strip()
    if len(name) > 100:
        raise ServiceError("must be at most 100 characters", field="name")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(user=user, name=name, prefix=raw[:PREFIX_LEN], token_hash=hash_token(raw))
        record_audit(
            "api_token.create",
            actor=actor,
            actor_label=actor_label or (actor.get_username() if actor is not None else "system"),
            obj=token,
            user=user.get_username(),
            name=name,
            prefix=token.prefix,
        )
    return raw


def create_api_token_for_username(username: str, name: str = "", *, actor_label: str = "cli") -> str:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ServiceError(f"no user {username!r}", field="username", status=404)
    return create_api_token(user, name, actor_label=actor_label)


def authenticate_token(raw: str | None):
    """The active user owning this unrevoked token, or None. Updates ``last_used_at``."""
    if not raw or not isinstance(raw, str) or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=hash_token(raw.strip()), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def revoke_api_token(token_id: int, *, actor=None, actor_label: str | None = None) -> ApiToken:
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(pk=token_id).first()
        if token is None:
            raise ServiceError(f"API token {token_id} does not exist", field="id", status=404)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            record_audit("api_token.revoke", actor=actor, actor_label=actor_label, obj=token, prefix=token.prefix)
    return token
