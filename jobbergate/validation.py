"""Checks on what clients upload: file names, identifiers, text encoding, and (through ``jobbergate.syntax``) the
syntax of templates and workflows and plain JSON values."""

from __future__ import annotations

import re
import unicodedata

from jobbergate.errors import Invalid, Malformed
from jobbergate.syntax import (  # noqa: F401 - their home is jobbergate.syntax; imported from here by callers
    JINJA_SUFFIXES,
    JSON_MAX_DEPTH,
    JsonValueError,
    check_json_value,
    jinja_syntax_problem,
    load_yaml,
    python_syntax_problem,
    syntax_problem,
    yaml_syntax_problem,
)

MAX_NAME_LENGTH = 255
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
        return f"File name {filename!r} must not be '.' or start with '..'."
    if filename.startswith("-"):
        return f"File name {filename!r} must not start with '-': it would be read as an option."
    if not unicodedata.is_normalized("NFC", filename):
        return f"File name {filename!r} must be in Unicode normal form C (NFC), so that no two names look alike."
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
    """Return a safe plain file name, or raise Malformed saying why it is not one."""
    if problem := filename_problem(filename):
        raise Malformed(problem)
    return filename  # type: ignore[return-value]


def check_relative_path(path: str | None) -> str:
    """Return a safe relative path inside an application's templates, or raise Malformed saying why it is not one."""
    if problem := relative_path_problem(path):
        raise Malformed(problem)
    return path  # type: ignore[return-value]


def display_text_problem(value: str, *, what: str) -> str | None:
    """Names, descriptions and cluster names are shown to other people: no control, bidi or invisible characters,
    which could make one look like another (a right-to-left override, a zero-width space)."""
    if any(unicodedata.category(char) in _INVISIBLE_CATEGORIES for char in value):
        return f"{what} must not contain control, bidi or other invisible characters."
    return None


SBATCH_FORBIDDEN_OPTIONS = ("--uid", "--gid", "--wrap", "--comment")
"""Options no user may give sbatch: who runs the job, a job with no script, and the comment that carries the
agent's marker. The agent refuses them too (``jobbergate_cli.contract.FORBIDDEN_SBATCH_OPTIONS``; a test pins
the two)."""


SBATCH_PARAMS_MAX = 50
"""How many sbatch parameters one render writes into a script's header (``sbatch_params``)."""


def sbatch_line_problem(parameter: str) -> str | None:
    """An sbatch parameter written into a script's header (``sbatch_params``) is one line: a newline would smuggle
    another line into the script. (The template itself may hold any ``#SBATCH`` line its author wants.)"""
    if any(char in parameter for char in "\n\r\x00"):
        return "An sbatch argument must be one line, without NUL."
    return None


def sbatch_argument_problem(argument: str) -> str | None:
    """An argument for sbatch's command line (a submission's ``sbatch_arguments``) is one option on one line
    (``--name=value`` or ``-x``), and none that sbatch would read as a forbidden option, under any getopt
    abbreviation (``--ui=0`` is ``--uid=0``); the command line overrides the script's header."""
    if problem := sbatch_line_problem(argument):
        return problem
    if not argument.startswith("-") or argument == "--":
        return f"Not an sbatch option: {argument[:60]!r} (write each as --name=value)."
    name = argument[2:].split("=", 1)[0] if argument.startswith("--") else ""
    for option in SBATCH_FORBIDDEN_OPTIONS:
        if name and option[2:].startswith(name):
            return f"The sbatch option {option} may not be given (it would change who or what is submitted)."
    return None


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
    """Files are text: anything that is not UTF-8 is refused (Malformed)."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Malformed(f"File {filename!r} is not UTF-8 text (byte {error.start}).") from None


def check_identifier(value: str) -> str:
    """Return ``value`` if it is a valid application identifier (``identifier_problem``), or raise Invalid."""
    if problem := identifier_problem(value):
        raise Invalid(problem)
    return value
