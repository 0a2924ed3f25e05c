"""Users and their roles (viewer < operator < admin; ``ledgerlink.core.roles``): create, change the
role, (de)activate. The admin area's Users page and the demo call these."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from ledgerlink.core.models import Company, UserProfile
from ledgerlink.domain.audit import record_audit
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.inputs import has_surrogate

MAX_USERNAME = 150


def _check_role(role: str) -> str:
    if role not in UserProfile.Role.values:
        raise ServiceError(f"Unknown role: choose one of {', '.join(UserProfile.Role.values)}", field="role")
    return role


def _check_password(password: str, user=None) -> str:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ServiceError(" ".join(exc.messages), field="password") from exc
    return password


def _get_user(user_id: int, *, lock: bool = False):
    qs = get_user_model().objects.select_for_update() if lock else get_user_model().objects
    user = qs.filter(pk=user_id).first()
    if user is None:
        raise ServiceError(f"user {user_id} does not exist", field="id", status=404)
    return user


def normalize_username(username: str) -> str:
    """The name as Django stores it and signs in with: NFKC (full-width ``ｖｉｅｗｅｒ`` is ``viewer``)."""
    return get_user_model().normalize_username((username or "").strip())


def user_named_like(username: str):
    """The existing user whose name is ``username`` once Unicode-normalised (NFKC), ignoring case, or None."""
    normalized = normalize_username(username)
    if not normalized:
        return None
    return get_user_model().objects.filter(username__iexact=normalized).first()


def name_taken_message(username: str, existing) -> str:
    if existing.get_username().casefold() == (username or "").strip().casefold():  # only the case differs
        return "A user with this name exists."
    return (
        f"A user with this name exists: {username!r} is the same name as {existing.get_username()!r} "
        "(names are compared after Unicode normalisation, NFKC, ignoring case)."
    )


def create_user(*, username: str, password: str, role: str, email: str = "", actor=None):
    """A new active user with ``role``. The password must pass the configured validators. The name
    is stored Unicode-normalised (NFKC, as Django signs in with it); a name that equals an existing
    one once normalised, ignoring case, is refused (409)."""
    username = (username or "").strip()
    if not username:
        raise ServiceError("is required", field="username")
    if has_surrogate(username) or "\x00" in username:
        raise ServiceError("must be valid Unicode text", field="username")
    if len(username) > MAX_USERNAME:
        raise ServiceError(f"must be at most {MAX_USERNAME} characters", field="username")
    email = (email or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError as exc:
            raise ServiceError("Enter a valid email address.", field="email") from exc
    _check_role(role)
    _check_password(password)
    User = get_user_model()
    with transaction.atomic():
        existing = user_named_like(username)
        if existing is not None:
            raise ServiceError(name_taken_message(username, existing), field="username", status=409)
        try:
            with transaction.atomic():
                user = User.objects.create_user(username, email, password)
        except IntegrityError as exc:  # created meanwhile by another request
            raise ServiceError("A user with this name exists.", field="username", status=409) from exc
        UserProfile.objects.create(user=user, role=role)
        record_audit("user.create", actor=actor, obj=user, role=role)
    return user


def ensure_user(username: str, *, role: str, password: str, email: str = "", staff: bool = False, actor_label=None):
    """Create the user, or reset an existing one's password and role (the demo's logins)."""
    _check_role(role)
    User = get_user_model()
    username = normalize_username(username)
    with transaction.atomic():
        user, created = User.objects.get_or_create(username=username, defaults={"email": email})
        user.set_password(password)
        user.is_staff = staff
        user.save()
        UserProfile.objects.update_or_create(user=user, defaults={"role": role})
        record_audit("user.create" if created else "user.reset", actor_label=actor_label, obj=user, role=role)
    return user


def set_user_role(user_id: int, role: str, *, actor=None):
    """Change a user's role (not your own: an admin cannot lock the admins out by mistake)."""
    _check_role(role)
    with transaction.atomic():
        user = _get_user(user_id, lock=True)
        if actor is not None and getattr(actor, "pk", None) == user.pk:
            raise ServiceError("You cannot change your own role or deactivate yourself.", field="id", status=409)
        profile, _ = UserProfile.objects.get_or_create(user=user)
        old = profile.role
        profile.role = role
        profile.save()
        record_audit("user.role", actor=actor, obj=user, old=old, new=role)
    return user


def set_user_active(user_id: int, active: bool, *, actor=None):
    """Activate or deactivate a user (a deactivated user cannot sign in nor use an API token)."""
    with transaction.atomic():
        user = _get_user(user_id, lock=True)
        if not active and actor is not None and getattr(actor, "pk", None) == user.pk:
            raise ServiceError("You cannot change your own role or deactivate yourself.", field="id", status=409)
        user.is_active = bool(active)
        user.save(update_fields=["is_active"])
        record_audit("user.activate" if active else "user.deactivate", actor=actor, obj=user)
    return user


def set_user_companies(user_id: int, company_ids, *, actor=None):
    """Limit a user (web session and API tokens) to ``company_ids``; ``None`` gives every company
    back. Unknown ids are refused (422, ``companies``); an empty list leaves the user no company."""
    if company_ids is not None:
        if not isinstance(company_ids, list | tuple | set) or any(
            isinstance(c, bool) or not isinstance(c, int) for c in company_ids
        ):
            raise ServiceError("must be a list of company ids, or null for every company", field="companies")
        wanted = sorted(set(company_ids))
        found = set(Company.objects.filter(pk__in=[c for c in wanted if 0 < c < 2**63]).values_list("id", flat=True))
        missing = [c for c in wanted if c not in found]
        if missing:
            raise ServiceError(f"no company {missing[0]}", field="companies")
    with transaction.atomic():
        user = _get_user(user_id, lock=True)
        profile, _ = UserProfile.objects.get_or_create(user=user)
        before = None if profile.all_companies else sorted(profile.companies.values_list("id", flat=True))
        if company_ids is None:
            profile.all_companies = True
            profile.save(update_fields=["all_companies"])
            profile.companies.clear()
            after = None
        else:
            profile.all_companies = False
            profile.save(update_fields=["all_companies"])
            profile.companies.set(wanted)
            after = wanted
        record_audit("user.companies", actor=actor, obj=user, old=before, new=after)
    return user
