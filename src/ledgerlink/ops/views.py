from django.http import JsonResponse


def healthz(request):
    """The process is alive."""
    return JsonResponse({"status": "ok"})
