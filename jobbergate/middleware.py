"""Middleware of our own."""

from __future__ import annotations

from csp.constants import HEADER
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as PolicyPerResponse
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

# What a view may set on its response (django-csp's decorators) to change the policy for that response alone.
_PER_RESPONSE = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro")


class CSPMiddleware(PolicyPerResponse):
    """django-csp's middleware, with the site's Content-Security-Policy header built once per process.

    django-csp builds the header from the settings for every response, a quarter of the server's own time for a
    request as small as the health check (bench/run-profile). The site's policy is one string as long as the
    settings stay: a response that changes nothing (no per-view decorator, no nonce used, no report-only policy, no
    excluded path) gets that string; any other goes through django-csp as before.
    """

    def process_response(self, request, response):
        policy = _site_policy()
        if (
            not policy  # None: decided per response; "": no policy at all, which django-csp leaves unset
            or getattr(request, "_csp_nonce", None) is not None
            or any(hasattr(response, name) for name in _PER_RESPONSE)
            or (settings.DEBUG and response.status_code in (404, 500))
        ):
            return super().process_response(request, response)
        if HEADER not in response and not getattr(response, "_csp_exempt", False):
            response[HEADER] = policy
        # As django-csp does: asking for a nonce after the header is written is an error, not a silent no-op.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response


_UNKNOWN = object()
_policy: object = _UNKNOWN  # replaced whole, never changed in place: a reader sees the old value or the new one


def _site_policy() -> str | None:
    """The site's policy header, built once; None (django-csp decides each time) when the settings ask for more than
    one policy: a report-only one, or paths left out."""
    global _policy
    policy = _policy
    if policy is _UNKNOWN:  # two threads may both build it: the same string
        enforced = getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}
        simple = not getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None) and not enforced.get(
            "EXCLUDE_URL_PREFIXES"
        )
        policy = _policy = build_policy() if simple else None
    return policy  # type: ignore[return-value]


@receiver(setting_changed)
def _forget_policy(setting, **kwargs):
    global _policy
    if setting.startswith("CONTENT_SECURITY_POLICY") or setting == "DEBUG":
        _policy = _UNKNOWN
