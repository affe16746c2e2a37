"""Checks on what clients upload: file names, text encoding and the syntax of templates and workflows.

Nothing here executes what it checks: Python is parsed with ``ast``, YAML loaded with the safe loader, Jinja2
parsed by a sandboxed environment without rendering.
"""

from __future__ import annotations

import ast
import re

import yaml
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from jobbergate.api.exceptions import BadRequest, Unprocessable

MAX_NAME_LENGTH = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
JINJA_SUFFIXES = (".j2", ".jinja2")
_parser_environment = SandboxedEnvironment()


def check_filename(filename: str | None) -> str:
    """Return a safe plain file name, or raise 400 saying why it is not one."""
    if not filename:
        raise BadRequest("File name must not be empty.")
    if len(filename) > MAX_NAME_LENGTH:
        raise BadRequest(f"File name must be at most {MAX_NAME_LENGTH} characters.")
    if "/" in filename or "\\" in filename:
        raise BadRequest(f"File name {filename!r} must not contain a path separator.")
    if _CONTROL.search(filename):
        raise BadRequest("File name must not contain NUL or control characters.")
    if filename in {".", ".."} or filename.startswith(".."):
        raise BadRequest(f"File name {filename!r} must not be or start with '..'.")
    return filename


def check_relative_path(path: str | None) -> str:
    """A file's path inside an application's templates (``inputs/params.txt.j2``): relative, no ``..``."""
    if not path:
        raise BadRequest("File name must not be empty.")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise BadRequest(f"File path {path!r} must be relative, without '.', '..' or empty parts.")
        check_filename(part)
    if len(path) > MAX_NAME_LENGTH:
        raise BadRequest(f"File path must be at most {MAX_NAME_LENGTH} characters.")
    return path


def decode_text(filename: str, content: bytes) -> str:
    """Files are text: anything that is not UTF-8 is refused with a 400."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(f"File {filename!r} is not UTF-8 text (byte {error.start}).") from None


def check_syntax(filename: str, text: str) -> None:
    """Parse Python, YAML and Jinja2 files by their extension; a syntax error is a 422 with its line."""
    lower = filename.lower()
    if lower.endswith(".py"):
        try:
            ast.parse(text, filename=filename)
        except (SyntaxError, ValueError) as error:
            line = getattr(error, "lineno", None)
            raise Unprocessable(f"{filename} is not valid Python (line {line}): {getattr(error, 'msg', error)}")
    elif lower.endswith((".yaml", ".yml")):
        try:
            yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise Unprocessable(f"{filename} is not valid YAML: {str(error).splitlines()[0]}") from None
    elif lower.endswith(JINJA_SUFFIXES):
        try:
            _parser_environment.parse(text)
        except TemplateSyntaxError as error:
            raise Unprocessable(f"{filename} is not a valid Jinja2 template (line {error.lineno}): {error.message}")


def check_upload(filename: str, content: bytes) -> str:
    """Run every check on an uploaded file; return its text."""
    text = decode_text(filename, content)
    check_syntax(filename, text)
    return text


def contains_nul(value) -> bool:
    """True when a string anywhere in a JSON-like value holds NUL, which PostgreSQL cannot store."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(key) or contains_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(contains_nul(item) for item in value)
    return False


def check_identifier(value: str) -> str:
    if not value or not value.strip():
        raise Unprocessable("identifier must not be empty.")
    if value.isdigit():
        raise Unprocessable("identifier must not be all digits: it would be taken for an id.")
    return value
