"""The API's JSON encoder: orjson (drf-orjson-renderer), with DRF's own encoder for what orjson refuses.

orjson encodes a page of 50 rows about ten times faster than the standard library (docs/benchmarks.md); it refuses
integers beyond 64 bits, which a user's JSON (template_vars, render parameters) may hold, and those answers go
through DRF's encoder instead, so no stored value can make an answer fail.

An answer may hold JSON written already (``WrittenJSON``: a list's rows as PostgreSQL writes them,
``jobbergate.database``): orjson puts its text in as it is (``orjson.Fragment``), DRF's encoder parses it first.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from drf_orjson_renderer.renderers import ORJSONRenderer
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder


class WrittenJSON:
    """A value of an answer given as its JSON text, written already (by the database)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"WrittenJSON({self.text!r})"


class _WrittenJSONEncoder(JSONEncoder):
    def default(self, obj):
        if type(obj) is WrittenJSON:
            return json.loads(obj.text)
        return super().default(obj)


class _FallbackRenderer(JSONRenderer):
    encoder_class = _WrittenJSONEncoder


class FastJSONRenderer(ORJSONRenderer):
    @staticmethod
    def default(obj: Any) -> Any:
        if type(obj) is WrittenJSON:
            return orjson.Fragment(obj.text)
        return ORJSONRenderer.default(obj)

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except orjson.JSONEncodeError:
            return _FallbackRenderer().render(data, accepted_media_type, renderer_context)
