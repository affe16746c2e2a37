"""Filters of the submission list beyond the shared list conventions."""

from __future__ import annotations

import django_filters

from jobbergate.api.filters import IdFilter
from jobbergate.api.query import query_int_list
from submissions.choices import JobSubmissionStatus
from submissions.models import JobSubmission


class JobSubmissionFilter(django_filters.FilterSet):
    submit_status = django_filters.ChoiceFilter(field_name="status", choices=JobSubmissionStatus.choices)
    from_job_script_id = IdFilter(field_name="job_script_id")
    slurm_job_ids = django_filters.CharFilter(method="filter_slurm_job_ids", help_text="Comma-separated Slurm job ids.")

    class Meta:
        model = JobSubmission
        fields = ["submit_status", "from_job_script_id", "slurm_job_ids"]

    def filter_slurm_job_ids(self, queryset, name, value):
        ids = query_int_list({"slurm_job_ids": value}, "slurm_job_ids")
        return queryset if ids is None else queryset.filter(slurm_job_id__in=ids)
