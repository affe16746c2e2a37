"""Filters of the job script list beyond the shared list conventions."""

from __future__ import annotations

import django_filters

from jobbergate.api.filters import IdFilter
from jobscripts.models import JobScript


class JobScriptFilter(django_filters.FilterSet):
    from_job_script_template_id = IdFilter(field_name="parent_template_id")

    class Meta:
        model = JobScript
        fields = ["from_job_script_template_id"]
