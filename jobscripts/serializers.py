"""Wire shapes of job scripts and their files."""

from __future__ import annotations

from rest_framework import serializers

from applications.serializers import JobScriptTemplateListSerializer
from jobbergate.api.serializers import (
    FILE_FIELDS,
    RESOURCE_FIELDS,
    RESOURCE_READ_ONLY,
    FileSerializer,
    NameAndDescription,
    PlainSerializer,
    ResourceSerializer,
    sbatch_header_lines,
)
from jobbergate.validation import SBATCH_PARAMS_MAX
from jobscripts.models import JobScript, JobScriptFile


class JobScriptFileSerializer(FileSerializer):
    class Meta:
        model = JobScriptFile
        fields = (*FILE_FIELDS, "file_type")


class JobScriptListSerializer(ResourceSerializer):
    parent_template_id = serializers.IntegerField(read_only=True, allow_null=True)
    template = JobScriptTemplateListSerializer(source="parent_template", read_only=True, allow_null=True)

    class Meta:
        model = JobScript
        fields = (*RESOURCE_FIELDS, "parent_template_id", "template")
        read_only_fields = RESOURCE_READ_ONLY


class JobScriptSerializer(JobScriptListSerializer):
    files = JobScriptFileSerializer(many=True, read_only=True)
    render_parameters = serializers.JSONField(read_only=True, allow_null=True)
    template_content_hash = serializers.CharField(read_only=True)

    class Meta(JobScriptListSerializer.Meta):
        fields = (*JobScriptListSerializer.Meta.fields, "files", "render_parameters", "template_content_hash")


class RenderCreateRequestSerializer(NameAndDescription, PlainSerializer):
    """What to call the job script a render makes."""


class RenderRequestSerializer(PlainSerializer):
    template_output_name_mapping = serializers.DictField(child=serializers.CharField(max_length=255), allow_empty=False)
    sbatch_params = serializers.ListField(
        child=serializers.CharField(max_length=255),
        max_length=SBATCH_PARAMS_MAX,
        required=False,
        allow_null=True,
        validators=[sbatch_header_lines],
    )
    param_dict = serializers.DictField(required=False, default=dict)

    def validate_sbatch_params(self, value):
        return value or []


class RenderFromTemplateSerializer(PlainSerializer):
    """The body of render-from-template: what to call the job script and how to render it."""

    create_request = RenderCreateRequestSerializer()
    render_request = RenderRequestSerializer()
