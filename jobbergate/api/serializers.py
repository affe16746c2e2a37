"""Serializer bases: the fields every resource row and every file row carries on the wire."""

from __future__ import annotations

from rest_framework import serializers

RESOURCE_FIELDS = (
    "id",
    "name",
    "description",
    "owner_email",
    "is_archived",
    "cloned_from_id",
    "created_at",
    "updated_at",
)
RESOURCE_READ_ONLY = ("id", "owner_email", "cloned_from_id", "created_at", "updated_at")
FILE_FIELDS = ("parent_id", "filename", "created_at", "updated_at")


class ResourceSerializer(serializers.ModelSerializer):
    """Name and description are strings of at most 255 characters; the rest is set by the server."""

    name = serializers.CharField(max_length=255)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, allow_null=True, default="")
    cloned_from_id = serializers.IntegerField(read_only=True, allow_null=True)

    def validate_description(self, value):
        return value or ""


class CloneSerializer(serializers.Serializer):
    """Optional overrides when cloning a row."""

    name = serializers.CharField(max_length=255, required=False)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, allow_null=True)


class FileSerializer(serializers.ModelSerializer):
    parent_id = serializers.IntegerField(read_only=True)
