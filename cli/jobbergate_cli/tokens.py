"""Where the command's access token comes from, and the token cache (files mode 0600).

In order: ``--token`` or ``JOBBERGATE_TOKEN`` (e.g. a server-issued token), the cached access token when it has
not expired (``<cache>/token/access.token``, the upstream CLI's place, so an existing cache keeps working), and
client credentials when a client secret is configured.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import requests

from jobbergate_cli.config import Settings


class SignInError(Exception):
    pass


def claims(token: str) -> dict:
    """The claims of a JWT, read without checking the signature (the server checks it)."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        raise SignInError("The token is not a JSON Web Token") from None


def expired(token: str, margin: float = 10) -> bool:
    exp = claims(token).get("exp")
    return isinstance(exp, (int, float)) and exp <= time.time() + margin


def save_token(settings: Settings, token: str, label: str = "access") -> Path:
    directory = settings.token_dir
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{label}.token"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token)
    os.chmod(path, 0o600)
    return path


def cached_token(settings: Settings, label: str = "access") -> str | None:
    path = settings.token_dir / f"{label}.token"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def token_endpoint(settings: Settings) -> str:
    if not settings.oidc_domain:
        raise SignInError("OIDC_DOMAIN is not set: cannot sign in with the identity provider")
    scheme = "https" if settings.oidc_use_https else "http"
    domain = settings.oidc_domain.rstrip("/")
    return domain if domain.startswith("http") else f"{scheme}://{domain}/protocol/openid-connect/token"


def client_credentials(settings: Settings) -> str:
    """A token for a machine (an agent, a script) from the provider's token endpoint."""
    try:
        response = requests.post(
            token_endpoint(settings),
            data={
                "grant_type": "client_credentials",
                "client_id": settings.oidc_client_id,
                "client_secret": settings.oidc_client_secret,
            },
            timeout=settings.requests_timeout,
        )
    except requests.RequestException:
        raise SignInError("Cannot reach the identity provider for a token") from None
    if response.status_code != 200:
        raise SignInError(f"The identity provider refused the client credentials (HTTP {response.status_code})")
    token = response.json().get("access_token")
    if not token:
        raise SignInError("The identity provider answered without an access token")
    save_token(settings, token)
    return token


def access_token(settings: Settings) -> str:
    """The token for the next request, or SignInError saying how to get one."""
    if settings.jobbergate_token:
        return settings.jobbergate_token
    cached = cached_token(settings)
    if cached and not expired(cached):
        return cached
    if settings.oidc_client_secret and settings.oidc_client_id:
        return client_credentials(settings)
    if cached:
        raise SignInError("The cached token has expired: sign in again (jobbergate login) or set JOBBERGATE_TOKEN")
    raise SignInError("Not signed in: run jobbergate login, or set JOBBERGATE_TOKEN (or pass --token)")
