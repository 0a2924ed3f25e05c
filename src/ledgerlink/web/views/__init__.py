"""Views of the QBO admin area. Each is wrapped in ``access.role_required``."""

from django.http import JsonResponse


def healthz(request):
    return JsonResponse({"status": "ok"})
