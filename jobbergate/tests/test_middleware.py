"""The Content-Security-Policy header built once (jobbergate/middleware.py) is django-csp's, and every case django-csp
decides per response still goes through it."""

from __future__ import annotations

from csp.constants import HEADER, NONCE, SELF
from csp.middleware import CSPMiddleware as DjangoCSP
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from jobbergate.middleware import CSPMiddleware


def answer(middleware_class, response=None, *, use_nonce=False):
    request = RequestFactory().get("/jobbergate/health")
    middleware = middleware_class(lambda request: response)
    middleware.process_request(request)
    nonce = str(request.csp_nonce) if use_nonce else None
    response = middleware.process_response(request, response or HttpResponse(status=204))
    return response, request, nonce


def test_the_header_is_django_csp_s():
    ours, request, _ = answer(CSPMiddleware)
    theirs, _, _ = answer(DjangoCSP)
    assert ours[HEADER] == theirs[HEADER]
    assert "default-src 'self'" in ours[HEADER]
    try:
        str(request.csp_nonce)  # asked after the header was written: an error, as with django-csp
    except Exception as error:
        assert "not available after the CSP header has been written" in str(error)
    else:
        raise AssertionError("a nonce asked for after the response must fail")


def test_a_view_s_own_change_and_a_nonce_go_through_django_csp():
    updated = HttpResponse()
    updated._csp_update = {"img-src": ["images.example.org"]}
    response, _, _ = answer(CSPMiddleware, updated)
    assert "images.example.org" in response[HEADER]

    with override_settings(CONTENT_SECURITY_POLICY={"DIRECTIVES": {"script-src": [SELF, NONCE]}}):
        response, _, nonce = answer(CSPMiddleware, use_nonce=True)
        assert f"script-src 'self' 'nonce-{nonce}'" in response[HEADER]

    exempt = HttpResponse()
    exempt._csp_exempt = True
    assert HEADER not in answer(CSPMiddleware, exempt)[0]


def test_a_changed_setting_is_followed():
    with override_settings(CONTENT_SECURITY_POLICY={"DIRECTIVES": {"default-src": [SELF, "cdn.example.org"]}}):
        assert answer(CSPMiddleware)[0][HEADER] == "default-src 'self' cdn.example.org"
    assert "cdn.example.org" not in answer(CSPMiddleware)[0][HEADER]


def test_no_policy_at_all_sends_no_header():
    with override_settings(CONTENT_SECURITY_POLICY=None):
        assert HEADER not in answer(CSPMiddleware)[0]
        assert HEADER not in answer(DjangoCSP)[0]
