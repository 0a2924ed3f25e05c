"""REST API under /api/v1 (django-ninja). Thin: every write calls a service."""

from ninja import NinjaAPI

api = NinjaAPI(title="Ledgerlink API", version="1", urls_namespace="api")
