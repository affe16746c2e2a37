"""DRF authentication classes. Each returns ``(user, principal)``: ``request.auth`` is always a Principal."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import authentication, exceptions

from accounts.principal import Principal, principal_for_user
from accounts.tokens import TokenError, verify_access_token


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """Map verified token claims onto a principal (email, permission list, cluster client id)."""
    permissions = claims.get("permissions") or []
    if not isinstance(permissions, list) or not all(isinstance(item, str) for item in permissions):
        raise TokenError("Token 'permissions' claim must be a list of strings")
    email = claims.get("email")
    if email is not None and not isinstance(email, str):
        raise TokenError("Token 'email' claim must be a string")
    client_id = claims.get("client_id") or claims.get("azp")
    return Principal(
        email=email or None,
        permissions=frozenset(permissions),
        client_id=client_id if isinstance(client_id, str) else None,
        token_id=claims.get("jti"),
    )


def user_for_principal(principal: Principal):
    """The Django user standing for a token's owner, created on first sight (keyed by e-mail or client id)."""
    user_model = get_user_model()
    if principal.email:
        username, email = principal.email.lower()[:150], principal.email
    elif principal.client_id:
        username, email = f"client:{principal.client_id}"[:150], ""
    else:
        raise TokenError("Token carries neither an 'email' nor a client id")
    user, _ = user_model.objects.get_or_create(username=username, defaults={"email": email})
    return user


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <JWT>`` checked by ``verify_access_token`` (server-issued or OIDC)."""

    keyword = "Bearer"

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Bearer <token>'")
        try:
            token = parts[1].decode("ascii")
            verified = verify_access_token(token)
            principal = principal_from_claims(verified.claims)
            user = verified.user or user_for_principal(principal)
            if not user.is_active:
                raise TokenError("The account of this token is disabled")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Malformed token: not ASCII") from None
        except TokenError as error:
            raise exceptions.AuthenticationFailed(str(error)) from None
        return user, principal

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="jobbergate"'


class SessionPrincipalAuthentication(authentication.SessionAuthentication):
    """Django session sign-in (admin, browsable API), with the user's principal attached."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, _ = result
        return user, principal_for_user(user)
