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


def issuer_url(settings: Settings) -> str:
    if not settings.oidc_domain:
        raise SignInError("OIDC_DOMAIN is not set: cannot sign in with the identity provider")
    domain = settings.oidc_domain.rstrip("/")
    if domain.startswith(("http://", "https://")):
        return domain
    return f"{'https' if settings.oidc_use_https else 'http'}://{domain}"


def provider_endpoints(settings: Settings) -> dict[str, str]:
    """The token and device endpoints, from discovery; Keycloak's paths when there is no discovery document."""
    issuer = issuer_url(settings)
    try:
        response = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=settings.requests_timeout)
        if response.status_code == 200:
            document = response.json()
            return {
                "token": document["token_endpoint"],
                "device": document.get("device_authorization_endpoint", ""),
            }
    except (requests.RequestException, ValueError, KeyError):
        pass
    return {
        "token": f"{issuer}/protocol/openid-connect/token",
        "device": f"{issuer}/protocol/openid-connect/auth/device",
    }


def token_endpoint(settings: Settings) -> str:
    return provider_endpoints(settings)["token"]


def _store(settings: Settings, answer: dict) -> str:
    token = answer.get("access_token")
    if not token:
        raise SignInError("The identity provider answered without an access token")
    save_token(settings, token)
    if answer.get("refresh_token"):
        save_token(settings, answer["refresh_token"], "refresh")
    return token


def refresh(settings: Settings) -> str | None:
    """A new access token from the cached refresh token, or None when that is not possible."""
    refresh_token = cached_token(settings, "refresh")
    if not refresh_token or not settings.oidc_client_id:
        return None
    try:
        response = requests.post(
            token_endpoint(settings),
            data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": settings.oidc_client_id},
            timeout=settings.requests_timeout,
        )
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    return _store(settings, response.json())


def device_login(settings: Settings, show, *, wait_limit: float = 600) -> str:
    """The device code flow: ``show(url, code)`` tells the person where to approve; then poll for the tokens."""
    if not settings.oidc_client_id:
        raise SignInError("OIDC_CLIENT_ID is not set: cannot sign in")
    endpoints = provider_endpoints(settings)
    if not endpoints["device"]:
        raise SignInError("The identity provider offers no device code sign-in")
    data = {"client_id": settings.oidc_client_id, "scope": "openid email offline_access"}
    if settings.oidc_audience:
        data["audience"] = settings.oidc_audience
    try:
        start = requests.post(endpoints["device"], data=data, timeout=settings.requests_timeout)
    except requests.RequestException:
        raise SignInError("Cannot reach the identity provider") from None
    if start.status_code != 200:
        raise SignInError(f"The identity provider refused to start a sign-in (HTTP {start.status_code})")
    codes = start.json()
    show(codes.get("verification_uri_complete") or codes["verification_uri"], codes["user_code"])
    interval = float(codes.get("interval", 5))
    deadline = time.monotonic() + min(float(codes.get("expires_in", wait_limit)), wait_limit)
    while time.monotonic() < deadline:
        time.sleep(interval)
        response = requests.post(
            endpoints["token"],
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "device_code": codes["device_code"],
                "client_id": settings.oidc_client_id,
            },
            timeout=settings.requests_timeout,
        )
        if response.status_code == 200:
            return _store(settings, response.json())
        error = response.json().get("error") if response.content else None
        if error == "slow_down":
            interval += 5
        elif error != "authorization_pending":
            raise SignInError(f"Sign-in did not complete: {error or response.status_code}")
    raise SignInError("Sign-in timed out: the code was not approved in time")


def logout(settings: Settings) -> list[Path]:
    removed = []
    for label in ("access", "refresh"):
        path = settings.token_dir / f"{label}.token"
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed


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
    return _store(settings, response.json())


def access_token(settings: Settings) -> str:
    """The token for the next request, or SignInError saying how to get one."""
    if settings.jobbergate_token:
        return settings.jobbergate_token
    cached = cached_token(settings)
    if cached and not expired(cached):
        return cached
    if settings.oidc_client_secret and settings.oidc_client_id:
        return client_credentials(settings)
    refreshed = refresh(settings)
    if refreshed:
        return refreshed
    if cached:
        raise SignInError("The token has expired and could not be refreshed: run jobbergate login again")
    raise SignInError("Not signed in: run jobbergate login, or set JOBBERGATE_TOKEN (or pass --token)")
