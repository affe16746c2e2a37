"""The list envelope of the contract: ``{"items", "total", "page", "size", "pages"}``, pages counted from 1."""

from __future__ import annotations

import math

from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from jobbergate.api.query import query_int

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


class PageSizePagination(BasePagination):
    """``page`` (from 1) and ``size`` (1..100, default 50); a page past the end is empty, not an error."""

    def read_page(self, request) -> tuple[int, int]:
        """The requested page as (offset, limit); for a view that fetches its page itself, then sets ``total``."""
        self.page = query_int(request.query_params, "page", 1, minimum=1)
        self.size = query_int(request.query_params, "size", DEFAULT_PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE)
        return (self.page - 1) * self.size, self.size

    def paginate_queryset(self, queryset, request, view=None, *, read=None, total=None):
        """The page's rows: model instances, or the rows ``read(queryset)`` gives (a ``values()`` queryset); counted
        on the rows themselves, without the joins the columns of related rows would add, unless the caller knows the
        ``total`` already."""
        offset, _ = self.read_page(request)
        self.total = queryset.count() if total is None else total
        if offset >= self.total:
            return []
        rows = read(queryset) if read is not None else queryset
        return list(rows[offset : offset + self.size])

    def paginate_prepared(self, request, total: int, read) -> list:
        """The requested page of a list of ``total`` rows, read by ``read(offset, limit)`` (a prepared query's
        ``page``) unless it lies past the end."""
        offset, _ = self.read_page(request)
        self.total = total
        return [] if offset >= total else read(offset, self.size)

    def get_paginated_response(self, data):
        return Response(
            {
                "items": data,
                "total": self.total,
                "page": self.page,
                "size": self.size,
                "pages": math.ceil(self.total / self.size),
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["items", "total", "page", "size", "pages"],
            "properties": {
                "items": schema,
                "total": {"type": "integer", "minimum": 0},
                "page": {"type": "integer", "minimum": 1},
                "size": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
                "pages": {"type": "integer", "minimum": 0},
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "page",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "default": 1},
                "description": "Page number, from 1.",
            },
            {
                "name": "size",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
                "description": "Rows per page.",
            },
        ]
