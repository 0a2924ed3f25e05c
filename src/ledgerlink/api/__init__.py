"""REST API under /api/v1 (django-ninja). Thin: every write calls a domain service.

One Router and its schemas per domain package (``companies``, ``routing``, ``ingest``, ``mirror``,
``outbox``, ``accounts``); ``auth`` (bearer tokens, roles), ``errors`` (``{"detail", "field"}`` with the status)
and ``domain.paging`` (keyset pages: ``after`` / ``next_after``) are shared. See docs/api.md.
"""

from __future__ import annotations

import json

from ninja import NinjaAPI

from ledgerlink.api import accounts, companies, ingest, lifecycle, mirror, outbox, reconcile, routing, stores
from ledgerlink.api.auth import TokenAuth
from ledgerlink.api.errors import install_error_handlers

# The published OpenAPI document's operationIds (clients generated from it name their methods after
# them) keep the form they had when every endpoint lived in one module.
OPERATION_ID_PREFIX = "ledgerlink_core_api_"


class LedgerlinkAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation) -> str:
        return OPERATION_ID_PREFIX + operation.view_func.__name__


api = LedgerlinkAPI(
    title="Ledgerlink API",
    version="1",
    urls_namespace="api",
    auth=TokenAuth(),
    description="Orders to QuickBooks Online: ingest orders, inspect and re-queue push requests. "
    "See docs/api.md.",
)
install_error_handlers(api)
for module in (companies, routing, ingest, lifecycle, mirror, outbox, reconcile, stores, accounts):
    api.add_router("", module.router)


def openapi_json() -> str:
    """The OpenAPI document as JSON text (for docs and tests)."""
    return json.dumps(api.get_openapi_schema(path_prefix="/api/v1"))
