"""The OpenID provider (Auth0, Keycloak, ...) as a trusted issuer of access tokens, checked locally.

Discovery (``<OIDC_ISSUER_URL>/.well-known/openid-configuration``) and the provider's JWKS are fetched on first
use and cached in the process; a token naming an unknown ``kid`` triggers at most one refetch per
``OIDC_JWKS_MIN_REFETCH_SECONDS``. In steady state no request reaches the provider. When the provider cannot be
reached, cached keys keep serving; without cached keys a call gets 503.

Claims map onto the principal by settings: the e-mail claim (with a userinfo fallback, cached per token, when
the access token lacks it), the permissions claim (a dotted path, so Keycloak's
``resource_access.<client>.roles`` works), and ``azp``/``client_id`` as the cluster identity.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import requests
from django.conf import settings

from accounts.errors import TokenError
from jobbergate.errors import Unavailable
from jobbergate.principal import Principal

logger = logging.getLogger(__name__)


class ProviderUnavailable(Unavailable):
    """The identity provider cannot be reached (or publishes no keys): the token can be neither accepted nor
    refused now (the API answers 503)."""

    def __init__(
        self, message: str = "The identity provider cannot be reached to check this token; try again shortly."
    ) -> None:
        super().__init__(message)


def claimed_permissions(value: Any, claim: str) -> frozenset[str]:
    """The permission strings a token's claim carries, for every kind of token (ours and a provider's): a list of
    strings, or one space-separated string (a provider's ``scope`` style); anything else refuses the token."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TokenError(f"Token claim {claim!r} must be a list of strings")
    return frozenset(value)


def claimed_client_id(claims: dict[str, Any]) -> str | None:
    """The client a token was issued to (``azp``, else ``client_id``): a cluster's name for an agent's token."""
    client_id = claims.get("azp") or claims.get("client_id")
    return client_id if isinstance(client_id, str) else None


def claim_at(claims: dict[str, Any], path: str) -> Any:
    """The claim at a dotted path (``resource_access.jobbergate.roles``), or a top-level claim whose name has dots
    (Auth0 namespaced claims such as ``https://example.com/email``)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


@dataclass
class OIDCProvider:
    """One configured OpenID provider; thread-safe caches of its discovery document, keys and userinfo."""

    issuer: str
    audience: str | list[str]
    algorithms: frozenset[str]
    leeway: int = 30
    cache_seconds: int = 3600
    min_refetch_seconds: int = 30
    timeout: float = 5.0
    email_claim: str = "email"
    permissions_claim: str = "permissions"
    require_email: bool = True
    requests_made: int = 0
    _metadata: dict[str, Any] | None = None
    _metadata_at: float = 0.0
    _keys: dict[str, Any] = field(default_factory=dict)
    _keys_at: float = 0.0
    _attempted_at: float = 0.0
    _userinfo: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # HTTP -----------------------------------------------------------------------------------------------------

    def _get_json(self, url: str, **kwargs) -> dict[str, Any]:
        self.requests_made += 1
        response = requests.get(url, timeout=self.timeout, **kwargs)
        response.raise_for_status()
        return response.json()

    # Discovery ------------------------------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The discovery document, cached; a stale copy keeps serving while the provider is down."""
        now = time.monotonic()
        if self._metadata is not None and now - self._metadata_at < self.cache_seconds:
            return self._metadata
        with self._lock:
            if self._metadata is not None and now - self._metadata_at < self.cache_seconds:
                return self._metadata
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                self._metadata = self._get_json(url)
                self._metadata_at = now
            except (requests.RequestException, ValueError) as error:
                if self._metadata is None:
                    logger.warning("OpenID discovery failed at %s: %s", url, error.__class__.__name__)
                    raise ProviderUnavailable() from None
                logger.warning("OpenID discovery failed; keeping the cached document: %s", error.__class__.__name__)
            return self._metadata

    def endpoint(self, name: str) -> str | None:
        return self.metadata().get(name)

    # Keys -----------------------------------------------------------------------------------------------------

    def _fetch_keys(self) -> None:
        jwks_uri = self.endpoint("jwks_uri")
        if not jwks_uri:
            raise ProviderUnavailable("The identity provider publishes no jwks_uri.")
        document = self._get_json(jwks_uri)
        keys = {}
        for data in document.get("keys", []):
            if data.get("use", "sig") != "sig" or "kid" not in data:
                continue
            try:
                keys[data["kid"]] = jwt.PyJWK(data).key
            except jwt.PyJWTError:
                logger.info("Ignoring a JWKS key the server cannot use (kid %s)", data.get("kid"))
        self._keys = keys
        self._keys_at = time.monotonic()

    def key_for(self, kid: str | None) -> Any:
        """The provider's public key for ``kid``: cached; refetched when stale, or once for an unknown kid."""
        if not kid:
            raise TokenError("Token header lacks a key id (kid)")
        if self._needs_fetch(kid):
            with self._lock:
                if self._needs_fetch(kid):
                    self._refresh_keys()
        key = self._keys.get(kid)
        if key is None:
            raise TokenError("Token was signed with an unknown key (kid)")
        return key

    def _needs_fetch(self, kid: str) -> bool:
        if not self._keys:
            return True
        now = time.monotonic()
        if now - self._attempted_at < self.min_refetch_seconds:
            return False
        return kid not in self._keys or now - self._keys_at >= self.cache_seconds

    def _refresh_keys(self) -> None:
        self._attempted_at = time.monotonic()
        try:
            self._fetch_keys()
        except (requests.RequestException, ValueError, ProviderUnavailable) as error:
            if not self._keys:
                logger.warning("Fetching the provider's keys failed: %s", error.__class__.__name__)
                raise ProviderUnavailable() from None
            logger.warning(
                "Fetching the provider's keys failed (%s); the cached keys keep serving", error.__class__.__name__
            )

    # Claims ---------------------------------------------------------------------------------------------------

    def check_claims(self, claims: dict[str, Any]) -> None:
        """The provider keeps no rows here: its tokens are what it signed (its own revocation is its business)."""
        return None

    def principal(self, claims: dict[str, Any], token: str, row: Any = None) -> Principal:
        """Map the provider's claims onto a principal, asking userinfo (once per token) for a missing e-mail."""
        email = claim_at(claims, self.email_claim)
        if not email and not self.is_machine_token(claims):
            email = claim_at(self.userinfo(token, claims), self.email_claim) or claim_at(
                self.userinfo(token, claims), "email"
            )
        if email is not None and not isinstance(email, str):
            raise TokenError(f"Token claim {self.email_claim!r} must be a string")
        if not email and self.require_email and not self.is_machine_token(claims):
            raise TokenError(f"Token lacks the {self.email_claim!r} claim (an e-mail is required)")
        return Principal(
            email=email or None,
            permissions=claimed_permissions(claim_at(claims, self.permissions_claim), self.permissions_claim),
            client_id=claimed_client_id(claims),
            token_id=claims.get("jti"),
        )

    @staticmethod
    def is_machine_token(claims: dict[str, Any]) -> bool:
        """A client-credentials token: no user behind it (Auth0 marks it, other providers make sub the client)."""
        client_id = claims.get("client_id") or claims.get("azp")
        subject = str(claims.get("sub", ""))
        return claims.get("gty") == "client-credentials" or (
            bool(client_id) and (subject == client_id or subject == f"{client_id}@clients")
        )

    def userinfo(self, token: str, claims: dict[str, Any]) -> dict[str, Any]:
        """The userinfo of a token, asked once and cached until the token expires."""
        cache_key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._userinfo.get(cache_key)
        if cached and cached[0] > time.time():
            return cached[1]
        endpoint = self.endpoint("userinfo_endpoint")
        if not endpoint:
            return {}
        try:
            info = self._get_json(endpoint, headers={"Authorization": f"Bearer {token}"})
        except requests.HTTPError:
            return {}
        except (requests.RequestException, ValueError):
            raise ProviderUnavailable() from None
        with self._lock:
            now = time.time()
            for key in [key for key, (expires, _) in self._userinfo.items() if expires <= now]:
                del self._userinfo[key]
            self._userinfo[cache_key] = (float(claims.get("exp", now + 300)), info)
        return info


_provider: OIDCProvider | None = None
_provider_lock = threading.Lock()


def configured_provider() -> OIDCProvider | None:
    """The provider named by the settings (one per process), or None when no provider is configured."""
    global _provider
    issuer = settings.OIDC_ISSUER_URL
    if not issuer:
        return None
    if _provider is None or _provider.issuer != issuer or _provider.audience != settings.OIDC_AUDIENCE:
        with _provider_lock:
            _provider = OIDCProvider(
                issuer=issuer,
                audience=settings.OIDC_AUDIENCE,
                algorithms=frozenset(settings.OIDC_ALLOWED_ALGORITHMS),
                leeway=settings.OIDC_LEEWAY_SECONDS,
                cache_seconds=settings.OIDC_JWKS_CACHE_SECONDS,
                min_refetch_seconds=settings.OIDC_JWKS_MIN_REFETCH_SECONDS,
                timeout=settings.OIDC_TIMEOUT_SECONDS,
                email_claim=settings.OIDC_EMAIL_CLAIM,
                permissions_claim=settings.OIDC_PERMISSIONS_CLAIM,
                require_email=settings.OIDC_REQUIRE_EMAIL,
            )
    return _provider


def reset_provider() -> None:
    """Forget cached discovery, keys and userinfo (tests; a settings change)."""
    global _provider
    with _provider_lock:
        _provider = None
