"""Alias so ``ledgerlink send-digests`` works (Django names commands after their module)."""

from .send_digests import Command  # noqa: F401
