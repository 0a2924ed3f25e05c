"""Connections and Users (admin)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from ledgerlink.core.models import ApiToken, Company, UserProfile
from ledgerlink.core.roles import has_role, limit_to_companies, role_of
from ledgerlink.domain.accounts.tokens import create_api_token, revoke_api_token
from ledgerlink.domain.accounts.users import (
    MAX_USERNAME,
    create_user,
    set_user_active,
    set_user_companies,
    set_user_role,
)
from ledgerlink.domain.companies.health import set_company_status
from ledgerlink.domain.companies.limits import LIMIT_FIELDS, set_company_limits
from ledgerlink.domain.companies.tokens import refresh_company_tokens
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.paging import parse_int
from ledgerlink.quickbooks.wire import QBO_LIMITS
from ledgerlink.web.access import role_required


@role_required("viewer")
def connections(request):
    return _connections_page(request)


def _connections_page(request, *, status: int = 200, limits_error: ServiceError | None = None,
                      limits_company: int | None = None):
    now = timezone.now()
    rows = []
    for company in limit_to_companies(Company.objects.order_by("id"), request.user, "id"):
        rows.append(
            {
                "company": company,
                "throttled": bool(company.throttled_until and company.throttled_until > now),
                "access_expired": bool(company.access_token_expires_at and company.access_token_expires_at <= now),
                "refresh_days": (company.refresh_token_expires_at - now).days
                if company.refresh_token_expires_at
                else None,
            }
        )
    return render(
        request,
        "web/connections.html",
        {"rows": rows, "now": now, "can_admin": has_role(request.user, "admin"), "statuses": Company.Status.choices,
         "qbo_limits": QBO_LIMITS, "limits_error": limits_error, "limits_company": limits_company},
        status=status,
    )


@role_required(read=None, write="admin")
def connection_refresh(request, pk: int):
    company = get_object_or_404(limit_to_companies(Company.objects.all(), request.user, "id"), pk=pk)
    try:
        refresh_company_tokens(company.pk, actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    except Exception as exc:  # noqa: BLE001 - token endpoint unreachable: say so
        messages.error(request, f"Token refresh failed: {type(exc).__name__}: {exc}")
    else:
        messages.success(request, f"Tokens of {company.name} refreshed.")
    return redirect("web:connections")


@role_required(read=None, write="admin")
def connection_status(request, pk: int):
    company = get_object_or_404(limit_to_companies(Company.objects.all(), request.user, "id"), pk=pk)
    status = request.POST.get("status", "")
    try:
        set_company_status(company.pk, status, actor=request.user, reason=request.POST.get("reason", "").strip())
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{company.name} is now {Company.Status(status).label.lower()}.")
    return redirect("web:connections")


@role_required(read=None, write="admin")
def connection_limits(request, pk: int):
    """The Company's own limits (at most QuickBooks')."""
    company = get_object_or_404(Company, pk=pk)
    changes = {field: request.POST.get(field, "") for field in LIMIT_FIELDS}
    changes["use_batch"] = request.POST.get("use_batch") == "on"
    try:
        set_company_limits(company.pk, actor=request.user, **changes)
    except ServiceError as exc:
        return _connections_page(request, status=exc.status if exc.status != 404 else 422, limits_error=exc,
                                 limits_company=company.pk)
    else:
        messages.success(request, f"Limits of {company.name} saved.")
    return redirect("web:connections")


# ---------------------------------------------------------------- users and API tokens


class NewUserForm(forms.Form):
    """The fields of "New user"; the rules (unique name, password strength) are ``accounts.users``'s."""

    username = forms.CharField(max_length=MAX_USERNAME)
    email = forms.EmailField(required=False)
    password = forms.CharField(widget=forms.PasswordInput, help_text="At least 8 characters, not a common one.")
    role = forms.ChoiceField(choices=UserProfile.Role.choices)


@role_required("admin", write="admin")
def users(request):
    User = get_user_model()
    rows = []
    tokens = {}
    for token in ApiToken.objects.order_by("-id"):
        tokens.setdefault(token.user_id, []).append(token)
    limits = {}
    for profile in UserProfile.objects.filter(all_companies=False).prefetch_related("companies"):
        limits[profile.user_id] = {c.pk for c in profile.companies.all()}
    for user in User.objects.select_related("profile").order_by("username"):
        rows.append({"user": user, "role": role_of(user) if user.is_active else "", "tokens": tokens.get(user.pk, []),
                     "limited": user.pk in limits and not user.is_superuser, "company_ids": limits.get(user.pk, set())})
    new_token = request.session.pop("ll_new_token", None)
    return render(
        request,
        "web/users.html",
        {"rows": rows, "roles": UserProfile.Role.choices, "form": NewUserForm(), "new_token": new_token,
         "companies": Company.objects.order_by("name", "id")},
    )


@role_required("admin", write="admin")
def user_new(request):
    form = NewUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = create_user(**form.cleaned_data, actor=request.user)
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"User {user.username} created.")
            return redirect("web:users")
    return render(request, "web/user_new.html", {"form": form}, status=422 if request.method == "POST" else 200)


@role_required(read=None, write="admin")
def user_update(request, pk: int):
    user = get_object_or_404(get_user_model(), pk=pk)
    action = request.POST.get("action", "")
    try:
        if action == "role":
            role = request.POST.get("role", "")
            set_user_role(user.pk, role, actor=request.user)
            messages.success(request, f"{user.username} is now {role}.")
        elif action == "companies":
            if request.POST.get("all_companies"):
                set_user_companies(user.pk, None, actor=request.user)
                messages.success(request, f"{user.username} sees every company.")
            else:
                ids = [i for i in (parse_int(v) for v in request.POST.getlist("companies")) if i is not None]
                set_user_companies(user.pk, ids, actor=request.user)
                messages.success(request, f"{user.username} sees {len(set(ids))} compan{'y' if len(set(ids)) == 1 else 'ies'}.")
        elif action in ("deactivate", "activate"):
            set_user_active(user.pk, action == "activate", actor=request.user)
            messages.success(request, f"{user.username} {action}d.")
        else:
            messages.error(request, "Unknown action.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("web:users")


@role_required(read=None, write="admin")
def token_new(request, pk: int):
    """Create an API token for a user (``accounts.tokens``): shown once, stored as a hash."""
    user = get_object_or_404(get_user_model(), pk=pk)
    name = (request.POST.get("name") or "").strip()
    try:
        plaintext = create_api_token(user, name, actor=request.user)
    except ServiceError as exc:
        messages.error(request, f"{exc.field or 'token'}: {exc.message}")
        return redirect("web:users")
    request.session["ll_new_token"] = {"user": user.get_username(), "name": name, "token": plaintext}
    return redirect("web:users")


@role_required(read=None, write="admin")
def token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk)
    try:
        revoke_api_token(token.pk, actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Token {token.prefix}… revoked.")
    return redirect("web:users")
