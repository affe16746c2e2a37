"""Answering an application's typed questions (``questions:`` of jobbergate.yaml), with no Click in it.

Answers come, in order, from a parameter file (JSON or YAML), then in ``--fast`` mode from defaults, then from the
person, through the ``prompt`` the command gives (``commands.shared.prompt`` asks at the terminal). A question whose
``when`` condition does not hold on the earlier answers is not asked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobbergate_cli.errors import UsageProblem

# Asks one typed question (a dict as in jobbergate.yaml) and gives the answer.
Prompt = Callable[[dict[str, Any]], Any]


def load_param_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        text = path.read_text()
    except OSError as error:
        raise UsageProblem(f"{path}: {error.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else _yaml(text)
    except ValueError as error:
        raise UsageProblem(f"{path} does not parse: {error}") from None
    if not isinstance(data, dict):
        raise UsageProblem(f"{path} must hold a mapping of names to answers")
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


def ask(
    questions: list[dict], *, given: dict[str, Any], fast: bool, prompt: Prompt
) -> tuple[dict[str, Any], dict[str, Any]]:
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
            answers[name] = prompt(question)
    return answers, defaults_used
