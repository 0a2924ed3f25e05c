"""Alias so ``ledgerlink import-orders`` works (Django names commands after their module)."""

from .import_orders import Command  # noqa: F401
