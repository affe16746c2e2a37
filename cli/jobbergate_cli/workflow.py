"""Running an upstream ``jobbergate.py`` workflow, unchanged, on the user's machine (never on the server).

From ``mainflow``, each step returns questions; answers go into one shared dict that later steps read; a step
sets ``data["nextworkflow"]`` to name the next one. Answers come from the parameter file, then (``--fast``) the
defaults, then the ``prompt`` the command gives (as for typed questions: ``questions.py``); ``ignore`` (a bool or a
function of the answers) skips a question. No Click here: a failing workflow is an ``errors.CliError``.
"""

from __future__ import annotations

import types
from typing import Any

from jobbergate_cli.errors import CliError
from jobbergate_cli.questions import Prompt
from jobbergate_cli.subapps.applications import questions as q


def _as_typed(question: q.QuestionBase) -> dict[str, Any]:
    typed: dict[str, Any] = {"name": question.variablename, "type": question.kind, "message": question.message}
    if question.default is not None:
        typed["default"] = question.default
    if isinstance(question, q.List):
        typed["choices"] = question.choices
    if isinstance(question, q.Integer):
        typed.update(
            {key: value for key, value in (("min", question.minval), ("max", question.maxval)) if value is not None}
        )
    return typed


def run_workflow(
    source: str, config: dict[str, Any], *, given: dict[str, Any], fast: bool, prompt: Prompt, max_steps: int = 100
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answers of the workflow in ``source`` and the defaults taken without asking."""
    module = types.ModuleType("jobbergate_application")
    try:
        exec(compile(source, "jobbergate.py", "exec"), module.__dict__)  # the user's own application, locally
    except Exception as error:
        raise CliError(f"jobbergate.py failed to load: {error.__class__.__name__}: {error}") from None
    application_class = getattr(module, "JobbergateApplication", None)
    if application_class is None:
        raise CliError("jobbergate.py defines no JobbergateApplication")
    application = application_class(config)
    data: dict[str, Any] = dict(given)
    defaults_used: dict[str, Any] = {}

    def answer(question: q.QuestionBase) -> None:
        name = question.variablename
        if question.ignored(data):
            return
        if isinstance(question, q.Const):
            data[name] = question.default
        elif name in given:
            data[name] = given[name]
        elif fast and question.default is not None:
            data[name] = defaults_used[name] = question.default
        else:
            data[name] = prompt(_as_typed(question))
        if isinstance(question, q.BooleanList):
            for follow in question.whentrue if data.get(name) else question.whenfalse:
                answer(follow)

    step: str | None = "mainflow"
    for _ in range(max_steps):
        if not step:
            break
        method = getattr(application, step, None)
        if method is None:
            raise CliError(f"jobbergate.py names a step {step!r} that JobbergateApplication does not have")
        data.pop("nextworkflow", None)
        try:
            asked = method(data) or []
        except Exception as error:
            raise CliError(f"step {step} failed: {error.__class__.__name__}: {error}") from None
        for question in asked:
            answer(question)
        step = data.pop("nextworkflow", None)
    else:
        raise CliError(f"jobbergate.py ran more than {max_steps} steps; is there a loop?")
    return data, defaults_used
