from django.urls import include, path

from ledgerlink.core.api import api
from ledgerlink.core.webhook_views import quickbooks_webhook

urlpatterns = [
    path("api/v1/", api.urls),
    path("webhooks/quickbooks", quickbooks_webhook, name="quickbooks-webhook"),
    path("", include("ledgerlink.ops.urls")),
    path("", include("ledgerlink.web.urls")),
]
