"""Request parsers that refuse oversized bodies (413) before reading them, and JSON that is not plain JSON (400).

Every JSON body goes through ``jobbergate.syntax.load_json``: nesting deeper than ``JSON_MAX_DEPTH`` levels and
non-finite numbers (``NaN``, ``Infinity``, ``-Infinity``, or a literal too large for a double such as ``1e999``)
are refused with a 400 that says so, whatever the endpoint.
"""

from __future__ import annotations

import codecs

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from jobbergate.api.exceptions import PayloadTooLarge
from jobbergate.syntax import load_json


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
        _refuse_when_larger(parser_context, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)  # one file and its form fields
        return super().parse(stream, media_type, parser_context)


class LimitedFormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        _refuse_when_larger(parser_context, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return super().parse(stream, media_type, parser_context)
