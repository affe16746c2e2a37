"""API of job submissions: declarations over the shared resource viewset."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status

from jobbergate.api.serializers import CloneSerializer
from jobbergate.api.viewsets import BASE_SORT_FIELDS, ResourceViewSet
from submissions import services
from submissions.filters import JobSubmissionFilter
from submissions.models import JobSubmission
from submissions.serializers import JobSubmissionSerializer


class JobSubmissionViewSet(ResourceViewSet):
    """Job submissions: readable by their owner, maintainers and admins."""

    model = JobSubmission
    permission_resource = "job-submissions"
    serializer_class = JobSubmissionSerializer
    clone_serializer_class = CloneSerializer
    filterset_class = JobSubmissionFilter
    search_fields = ("name", "description", "owner_email", "client_id")
    sort_fields = {
        **BASE_SORT_FIELDS,
        "job_script_id": "job_script_id",
        "slurm_job_id": "slurm_job_id",
        "client_id": "client_id",
        "status": "status",
        "slurm_job_state": "slurm_job_state",
    }
    list_select_related = ("job_script",)

    def get_queryset(self):
        return super().get_queryset().select_related("job_script")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = {key: value for key, value in serializer.validated_data.items() if key != "is_archived"}
        submission = services.create_submission(principal=self.principal, owner_email=self.require_email(), **data)
        return self.detail_response(submission, status.HTTP_201_CREATED)

    def clone_row(self, *, source, owner_email, **overrides):
        return services.clone_submission(source=source, owner_email=owner_email, **overrides)

    @extend_schema(operation_id="job_submissions_clone", responses={201: JobSubmissionSerializer})
    def clone(self, request, *args, **kwargs):
        return super().clone(request, *args, **kwargs)
