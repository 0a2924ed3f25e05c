"""`ledgerlink create-api-token USERNAME`: print a new API token for the user (only the token)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ledgerlink.domain.accounts.tokens import create_api_token_for_username
from ledgerlink.domain.errors import ServiceError


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it (shown once; stored only as a hash)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="a label for the token (e.g. the integration using it)")

    def handle(self, *args, **options):
        try:
            raw = create_api_token_for_username(options["username"], options["name"], actor_label="cli")
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(raw)
