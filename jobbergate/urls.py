"""Top-level URLs: the API under /jobbergate (no trailing slashes), its schema and docs, and the admin.

Errors Django answers itself (an unrouted path, an unhandled exception) are JSON with a ``detail`` under the API
and Django's HTML pages elsewhere (the handlers in jobbergate/views.py).
"""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from jobbergate import views

api_patterns = [
    path("health", views.health, name="health"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    # The split view serves Swagger UI's start-up script from its own URL: no inline script, as the CSP wants.
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="openapi"), name="swagger-ui"),
    path("redoc", SpectacularRedocView.as_view(url_name="openapi"), name="redoc"),
    path("redoc.standalone.js", views.redoc_bundle, name="redoc-bundle"),
    path("", include("applications.urls")),
    path("", include("jobscripts.urls")),
    path("", include("submissions.urls")),
]

urlpatterns = [
    path(views.API_ROOT, include(api_patterns)),
    path("admin/", admin.site.urls),
    path("oidc/", include("accounts.urls")),
    path("", include("portal.urls")),
]

handler400 = views.bad_request
handler403 = views.permission_denied
handler404 = views.page_not_found
handler500 = views.server_error
