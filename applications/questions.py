"""Typed questions declared in ``jobbergate.yaml`` (``questions:``): one schema for the CLI, the web and the server.

A question has ``name``, ``type``, ``message``, ``default``, ``help``, ``required`` and an optional ``when`` (a
condition on earlier answers: ``{name: value}`` or ``{name: [values]}``). Types: ``text`` (``pattern``),
``integer`` and ``float`` (``min``, ``max``), ``choice`` and ``multi_choice`` (``choices``), ``boolean``, ``path``
and ``constant`` (never asked; always its default). The server publishes them as JSON Schema and checks every
render's parameters against them before anything renders.

A ``pattern`` is an RE2 regular expression (``compile_pattern``): it matches in time linear in the answer, so no
pattern can hold a web worker; what RE2 cannot do in linear time (backreferences, lookaround) is refused at upload.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2

PATTERN_MAX_LENGTH = 1000
PATTERN_MAX_MEMORY = 1 << 20  # bytes of RE2's compiled program: refuses patterns like (a{100}){100} at upload

QUESTION_TYPES = ("text", "integer", "float", "choice", "multi_choice", "boolean", "path", "constant")
KNOWN_KEYS = {"name", "type", "message", "default", "help", "required", "when", "pattern", "min", "max", "choices"}
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PatternError(ValueError):
    """A ``pattern`` RE2 refuses, or one too long; the message says why."""


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str):
    """The one way a question's ``pattern`` is compiled: RE2, bounded in length and memory, cached.

    RE2 guarantees matching in time linear in the text (no backtracking), which is what keeps a pattern such
    as ``(a+)+b`` harmless. Raises ``PatternError``.
    """
    if len(pattern) > PATTERN_MAX_LENGTH:
        raise PatternError(f"a pattern may have at most {PATTERN_MAX_LENGTH} characters")
    options = re2.Options()
    options.max_mem = PATTERN_MAX_MEMORY
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as error:
        reason = error.args[0] if error.args else error
        reason = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        raise PatternError(f"not a regular expression RE2 can match in linear time ({reason})") from None


class QuestionsError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_plain(value: Any) -> bool:
    """A value a choice or a ``when`` condition may name: text, a number or true/false (a JSON Schema ``enum``
    member an answer can equal)."""
    return isinstance(value, (str, int, float, bool))


def _repeated(values: list) -> Any:
    """The first value that cannot be told from an earlier one, or None: the API compares answers with ``==`` (so
    ``1``, ``1.0`` and ``true`` are one answer) and a form by their text (so ``1`` and ``"1"`` are)."""
    seen: set = set()
    texts: set[str] = set()
    for value in values:
        if value in seen or str(value) in texts:
            return value
        seen.add(value)
        texts.add(str(value))
    return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_questions(raw: Any, *, strict: bool = True) -> list[dict[str, Any]]:
    """Check the question definitions of an application; every problem is reported at once.

    ``strict`` (uploads, the admin, converted workflows) adds the rules that catch a definition no answer could
    satisfy or the published schema could not say (a pattern that is not text, min above max, choices that are not
    plain or cannot be told apart, a condition on a value that is not plain, a message, help or required of the
    wrong type). Stored rows are read without them (``strict=False``): an application stored before they existed
    goes on working as it did, and what is checked then is what keeps reading and answering safe.
    """
    if raw in (None, []):
        return []
    if not isinstance(raw, list):
        raise QuestionsError(["questions must be a list"])
    problems: list[str] = []
    seen: set[str] = set()
    for index, question in enumerate(raw):
        where = f"questions[{index}]"
        if not isinstance(question, dict):
            problems.append(f"{where} must be a mapping")
            continue
        name = question.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            problems.append(f"{where}: name must be an identifier (letters, digits, _)")
            continue
        where = f"question {name!r}"
        problems_before = len(problems)
        if name in seen:
            problems.append(f"{where} is declared twice")
        seen.add(name)
        unknown = sorted(set(question) - KNOWN_KEYS)
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
        kind = question.get("type", "text")
        if kind not in QUESTION_TYPES:
            problems.append(f"{where}: type must be one of {', '.join(QUESTION_TYPES)}")
            continue
        if kind in ("choice", "multi_choice"):
            choices = question.get("choices")
            if not isinstance(choices, list) or not choices:
                problems.append(f"{where}: choices must be a non-empty list")
        if kind in ("integer", "float"):
            for bound in ("min", "max"):
                if bound in question and not _is_number(question[bound]):
                    problems.append(f"{where}: {bound} must be a number")
        if kind == "text" and "pattern" in question:
            try:
                compile_pattern(str(question["pattern"]))
            except PatternError as error:
                problems.append(f"{where}: pattern is {error}")
        when = question.get("when")
        if when is not None:
            if not isinstance(when, dict) or not when:
                problems.append(f"{where}: when must map earlier question names to values")
            else:
                for other in when:
                    if other not in seen or other == name:
                        problems.append(f"{where}: when refers to {other!r}, which is not an earlier question")
        if strict and len(problems) == problems_before:
            problems += [f"{where}: {problem}" for problem in _upload_problems(question, kind)]
        structurally_sound = len(problems) == problems_before
        if "default" in question and question["default"] is not None and structurally_sound:
            for message in answer_problems(question, question["default"]):
                problems.append(f"{where}: default {message}")
    if problems:
        raise QuestionsError(problems)
    return raw


def _upload_problems(question: dict[str, Any], kind: str) -> list[str]:
    """The rules ``check_questions`` adds for what is uploaded (``strict``), for a question otherwise sound."""
    problems = []
    for key in ("message", "help"):
        if question.get(key) is not None and not isinstance(question[key], str):
            problems.append(f"{key} must be text")
    if "required" in question and not isinstance(question["required"], bool):
        problems.append("required must be true or false")
    if kind in ("choice", "multi_choice"):
        choices = question["choices"]
        odd = [choice for choice in choices if not _is_plain(choice)]
        if odd:
            problems.append(f"choice {_shown(odd[0])} is not text, a number or true/false")
        elif (repeated := _repeated(choices)) is not None:
            problems.append(f"choice {_shown(repeated)} cannot be told from an earlier one (as a value or as text)")
    low, high = question.get("min"), question.get("max")
    if kind in ("integer", "float") and _is_number(low) and _is_number(high) and low > high:
        problems.append(f"min ({low}) is more than max ({high})")
    if kind == "text" and "pattern" in question and not isinstance(question["pattern"], str):
        problems.append("pattern must be text")
    for other, expected in (question.get("when") or {}).items():
        allowed = expected if isinstance(expected, list) else [expected]
        if not allowed or not all(_is_plain(value) for value in allowed):
            problems.append(f"when must give {other!r} a value (text, a number or true/false) or a list of them")
    return problems


def answer_problems(question: dict[str, Any], value: Any) -> list[str]:
    """What is wrong with one answer (empty when it is fine)."""
    kind = question.get("type", "text")
    if kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return ["must be a whole number"]
    elif kind == "float":
        if not _is_number(value):
            return ["must be a number"]
    elif kind == "boolean":
        if not isinstance(value, bool):
            return ["must be true or false"]
    elif kind in ("text", "path"):
        if not isinstance(value, str):
            return ["must be text"]
        if "\x00" in value:
            return ["must not contain NUL"]
        pattern = question.get("pattern")
        if kind == "text" and pattern:
            try:
                matches = compile_pattern(str(pattern)).fullmatch(value)
            except PatternError as error:  # stored before patterns were checked with RE2
                return [f"cannot be checked: the application's pattern is {error}"]
            if not matches:
                return [f"must match {pattern}"]
    elif kind == "choice":
        if value not in question.get("choices", []):
            return [f"must be one of {', '.join(map(str, question.get('choices', [])))}"]
    elif kind == "multi_choice":
        choices = question.get("choices", [])
        if not isinstance(value, list) or any(item not in choices for item in value):
            return [f"must be a list of {', '.join(map(str, choices))}"]
        # More answers than choices repeat one; otherwise the list is no longer than the choices (short).
        if len(value) > len(choices) or any(value[index] in value[:index] for index in range(len(value))):
            return ["must name each choice once"]  # as the published schema says (uniqueItems)
    elif kind == "constant":
        if "default" in question and value != question["default"]:
            return ["is a constant and cannot be changed"]
    if kind in ("integer", "float"):
        if "min" in question and value < question["min"]:
            return [f"must be at least {question['min']}"]
        if "max" in question and value > question["max"]:
            return [f"must be at most {question['max']}"]
    return []


def applies(question: dict[str, Any], answers: dict[str, Any]) -> bool:
    """Whether a question is asked, given the earlier answers (its ``when`` condition)."""
    for name, expected in (question.get("when") or {}).items():
        allowed = expected if isinstance(expected, list) else [expected]
        if answers.get(name) not in allowed:
            return False
    return True


def complete_answers(questions: list[dict[str, Any]], answers: dict[str, Any]) -> tuple[dict[str, Any], dict]:
    """Answers with the defaults filled in, and the problems per field (empty when all is well)."""
    completed = dict(answers)
    errors: dict[str, list[str]] = {}
    for question in questions:
        name = question["name"]
        if not applies(question, completed):
            continue
        if name not in completed or completed[name] is None:
            if "default" in question and question["default"] is not None:
                completed[name] = question["default"]
            elif question.get("required", True) and question.get("type") != "constant":
                errors[name] = ["is required"]
            continue
        problems = answer_problems(question, completed[name])
        if problems:
            errors[name] = problems
    return completed, errors


def _property(question: dict[str, Any]) -> dict[str, Any]:
    kind = question.get("type", "text")
    schema: dict[str, Any] = {
        "text": {"type": "string"},
        "path": {"type": "string", "format": "path"},
        "integer": {"type": "integer"},
        "float": {"type": "number"},
        "boolean": {"type": "boolean"},
        "choice": {"enum": question.get("choices", [])},
        "multi_choice": {"type": "array", "items": {"enum": question.get("choices", [])}, "uniqueItems": True},
        "constant": {"const": question.get("default")},
    }[kind]
    if kind == "text" and question.get("pattern"):
        schema["pattern"] = question["pattern"]
    if "min" in question:
        schema["minimum"] = question["min"]
    if "max" in question:
        schema["maximum"] = question["max"]
    for key, target in (("message", "title"), ("help", "description"), ("default", "default")):
        if key in question:
            schema[target] = question[key]
    schema["x-jobbergate-type"] = kind
    return schema


def json_schema(questions: list[dict[str, Any]], *, title: str = "") -> dict[str, Any]:
    """The questions as a JSON Schema (draft 2020-12) for the answers object; conditions become if/then."""
    properties = {question["name"]: _property(question) for question in questions}
    required = [
        question["name"]
        for question in questions
        if not question.get("when")
        and question.get("required", True)
        and question.get("default") is None
        and question.get("type") != "constant"
    ]
    conditional = []
    for question in questions:
        when = question.get("when")
        if when and question.get("required", True) and question.get("default") is None:
            condition = {
                "properties": {
                    name: ({"enum": value} if isinstance(value, list) else {"const": value})
                    for name, value in when.items()
                },
                "required": list(when),
            }
            conditional.append({"if": condition, "then": {"required": [question["name"]]}})
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": properties,
        "required": required,
        "x-jobbergate-order": [question["name"] for question in questions],
    }
    if conditional:
        schema["allOf"] = conditional
    return schema


TRUE_WORDS = frozenset({"on", "true", "yes", "1"})
FALSE_WORDS = frozenset({"", "off", "false", "no", "0"})
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,30}\Z")  # ASCII digits only: int() would take other scripts' digits too


def answer_from_text(question: dict[str, Any], values: list[str]) -> Any:
    """What a web form's text means for one question: the typed value ``answer_problems`` then checks, or None
    when nothing was given. Forms send text; a value that does not convert is passed on as text, so the same
    checks (``complete_answers``) word the problem for the form as for the API."""
    kind = question.get("type", "text")
    if kind == "multi_choice":
        by_text = {str(choice): choice for choice in question.get("choices", [])}
        return [by_text.get(value, value) for value in values]
    text = values[-1] if values else ""
    if kind == "boolean":
        word = text.strip().lower()
        return True if word in TRUE_WORDS else False if word in FALSE_WORDS else text
    if text == "":
        return None
    if kind == "integer":
        return int(text) if _WHOLE_NUMBER.match(text.strip()) else text
    if kind == "float":
        try:
            number = float(text) if len(text) <= 100 else None
        except ValueError:
            number = None
        return number if number is not None and number == number and abs(number) != float("inf") else text
    if kind in ("choice", "constant"):
        options = question.get("choices", []) if kind == "choice" else [question.get("default")]
        return next((option for option in options if str(option) == text), text)
    return text
