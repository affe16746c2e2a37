"""The list conventions every resource shares: search, sort, user_only and include_archived.

A viewset declares ``search_fields`` (model fields) and ``sort_fields`` (wire name -> model field); the
per-resource filters (e.g. ``from_job_script_id``) are ordinary django-filter FilterSets beside this backend.
"""

from __future__ import annotations

from functools import reduce
from operator import or_

import django_filters
from django import forms
from django.db.models import Q
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.filters import BaseFilterBackend

from jobbergate.api.exceptions import BadRequest
from jobbergate.api.query import MAX_DB_INTEGER, query_bool


class IdFilter(django_filters.Filter):
    """An integer id filter: whole numbers within the database's range only (a float or 10**30 is a 400)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_DB_INTEGER)
        super().__init__(*args, **kwargs)


MAX_SEARCH_TERMS = 10
MAX_SEARCH_TERM_LENGTH = 100


# Query parameters of a list that do not narrow it: paging, order, and the two scopes read by ``asks_own_live_rows``.
NOT_NARROWING = frozenset({"page", "size", "sort_field", "sort_ascending", "user_only", "include_archived"})


def asks_own_live_rows(params) -> bool:
    """Whether a list asks for exactly the caller's own rows that are not archived (``user_only`` and not
    ``include_archived``; no search, no filter, nothing else): the upstream CLI's call. Its rows are the same for
    every caller with an e-mail, since everyone may read their own rows."""
    return (
        NOT_NARROWING.issuperset(params)
        and query_bool(params, "user_only", False)
        and not query_bool(params, "include_archived", False)
    )


def list_order(params, view) -> tuple[str, ...]:
    """The ``order_by`` of a list for its ``sort_field`` (one of the view's ``sort_fields``, else a 400) and
    ``sort_ascending``: that column, then the id, so that equal values keep one order across pages."""
    sort_field = params.get("sort_field")
    ascending = query_bool(params, "sort_ascending", True)
    if not sort_field:
        return ("id" if ascending else "-id",)
    column = view.sort_fields.get(sort_field)
    if column is None:
        choices = ", ".join(sorted(view.sort_fields))
        raise BadRequest(f"Invalid sort_field {sort_field[:50]!r}; choose one of: {choices}.")
    order = [column if ascending else f"-{column}"]
    if column != "id":
        order.append("id" if ascending else "-id")
    return tuple(order)


class ListConventionsFilter(BaseFilterBackend):
    """Search terms OR-ed across the searchable fields, stable sorting, owner and archive scoping."""

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", None) != "list":
            return queryset
        return self.apply(queryset, request.query_params, request.auth, view)

    @staticmethod
    def apply(queryset, params, principal, view):
        """The conventions for the query ``params`` of ``principal``'s list; ``view`` (or its class) gives the
        searchable and sortable fields."""
        if query_bool(params, "user_only", False):
            queryset = queryset.owned_by(principal)
        if not query_bool(params, "include_archived", False):
            queryset = queryset.filter(is_archived=False)
        terms = params.get("search", "").split()
        if any("\x00" in term for term in terms):
            raise BadRequest("Query parameter 'search' must not contain NUL characters.")
        if len(terms) > MAX_SEARCH_TERMS or any(len(term) > MAX_SEARCH_TERM_LENGTH for term in terms):
            # Each term is a condition on every searchable field: hundreds of them overflowed SQLite's expression
            # tree (a 500) and made PostgreSQL scan with thousands of ILIKEs.
            raise BadRequest(
                f"Query parameter 'search' may hold at most {MAX_SEARCH_TERMS} terms of at most "
                f"{MAX_SEARCH_TERM_LENGTH} characters."
            )
        if terms:
            conditions = [Q(**{f"{field}__icontains": term}) for term in terms for field in view.search_fields]
            queryset = queryset.filter(reduce(or_, conditions))
        return queryset.order_by(*list_order(params, view))

    def get_schema_operation_parameters(self, view):
        def param(name, schema, description):
            return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}

        return [
            param("search", {"type": "string"}, f"Terms matched against: {', '.join(view.search_fields)}."),
            param("sort_field", {"type": "string", "enum": sorted(view.sort_fields)}, "Field to sort by."),
            param("sort_ascending", {"type": "boolean", "default": True}, "Sort direction."),
            param("user_only", {"type": "boolean", "default": False}, "Only rows the caller owns."),
            param("include_archived", {"type": "boolean", "default": False}, "Include archived rows."),
        ]


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter, answering a filter value it cannot parse with a 400 instead of a 422."""

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", None) != "list":
            return queryset
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            messages = [f"{name}: {' '.join(errors)}" for name, errors in filterset.errors.items()]
            raise BadRequest("Invalid filter: " + "; ".join(messages))
        return filterset.qs
