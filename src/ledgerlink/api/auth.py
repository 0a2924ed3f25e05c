"""API authentication and roles: ``Authorization: Bearer <token>`` (`ledgerlink create-api-token
USERNAME`); viewers read, operators ingest orders / run rules / re-queue / cancel, admins manage site
areas, order sources and automation rules."""

from __future__ import annotations

from ninja.security import HttpBearer

from ledgerlink.core.roles import has_role
from ledgerlink.domain.accounts.tokens import authenticate_token
from ledgerlink.domain.errors import ServiceError


class TokenAuth(HttpBearer):
    """The bearer token; with ``role``, the role too (403), checked before the body is read: a viewer
    sending a malformed order learns that it may not write, not what is wrong with the body."""

    openapi_description = "A per-user API token: `ledgerlink create-api-token USERNAME`."

    def __init__(self, role: str | None = None) -> None:
        super().__init__()
        self.role = role

    def authenticate(self, request, token):
        user = authenticate_token(token)
        if user is not None:
            request.user = user
            if self.role is not None and not has_role(user, self.role):
                raise ServiceError(f"this needs the {self.role} role", status=403)
        return user


OPERATOR = TokenAuth("operator")
ADMIN = TokenAuth("admin")


def need(request, role: str):
    user = request.auth
    if not has_role(user, role):
        raise ServiceError(f"this needs the {role} role", status=403)
    return user


def label(user) -> str:
    return f"api:{user.get_username()}"
