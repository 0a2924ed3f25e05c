"""The API's errors: ``{"detail": reason, "field": path}`` with the status (401 no/bad token, 403 role,
404, 409 state conflict, 413 too large, 422 invalid input); pydantic's validation errors are
reworded the way the services word theirs."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError

from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.payloads.edit import MAX_EDIT_BYTES


class ErrorOut(Schema):
    detail: str
    field: str | None = None


ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 413: ErrorOut, 422: ErrorOut}


def get_or_404(model, pk: int, label: str):
    obj = model.objects.filter(pk=pk).first()
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
}


def _message(err: dict) -> str:
    kind = str(err.get("type", ""))
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
