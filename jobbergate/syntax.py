"""Parsing what users send, and nothing else: the syntax of Python, Jinja2 and YAML, and plain bounded JSON values.

Pure functions with no Django import, so a render worker process can run them under its time and memory limits
(``applications.rendering.check_sources``). Nothing here executes what it parses: Python is parsed with ``ast``,
Jinja2 by a sandboxed environment without rendering, YAML with a safe loader that builds plain values only.
"""

from __future__ import annotations

import ast
import json
import math

import yaml
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

JINJA_SUFFIXES = (".j2", ".jinja2")
YAML_SUFFIXES = (".yaml", ".yml")
_parser_environment = SandboxedEnvironment()


JSON_MAX_DEPTH = 64
"""How deeply objects and arrays a client sends may nest (request bodies, stored JSON, YAML configs)."""


class JSONTextError(ValueError):
    """JSON text that is malformed, nested too deeply or holds a non-finite number; the message says which."""


NON_FINITE = "non-finite numbers (NaN, Infinity, -Infinity or a number too large for a double) are not JSON"


def _refuse_constant(name: str):
    raise JSONTextError(f"{NON_FINITE}: {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONTextError(f"{NON_FINITE}: {text[:40]}")
    return value


def _deeper_than(value, limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels (a scalar is one level); iterative."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return False


def load_json(text: str | bytes):
    """Parse JSON text strictly: at most ``JSON_MAX_DEPTH`` levels deep and finite numbers only.

    Raises ``JSONTextError`` (a ``ValueError``) with a message fit for a client.
    """
    too_deep = f"JSON nested deeper than {JSON_MAX_DEPTH} levels is refused"
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise JSONTextError(too_deep) from None
    except JSONTextError:
        raise
    except ValueError as error:
        raise JSONTextError(str(error)) from None
    if _deeper_than(value, JSON_MAX_DEPTH):
        raise JSONTextError(too_deep)
    return value


class JsonValueError(ValueError):
    """A value that is not plain, bounded JSON; the message says what and where."""


def check_json_value(value, *, what: str, max_bytes: int | None = None, max_depth: int = JSON_MAX_DEPTH) -> int:
    """Check that ``value`` is plain JSON fit to store; return its size as compact JSON text (an estimate).

    Plain JSON: objects with text keys, arrays, text without NUL, finite numbers, booleans and null; nothing else
    (no dates, bytes or sets from YAML). At most ``max_depth`` levels deep and, when ``max_bytes`` is given, at
    most that many bytes as JSON, counting every repeat of a shared part: a YAML alias counts each time it is
    used, so an alias bomb or a self-reference stops here after at most ``max_bytes`` steps. The walk is
    iterative, so no input can exhaust the stack. Raises ``JsonValueError``.
    """
    size = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise JsonValueError(f"{what} is nested deeper than {max_depth} levels.")
        if isinstance(item, str):
            if "\x00" in item:
                raise JsonValueError(f"{what} must not contain NUL characters.")
            size += len(item) + 2
        elif isinstance(item, bool) or item is None:
            size += 5
        elif isinstance(item, int):
            size += 20 if abs(item) < 10**19 else len(str(item))
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                raise JsonValueError(f"{what} holds a number that is not finite (NaN or Infinity is not JSON).")
            size += 24
        elif isinstance(item, dict):
            size += 2
            for key, child in item.items():
                if not isinstance(key, str):
                    raise JsonValueError(f"{what} has a key that is not text: {str(key)[:40]!r}.")
                stack.append((key, depth))
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            size += 2
            stack.extend((child, depth + 1) for child in item)
        else:
            kind = type(item).__name__
            raise JsonValueError(f"{what} holds a {kind} value, which is not JSON (quote dates and times as text).")
        size += 1
        if max_bytes is not None and size > max_bytes:
            raise JsonValueError(f"{what} is larger than {max_bytes:,} bytes as JSON.")
    return size


def python_syntax_problem(filename: str, text: str) -> str | None:
    """What is wrong with the syntax of a Python file (parsed, never run), or None."""
    try:
        ast.parse(text, filename=filename)
    except (SyntaxError, ValueError) as error:
        return f"{filename} is not valid Python (line {getattr(error, 'lineno', '?')}): {getattr(error, 'msg', error)}"
    except (RecursionError, MemoryError):
        return f"{filename} is nested too deeply to be parsed as Python."
    return None


def jinja_syntax_problem(filename: str, text: str) -> str | None:
    """What is wrong with the syntax of a Jinja2 template (parsed by the sandbox, never rendered), or None."""
    try:
        _parser_environment.parse(text)
    except TemplateSyntaxError as error:
        return f"{filename}: Jinja2 syntax error on line {error.lineno}: {error.message}"
    except (RecursionError, MemoryError):
        return f"{filename} is nested too deeply to be parsed as a Jinja2 template."
    return None


class _JsonYamlLoader(yaml.SafeLoader):
    """YAML that yields plain JSON values only, nested at most ``JSON_MAX_DEPTH`` levels.

    Values JSON cannot hold are refused with the line they are on: dates and times (YAML 1.1 reads an unquoted
    ``2024-01-31`` as a date), ``!!binary``, ``!!set``, ``!!omap`` and ``!!pairs``. Nesting is counted while
    composing, so deep input stops before it can exhaust the stack. Aliases are counted afterwards, by
    ``check_json_value``, each time they are used.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > JSON_MAX_DEPTH:
                raise yaml.YAMLError(f"nested deeper than {JSON_MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _NotJson(yaml.YAMLError):
    """A YAML value that has no JSON equivalent; the message says which and where."""


def _refuse_tag(loader, node):
    line = node.start_mark.line + 1
    if node.tag.endswith(":timestamp"):
        raise _NotJson(f"line {line}: a date or time is not a JSON value; quote it ('{node.value}') to keep it as text")
    kind = node.tag.rsplit(":", 1)[-1]
    raise _NotJson(f"line {line}: !!{kind} values are not JSON; write text, numbers, lists or mappings")


for _tag in ("timestamp", "binary", "set", "omap", "pairs"):
    _JsonYamlLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse_tag)


def load_yaml(text: str, *, what: str, max_bytes: int | None = None):
    """A YAML document as plain JSON values, bounded in depth and (with ``max_bytes``) in size as JSON.

    Only the safe loader's constructors run, so no tag can build an object. Raises ``JsonValueError``.
    """
    try:
        value = yaml.load(text, Loader=_JsonYamlLoader)  # a SafeLoader subclass: no tag builds an object
    except _NotJson as error:
        raise JsonValueError(f"{what}, {error}") from None
    except yaml.YAMLError as error:
        raise JsonValueError(f"{what} is not valid YAML: {str(error).splitlines()[0]}") from None
    check_json_value(value, what=what, max_bytes=max_bytes)
    return value


def yaml_syntax_problem(filename: str, text: str) -> str | None:
    """What is wrong with the syntax of a YAML file stored as text, or None.

    The file is only composed, never constructed: aliases stay shared nodes (an alias bomb costs nothing here, as
    its text is what is stored) and nesting is bounded as in ``load_yaml``.
    """
    try:
        for _ in yaml.compose_all(text, Loader=_JsonYamlLoader):  # a SafeLoader subclass; nothing is constructed
            pass
    except yaml.YAMLError as error:
        return f"{filename} is not valid YAML: {str(error).splitlines()[0]}"
    return None


def is_parsed(filename: str) -> bool:
    """Whether ``syntax_problem`` parses a file of this name (Python, YAML, Jinja2) or leaves it alone."""
    return filename.lower().endswith((".py", *YAML_SUFFIXES, *JINJA_SUFFIXES))


def syntax_problem(filename: str, text: str) -> str | None:
    """What is wrong with the syntax of a file, by its extension (``is_parsed``; others are not parsed)."""
    lower = filename.lower()
    if lower.endswith(".py"):
        return python_syntax_problem(filename, text)
    if lower.endswith(YAML_SUFFIXES):
        return yaml_syntax_problem(filename, text)
    if lower.endswith(JINJA_SUFFIXES):
        return jinja_syntax_problem(filename, text)
    return None
