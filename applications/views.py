"""API of applications ("job script templates"): declarations over the shared resource viewset."""

from __future__ import annotations

import json

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from applications import services
from applications.filters import JobScriptTemplateFilter
from applications.models import JobScriptTemplate
from applications.serializers import (
    JobScriptTemplateCloneSerializer,
    JobScriptTemplateListSerializer,
    JobScriptTemplateSerializer,
    TemplateFileSerializer,
    WorkflowFileSerializer,
)
from jobbergate.api.exceptions import BadRequest
from jobbergate.api.schema import FILE_NAME_PARAMETERS, UPLOAD_REQUEST
from jobbergate.api.viewsets import (
    BASE_SORT_FIELDS,
    ResourceViewSet,
    file_download,
    find_file,
    read_upload,
    upload_from_request,
)
from jobbergate.validation import contains_nul

WORKFLOW_UPLOAD_REQUEST = inline_serializer(
    "WorkflowUpload",
    {"upload_file": serializers.FileField(required=False), "runtime_config": serializers.CharField(required=False)},
)


class JobScriptTemplateViewSet(ResourceViewSet):
    """Applications: a shared catalogue readable by every signed-in user; `{x}` is an id or an identifier."""

    model = JobScriptTemplate
    permission_resource = "job-templates"
    serializer_class = JobScriptTemplateSerializer
    list_serializer_class = JobScriptTemplateListSerializer
    clone_serializer_class = JobScriptTemplateCloneSerializer
    filterset_class = JobScriptTemplateFilter
    search_fields = ("name", "description", "owner_email", "identifier")
    sort_fields = {**BASE_SORT_FIELDS, "identifier": "identifier"}
    detail_prefetch_related = ("template_files", "workflow_files")
    action_verbs = {
        "download_template": "read",
        "download_workflow": "read",
        "upload_template": "update",
        "delete_template": "update",
        "upload_workflow": "update",
        "delete_workflow": "update",
    }

    def get_object(self):
        template = get_object_or_404(self.get_queryset().by_key(str(self.kwargs["pk"])))
        self.check_object_permissions(self.request, template)
        return template

    def perform_destroy(self, instance):
        services.delete_template(template=instance)

    def clone_row(self, *, source, owner_email, **overrides):
        return services.clone_template(source=source, owner_email=owner_email, **overrides)

    @extend_schema(operation_id="job_script_templates_clone", responses={201: JobScriptTemplateSerializer})
    def clone(self, request, *args, **kwargs):
        return super().clone(request, *args, **kwargs)

    @extend_schema(
        operation_id="job_script_templates_template_file_download", responses={(200, "text/plain"): OpenApiTypes.STR}
    )
    def download_template(self, request, pk, name):
        return file_download(find_file(self.get_object().template_files, name))

    @extend_schema(
        operation_id="job_script_templates_template_file_upload",
        request={"multipart/form-data": UPLOAD_REQUEST},
        parameters=FILE_NAME_PARAMETERS,
        responses={200: TemplateFileSerializer},
        description="`name` is the file type: ENTRYPOINT or SUPPORT.",
    )
    def upload_template(self, request, pk, name):
        row = services.upload_template_file(template=self.get_object(), file_type=name, **upload_from_request(request))
        return Response(TemplateFileSerializer(row).data)

    @extend_schema(operation_id="job_script_templates_template_file_delete", responses={200: None})
    def delete_template(self, request, pk, name):
        services.delete_template_file(template=self.get_object(), filename=name)
        return Response(status=status.HTTP_200_OK)

    @extend_schema(
        operation_id="job_script_templates_workflow_download", responses={(200, "text/plain"): OpenApiTypes.STR}
    )
    def download_workflow(self, request, pk):
        return file_download(find_file(self.get_object().workflow_files, services.WORKFLOW_FILENAME))

    @extend_schema(
        operation_id="job_script_templates_workflow_upload",
        request={"multipart/form-data": WORKFLOW_UPLOAD_REQUEST},
        responses={200: WorkflowFileSerializer},
    )
    def upload_workflow(self, request, pk):
        template = self.get_object()
        content, _ = read_upload(request, required=False)
        row = services.upload_workflow(
            template=template, content=content, runtime_config=parse_runtime_config(request.data.get("runtime_config"))
        )
        return Response(WorkflowFileSerializer(row).data)

    @extend_schema(operation_id="job_script_templates_workflow_delete", responses={200: None})
    def delete_workflow(self, request, pk):
        services.delete_workflow(template=self.get_object())
        return Response(status=status.HTTP_200_OK)


def parse_runtime_config(raw) -> dict | None:
    """The ``runtime_config`` form field: JSON text holding an object (the jobbergate_config section)."""
    if raw is None or raw == "":
        return None
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        raise BadRequest("runtime_config must be JSON text.") from None
    if not isinstance(value, dict):
        raise BadRequest("runtime_config must be a JSON object.")
    if contains_nul(value):
        raise BadRequest("runtime_config must not contain NUL characters.")
    return value
