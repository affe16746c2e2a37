"""Authentication: bearer JWTs for the API and OpenID sign-in for the admin, on mozilla-django-oidc's classes.

Every DRF authentication class returns ``(user, principal)``, so ``request.auth`` is always a Principal.
Bearer tokens, server-issued or from the OpenID provider, go through ``accounts.tokens.verify_access_token``:
checked locally against cached keys, with no call to the provider per request (mozilla-django-oidc's default
asks the provider's userinfo endpoint on every request; our backend does not).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.contrib.drf import OIDCAuthentication
from mozilla_django_oidc.utils import import_from_settings
from rest_framework import authentication, exceptions

from accounts.errors import TokenError
from accounts.oidc import configured_provider
from accounts.principal import principal_for_session
from accounts.tokens import verify_access_token
from jobbergate.choices import Permission
from jobbergate.prepared import PreparedQuery
from jobbergate.principal import Principal

# mozilla-django-oidc settings whose values come from the provider's discovery document.
DISCOVERED_SETTINGS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_LOGOUT_ENDPOINT": "end_session_endpoint",
}


def oidc_setting(attr: str, *default):
    """A mozilla-django-oidc setting; provider endpoints are read from discovery instead of being configured."""
    if attr in DISCOVERED_SETTINGS:
        provider = configured_provider()
        if provider is None:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured("OIDC_ISSUER_URL is not set: OpenID sign-in is off")
        return provider.endpoint(DISCOVERED_SETTINGS[attr])
    return import_from_settings(attr, *default)


# Every request with the OpenID provider's token asks this (jobbergate.prepared).
_USER_NAMED = PreparedQuery(
    lambda username: get_user_model().objects.filter(username=username),
    username=get_user_model()._meta.get_field("username"),
)


def user_for_principal(principal: Principal):
    """The Django user standing for a token's owner, created on first sight (keyed by e-mail or client id)."""
    user_model = get_user_model()
    if principal.email:
        username, email = principal.email.lower()[:150], principal.email
    elif principal.client_id:
        username, email = f"client:{principal.client_id}"[:150], ""
    else:
        raise TokenError("Token carries neither an e-mail nor a client id")
    user = _USER_NAMED.first(username=username)
    created = False
    if user is None:
        user, created = user_model.objects.get_or_create(username=username, defaults={"email": email})
    if not created and principal.email and user.email != principal.email:
        user.email = principal.email
        user.save(update_fields=["email"])
    return user


class JobbergateOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, verifying access tokens locally and mapping them onto principals.

    For the browser sign-in (authorization code flow with PKCE) the base class exchanges the code and checks the
    ID token; the user is then made from the access token's permissions: ``jobbergate:admin`` becomes a superuser,
    ``jobbergate:maintainer`` staff in the group of that name; anybody else is an ordinary user of the portal,
    who may not enter the admin.
    """

    def __init__(self, *args, **kwargs):
        # The base class reads endpoint settings eagerly; ours come from discovery when first needed.
        self.UserModel = get_user_model()

    get_settings = staticmethod(oidc_setting)

    def __getattr__(self, name: str):
        if name in DISCOVERED_SETTINGS or name in {
            "OIDC_RP_CLIENT_ID",
            "OIDC_RP_CLIENT_SECRET",
            "OIDC_RP_SIGN_ALGO",
            "OIDC_RP_IDP_SIGN_KEY",
        }:
            return oidc_setting(name, None)
        raise AttributeError(name)

    def verify(self, access_token: str):
        """(user, principal) for a bearer token, or TokenError saying why it is refused."""
        verified = verify_access_token(access_token)
        user = verified.user or user_for_principal(verified.principal)
        if not user.is_active:
            raise TokenError("The account of this token is disabled")
        return user, verified.principal

    def get_or_create_user(self, access_token, id_token, payload):
        """Browser sign-in: anybody whose token carries an e-mail may enter the portal; only admins and maintainers
        the admin. The token's principal rides on the user for the callback view, which keeps its permissions in
        the session (``accounts.principal.principal_for_session``)."""
        try:
            user, principal = self.verify(access_token)
        except TokenError:
            return None
        if not principal.email or (signing_in_to_admin(self.request) and not principal.is_privileged):
            return None
        user = sync_admin_rights(user, principal)
        user.signed_in_principal = principal
        return user


def signing_in_to_admin(request) -> bool:
    """Whether a browser sign-in through the provider is for the admin (its page asked with ``next=/admin/...``)
    rather than the portal."""
    session = getattr(request, "session", None)
    target = (session.get("oidc_login_next") if session is not None else None) or "/"
    return str(target).startswith("/admin")


def sync_admin_rights(user, principal: Principal):
    """Make the Django user's admin rights follow the token's permissions."""
    user.is_staff = principal.is_privileged
    user.is_superuser = principal.is_admin
    user.save(update_fields=["is_staff", "is_superuser"])
    maintainers = maintainer_group()
    if Permission.MAINTAINER.value in principal.permissions:
        user.groups.add(maintainers)
    else:
        user.groups.remove(maintainers)
    return user


RESOURCE_APPS = ("applications", "jobscripts", "submissions")


def maintainer_group() -> Group:
    """The group of maintainers: every Django permission on the resource apps, so they can work in the admin."""
    group, created = Group.objects.get_or_create(name=Permission.MAINTAINER.value)
    if created or not group.permissions.exists():
        from django.contrib.auth.models import Permission as ModelPermission

        group.permissions.set(ModelPermission.objects.filter(content_type__app_label__in=RESOURCE_APPS))
    return group


class BearerTokenAuthentication(OIDCAuthentication):
    """``Authorization: Bearer <JWT>``: server-issued tokens and the OpenID provider's, checked the same way."""

    www_authenticate_realm = "jobbergate"

    def __init__(self, backend=None):
        super().__init__(backend or JobbergateOIDCBackend())

    def authenticate(self, request):
        access_token = self.get_access_token(request)
        if not access_token:
            return None
        try:
            return self.backend.verify(access_token)
        except TokenError as error:
            raise exceptions.AuthenticationFailed(str(error)) from None

    def authenticate_header(self, request) -> str:
        return f'Bearer realm="{self.www_authenticate_realm}"'


class SessionPrincipalAuthentication(authentication.SessionAuthentication):
    """Django session sign-in (admin, browsable API), with the user's principal attached."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, _ = result
        return user, principal_for_session(user, request.session)
