"""`ledgerlink createsuperuser`: Django's command, but a name that equals an existing user's once
Unicode-normalised (NFKC, as Django stores and signs in with it) and ignoring case is refused with a
clear message instead of a database error (``ｖｉｅｗｅｒ`` is ``viewer``). Overrides Django's
command because ``ledgerlink.cli`` comes before ``django.contrib.auth`` in INSTALLED_APPS."""

from __future__ import annotations

from django.contrib.auth.management.commands import createsuperuser

from ledgerlink.domain.accounts.users import name_taken_message, user_named_like


class Command(createsuperuser.Command):
    def _validate_username(self, username, verbose_field_name, database):
        existing = user_named_like(username or "")
        if existing is not None:
            return f"Error: {name_taken_message(username, existing)}"
        return super()._validate_username(username, verbose_field_name, database)
