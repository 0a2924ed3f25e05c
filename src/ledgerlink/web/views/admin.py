"""Connections and Users (admin)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from ledgerlink.core.models import ApiToken, Company, UserProfile
from ledgerlink.core.roles import has_role, role_of
from ledgerlink.core.services.audit import record_audit
from ledgerlink.core.services.errors import ServiceError
from ledgerlink.web import services as ui
from ledgerlink.web.access import role_required


@role_required("viewer")
def connections(request):
    now = timezone.now()
    rows = []
    for company in Company.objects.order_by("id"):
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
        {"rows": rows, "now": now, "can_admin": has_role(request.user, "admin"), "statuses": Company.Status.choices},
    )


@role_required(read=None, write="admin")
def connection_refresh(request, pk: int):
    company = get_object_or_404(Company, pk=pk)
    refresh = ui.core_function("companies", "refresh_company_tokens")
    if refresh is None:
        messages.error(request, "Token refresh is not available yet.")
        return redirect("web:connections")
    try:
        refresh(company.pk)
    except ServiceError as exc:
        messages.error(request, exc.message)
    except Exception as exc:  # noqa: BLE001 - token endpoint unreachable: say so
        messages.error(request, f"Token refresh failed: {type(exc).__name__}: {exc}")
    else:
        with transaction.atomic():
            record_audit("company.tokens_refreshed", actor=request.user, obj=company)
        messages.success(request, f"Tokens of {company.name} refreshed.")
    return redirect("web:connections")


@role_required(read=None, write="admin")
def connection_status(request, pk: int):
    company = get_object_or_404(Company, pk=pk)
    status = request.POST.get("status", "")
    set_status = ui.core_function("companies", "set_company_status")
    if set_status is None:
        messages.error(request, "Changing the status is not available yet.")
        return redirect("web:connections")
    try:
        set_status(company.pk, status, actor=request.user, reason=request.POST.get("reason", "").strip())
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{company.name} is now {Company.Status(status).label.lower()}.")
    return redirect("web:connections")


# ---------------------------------------------------------------- users and API tokens


class NewUserForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(widget=forms.PasswordInput, help_text="At least 8 characters, not a common one.")
    role = forms.ChoiceField(choices=UserProfile.Role.choices)

    def clean_username(self):
        name = self.cleaned_data["username"].strip()
        if get_user_model().objects.filter(username__iexact=name).exists():
            raise forms.ValidationError("A user with this name exists.")
        return name

    def clean_password(self):
        password = self.cleaned_data["password"]
        validate_password(password)
        return password


@role_required("admin", write="admin")
def users(request):
    User = get_user_model()
    rows = []
    tokens = {}
    for token in ApiToken.objects.order_by("-id"):
        tokens.setdefault(token.user_id, []).append(token)
    for user in User.objects.select_related("profile").order_by("username"):
        rows.append({"user": user, "role": role_of(user) if user.is_active else "", "tokens": tokens.get(user.pk, [])})
    new_token = request.session.pop("ll_new_token", None)
    return render(
        request,
        "web/users.html",
        {"rows": rows, "roles": UserProfile.Role.choices, "form": NewUserForm(), "new_token": new_token},
    )


@role_required("admin", write="admin")
def user_new(request):
    form = NewUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = get_user_model().objects.create_user(
                form.cleaned_data["username"], form.cleaned_data["email"], form.cleaned_data["password"]
            )
            UserProfile.objects.create(user=user, role=form.cleaned_data["role"])
            record_audit("user.create", actor=request.user, obj=user, role=form.cleaned_data["role"])
        messages.success(request, f"User {user.username} created.")
        return redirect("web:users")
    return render(request, "web/user_new.html", {"form": form}, status=422 if request.method == "POST" else 200)


@role_required(read=None, write="admin")
def user_update(request, pk: int):
    user = get_object_or_404(get_user_model(), pk=pk)
    action = request.POST.get("action", "")
    if user.pk == request.user.pk and action in ("deactivate", "role"):
        messages.error(request, "You cannot change your own role or deactivate yourself.")
        return redirect("web:users")
    with transaction.atomic():
        if action == "role":
            role = request.POST.get("role", "")
            if role not in UserProfile.Role.values:
                messages.error(request, "Unknown role.")
                return redirect("web:users")
            profile, _ = UserProfile.objects.get_or_create(user=user)
            old = profile.role
            profile.role = role
            profile.save()
            record_audit("user.role", actor=request.user, obj=user, old=old, new=role)
            messages.success(request, f"{user.username} is now {role}.")
        elif action in ("deactivate", "activate"):
            user.is_active = action == "activate"
            user.save(update_fields=["is_active"])
            record_audit(f"user.{action}", actor=request.user, obj=user)
            messages.success(request, f"{user.username} {action}d.")
        else:
            messages.error(request, "Unknown action.")
    return redirect("web:users")


@role_required(read=None, write="admin")
def token_new(request, pk: int):
    """Create an API token for a user (core.services.tokens): shown once, stored as a hash."""
    user = get_object_or_404(get_user_model(), pk=pk)
    name = (request.POST.get("name") or "").strip()
    create = ui.core_function("tokens", "create_api_token")
    if create is None:
        messages.error(request, "API tokens are not available yet.")
        return redirect("web:users")
    try:
        plaintext = create(user, name, actor=request.user)
    except ServiceError as exc:
        messages.error(request, f"{exc.field or 'token'}: {exc.message}")
        return redirect("web:users")
    request.session["ll_new_token"] = {"user": user.get_username(), "name": name, "token": plaintext}
    return redirect("web:users")


@role_required(read=None, write="admin")
def token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk)
    revoke = ui.core_function("tokens", "revoke_api_token")
    if revoke is None:
        messages.error(request, "API tokens are not available yet.")
        return redirect("web:users")
    try:
        revoke(token.pk, actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Token {token.prefix}… revoked.")
    return redirect("web:users")
