"""Cleaning of text input shared by the services that take it (ingest, routing)."""

from __future__ import annotations

from ledgerlink.domain.errors import ServiceError


def clean_text(data: dict, key: str, *, field_name: str | None = None, required: bool = False, max_len: int) -> str:
    """``data[key]`` as trimmed text, or ServiceError naming the field (``field_name`` or ``key``)."""
    name = field_name or key
    value = data.get(key)
    if value is None:
        value = ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ServiceError("must be text", field=name)
    value = str(value).strip()
    if "\x00" in value:
        raise ServiceError("must not contain the NUL character (\\u0000)", field=name)
    if required and not value:
        raise ServiceError("is required", field=name)
    if len(value) > max_len:
        raise ServiceError(f"must be at most {max_len} characters (got {len(value)})", field=name)
    return value
