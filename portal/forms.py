"""The application form: one field per typed question (``applications.questions``), and the run's own fields.

The questions' rules are the server's (``complete_answers``, the same the API applies); this module only turns
form text into typed answers (``answer_from_text``) and the questions into what a template draws.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from applications.questions import answer_from_text, applies
from jobbergate.errors import DomainError
from jobbergate.services import check_size
from jobbergate.validation import SBATCH_PARAMS_MAX, sbatch_argument_problem
from submissions.models import JobSubmission

INPUT_TYPES = {"text": "text", "path": "text", "integer": "number", "float": "number"}

ANSWER_PREFIX = "answer-"
"""The form's inputs for a question are named ``answer-<question>`` (and so are its help and error slots): a question
may be called anything an identifier can be, ``name``, ``cluster`` or ``csrfmiddlewaretoken`` too, and neither the
run's own fields nor Django's CSRF token may be read as its answer, or its answer as them."""


def answer_input(name: str) -> str:
    """The name of the form input (and the suffix of the element ids) that carries question ``name``'s answer."""
    return ANSWER_PREFIX + name


@dataclass
class QuestionField:
    """One question as the template draws it, with the value to show and its problems."""

    question: dict[str, Any]
    value: Any = None
    errors: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.question["name"]

    @property
    def input_name(self) -> str:
        return answer_input(self.name)

    @property
    def kind(self) -> str:
        return self.question.get("type", "text")

    @property
    def label(self) -> str:
        return str(self.question.get("message") or self.name)

    @property
    def help(self) -> str:
        return str(self.question.get("help") or "")

    @property
    def required(self) -> bool:
        return bool(self.question.get("required", True)) and self.kind not in ("constant", "boolean", "multi_choice")

    @property
    def input_type(self) -> str:
        return INPUT_TYPES.get(self.kind, "text")

    @property
    def step(self) -> str:
        return "1" if self.kind == "integer" else "any"

    @property
    def choices(self) -> list[tuple[str, str, bool]]:
        """(value, label, chosen) for choice and multi_choice questions."""
        chosen = self.value if isinstance(self.value, list) else [self.value]
        return [(str(choice), str(choice), choice in chosen) for choice in self.question.get("choices", [])]

    @property
    def as_radio(self) -> bool:
        return self.kind == "choice" and len(self.question.get("choices", [])) <= 4

    @property
    def text(self) -> str:
        """The value as the input shows it."""
        if self.value is None:
            return ""
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        return str(self.value)

    @property
    def when(self) -> str:
        """The ``when`` condition as JSON for the page's script, which shows the field only while it holds."""
        return json.dumps(self.question.get("when") or {})


def question_fields(questions: list[dict], values: dict, errors: dict[str, list[str]] | None = None) -> list:
    """The fields of a form showing ``values`` (defaults where a question has none) and ``errors`` by name."""
    errors = errors or {}
    fields = []
    for question in questions:
        name = question["name"]
        value = values.get(name, question.get("default"))
        if question.get("type") == "constant":
            value = question.get("default")
        fields.append(QuestionField(question, value, list(errors.get(name, []))))
    return fields


def answers_from_form(questions: list[dict], data) -> dict[str, Any]:
    """The typed answers a form sent, for the questions that apply given the earlier answers (a hidden field's
    value is dropped, as the CLI never asks it), each read from its ``answer-`` input; other inputs are ignored."""
    answers: dict[str, Any] = {}
    for question in questions:
        if not applies(question, answers):
            continue
        value = answer_from_text(question, data.getlist(answer_input(question["name"])))
        if value is not None:
            answers[question["name"]] = value
    return answers


def sbatch_lines(text: str) -> list[str]:
    """The extra sbatch options of the form's text box, one per line; a ValidationError listing what is wrong."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > SBATCH_PARAMS_MAX:
        raise ValidationError(f"At most {SBATCH_PARAMS_MAX} options.")
    problems = [f"{line[:60]!r} is longer than 255 characters." for line in lines if len(line) > 255]
    problems += [problem for line in lines if (problem := sbatch_argument_problem(line))]
    if problems:
        raise ValidationError(problems)
    return lines


class RunForm(forms.Form):
    """What a run needs beside the answers: its name, where it runs, and what to change in the script."""

    name = forms.CharField(max_length=255, label="Job script name")
    cluster = forms.ChoiceField(required=False, label="Cluster")
    execution_directory = forms.CharField(
        required=False, max_length=255, label="Execution directory", help_text="Where the job runs on the cluster."
    )
    sbatch_params = forms.CharField(
        required=False,
        label="Extra sbatch options",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="One per line, for example --time=00:10:00",
    )
    save_only = forms.BooleanField(required=False, label="Save the job script only (do not submit)")
    entrypoint = forms.CharField(required=False, strip=False, widget=forms.HiddenInput)
    entrypoint_edited = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, clusters: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cluster"].choices = [("", "Choose a cluster")] + [(name, name) for name in clusters]

    def clean_name(self) -> str:
        return self._model_checked(self.cleaned_data["name"], "name")

    def clean_execution_directory(self) -> str | None:
        value = self.cleaned_data["execution_directory"].strip()
        return self._model_checked(value, "execution_directory") if value else None

    def clean_sbatch_params(self) -> list[str]:
        return sbatch_lines(self.cleaned_data["sbatch_params"])

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("save_only") and not cleaned.get("cluster"):
            self.add_error("cluster", "Choose the cluster to submit to, or save the job script only.")
        if cleaned.get("entrypoint_edited") and "entrypoint" not in self.errors:
            script = cleaned.get("entrypoint") or ""
            if not script.strip():
                self.add_error("entrypoint", "The edited script is empty: write it, or discard your edit.")
            else:
                try:
                    check_size("the edited script", len(script.encode()))  # the one upload limit, before any render
                except DomainError as error:
                    self.add_error("entrypoint", error.text)
        return cleaned

    @staticmethod
    def _model_checked(value: str, name: str) -> str:
        """The submission model's own validators for the field (one rule with the API and the admin)."""
        model_field = JobSubmission._meta.get_field(name)
        model_field.run_validators(value)
        return value
