"""Access tokens: signing the server's own, and verifying any bearer JWT through one code path.

A token is trusted only when its ``iss`` names a known issuer, its header names an algorithm that issuer allows
(asymmetric only: no ``none``, no HS256), its signature checks against that issuer's key for the ``kid``, and its
audience and lifetime hold. The server's own tokens are one issuer; the OIDC provider is plugged in as another
(see ``trusted_issuers``), so views never learn which one signed a request.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import jwt
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.errors import TokenError
from accounts.keys import signing_key
from accounts.models import ApiToken
from accounts.oidc import claimed_client_id, claimed_permissions, configured_provider
from jobbergate.prepared import PreparedQuery
from jobbergate.principal import Principal

ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})

__all__ = [
    "TokenError",
    "VerifiedToken",
    "issue_api_token",
    "revoke_api_tokens",
    "sign_api_token",
    "verify_access_token",
]


class Issuer(Protocol):
    """Something that signs access tokens we accept."""

    issuer: str
    audience: str | list[str]
    algorithms: frozenset[str]
    leeway: int

    def key_for(self, kid: str | None) -> Any:
        """The public key for ``kid``; raises TokenError when there is none."""

    def check_claims(self, claims: dict[str, Any]) -> ApiToken | None:
        """Issuer-specific checks after the signature holds (e.g. revocation); the token's row when it keeps one."""

    def principal(self, claims: dict[str, Any], token: str, row: ApiToken | None) -> Principal:
        """Map the verified claims (and the token's row, if any) onto the caller."""


# Every request with a server-issued token asks this (jobbergate.prepared).
_USABLE_TOKEN = PreparedQuery(
    lambda jti, now: ApiToken.objects.usable(now).select_related("user").filter(jti=jti),
    jti=ApiToken._meta.get_field("jti"),
    now=ApiToken._meta.get_field("expires_at"),
)


@dataclass
class LocalIssuer:
    """The server itself, for tokens created in the admin or by ``manage.py create_api_token``."""

    issuer: str
    audience: str | list[str]
    algorithms: frozenset[str] = frozenset({"RS256"})
    leeway: int = 30

    def key_for(self, kid: str | None) -> Any:
        key = signing_key()
        if kid != key.kid:
            raise TokenError("Token was signed with an unknown key (kid)")
        return key.public_key

    def check_claims(self, claims: dict[str, Any]) -> ApiToken:
        """One query: the token must be known and usable; its user comes with it."""
        row = _USABLE_TOKEN.first(jti=str(claims.get("jti", "")), now=timezone.now())
        if row is None:
            raise TokenError("Token has been revoked or is unknown to this server")
        return row

    def principal(self, claims: dict[str, Any], token: str, row: ApiToken | None) -> Principal:
        """Our own tokens act with their row's current facts, not with what the claims said when signed: a person's
        token is its user's current e-mail and may do what it carries *and* its user still holds; a cluster's token
        is its client id and carries its permissions as issued."""
        if row is None:
            raise TokenError("Token is unknown to this server")
        permissions = claimed_permissions(claims.get("permissions"), "permissions")
        if row.client_id:
            return Principal(email=None, permissions=permissions, client_id=row.client_id, token_id=row.jti)
        if not row.user.email:
            raise TokenError("The account of this token has no e-mail address")
        return Principal(
            email=row.user.email,
            permissions=row.effective_permissions(permissions),
            client_id=claimed_client_id(claims),
            token_id=row.jti,
        )


def _issuer_key(value: Any) -> str:
    return str(value or "").rstrip("/")


def trusted_issuers() -> dict[str, Issuer]:
    """Issuers whose tokens the API accepts (the server itself, and the OpenID provider when configured), keyed by
    their ``iss`` value without a trailing slash."""
    issuers: dict[str, Issuer] = {}
    local = LocalIssuer(
        issuer=settings.TOKEN_ISSUER, audience=settings.TOKEN_AUDIENCE, leeway=settings.TOKEN_LEEWAY_SECONDS
    )
    issuers[_issuer_key(local.issuer)] = local
    provider = configured_provider()
    if provider is not None:
        issuers[_issuer_key(provider.issuer)] = provider
    return issuers


@dataclass(frozen=True)
class VerifiedToken:
    claims: dict[str, Any]
    principal: Principal
    user: Any = None  # known when the issuer keeps its own rows (server-issued tokens)


def verify_access_token(token: str) -> VerifiedToken:
    """Return the claims of a valid access token, or raise ``TokenError`` saying what is wrong with it.

    The signature, audience and issuer of a token are checked once per process (``_verified``); every request
    still checks its lifetime, that its issuer is trusted and its key known, and the issuer's own checks (a
    server-issued token's revocation: one query)."""
    cached = _verified.get(token)
    trusted = trusted_issuers().get(_issuer_key(cached.issuer)) if cached else None
    if cached is not None and trusted is not None and cached.still_holds(trusted):
        issuer, claims = trusted, dict(cached.claims)  # a request's own copy: the cached one stays as signed
    else:
        issuer, claims, kid, key = _verify_signed(token)
        _verified.put(token, _Verified(issuer.issuer, issuer.audience, kid, key, claims))
    row = issuer.check_claims(claims)
    return VerifiedToken(
        claims=claims, principal=issuer.principal(claims, token, row), user=row.user if row is not None else None
    )


