"""The admin's OpenID sign-in: mozilla-django-oidc's views, with endpoints from the provider's discovery."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.authentication import oidc_setting


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
    """Exchanges the code, checks the ID token, signs the admin or maintainer in."""
