"""Older upstream import path of the question classes."""

from jobbergate_cli.subapps.applications.questions import (
    BooleanList,
    Checkbox,
    Confirm,
    Const,
    Directory,
    File,
    Integer,
    List,
    QuestionBase,
    Text,
)

__all__ = [
    "BooleanList",
    "Checkbox",
    "Confirm",
    "Const",
    "Directory",
    "File",
    "Integer",
    "List",
    "QuestionBase",
    "Text",
]
