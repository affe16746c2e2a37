"""Project-level endpoints: the health probe, file downloads, and the error pages (JSON under the API, Django's HTML
elsewhere)."""

import functools
import posixpath

from django.http import Http404, HttpResponse, JsonResponse
from django.utils.http import content_disposition_header
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

API_ROOT = "jobbergate/"
"""Where the API lives (``/jobbergate/...``); every error under it is JSON with a ``detail``."""


def file_download(row) -> HttpResponse:
    """A stored file as ``text/plain`` (they are all UTF-8 text), named for a download: the API's and the portal's."""
    response = HttpResponse(row.read_bytes(), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, posixpath.basename(row.filename))
    return response


def is_api_request(request) -> bool:
    path = request.path_info
    return path == "/" + API_ROOT.rstrip("/") or path.startswith("/" + API_ROOT)


def json_error(status: int, detail: str, **headers) -> JsonResponse:
    """The body every API error has (README): ``{"detail": ...}``."""
    response = JsonResponse({"detail": detail}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


@csrf_exempt  # it changes nothing: a POST gets the JSON 405, not the CSRF page
def health(request):
    """Answers 204 with no body and no authentication: for load balancers and the agent."""
    if request.method not in ("GET", "HEAD"):
        return json_error(405, f"Method {request.method!r} is not allowed; use GET.", Allow="GET, HEAD")
    return HttpResponse(status=204)


# Error handlers (``handler400`` ... ``handler500`` in jobbergate/urls.py). Views of Django REST framework answer
# their own errors in JSON (jobbergate/api/exceptions.py); these catch what reaches Django: unrouted paths, and
# exceptions nothing handled. They never show the exception's text.


def bad_request(request, exception):
    if is_api_request(request):
        return json_error(400, "Bad request.")
    return defaults.bad_request(request, exception)


def permission_denied(request, exception):
    if is_api_request(request):
        return json_error(403, "You do not have permission to perform this action.")
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception):
    if is_api_request(request):
        return json_error(404, f"Not found: there is no endpoint {request.path_info}.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if is_api_request(request):
        return json_error(500, "Internal server error: the failure was logged; please report it.")
    return defaults.server_error(request)


def csrf_failure(request, reason=""):
    """``CSRF_FAILURE_VIEW``: a form post without its CSRF token (a session caller's POST to the API)."""
    if is_api_request(request):
        return json_error(403, "CSRF check failed: send the API a bearer token, or the admin session's CSRF token.")
    from django.views.csrf import csrf_failure as default_csrf_failure

    return default_csrf_failure(request, reason)


REDOC_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@functools.cache
def _offline_redoc_bundle() -> bytes:
    from django.contrib.staticfiles import finders

    path = finders.find(REDOC_BUNDLE)
    if not path:
        raise Http404("ReDoc's bundle is not installed (drf-spectacular-sidecar).")
    with open(path, "rb") as handle:
        # The bundle always asks ReDoc's maker for a logo in its "API docs by Redocly" line; with no source the
        # browser asks nothing and the image hides itself. Nothing else in it reaches for another host.
        return handle.read().replace(REDOC_LOGO.encode(), b"")


def redoc_bundle(request):
    """ReDoc's standalone bundle from the sidecar package, without its one request to another host."""
    response = HttpResponse(_offline_redoc_bundle(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response
