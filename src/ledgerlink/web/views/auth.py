"""Login (throttled, audited) and logout."""

from __future__ import annotations

from django import forms
from django.contrib.auth import views as auth_views
from django.db import transaction

from ledgerlink.core.services.audit import record_audit
from ledgerlink.web import services as ui


class ThrottledLoginView(auth_views.LoginView):
    """Django's LoginView; 5 failures per username+IP in 15 minutes refuse further tries.

    The failures are counted from the audit log, so the limit holds across processes."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = (request.POST.get("username") or "").strip()
        ip = ui.client_ip(request)
        if ui.login_blocked(username, ip):
            form = self.get_form()
            form.errors.clear()
            form.add_error(
                None,
                forms.ValidationError(
                    f"Too many failed sign-ins for this user from your address. "
                    f"Try again in {int(ui.LOGIN_WINDOW.total_seconds() // 60)} minutes.",
                    code="throttled",
                ),
            )
            with transaction.atomic():
                record_audit("auth.login_throttled", actor_label="anonymous", username=username.lower(), ip=ip)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        with transaction.atomic():
            record_audit(
                "auth.login", actor=form.get_user(), obj=form.get_user(), ip=ui.client_ip(self.request)
            )
        return response

    def form_invalid(self, form):
        username = (self.request.POST.get("username") or "").strip()
        with transaction.atomic():
            record_audit(
                "auth.login_failed", actor_label="anonymous", username=username.lower(), ip=ui.client_ip(self.request)
            )
        return super().form_invalid(form)


class AuditedLogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated:
            with transaction.atomic():
                record_audit("auth.logout", actor=user, obj=user)
        return super().post(request, *args, **kwargs)
