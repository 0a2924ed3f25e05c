"""POST /webhooks/quickbooks: verify intuit-signature in constant time, store, answer at once.
POST /webhooks/shopify/{id} and /webhooks/woocommerce/{id}: store deliveries (domain.stores.deliveries)."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ledgerlink.domain.errors import ServiceError
from ledgerlink.domain.stores.deliveries import MAX_BODY as MAX_STORE_BODY
from ledgerlink.domain.stores.deliveries import receive_store_delivery
from ledgerlink.domain.sync.webhooks import receive_webhook

MAX_BODY = 1_000_000


@csrf_exempt  # authenticated by the HMAC signature, not a session
@require_POST
def quickbooks_webhook(request):
    body = request.body
    if len(body) > MAX_BODY:
        return JsonResponse({"detail": "Body too large", "field": "body"}, status=413)
    try:
        result = receive_webhook(body, request.headers.get("intuit-signature"))
    except ServiceError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    return JsonResponse(result, status=200)


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _store_webhook(request, order_source_id: int, kind: str):
    # Refuse an announced oversize body before reading it.
    if _content_length(request) > MAX_STORE_BODY:
        return JsonResponse({"detail": f"the body is larger than {MAX_STORE_BODY:,} bytes", "field": "body"},
                            status=413)
    try:
        answer = receive_store_delivery(order_source_id, kind, request.body, request.headers)
    except ServiceError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    return JsonResponse(answer.body, status=answer.status)


@csrf_exempt  # authenticated by the store's HMAC signature, not a session
@require_POST
def shopify_webhook(request, order_source_id: int):
    """POST /webhooks/shopify/{order_source_id}: X-Shopify-Hmac-Sha256, deduplicated by X-Shopify-Webhook-Id."""
    return _store_webhook(request, order_source_id, "shopify")


@csrf_exempt
@require_POST
def woocommerce_webhook(request, order_source_id: int):
    """POST /webhooks/woocommerce/{order_source_id}: X-WC-Webhook-Signature; the creation ping answered 200."""
    return _store_webhook(request, order_source_id, "woocommerce")
