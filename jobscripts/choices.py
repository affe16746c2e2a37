"""Choices of the job scripts app (the file type is shared with applications)."""

from jobbergate.choices import FileType

__all__ = ["FileType"]
