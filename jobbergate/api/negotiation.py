"""Which clients get DRF's browsable HTML pages: only a staff member signed in to the admin with a session.

The HTML pages cost several times the JSON (a page of 100 applications: 2.2 s of CPU against 0.4 s), so a token
client asking for ``text/html`` gets JSON (or 406 when it accepts nothing else), as the configuration says.
"""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation


class HtmlForAdminSessions(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if "HTTP_AUTHORIZATION" in request.META or not _admin_session(request):
            renderers = [renderer for renderer in renderers if renderer.format != "api"] or renderers
        return super().select_renderer(request, renderers, format_suffix)


def _admin_session(request) -> bool:
    """A staff member's Django session (read only when no bearer token came: token clients never load a session)."""
    user = getattr(request._request, "user", None)  # Django's session user: authentication has not run yet
    return bool(user and user.is_authenticated and user.is_staff)
