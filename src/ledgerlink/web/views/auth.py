"""Login (throttled, audited) and logout."""

from __future__ import annotations

from django import forms
from django.contrib.auth import views as auth_views

from ledgerlink.domain.accounts import logins


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or ""


class ThrottledLoginView(auth_views.LoginView):
    """Django's LoginView; 5 failures per username+IP in 15 minutes refuse further tries.

    The failures are counted from the audit log, so the limit holds across processes."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = (request.POST.get("username") or "").strip()
        ip = client_ip(request)
        if logins.login_blocked(username, ip):
            form = self.get_form()
            form.errors.clear()
            form.add_error(
                None,
                forms.ValidationError(
                    f"Too many failed sign-ins for this user from your address. "
                    f"Try again in {int(logins.LOGIN_WINDOW.total_seconds() // 60)} minutes.",
                    code="throttled",
                ),
            )
            logins.record_login_throttled(username, ip)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        logins.record_login(form.get_user(), client_ip(self.request))
        return response

    def form_invalid(self, form):
        username = (self.request.POST.get("username") or "").strip()
        logins.record_login_failed(username, client_ip(self.request))
        return super().form_invalid(form)


class AuditedLogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated:
            logins.record_logout(user)
        return super().post(request, *args, **kwargs)
