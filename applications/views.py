"""API of applications ("job script templates"): declarations over the shared resource viewset."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from applications import services
from applications.bundle import read_archive, read_uploads, write_archive
from applications.filters import JobScriptTemplateFilter
from applications.models import JobScriptTemplate, validate_config_json
from applications.questions import json_schema
from applications.serializers import (
    JobScriptTemplateCloneSerializer,
    JobScriptTemplateListSerializer,
    JobScriptTemplateSerializer,
    TemplateFileSerializer,
    WorkflowFileSerializer,
)
from jobbergate.api.exceptions import BadRequest
from jobbergate.api.query import query_bool
from jobbergate.api.schema import FILE_NAME_PARAMETERS, UPLOAD_REQUEST
from jobbergate.api.serializers import CloneSerializer
from jobbergate.api.viewsets import (
    BASE_SORT_FIELDS,
    ResourceViewSet,
    find_file,
    read_upload,
    upload_from_request,
)
from jobbergate.fairness import heavy_request
from jobbergate.syntax import load_json
from jobbergate.validation import check_identifier, check_relative_path
from jobbergate.views import file_download


class ApplicationUploadSerializer(JobScriptTemplateSerializer):
    skipped_files = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Files of the folder that are not part of the application (not in templates/), skipped.",
    )

    class Meta(JobScriptTemplateSerializer.Meta):
        fields = (*JobScriptTemplateSerializer.Meta.fields, "skipped_files")


FOLDER_UPLOAD_REQUEST = inline_serializer("ApplicationFolderUpload", {"archive": serializers.FileField(required=False)})
WORKFLOW_UPLOAD_REQUEST = inline_serializer(
    "WorkflowUpload",
    {"upload_file": serializers.FileField(required=False), "runtime_config": serializers.CharField(required=False)},
)


class ApplicationFolderViews:
    """Whole application folders: upload (create or update) and download as an archive."""

    @extend_schema(
        request={"multipart/form-data": FOLDER_UPLOAD_REQUEST},
        parameters=[
            OpenApiParameter("name", str, description="Name of the application (default: kept, or the identifier)."),
            OpenApiParameter("description", str, description="Description of the application."),
            OpenApiParameter(
                "create_only",
                bool,
                description="Only create: when the application `{id}` exists, answer 409 and change nothing.",
            ),
        ],
        responses={200: ApplicationUploadSerializer, 201: ApplicationUploadSerializer},
        description=(
            "Create the application `{id}` (an identifier) from a whole folder, or replace the files of the existing "
            "application `{id}` (identifier or id); with `create_only=true`, an existing one is a 409 instead. Send "
            "one `archive` (.tar.gz, .tgz, .tar, .zip), or one multipart part per file whose field name is the "
            "file's path in the folder (`jobbergate.yaml`, `templates/job.sh.j2`, ...)."
        ),
    )
    def application_upload(self, request, pk):
        key = str(pk)
        owner_email = self.require_email()  # before the body is read: an agent's token is refused at once
        create_only = query_bool(request.query_params, "create_only", False)
        check_change = services.refuse_existing_application if create_only else self.check_folder_change
        template = self.get_queryset().by_key(key).first()
        if template is not None:
            check_change(template)  # early, so a refused caller costs no parsing; again under the lock
        elif key.isdigit():
            raise NotFound(f"There is no application {key}.")
        else:
            check_identifier(key)
        with heavy_request(self.principal, what="application folder uploads"):
            bundle = services.load_bundle(read_folder_upload(request))
        # The name and description have the same bounds as everywhere else (255 characters, no NUL).
        names = CloneSerializer(
            data={
                "name": request.query_params.get("name") or request.data.get("name") or None,
                "description": request.query_params.get("description", request.data.get("description")),
            }
        )
        names.is_valid(raise_exception=True)
        template, created = services.upsert_application(
            identifier=template.identifier if template else key,
            template=template,
            bundle=bundle,
            owner_email=owner_email,
            name=names.validated_data.get("name"),
            description=names.validated_data.get("description"),
            check_change=check_change,
        )
        response = self.detail_response(template, status.HTTP_201_CREATED if created else status.HTTP_200_OK)
        response.data["skipped_files"] = bundle.skipped
        return response

    def check_folder_change(self, template: JobScriptTemplate) -> None:
        services.check_may_replace(self.principal, template)

    @extend_schema(
        parameters=[OpenApiParameter("archive_format", str, enum=["tar.gz", "zip"], description="Default tar.gz.")],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def application_download(self, request, pk):
        template = self.get_object()
        archive_format = request.query_params.get("archive_format", "tar.gz")
        if archive_format not in ("tar.gz", "zip"):
            raise BadRequest("archive_format must be tar.gz or zip.")
        root = template.identifier or f"application-{template.pk}"
        with heavy_request(self.principal, what="application downloads"):
            data = write_archive(services.application_folder(template, root=root), archive_format)
        response = HttpResponse(data, content_type="application/zip" if archive_format == "zip" else "application/gzip")
        response["Content-Disposition"] = content_disposition_header(True, f"{root}.{archive_format}")
        return response


def read_folder_upload(request) -> dict[str, bytes]:
    """The files of an uploaded folder: one ``archive`` part, or one part per file named by its path."""
    limits = services.bundle_limits()
    if "archive" in request.FILES:
        if len(request.FILES) > 1:
            raise BadRequest("Send either one 'archive' or the folder's files, not both.")
        return read_archive(request.FILES["archive"].read(), limits)
    uploads = [(field, upload.read()) for field, parts in request.FILES.lists() for upload in parts]
    if not uploads:
        raise BadRequest("Send an 'archive' part or one part per file of the folder.")
    return read_uploads(uploads, limits)


class JobScriptTemplateViewSet(ApplicationFolderViews, ResourceViewSet):
    """Applications: a shared catalogue readable by every signed-in user; `{x}` is an id or an identifier."""

    model = JobScriptTemplate
    permission_resource = "job-templates"
    operation_prefix = "job_script_templates"
    serializer_class = JobScriptTemplateSerializer
    list_serializer_class = JobScriptTemplateListSerializer
    clone_serializer_class = JobScriptTemplateCloneSerializer
    filterset_class = JobScriptTemplateFilter
    search_fields = ("name", "description", "owner_email", "identifier")
    sort_fields = {**BASE_SORT_FIELDS, "identifier": "identifier"}
    detail_prefetch_related = ("template_files", "workflow_files")
    action_verbs = {
        "template_file_download": "read",
        "workflow_download": "read",
        "template_file_upload": "update",
        "template_file_delete": "update",
        "workflow_upload": "update",
        "workflow_delete": "update",
        "application_upload": "create",
        "questions_schema": "read",
        "application_download": "read",
    }

    def get_object(self):
        template = get_object_or_404(self.get_queryset().by_key(str(self.kwargs["pk"])))
        self.check_object_permissions(self.request, template)
        return template

    def perform_destroy(self, instance):
        services.delete_template(template=instance)

    def clone_row(self, *, source, owner_email, **overrides):
        return services.clone_template(source=source, owner_email=owner_email, **overrides)

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        description="The application's typed questions as a JSON Schema (draft 2020-12) of the answers object.",
    )
    def questions_schema(self, request, pk):
        template = self.get_object()
        return Response(json_schema(services.stored_questions(template), title=template.name))

    @extend_schema(responses={(200, "text/plain"): OpenApiTypes.STR})
    def template_file_download(self, request, pk, name):
        return file_download(find_file(self.get_object().template_files, name, check=check_relative_path))

    @extend_schema(
        request={"multipart/form-data": UPLOAD_REQUEST},
        parameters=FILE_NAME_PARAMETERS,
        responses={200: TemplateFileSerializer},
        description="`name` is the file type: ENTRYPOINT or SUPPORT.",
    )
    def template_file_upload(self, request, pk, name):
        with heavy_request(self.principal, what="file uploads"):
            row = services.upload_template_file(
                template=self.get_object(), file_type=name, **upload_from_request(request)
            )
        return Response(TemplateFileSerializer(row).data)

    @extend_schema(responses={200: None})
    def template_file_delete(self, request, pk, name):
        services.delete_template_file(template=self.get_object(), filename=name)
        return Response(status=status.HTTP_200_OK)

    @extend_schema(responses={(200, "text/plain"): OpenApiTypes.STR})
    def workflow_download(self, request, pk):
        return file_download(find_file(self.get_object().workflow_files, services.WORKFLOW_FILENAME))

    @extend_schema(
        request={"multipart/form-data": WORKFLOW_UPLOAD_REQUEST},
        responses={200: WorkflowFileSerializer},
    )
    def workflow_upload(self, request, pk):
        template = self.get_object()
        content, _ = read_upload(request, required=False)
        with heavy_request(self.principal, what="file uploads"):
            row = services.upload_workflow(
                template=template,
                content=content,
                runtime_config=parse_runtime_config(request.data.get("runtime_config")),
            )
        return Response(WorkflowFileSerializer(row).data)

    @extend_schema(responses={200: None})
    def workflow_delete(self, request, pk):
        services.delete_workflow(template=self.get_object())
        return Response(status=status.HTTP_200_OK)


def parse_runtime_config(raw) -> dict | None:
    """The ``runtime_config`` form field: JSON text holding an object (the jobbergate_config section)."""
    if raw is None or raw == "":
        return None
    try:
        value = load_json(raw)
    except (TypeError, ValueError) as error:
        raise BadRequest(f"runtime_config must be JSON text: {error}") from None
    if not isinstance(value, dict):
        raise BadRequest("runtime_config must be a JSON object.")
    try:
        validate_config_json(value)
    except ValidationError as error:
        raise BadRequest(f"runtime_config: {error.messages[0]}") from None
    return value
