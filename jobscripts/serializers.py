"""Wire shapes of job scripts and their files."""

from __future__ import annotations

from rest_framework import serializers

from applications.serializers import JobScriptTemplateListSerializer
from jobbergate.api.serializers import (
    FILE_FIELDS,
    RESOURCE_FIELDS,
    RESOURCE_READ_ONLY,
    FileSerializer,
    ResourceSerializer,
)
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

    class Meta(JobScriptListSerializer.Meta):
        fields = (*JobScriptListSerializer.Meta.fields, "files")
