"""Wire shapes of applications ("job script templates") and their files."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from applications.models import JobScriptTemplate, TemplateFile, WorkflowFile, validate_config_json
from applications.services import check_identifier_free
from jobbergate.api.serializers import (
    FILE_FIELDS,
    RESOURCE_FIELDS,
    RESOURCE_READ_ONLY,
    CloneSerializer,
    FileSerializer,
    ResourceSerializer,
)
from jobbergate.validation import check_identifier


class TemplateFileSerializer(FileSerializer):
    class Meta:
        model = TemplateFile
        fields = (*FILE_FIELDS, "file_type")


class WorkflowFileSerializer(FileSerializer):
    class Meta:
        model = WorkflowFile
        fields = (*FILE_FIELDS, "runtime_config")


class IdentifierField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=255, required=False, allow_null=True, **kwargs)

    def to_internal_value(self, data):
        return check_identifier(super().to_internal_value(data))


class TemplateVarsField(serializers.JSONField):
    """A JSON object fit to store (``validate_config_json``: plain JSON, bounded in depth and size).

    Checked before DRF's own JSON check, which would recurse through the value.
    """

    def to_internal_value(self, data):
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise serializers.ValidationError("template_vars must be a JSON object.")
        try:
            validate_config_json(data)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None
        return super().to_internal_value(data)


class JobScriptTemplateListSerializer(ResourceSerializer):
    identifier = IdentifierField()
    template_vars = TemplateVarsField(required=False)

    class Meta:
        model = JobScriptTemplate
        fields = (*RESOURCE_FIELDS, "identifier", "template_vars")
        read_only_fields = RESOURCE_READ_ONLY

    def validate_identifier(self, value):
        check_identifier_free(value, exclude_pk=self.instance.pk if self.instance is not None else None)
        return value


class JobScriptTemplateSerializer(JobScriptTemplateListSerializer):
    template_files = TemplateFileSerializer(many=True, read_only=True)
    workflow_files = WorkflowFileSerializer(many=True, read_only=True)
    questions = serializers.JSONField(read_only=True)

    class Meta(JobScriptTemplateListSerializer.Meta):
        fields = (*JobScriptTemplateListSerializer.Meta.fields, "template_files", "workflow_files", "questions")


class JobScriptTemplateCloneSerializer(CloneSerializer):
    identifier = IdentifierField()
    template_vars = TemplateVarsField(required=False)
