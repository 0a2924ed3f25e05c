"""Alias so ``ledgerlink create-api-token`` works (Django names commands after their module)."""

from .create_api_token import Command  # noqa: F401
