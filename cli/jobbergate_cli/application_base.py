"""Older upstream import path of the application base class."""

from jobbergate_cli.subapps.applications.application_base import JobbergateApplicationBase

__all__ = ["JobbergateApplicationBase"]
