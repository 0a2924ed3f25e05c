from django.urls import include, path

from ledgerlink.core.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("", include("ledgerlink.ops.urls")),
    path("", include("ledgerlink.web.urls")),
]
