"""Role checks for the admin area's views.

Every view is wrapped in :func:`role_required`: an anonymous visitor is sent to the login page, a
signed-in user without the role gets 403. ``read`` is the role needed for GET/HEAD, ``write`` the role
needed for POST (``None``: the view accepts no POST at all, 405). Every state change is a POST, so a
viewer can never change anything.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed

from ledgerlink.core.roles import has_role, role_of


def role_required(read: str | None = "viewer", write: str | None = None):
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated or role_of(user) is None:
                return redirect_to_login(request.get_full_path())
            method = request.method.upper()
            if method in ("GET", "HEAD"):
                if read is None:
                    return HttpResponseNotAllowed(["POST"])
                if not has_role(user, read):
                    raise PermissionDenied(f"This page needs the {read} role.")
            elif method == "POST":
                if write is None:
                    return HttpResponseNotAllowed(["GET", "HEAD"])
                if not has_role(user, write):
                    raise PermissionDenied(f"This action needs the {write} role.")
            else:
                allowed = [m for m, role in (("GET", read), ("POST", write)) if role]
                return HttpResponseNotAllowed(allowed)
            return view(request, *args, **kwargs)

        wrapped.ll_read_role = read
        wrapped.ll_write_role = write
        return wrapped

    return decorator


def can(user, role: str) -> bool:
    return has_role(user, role)
