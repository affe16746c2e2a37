"""Which clients get DRF's browsable HTML pages: only a staff member signed in to the admin with a session.

The HTML pages cost several times the JSON (a page of 100 applications: 2.2 s of CPU against 0.4 s), so a token
client asking for ``text/html`` gets JSON (or 406 when it accepts nothing else), as the configuration says.

A request left with one renderer that asks for anything (``*/*``, or no Accept header) or for exactly that renderer's
media type, with no format override, gets that renderer and its media type without DRF's parse of the Accept
header: DRF's answer for those (jobbergate/tests/test_negotiation.py compares them), in 4 us instead of 13 (DRF's
negotiation was 3% of a render's Python time in the harness).
"""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation


class HtmlForAdminSessions(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if "HTTP_AUTHORIZATION" in request.META or not _admin_session(request):
            renderers = [renderer for renderer in renderers if renderer.format != "api"] or renderers
        if (
            len(renderers) == 1
            and request.META.get("HTTP_ACCEPT", "*/*") in ("*/*", renderers[0].media_type)
            and not (format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE))
        ):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)


def _admin_session(request) -> bool:
    """A staff member's Django session (read only when no bearer token came: token clients never load a session)."""
    user = getattr(request._request, "user", None)  # Django's session user: authentication has not run yet
    return bool(user and user.is_authenticated and user.is_staff)
