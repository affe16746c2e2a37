"""Asking an application's typed questions (``questions:`` of jobbergate.yaml) at the terminal.

Answers come, in order, from a parameter file (JSON or YAML), then in ``--fast`` mode from defaults, then from the
person at the prompt. A question whose ``when`` condition does not hold on the earlier answers is not asked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


class ParamFileError(Exception):
    pass


def load_param_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        text = path.read_text()
    except OSError as error:
        raise ParamFileError(f"{path}: {error.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else _yaml(text)
    except ValueError as error:
        raise ParamFileError(f"{path} does not parse: {error}") from None
    if not isinstance(data, dict):
        raise ParamFileError(f"{path} must hold a mapping of names to answers")
    return data.get("data", data) if set(data) == {"data"} else data


def _yaml(text: str):
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(str(error).splitlines()[0]) from None


def applies(question: dict, answers: dict) -> bool:
    for name, expected in (question.get("when") or {}).items():
        if answers.get(name) not in (expected if isinstance(expected, list) else [expected]):
            return False
    return True


def _prompt(question: dict) -> Any:
    kind = question.get("type", "text")
    message = question.get("message") or question["name"]
    default = question.get("default")
    if kind == "boolean":
        return click.confirm(message, default=bool(default) if default is not None else None)
    if kind == "choice":
        choices = [str(choice) for choice in question["choices"]]
        picked = click.prompt(message, type=click.Choice(choices), default=None if default is None else str(default))
        return question["choices"][choices.index(picked)]
    if kind == "multi_choice":
        choices = [str(choice) for choice in question["choices"]]
        shown = ", ".join(map(str, default)) if isinstance(default, list) else None
        raw = click.prompt(f"{message} (comma-separated: {', '.join(choices)})", default=shown)
        chosen = [item.strip() for item in str(raw).split(",") if item.strip()]
        unknown = [item for item in chosen if item not in choices]
        if unknown:
            raise click.BadParameter(f"not a choice: {', '.join(unknown)}", param_hint=question["name"])
        return [question["choices"][choices.index(item)] for item in chosen]
    if kind == "integer":
        return click.prompt(message, type=click.IntRange(question.get("min"), question.get("max")), default=default)
    if kind == "float":
        return click.prompt(message, type=click.FloatRange(question.get("min"), question.get("max")), default=default)
    return click.prompt(message, default=default)


def ask(questions: list[dict], *, given: dict[str, Any], fast: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answers, and the defaults taken without asking (for the table ``--fast`` prints)."""
    answers = dict(given)
    defaults_used: dict[str, Any] = {}
    for question in questions:
        name = question["name"]
        if name in answers or not applies(question, answers):
            continue
        if question.get("type") == "constant":
            answers[name] = question.get("default")
        elif fast and question.get("default") is not None:
            answers[name] = defaults_used[name] = question["default"]
        else:
            answers[name] = _prompt(question)
    return answers, defaults_used
