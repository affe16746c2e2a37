"""Rendering an application folder on the user's machine (``jobbergate job-scripts create-locally``): no server.

For trying an application while writing it. The same rules as the server's rendering (APP-FORMAT.md): parameters
are ``application_config`` + ``jobbergate_config`` + the answers; templates see them at the top level and under
``data``; a Jinja2 sandbox; a variable no parameter defines may be tested but not printed; ``--sbatch-params``
become ``#SBATCH`` lines after the script's own header.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobbergate_cli.contract import inject_sbatch_params, output_name
from jobbergate_cli.errors import CliError, UsageProblem
from jobbergate_cli.folders import config_file


@dataclass
class LocalApplication:
    folder: Path
    runtime_config: dict[str, Any]
    template_vars: dict[str, Any]
    questions: list[dict[str, Any]]
    workflow: str | None

    @classmethod
    def read(cls, folder: Path) -> LocalApplication:
        import yaml

        config_path = config_file(folder)
        try:
            config = yaml.safe_load(config_path.read_text()) or {}
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as error:
            raise UsageProblem(f"{config_path} does not parse: {error}") from None
        if not isinstance(config, dict) or not isinstance(config.get("jobbergate_config", {}), dict):
            raise UsageProblem(f"{config_path}: jobbergate_config must be a mapping")
        runtime_config = config.get("jobbergate_config") or {}
        if not runtime_config.get("default_template"):
            raise UsageProblem(f"{config_path}: jobbergate_config.default_template is required")
        workflow_path = folder / "jobbergate.py"
        return cls(
            folder=folder,
            runtime_config=runtime_config,
            template_vars=config.get("application_config") or {},
            questions=config.get("questions") or [],
            workflow=workflow_path.read_text() if workflow_path.is_file() else None,
        )

    def workflow_source(self) -> str | None:
        return self.workflow or None

    def template_path(self, name: str) -> Path:
        relative = name.removeprefix("templates/")
        path = (self.folder / "templates" / relative).resolve()
        if not path.is_relative_to((self.folder / "templates").resolve()) or not path.is_file():
            raise CliError(f"The template {name} is not in {self.folder / 'templates'}")
        return path

    def outputs(self) -> dict[str, tuple[Path, bool]]:
        """Output name -> (template, is the entrypoint): the default template and the supporting files."""
        default = str(self.runtime_config["default_template"])
        mapping = {self.output_name(default): (self.template_path(default), True)}
        for template in self.runtime_config.get("supporting_files") or []:
            mapping[self.output_name(template)] = (self.template_path(template), False)
        return mapping

    def output_name(self, template: str) -> str:
        return output_name(template.removeprefix("templates/"), self.runtime_config)


def render(application: LocalApplication, parameters: dict[str, Any], sbatch_params: list[str]) -> dict[str, str]:
    """Output name -> rendered text."""
    from jinja2 import TemplateError, Undefined
    from jinja2.sandbox import SandboxedEnvironment

    class TestableUndefined(Undefined):
        """Testable (``if x``, ``x is defined``, ``x | default``), never printed."""

        __slots__ = ()

        def __str__(self) -> str:
            self._fail_with_undefined_error()
            return ""  # pragma: no cover - the line above raises

    environment = SandboxedEnvironment(undefined=TestableUndefined, keep_trailing_newline=True, autoescape=False)
    context = {**parameters, "data": parameters}
    rendered = {}
    for name, (path, entrypoint) in application.outputs().items():
        try:
            text = environment.from_string(path.read_text()).render(context)
        except TemplateError as error:
            line = getattr(error, "lineno", None)
            where = f" on line {line}" if line else ""
            raise CliError(f"{path.name}{where}: {error.message or error}") from None
        rendered[name] = inject_sbatch_params(text, sbatch_params) if entrypoint else text
    return rendered
