"""POST /webhooks/quickbooks: verify intuit-signature in constant time, store, answer at once."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ledgerlink.domain.errors import ServiceError
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
