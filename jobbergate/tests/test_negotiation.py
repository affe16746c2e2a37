"""The API's content negotiation (jobbergate/api/negotiation.py): its shortcut answers as DRF's own negotiation."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.test import RequestFactory
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request

from jobbergate.api.negotiation import HtmlForAdminSessions
from jobbergate.api.renderers import FastJSONRenderer

ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "application/json; indent=4",
    "application/json;q=0.5, */*",
    "application/*",
    "text/html",
    "text/html,*/*",
    "text/plain",
    "",
    " */*",
    "APPLICATION/JSON",
]


def answer(negotiation, accept, query, suffix, renderers):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    raw = RequestFactory().get("/jobbergate/job-scripts" + query, **headers)
    raw.user = AnonymousUser()  # no admin session: the browsable pages are dropped before negotiating
    try:
        renderer, media_type = negotiation.select_renderer(Request(raw), renderers, suffix)
    except NotAcceptable:
        return "406"
    except Http404:  # a format no renderer has
        return "404"
    return type(renderer).__name__, media_type


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("query", ["", "?format=json", "?format=api", "?format=xml", "?page=2"])
@pytest.mark.parametrize("suffix", [None, "json", "api"])
def test_the_api_negotiates_as_drf_does_for_a_token_client(accept, query, suffix):
    ours = answer(HtmlForAdminSessions(), accept, query, suffix, [FastJSONRenderer(), BrowsableAPIRenderer()])
    drf = answer(DefaultContentNegotiation(), accept, query, suffix, [FastJSONRenderer()])
    assert ours == drf
