"""Turn the questions of a simple ``jobbergate.py`` workflow into typed ``questions:`` (never running it).

The workflow is read with ``ast``: starting at ``mainflow``, each step's returned list of questions is mapped to
typed questions, and a literal ``data["nextworkflow"] = "step"`` leads to the next step. ``BooleanList`` becomes
a boolean plus its follow-up questions with a ``when`` condition. Whatever is decided at run time (computed
values, ``ignore`` callables, a next step chosen in an ``if``) cannot be converted statically: it is left out and
reported with its line number.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

# Upstream question classes: (typed question type, names of the positional arguments after variablename).
QUESTION_CLASSES = {
    "Text": ("text", ["message"]),
    "Integer": ("integer", ["message", "minval", "maxval"]),
    "List": ("choice", ["message", "choices"]),
    "Checkbox": ("multi_choice", ["message", "choices"]),
    "Directory": ("path", ["message"]),
    "File": ("path", ["message"]),
    "Confirm": ("boolean", ["message"]),
    "BooleanList": ("boolean", ["message"]),
    "Const": ("constant", ["message"]),
}
RENAMED = {"minval": "min", "maxval": "max"}


@dataclass
class Conversion:
    questions: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems


def convert_workflow(source: str) -> Conversion:
    conversion = Conversion()
    try:
        tree = ast.parse(source, filename="jobbergate.py")
    except SyntaxError as error:
        conversion.problems.append(f"line {error.lineno}: jobbergate.py does not parse")
        return conversion
    application = next(
        (node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "JobbergateApplication"), None
    )
    if application is None:
        conversion.problems.append("no class JobbergateApplication")
        return conversion
    steps = {node.name: node for node in application.body if isinstance(node, ast.FunctionDef)}
    step, visited = "mainflow", set()
    while step:
        if step in visited:
            conversion.problems.append(f"step {step!r} is visited twice (a loop); stopped there")
            break
        visited.add(step)
        method = steps.get(step)
        if method is None:
            conversion.problems.append(f"step {step!r} is not a method of JobbergateApplication")
            break
        step = _convert_step(method, conversion)
    return conversion


def _convert_step(method: ast.FunctionDef, conversion: Conversion) -> str | None:
    next_step = None
    returns = [node for node in ast.walk(method) if isinstance(node, ast.Return) and node.value is not None]
    for node in ast.walk(method):
        if isinstance(node, ast.Assign) and _is_nextworkflow(node):
            if _inside_condition(method, node):
                conversion.problems.append(f"line {node.lineno}: the next step is chosen at run time; not followed")
                continue
            try:
                next_step = ast.literal_eval(node.value)
            except ValueError:
                conversion.problems.append(f"line {node.lineno}: the next step is computed; not followed")
    if len(returns) > 1:
        conversion.problems.append(f"line {method.lineno}: step {method.name!r} returns in several places; first used")
    if returns:
        value = returns[0].value
        if isinstance(value, ast.List):
            for element in value.elts:
                conversion.questions.extend(_convert_question(element, conversion, when=None))
        else:
            conversion.problems.append(f"line {value.lineno}: step {method.name!r} does not return a literal list")
    return next_step if isinstance(next_step, str) else None


def _is_nextworkflow(node: ast.Assign) -> bool:
    target = node.targets[0] if len(node.targets) == 1 else None
    return (
        isinstance(target, ast.Subscript)
        and isinstance(target.slice, ast.Constant)
        and target.slice.value == "nextworkflow"
    )


def _inside_condition(method: ast.FunctionDef, target: ast.AST) -> bool:
    for node in ast.walk(method):
        if isinstance(node, (ast.If, ast.For, ast.While, ast.Try)) and any(child is target for child in ast.walk(node)):
            return True
    return False


def _choice_values(choices: Any) -> Any:
    """The answers a question's choices stand for: a tuple of choices is a list, and a ``(label, value)`` pair (as
    the upstream CLI's prompts take them) is its value."""
    if not isinstance(choices, (list, tuple)):
        return choices
    return [choice[1] if isinstance(choice, (list, tuple)) and len(choice) == 2 else choice for choice in choices]


def _convert_question(node: ast.AST, conversion: Conversion, when: dict | None) -> list[dict[str, Any]]:
    line = getattr(node, "lineno", "?")
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in QUESTION_CLASSES):
        conversion.problems.append(f"line {line}: not a question class call; left out")
        return []
    kind, positional = QUESTION_CLASSES[node.func.id]
    arguments: dict[str, ast.AST] = {}
    if node.args:
        arguments["variablename"] = node.args[0]
        for name, value in zip(positional, node.args[1:], strict=False):
            arguments[name] = value
    arguments.update({keyword.arg: keyword.value for keyword in node.keywords if keyword.arg})
    try:
        name = ast.literal_eval(arguments["variablename"])
    except (KeyError, ValueError):
        conversion.problems.append(f"line {line}: a {node.func.id} whose variable name is computed; left out")
        return []
    question: dict[str, Any] = {"name": name, "type": kind}
    for key in ("message", "default", "choices", "minval", "maxval"):
        if key in arguments:
            try:
                value = ast.literal_eval(arguments[key])
            except ValueError:
                conversion.problems.append(f"line {line}: {key} of {name!r} is computed at run time; left out")
                continue
            question[RENAMED.get(key, key)] = _choice_values(value) if key == "choices" else value
    if "ignore" in arguments:
        try:
            if ast.literal_eval(arguments["ignore"]):
                return []
        except ValueError:
            conversion.problems.append(f"line {line}: {name!r} is skipped by a run-time ignore; asked always")
    if when:
        question["when"] = when
    converted = [question]
    if node.func.id == "BooleanList":
        for branch, value in (("whentrue", True), ("whenfalse", False)):
            follow = arguments.get(branch)
            if follow is None:
                continue
            if not isinstance(follow, ast.List):
                conversion.problems.append(f"line {line}: {branch} of {name!r} is computed; left out")
                continue
            for element in follow.elts:
                converted.extend(_convert_question(element, conversion, when={name: value}))
    return converted
