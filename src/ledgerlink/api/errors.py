"""The API's errors: ``{"detail": reason, "field": path}`` with the status (401 no/bad token, 403 role,
404, 409 state conflict, 413 too large, 422 invalid input); pydantic's validation errors are
reworded the way the services word theirs."""

from __future__ import annotations

from typing import Annotated

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import BeforeValidator, Field, StrictInt
from pydantic_core import PydanticCustomError

from ledgerlink.core.roles import limit_to_companies
from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.payloads.edit import MAX_EDIT_BYTES

# A row id as a query parameter or a body field: 0 (not filtered) up to the largest bigint. A larger
# number is refused with 422 naming the parameter (SQLite cannot even bind it: OverflowError).
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=0, le=MAX_ID)]
# The same in a JSON body: a number, never ``true`` (which lax validation reads as 1) nor "1".
BodyId = Annotated[StrictInt, Field(ge=0, le=MAX_ID)]


def _id_or_name(value):
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError("id_or_name", "must be an id (a number) or a name (text)")
    return value


# An object given by id or by name (``order_source``): a JSON number or a string, nothing else.
IdOrName = Annotated[int | str, BeforeValidator(_id_or_name)]
# A count or a position that is stored in an integer column or used as a LIMIT.
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]
Position = Annotated[StrictInt, Field(ge=-(2**31), le=2**31 - 1)]


class ErrorOut(Schema):
    detail: str
    field: str | None = None


ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 413: ErrorOut, 422: ErrorOut}


def get_or_404(model, pk: int, label: str, *, user=None, company_field: str | None = None):
    """The row, or 404. With ``company_field`` (the path to its company id), a row of a company
    ``user`` may not see is a 404 too (``core.roles.visible_company_ids``)."""
    qs = model.objects.filter(pk=pk)
    if company_field is not None:
        qs = limit_to_companies(qs, user, company_field)
    obj = qs.first()
    if obj is None:
        raise ServiceError(f"{label} {pk} does not exist", field="id", status=404)
    return obj


def _field_path(loc) -> str | None:
    parts = list(loc or [])
    if parts and parts[0] in ("body", "query", "path"):
        parts = parts[1:]
        # ninja puts the parameter name first for a body schema; drop it when more follows
        if len(parts) > 1 and parts[0] in ("payload", "body", "data", "filters"):
            parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or None


# pydantic error types -> the wording the services use
_MESSAGES = {
    "missing": "is required",
    "decimal_parsing": "must be a number",
    "decimal_type": "must be a number",
    "float_parsing": "must be a number",
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "bool_parsing": "must be true or false",
    "date_from_datetime_parsing": "must be a date as YYYY-MM-DD",
    "date_parsing": "must be a date as YYYY-MM-DD",
    "finite_number": "must be a finite number",
    "extra_forbidden": "is not a known field",
}


def _message(err: dict) -> str:
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    if kind in ("less_than_equal", "less_than") and ("le" in ctx or "lt" in ctx):
        return f"must be an integer of at most {ctx['le'] if 'le' in ctx else ctx['lt'] - 1}"
    if kind in ("greater_than_equal", "greater_than") and ("ge" in ctx or "gt" in ctx):
        return f"must be an integer of at least {ctx['ge'] if 'ge' in ctx else ctx['gt'] + 1}"
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind.startswith("date"):
        return "must be a date as YYYY-MM-DD"
    return str(err.get("msg", "is invalid"))


def validation_errors(errors) -> list[dict]:
    """pydantic's errors as ``[{"field", "detail"}]``, worded as the services word theirs (the
    batch endpoint words each order's refusal so, too)."""
    out = []
    for err in errors:
        loc = list(err.get("loc") or [])
        # a union (int | str) reports one error per member: name the field once
        loc = [part for part in loc if part not in ("int", "str", "function-after[...]")]
        item = {"field": _field_path(loc), "detail": _message(err)}
        if item not in out:
            out.append(item)
    return out


def install_error_handlers(api: NinjaAPI) -> None:
    """The handlers that turn every refusal into ``{"detail", "field"}`` with its status."""

    @api.exception_handler(ServiceError)
    def _service_error(request, exc: ServiceError):
        return api.create_response(request, exc.as_dict(), status=exc.status)

    @api.exception_handler(NinjaValidationError)
    def _validation_error(request, exc: NinjaValidationError):
        errors = validation_errors(exc.errors)
        first = errors[0] if errors else {"field": None, "detail": "invalid input"}
        return api.create_response(
            request, {"detail": first["detail"], "field": first["field"], "errors": errors}, status=422
        )

    @api.exception_handler(RequestDataTooBig)
    def _too_big(request, exc):
        if request.path.rstrip("/").endswith("/orders/batch"):
            return api.create_response(
                request,
                {"detail": f"the request body is too large (at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes): "
                 "send the orders in smaller batches", "field": "orders"},
                status=413,
            )
        return api.create_response(
            request,
            {"detail": f"the request body is too large (an edited payload may be at most {MAX_EDIT_BYTES:,} bytes)",
             "field": "payload"},
            status=413,
        )

    @api.exception_handler(AuthenticationError)
    def _unauthenticated(request, exc):
        return api.create_response(
            request, {"detail": "a valid API token is required (Authorization: Bearer <token>)", "field": None},
            status=401,
        )
