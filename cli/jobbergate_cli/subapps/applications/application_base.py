"""The base class of an application's ``JobbergateApplication`` (upstream's name and attributes)."""

from __future__ import annotations

from typing import Any


class JobbergateApplicationBase:
    """Built from the parsed jobbergate.yaml; steps are methods returning lists of questions."""

    def __init__(self, jobbergate_yaml: dict[str, Any] | None = None):
        jobbergate_yaml = jobbergate_yaml or {}
        self.jobbergate_config: dict[str, Any] = dict(jobbergate_yaml.get("jobbergate_config") or {})
        self.application_config: dict[str, Any] = dict(jobbergate_yaml.get("application_config") or {})

    def mainflow(self, data: dict[str, Any] | None = None):
        raise NotImplementedError("An application defines mainflow(self, data)")
