"""Wire shapes of applications ("job script templates") and their files."""

from __future__ import annotations

from rest_framework import serializers

from applications.models import JobScriptTemplate, TemplateFile, WorkflowFile
from jobbergate.api.exceptions import Conflict
from jobbergate.api.serializers import (
    FILE_FIELDS,
    RESOURCE_FIELDS,
    RESOURCE_READ_ONLY,
    CloneSerializer,
    FileSerializer,
    ResourceSerializer,
)
from jobbergate.validation import check_identifier, contains_nul


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
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise serializers.ValidationError("template_vars must be a JSON object.")
        if contains_nul(value):
            raise serializers.ValidationError("template_vars must not contain NUL characters.")
        return value


class JobScriptTemplateListSerializer(ResourceSerializer):
    identifier = IdentifierField()
    template_vars = TemplateVarsField(required=False)

    class Meta:
        model = JobScriptTemplate
        fields = (*RESOURCE_FIELDS, "identifier", "template_vars")
        read_only_fields = RESOURCE_READ_ONLY

    def validate_identifier(self, value):
        taken = JobScriptTemplate.objects.filter(identifier=value)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if value is not None and taken.exists():
            raise Conflict(f"The identifier {value!r} is already in use.")
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
