"""Top-level URLs: the API under /jobbergate (no trailing slashes), its schema and docs, and the admin."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView, SpectacularSwaggerView

from jobbergate.views import health

api_patterns = [
    path("health", health, name="health"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi"), name="swagger-ui"),
    path("redoc", SpectacularRedocView.as_view(url_name="openapi"), name="redoc"),
    path("", include("applications.urls")),
    path("", include("jobscripts.urls")),
    path("", include("submissions.urls")),
]

urlpatterns = [
    path("jobbergate/", include(api_patterns)),
    path("admin/", admin.site.urls),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
