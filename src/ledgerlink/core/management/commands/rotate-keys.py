"""Alias so ``ledgerlink rotate-keys`` works (Django names commands after their module)."""

from .rotate_keys import Command  # noqa: F401
