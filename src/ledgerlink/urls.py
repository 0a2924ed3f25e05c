from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.urls import include, path
from django.views.defaults import bad_request

from ledgerlink.api import api
from ledgerlink.api.webhooks import quickbooks_webhook, shopify_webhook, woocommerce_webhook
from ledgerlink.domain.payloads.edit import MAX_EDIT_BYTES

urlpatterns = [
    path("api/v1/", api.urls),
    path("webhooks/quickbooks", quickbooks_webhook, name="quickbooks-webhook"),
    path("webhooks/shopify/<int:order_source_id>", shopify_webhook, name="shopify-webhook"),
    path("webhooks/woocommerce/<int:order_source_id>", woocommerce_webhook, name="woocommerce-webhook"),
    path("", include("ledgerlink.ops.urls")),
    path("", include("ledgerlink.web.urls")),
]


def handler400(request, exception=None):
    """A form over DATA_UPLOAD_MAX_MEMORY_SIZE (e.g. a 10 MB payload edit) gets a 413 that says what to
    do instead of a bare "Bad Request" (the API answers its own JSON 413)."""
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return HttpResponse(
            f"The form you sent is too large (the limit is {limit:,} bytes; an edited payload may be at most "
            f"{MAX_EDIT_BYTES:,} bytes). Nothing was saved. Go back, shorten the payload and send it again.\n",
            status=413, content_type="text/plain; charset=utf-8",
        )
    return bad_request(request, exception)
