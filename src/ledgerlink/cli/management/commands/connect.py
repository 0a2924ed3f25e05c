"""``ledgerlink connect --base-url URL [--realm-id ID] --name NAME``: connect a QBO company.

Runs the OAuth authorization-code flow without a browser (against a qbo_sandbox) and prints the new
Company as JSON on stdout: ``{"id": ..., "realm_id": ...}`` and nothing else.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ledgerlink.domain.companies.connect import connect_company
from ledgerlink.domain.errors import ServiceError


class Command(BaseCommand):
    help = "Connect a QuickBooks Online company (OAuth code flow without a browser); prints it as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", required=True, help="QBO (qbo_sandbox) base URL")
        parser.add_argument("--realm-id", default=None, help="realm to connect (qbo_sandbox only)")
        parser.add_argument("--name", required=True, help="name of the Company in Ledgerlink")
        parser.add_argument("--client-id", default=None)
        parser.add_argument("--client-secret", default=None)
        parser.add_argument("--redirect-uri", default=None)

    def handle(self, *args, **opts):
        try:
            company = connect_company(
                opts["base_url"],
                name=opts["name"],
                realm_id=opts["realm_id"],
                client_id=opts["client_id"] or settings.QBO_CLIENT_ID,
                client_secret=opts["client_secret"] or settings.QBO_CLIENT_SECRET,
                redirect_uri=opts["redirect_uri"] or settings.QBO_REDIRECT_URI,
            )
        except ServiceError as e:
            raise CommandError(e.message) from e
        self.stdout.write(json.dumps({"id": company.pk, "realm_id": company.realm_id}))
