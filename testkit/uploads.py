"""Building multipart uploads the way clients send them (field ``upload_file``)."""

from django.core.files.uploadedfile import SimpleUploadedFile


def upload(name: str, content: bytes | str) -> dict:
    data = content.encode() if isinstance(content, str) else content
    return {"upload_file": SimpleUploadedFile(name, data, content_type="application/octet-stream")}
