"""Users' access per company (``domain.accounts.users``): admins read and set it."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from ninja import Router, Schema

from ledgerlink.api.auth import ADMIN, need
from ledgerlink.api.errors import ERRORS, BodyId, get_or_404
from ledgerlink.core.roles import visible_company_ids
from ledgerlink.domain.accounts.users import set_user_companies

router = Router()


class UserCompaniesIn(Schema):
    companies: list[BodyId] | None  # null: every company


class UserCompaniesOut(Schema):
    user: int
    username: str
    companies: list[int] | None  # null: every company


def _out(user) -> dict:
    ids = visible_company_ids(user)
    return {"user": user.pk, "username": user.get_username(), "companies": None if ids is None else sorted(ids)}


@router.get("/users/{user_id}/companies", response={200: UserCompaniesOut, **ERRORS}, tags=["users"], auth=ADMIN)
def get_user_companies(request, user_id: int):
    """The companies a user (web session and API tokens) may see; ``null``: every company."""
    need(request, "admin")
    return _out(get_or_404(get_user_model(), user_id, "user"))


@router.put("/users/{user_id}/companies", response={200: UserCompaniesOut, **ERRORS}, tags=["users"], auth=ADMIN)
def put_user_companies(request, user_id: int, payload: UserCompaniesIn):
    """Limit a user to ``companies`` (ids), or give every company back with ``null``."""
    user = need(request, "admin")
    set_user_companies(user_id, payload.companies, actor=user)
    return _out(get_or_404(get_user_model(), user_id, "user"))