def _verify_signed(token: str) -> tuple[Issuer, dict[str, Any], str | None, Any]:
    """Every check of a token but the issuer's own: its issuer, algorithm, key, signature, audience and lifetime."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise TokenError("Malformed token: not a JSON Web Token") from None
    algorithm = header.get("alg")
    if algorithm not in ASYMMETRIC_ALGORITHMS:
        raise TokenError(f"Token algorithm {algorithm!r} is not accepted")
    issuer = trusted_issuers().get(_issuer_key(unverified.get("iss")))
    if issuer is None:
        raise TokenError("Token issuer is not trusted")
    if algorithm not in issuer.algorithms:
        raise TokenError(f"Token algorithm {algorithm!r} is not allowed for this issuer")
    key = issuer.key_for(header.get("kid"))
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=issuer.audience,
            issuer=str(unverified.get("iss")),
            leeway=issuer.leeway,
            options={"require": ["exp", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("Token has expired") from None
    except jwt.ImmatureSignatureError:
        raise TokenError("Token is not yet valid") from None
    except jwt.InvalidAudienceError:
        raise TokenError("Token audience is not accepted") from None
    except jwt.InvalidIssuerError:
        raise TokenError("Token issuer is not trusted") from None
    except jwt.InvalidSignatureError:
        raise TokenError("Token signature is invalid") from None
    except jwt.MissingRequiredClaimError as error:
        raise TokenError(f"Token lacks the {error.claim!r} claim") from None
    except jwt.PyJWTError as error:
        raise TokenError(f"Token is invalid: {error}") from None
    return issuer, claims, header.get("kid"), key


@dataclass(frozen=True)
class _Verified:
    """A token whose signature held: for whom, with which key, and what it says."""

    issuer: str
    audience: str | list[str]
    kid: str | None
    key: Any
    claims: dict[str, Any]

    def still_holds(self, issuer: Issuer | None) -> bool:
        """Whether the checks made once still hold now: the issuer still trusted with the same audience and the
        same key for the kid (a rotated key means checking the signature again), and the token not expired."""
        if issuer is None or issuer.audience != self.audience:
            return False
        try:
            if issuer.key_for(self.kid) is not self.key:
                return False
        except TokenError:
            return False
        return time.time() < float(self.claims["exp"]) + issuer.leeway


class _VerifiedTokens:
    """Tokens whose signature held, per process, the most recently used ``size`` of them. Only tokens that passed
    every check get in, so no caller can fill it with made-up ones; each use still checks ``still_holds``."""

    def __init__(self, size: int):
        self._size = size
        self._entries: OrderedDict[str, _Verified] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> _Verified | None:
        with self._lock:
            entry = self._entries.get(token)
            if entry is not None:
                self._entries.move_to_end(token)
            return entry

    def put(self, token: str, entry: _Verified) -> None:
        with self._lock:
            self._entries[token] = entry
            self._entries.move_to_end(token)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_verified = _VerifiedTokens(size=4096)


def forget_verified_tokens() -> None:
    """Check every token from scratch again (tests; a settings change)."""
    _verified.clear()


@dataclass(frozen=True)
class IssuedToken:
    row: ApiToken
    token: str


def sign_api_token(row: ApiToken) -> str:
    """Sign the JWT that stands for a saved ``ApiToken`` row (claims as an OIDC provider would issue them)."""
    key = signing_key()
    claims = {
        "iss": settings.TOKEN_ISSUER,
        "aud": settings.TOKEN_AUDIENCE,
        "sub": str(row.user_id),
        # A cluster's token is a machine identity: it names the cluster, not a person.
        "email": None if row.client_id else (row.user.email or None),
        "permissions": list(row.permissions),
        "azp": row.client_id or "jobbergate-local",
        "iat": int(row.created_at.timestamp()),
        "exp": int(row.expires_at.timestamp()),
        "jti": row.jti,
    }
    if row.client_id:
        claims["client_id"] = row.client_id
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})


@transaction.atomic
def issue_api_token(
    *,
    user,
    permissions: list[str],
    lifetime: timedelta | None = None,
    name: str = "",
    client_id: str = "",
) -> IssuedToken:
    """Create a revocable API token row for ``user`` and return it with the signed token (shown once)."""
    expires_at: datetime = timezone.now() + (lifetime or timedelta(days=settings.TOKEN_DEFAULT_LIFETIME_DAYS))
    row = ApiToken(
        jti=uuid.uuid4().hex,
        user=user,
        name=name,
        permissions=sorted(set(permissions)),
        client_id=client_id,
        expires_at=expires_at,
    )
    row.full_clean()
    row.save()
    return IssuedToken(row=row, token=sign_api_token(row))


def revoke_api_tokens(queryset) -> int:
    """Revoke every token in ``queryset`` that is not revoked yet; return how many were."""
    return queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
