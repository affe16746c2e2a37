"""OpenAPI pieces shared by the file endpoints of several resources."""

from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers

UPLOAD_REQUEST = inline_serializer("FileUpload", {"upload_file": serializers.FileField()})
FILE_NAME_PARAMETERS = [
    OpenApiParameter("filename", str, description="Name to store the file under (default: the upload's name)."),
    OpenApiParameter("previous_filename", str, description="Rename this existing file to filename."),
]
