"""The question classes a ``jobbergate.py`` builds its questions from (upstream's names and arguments)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Ignore = bool | Callable[[dict], bool]


class QuestionBase:
    """One question: the answer goes into the shared answers dict under ``variablename``."""

    kind = "text"

    def __init__(self, variablename: str, message: str = "", ignore: Ignore = False, default: Any = None):
        self.variablename = variablename
        self.message = message or variablename
        self.ignore = ignore
        self.default = default

    def ignored(self, data: dict) -> bool:
        return bool(self.ignore(data)) if callable(self.ignore) else bool(self.ignore)


class Text(QuestionBase):
    kind = "text"


class Integer(QuestionBase):
    kind = "integer"

    def __init__(self, variablename, message="", minval=None, maxval=None, ignore=False, default=None):
        super().__init__(variablename, message, ignore, default)
        self.minval, self.maxval = minval, maxval


class List(QuestionBase):
    kind = "choice"

    def __init__(self, variablename, message="", choices=None, ignore=False, default=None):
        super().__init__(variablename, message, ignore, default)
        self.choices = list(choices or [])


class Checkbox(List):
    kind = "multi_choice"


class Directory(QuestionBase):
    kind = "path"

    def __init__(self, variablename, message="", ignore=False, default=None, exists=None):
        super().__init__(variablename, message, ignore, default)
        self.exists = exists


class File(Directory):
    pass


class Confirm(QuestionBase):
    kind = "boolean"


class BooleanList(Confirm):
    """A yes/no question whose follow-up questions depend on the answer."""

    def __init__(self, variablename, message="", ignore=False, default=None, whentrue=None, whenfalse=None):
        super().__init__(variablename, message, ignore, default)
        self.whentrue = list(whentrue or [])
        self.whenfalse = list(whenfalse or [])


class Const(QuestionBase):
    """Never asked: always its default."""

    kind = "constant"

    def __init__(self, variablename, default=None, ignore=False, message=""):
        super().__init__(variablename, message, ignore, default)
