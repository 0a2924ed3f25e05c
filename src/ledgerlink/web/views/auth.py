"""Login (throttled by django-axes, audited) and logout."""

from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render

from ledgerlink.domain.accounts import logins

THROTTLED = (
    "Too many failed sign-ins for this user from your address. "
    f"Try again in {logins.LOGIN_WINDOW_MINUTES} minutes."
)


def locked_out(request, original_response=None, credentials=None):
    """``AXES_LOCKOUT_CALLABLE``: the sign-in page with the throttled message, 429."""
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    context = {"form": form, "next": request.POST.get("next", ""), "throttled": THROTTLED}
    return render(request, "registration/login.html", context, status=429)


class ThrottledLoginView(auth_views.LoginView):
    """Django's LoginView under django-axes: 5 failures per (normalised username, client address) in
    15 minutes lock that pair out (``domain.accounts.logins``). Every sign-in, failure and refused
    try is audited."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username") or ""
        if not AxesProxyHandler.is_allowed(request, {"username": username}):
            logins.record_login_throttled(username, logins.client_address(request))
            return locked_out(request)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        logins.record_login(form.get_user(), logins.client_address(self.request))
        return response

    def form_invalid(self, form):
        username = self.request.POST.get("username") or ""
        logins.record_login_failed(username, logins.client_address(self.request))
        return super().form_invalid(form)


class AuditedLogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated:
            logins.record_logout(user)
        return super().post(request, *args, **kwargs)
