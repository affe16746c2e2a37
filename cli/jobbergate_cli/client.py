"""The HTTP layer of the command, with no Click in it: a session, the base URL, a token, retries, errors.

``ApiClient`` sends requests to ``<base>/jobbergate/...`` with the bearer token, retries idempotent requests when
the server cannot be reached or answers 502/503/504, and turns every failure into an ``ApiError`` carrying the
server's own message (``detail``) and per-field errors, so a command can print one clear line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({502, 503, 504})


@dataclass
class ApiError(Exception):
    """A request that failed: ``status`` is the HTTP status (0 when the server could not be reached)."""

    message: str
    status: int = 0
    errors: dict[str, Any] = field(default_factory=dict)
    body: Any = None  # the server's JSON answer, for what a caller reads beyond the message

    def __str__(self) -> str:
        return self.message


@dataclass
class ApiClient:
    """A session with the Jobbergate API at ``base_url`` (``http://host:8000``; ``/jobbergate`` is added)."""

    base_url: str
    token: Callable[[], str | None] = lambda: None
    timeout: float = 15.0
    retries: int = 2
    backoff: float = 0.5
    session: requests.Session = field(default_factory=requests.Session)

    def url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/jobbergate/{path.lstrip('/')}"

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        token = self.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        attempts = 1 + (self.retries if method.upper() in IDEMPOTENT else 0)
        for attempt in range(attempts):
            try:
                response = self.session.request(method, self.url(path), headers=headers, timeout=self.timeout, **kwargs)
            except requests.ConnectionError:
                if attempt + 1 < attempts:
                    time.sleep(self.backoff * 2**attempt)
                    continue
                raise ApiError(f"Cannot reach the Jobbergate API at {self.base_url}") from None
            except requests.Timeout:
                if attempt + 1 < attempts:
                    continue
                raise ApiError(f"The Jobbergate API at {self.base_url} did not answer in {self.timeout:g} s") from None
            if response.status_code in RETRY_STATUSES and attempt + 1 < attempts:
                time.sleep(self.backoff * 2**attempt)
                continue
            if response.status_code >= 400:
                raise error_from(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def json(self, method: str, path: str, **kwargs) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def get(self, path: str, **params) -> Any:
        return self.json("GET", path, params={key: value for key, value in params.items() if value is not None})

    def pages(self, path: str, *, size: int = 100, **params) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, page after page."""
        page = 1
        while True:
            body = self.get(path, page=page, size=size, **params)
            yield from body["items"]
            if page >= body.get("pages", 1):
                return
            page += 1


def error_from(response: requests.Response) -> ApiError:
    """The server's own words for a failed request."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("detail")
        found = body.get("errors")
        errors: dict[str, Any] = found if isinstance(found, dict) else {}
        if isinstance(detail, list):  # FastAPI-style validation errors (upstream servers)
            detail = "; ".join(
                f"{'.'.join(str(part) for part in item.get('loc', [])[1:])}: {item.get('msg')}" for item in detail
            )
        message = str(detail or response.reason)
    else:
        errors, message = {}, response.reason or f"HTTP {response.status_code}"
    return ApiError(f"{message} (HTTP {response.status_code})", status=response.status_code, errors=errors, body=body)
