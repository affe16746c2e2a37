"""Template context: whether the admin's login page offers OpenID sign-in."""

from django.conf import settings


def sign_in_options(request) -> dict:
    return {"oidc_admin_sign_in": settings.OIDC_ADMIN_SIGN_IN}
