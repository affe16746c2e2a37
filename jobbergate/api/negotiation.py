"""Which clients get DRF's browsable HTML pages: only a staff member signed in to the admin with a session.

The HTML pages cost several times the JSON (a page of 100 applications: 2.2 s of CPU against 0.4 s), so a token
client asking for ``text/html`` gets JSON (or 406 when it accepts nothing else), as the configuration says.
"""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation


class HtmlForAdminSessions(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        user = getattr(request._request, "user", None)  # Django's session user: authentication has not run yet
        admin_session = bool(user and user.is_authenticated and user.is_staff)
        if not admin_session or "HTTP_AUTHORIZATION" in request.META:
            renderers = [renderer for renderer in renderers if renderer.format != "api"] or renderers
        return super().select_renderer(request, renderers, format_suffix)
