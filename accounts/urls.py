"""The admin's OpenID sign-in URLs (mozilla-django-oidc's); a 404 that says why while it is not configured.

The check runs before the view is built: mozilla-django-oidc's views read the provider's endpoints when they are
instantiated, which fails (500) without a provider.
"""

from functools import wraps

from django.conf import settings
from django.http import HttpResponseNotFound
from django.urls import path
from mozilla_django_oidc.urls import urlpatterns as oidc_urlpatterns

NOT_CONFIGURED = "OpenID sign-in is not configured on this server; sign in with a password at /admin/login/.\n"


def only_with_oidc_sign_in(view):
    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not settings.OIDC_ADMIN_SIGN_IN:
            return HttpResponseNotFound(NOT_CONFIGURED, content_type="text/plain; charset=utf-8")
        return view(request, *args, **kwargs)

    return guarded


urlpatterns = [
    path(str(pattern.pattern), only_with_oidc_sign_in(pattern.callback), name=pattern.name)
    for pattern in oidc_urlpatterns
]
