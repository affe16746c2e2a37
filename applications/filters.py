"""Filters of the application list beyond the shared list conventions."""

from __future__ import annotations

import django_filters

from applications.models import JobScriptTemplate
from jobbergate.api.query import query_bool


class JobScriptTemplateFilter(django_filters.FilterSet):
    """``include_null_identifier`` (default false): rows without an identifier are hidden unless asked for."""

    class Meta:
        model = JobScriptTemplate
        fields: list[str] = []

    @property
    def qs(self):
        queryset = super().qs
        if not query_bool(self.data, "include_null_identifier", False):
            queryset = queryset.filter(identifier__isnull=False)
        return queryset
