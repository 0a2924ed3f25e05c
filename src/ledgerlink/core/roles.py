"""Roles: viewer (reads) < operator (re-queues, edits payloads, creates customers) < admin."""

from __future__ import annotations

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
