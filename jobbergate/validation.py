"""Checks on what clients upload: file names, text encoding and the syntax of templates and workflows.

Nothing here executes what it checks: Python is parsed with ``ast``, YAML loaded with the safe loader, Jinja2
parsed by a sandboxed environment without rendering.
"""

from __future__ import annotations

import ast
import re
import unicodedata

import yaml
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from jobbergate.api.exceptions import BadRequest, Unprocessable

MAX_NAME_LENGTH = 255
JINJA_SUFFIXES = (".j2", ".jinja2")
_parser_environment = SandboxedEnvironment()
# Unicode categories no file name may hold: controls (Cc), format characters such as bidi overrides and zero-width
# joiners (Cf), line and paragraph separators (Zl, Zp), surrogates (Cs). They make one name look like another.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})

IDENTIFIER_MAX_LENGTH = MAX_NAME_LENGTH
IDENTIFIER_ALPHABET = "ASCII letters, digits, '-', '_' and '.', starting with a letter or digit"
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


def filename_problem(filename: str | None) -> str | None:
    """What makes ``filename`` unfit as a plain file name, or None: the one rule for every stored file's name."""
    if not filename:
        return "File name must not be empty."
    if len(filename) > MAX_NAME_LENGTH:
        return f"File name must be at most {MAX_NAME_LENGTH} characters."
    if "/" in filename or "\\" in filename:
        return f"File name {filename!r} must not contain a path separator."
    if any(unicodedata.category(char) in _INVISIBLE_CATEGORIES for char in filename):
        return f"File name {filename!r} must not contain NUL, control, bidi or other invisible characters."
    if filename in {".", ".."} or filename.startswith(".."):
        return f"File name {filename!r} must not be or start with '..'."
    return None


def relative_path_problem(path: str | None) -> str | None:
    """What makes ``path`` unfit as a file's path inside an application (``inputs/params.txt.j2``), or None."""
    if not path:
        return "File name must not be empty."
    if len(path) > MAX_NAME_LENGTH:
        return f"File path must be at most {MAX_NAME_LENGTH} characters."
    if path.startswith("/"):
        return f"File path {path[:80]!r} is absolute; absolute paths are not allowed."
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return f"File path {path!r} must be relative, without '.', '..' or empty parts."
        if problem := filename_problem(part):
            return problem
    return None


def check_filename(filename: str | None) -> str:
    """Return a safe plain file name, or raise 400 saying why it is not one."""
    if problem := filename_problem(filename):
        raise BadRequest(problem)
    return filename  # type: ignore[return-value]


def check_relative_path(path: str | None) -> str:
    """Return a safe relative path inside an application's templates, or raise 400 saying why it is not one."""
    if problem := relative_path_problem(path):
        raise BadRequest(problem)
    return path  # type: ignore[return-value]


def identifier_problem(value: str | None) -> str | None:
    """What makes ``value`` unfit as an application identifier, or None: the one alphabet of identifiers.

    ASCII only, so no two identifiers can look alike (no accents in two normal forms, no Cyrillic or fullwidth
    letters, nothing invisible); never all digits, so an identifier is never taken for an id. Identifiers are
    unique regardless of case (a database constraint).
    """
    if not value or not value.strip():
        return "identifier must not be empty."
    if len(value) > IDENTIFIER_MAX_LENGTH:
        return f"identifier must have at most {IDENTIFIER_MAX_LENGTH} characters."
    if not _IDENTIFIER.match(value):
        return f"identifier {value[:80]!r} may hold only {IDENTIFIER_ALPHABET}."
    if value.isdigit():
        return "identifier must not be all digits: it would be taken for an id."
    return None


def decode_text(filename: str, content: bytes) -> str:
    """Files are text: anything that is not UTF-8 is refused with a 400."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(f"File {filename!r} is not UTF-8 text (byte {error.start}).") from None


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

    Unquoted dates and times stay text (YAML 1.1 would make them ``datetime`` objects, which are not JSON);
    explicit ``!!binary``, ``!!set``, ``!!timestamp``, ``!!omap`` and ``!!pairs`` are refused; nesting is counted
    while composing, so deep input stops before it can exhaust the stack. Aliases are counted afterwards, by
    ``check_json_value``, each time they are used.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

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


def _refuse_tag(loader, node):
    raise yaml.constructor.ConstructorError(
        None, None, f"{node.tag} values are not JSON; write them as text, numbers, lists or mappings", node.start_mark
    )


for _tag in ("timestamp", "binary", "set", "omap", "pairs"):
    _JsonYamlLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse_tag)


def load_yaml(text: str, *, what: str, max_bytes: int | None = None):
    """A YAML document as plain JSON values, bounded in depth and (with ``max_bytes``) in size as JSON.

    Only the safe loader's constructors run, so no tag can build an object. Raises ``JsonValueError``.
    """
    try:
        value = yaml.load(text, Loader=_JsonYamlLoader)  # a SafeLoader subclass: no tag builds an object
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


def check_syntax(filename: str, text: str) -> None:
    """Parse Python, YAML and Jinja2 files by their extension; a syntax error is a 422 with its line."""
    lower = filename.lower()
    problem = None
    if lower.endswith(".py"):
        problem = python_syntax_problem(filename, text)
    elif lower.endswith((".yaml", ".yml")):
        problem = yaml_syntax_problem(filename, text)
    elif lower.endswith(JINJA_SUFFIXES):
        problem = jinja_syntax_problem(filename, text)
    if problem:
        raise Unprocessable(problem)


def check_upload(filename: str, content: bytes) -> str:
    """Run every check on an uploaded file; return its text."""
    text = decode_text(filename, content)
    check_syntax(filename, text)
    return text


JSON_MAX_DEPTH = 64
"""How deeply objects and arrays a client sends may nest (request bodies, stored JSON, YAML configs)."""


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


def check_identifier(value: str) -> str:
    """Return ``value`` if it is a valid application identifier (``identifier_problem``), or raise 422."""
    if problem := identifier_problem(value):
        raise Unprocessable(problem)
    return value
