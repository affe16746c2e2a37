"""Request parsers that refuse oversized bodies (413) before reading them, and JSON that is not plain JSON (400).

Every JSON body goes through ``load_json``: nesting deeper than ``JSON_MAX_DEPTH`` levels and non-finite numbers
(``NaN``, ``Infinity``, ``-Infinity``, or a literal too large for a double such as ``1e999``) are refused with a
400 that says so, whatever the endpoint.
"""

from __future__ import annotations

import codecs
import json
import math

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from jobbergate.api.exceptions import PayloadTooLarge
from jobbergate.validation import JSON_MAX_DEPTH

# Room for multipart boundaries and form fields around the one file an upload carries.
MULTIPART_OVERHEAD = 64 * 1024


def _refuse_when_larger(parser_context, limit: int) -> None:
    request = parser_context.get("request") if parser_context else None
    if request is None:
        return
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise PayloadTooLarge(f"Request body of {length} bytes is over the limit of {limit} bytes.")


class JSONTextError(ValueError):
    """JSON text that is malformed, nested too deeply or holds a non-finite number; the message says which."""


NON_FINITE = "non-finite numbers (NaN, Infinity, -Infinity or a number too large for a double) are not JSON"


def _refuse_constant(name: str):
    raise JSONTextError(f"{NON_FINITE}: {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONTextError(f"{NON_FINITE}: {text[:40]}")
    return value


def _deeper_than(value, limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels (a scalar is one level); iterative."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return False


def load_json(text: str | bytes):
    """Parse JSON text strictly: at most ``JSON_MAX_DEPTH`` levels deep and finite numbers only.

    Raises ``JSONTextError`` (a ``ValueError``) with a message fit for a client.
    """
    too_deep = f"JSON nested deeper than {JSON_MAX_DEPTH} levels is refused"
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise JSONTextError(too_deep) from None
    except JSONTextError:
        raise
    except ValueError as error:
        raise JSONTextError(str(error)) from None
    if _deeper_than(value, JSON_MAX_DEPTH):
        raise JSONTextError(too_deep)
    return value


class LimitedJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        _refuse_when_larger(parser_context, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        try:
            text = codecs.getreader(parsers.get_encoding(parser_context or {}))(stream).read()
            return load_json(text)
        except ValueError as error:  # JSONTextError, and text that does not decode
            raise ParseError(f"JSON parse error - {error}") from None


class LimitedMultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        _refuse_when_larger(parser_context, settings.MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD)
        return super().parse(stream, media_type, parser_context)


class LimitedFormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        _refuse_when_larger(parser_context, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return super().parse(stream, media_type, parser_context)
