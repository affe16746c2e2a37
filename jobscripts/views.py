"""API of job scripts: declarations over the shared resource viewset."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from applications.models import visible_application
from jobbergate.api.filters import asks_own_live_rows
from jobbergate.api.schema import FILE_NAME_PARAMETERS, UPLOAD_REQUEST
from jobbergate.api.serializers import CloneSerializer
from jobbergate.api.viewsets import BASE_SORT_FIELDS, ResourceViewSet, find_file, upload_from_request
from jobbergate.fairness import heavy_request
from jobbergate.views import file_download
from jobscripts import services
from jobscripts.filters import JobScriptFilter
from jobscripts.models import JobScript, LiveJobScriptCount
from jobscripts.serializers import (
    JobScriptFileSerializer,
    JobScriptListSerializer,
    JobScriptSerializer,
    RenderFromTemplateSerializer,
)


class JobScriptViewSet(ResourceViewSet):
    """Job scripts: readable by their owner, maintainers and admins."""

    model = JobScript
    permission_resource = "job-scripts"
    operation_prefix = "job_scripts"
    serializer_class = JobScriptSerializer
    list_serializer_class = JobScriptListSerializer
    clone_serializer_class = CloneSerializer
    filterset_class = JobScriptFilter
    sort_fields = {**BASE_SORT_FIELDS, "parent_template_id": "parent_template_id"}
    select_related = ("parent_template",)
    list_deferred = ("render_parameters", "parent_template__config_source", "parent_template__questions")
    detail_prefetch_related = ("files",)
    action_verbs = {
        "file_download": "read",
        "file_upload": "update",
        "file_delete": "update",
        "render_from_template": "create",
    }

    def known_total(self, request) -> int | None:
        if self.principal.email and asks_own_live_rows(request.query_params):
            return LiveJobScriptCount.of(self.principal.email)
        return None

    def perform_destroy(self, instance):
        services.delete_job_script(job_script=instance)

    def clone_row(self, *, source, owner_email, **overrides):
        return services.clone_job_script(source=source, owner_email=owner_email, **overrides)

    @extend_schema(
        request=RenderFromTemplateSerializer,
        responses={201: JobScriptSerializer},
        description="Render the mapped templates of application `key` (id or identifier) into a new job script.",
    )
    def render_from_template(self, request, key):
        body = RenderFromTemplateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        template = visible_application(self.principal, str(key), with_files=True)
        if template is None:
            raise Http404
        with heavy_request(self.principal, what="renders"):
            job_script = services.render_job_script(
                template=template,
                owner_email=self.require_email(),
                **body.validated_data["create_request"],
                **body.validated_data["render_request"],
            )
        return self.detail_response(job_script, status.HTTP_201_CREATED, fresh=True)

    @extend_schema(responses={(200, "text/plain"): OpenApiTypes.STR})
    def file_download(self, request, pk, name):
        return file_download(find_file(self.get_object().files, name))

    @extend_schema(
        request={"multipart/form-data": UPLOAD_REQUEST},
        parameters=FILE_NAME_PARAMETERS,
        responses={200: JobScriptFileSerializer},
        description="`name` is the file type: ENTRYPOINT or SUPPORT.",
    )
    def file_upload(self, request, pk, name):
        with heavy_request(self.principal, what="file uploads"):
            row = services.upload_job_script_file(
                job_script=self.get_object(), file_type=name, **upload_from_request(request)
            )
        return Response(JobScriptFileSerializer(row).data)

    @extend_schema(responses={200: None})
    def file_delete(self, request, pk, name):
        services.delete_job_script_file(job_script=self.get_object(), filename=name)
        return Response(status=status.HTTP_200_OK)
