"""Roles: viewer (reads) < operator (re-queues, edits payloads, creates customers) < admin; and the
companies a user may see (``visible_company_ids``)."""

from __future__ import annotations

from ledgerlink.core.models import UserProfile

ROLE_ORDER = {"viewer": 0, "operator": 1, "admin": 2}


def role_of(user) -> str | None:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return "admin"
    profile = getattr(user, "profile", None)
    try:
        return profile.role if profile is not None else "viewer"
    except Exception:  # noqa: BLE001 - a missing profile reads as viewer
        return "viewer"


def has_role(user, needed: str) -> bool:
    role = role_of(user)
    return role is not None and ROLE_ORDER[role] >= ROLE_ORDER[needed]


def visible_company_ids(user) -> frozenset[int] | None:
    """The companies ``user`` may see and change: None means every company (superusers, and users
    whose profile has ``all_companies``); else the ids of ``profile.companies`` (maybe none). The
    same for a web session and an API token (a token acts as its user). ``None`` (the system: the
    worker, the CLI, store webhooks) sees every company; a signed-out user none. Read once per user
    object."""
    if user is None:
        return None
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_ledgerlink_company_ids", False)
    if cached is not False:
        return cached
    value: frozenset[int] | None = None
    if not user.is_superuser:
        try:
            profile = user.profile  # cached on the user with its role (role_of reads it too)
        except UserProfile.DoesNotExist:
            profile = None
        if profile is not None and not profile.all_companies:
            value = frozenset(profile.companies.values_list("id", flat=True))
    user._ledgerlink_company_ids = value
    return value


def can_see_company(user, company_id) -> bool:
    ids = visible_company_ids(user)
    return ids is None or company_id in ids


def limit_to_companies(qs, user, field: str = "company_id"):
    """``qs`` with only the rows of the companies ``user`` may see (``field`` leads to the company id)."""
    ids = visible_company_ids(user)
    if ids is None:
        return qs
    return qs.filter(**{f"{field}__in": sorted(ids)})
