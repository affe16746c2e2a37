"""Choices of the applications app (the file type is shared with job scripts)."""

from jobbergate.choices import FileType

__all__ = ["FileType"]
