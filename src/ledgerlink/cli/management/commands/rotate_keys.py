"""``ledgerlink rotate-keys``: re-encrypt every Company's OAuth tokens under the newest key
(the first of LEDGERLINK_ENCRYPTION_KEYS). Keep the old keys listed until this has run."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ledgerlink.domain.companies.tokens import rotate_token_keys


class Command(BaseCommand):
    help = "Re-encrypt the stored OAuth tokens under the newest LEDGERLINK_ENCRYPTION_KEYS key."

    def handle(self, *args, **opts):
        n = rotate_token_keys(actor=None)
        self.stdout.write(f"re-encrypted the tokens of {n} companies")
