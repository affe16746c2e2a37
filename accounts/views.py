"""The browser's OpenID sign-in (portal and admin): mozilla-django-oidc's views, with endpoints from the provider's
discovery."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.authentication import oidc_setting, signing_in_to_admin
from accounts.principal import SESSION_PERMISSIONS

ADMIN_REFUSED = "/admin/login/?oidc=refused"
PORTAL_REFUSED = "/sign-in/?oidc=refused"


class DiscoveredProviderMixin:
    """Endpoints from discovery; a 404 while OpenID sign-in is not configured."""

    get_settings = staticmethod(oidc_setting)

    def dispatch(self, request, *args, **kwargs):
        if not settings.OIDC_ADMIN_SIGN_IN:
            raise Http404("OpenID sign-in is not configured")
        return super().dispatch(request, *args, **kwargs)


class OIDCSignInView(DiscoveredProviderMixin, OIDCAuthenticationRequestView):
    """Redirects to the provider (authorization code flow with PKCE)."""


class OIDCCallbackView(DiscoveredProviderMixin, OIDCAuthenticationCallbackView):
    """Exchanges the code, checks the ID token, signs the user in to the portal (anybody) or the admin (admins and
    maintainers), and keeps the access token's permissions in the session."""

    @property
    def failure_url(self) -> str:
        return ADMIN_REFUSED if signing_in_to_admin(self.request) else PORTAL_REFUSED

    def login_success(self):
        response = super().login_success()
        principal = getattr(self.user, "signed_in_principal", None)
        if principal is not None:
            self.request.session[SESSION_PERMISSIONS] = sorted(principal.permissions)
        return response
