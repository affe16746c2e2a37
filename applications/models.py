"""Applications: templates and the optional question workflow from which job scripts are rendered."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from jobbergate.choices import FileType
from jobbergate.models import Resource, ResourceQuerySet, StoredFile, visible_row
from jobbergate.validation import JsonValueError, check_json_value, identifier_problem


def validate_identifier(value: str | None) -> None:
    """The identifier alphabet (``jobbergate.validation.identifier_problem``), for forms such as the admin's."""
    if value is not None and (problem := identifier_problem(value)):
        raise ValidationError(problem)


def validate_json_object(value) -> None:
    """``template_vars`` and the runtime config are JSON objects (mappings), as the API requires."""
    if not isinstance(value, dict):
        raise ValidationError("This value must be a JSON object ({...}).")


def validate_questions(value) -> None:
    """Typed questions, checked by the one rule the API and uploads use (``applications.questions``)."""
    from applications.questions import QuestionsError, check_questions

    try:
        check_questions(value)
    except QuestionsError as error:
        raise ValidationError(error.problems) from None


def validate_config_json(value) -> None:
    """An application's stored configuration is plain JSON of at most ``APPLICATION_MAX_CONFIG_BYTES``: every
    catalogue listing sends it, so one large value would slow every user's listing."""
    try:
        check_json_value(value, what="This value", max_bytes=settings.APPLICATION_MAX_CONFIG_BYTES)
    except JsonValueError as error:
        raise ValidationError(str(error)) from None


def key_lookup(key: str) -> tuple[str, int | str] | None:
    """What an application's key names: ``("pk", id)`` for digits (identifiers are never all digits),
    ``("identifier", key)`` otherwise, or None for a key that can name no application."""
    if key.isascii() and key.isdigit():
        return ("pk", int(key)) if len(key) <= 18 else None
    if "\x00" in key:
        return None
    return ("identifier", key)


def visible_application(principal, key: str, *, with_files: bool = False):
    """The application ``key`` names (``key_lookup``) if ``principal`` may read it, or None: a prepared query
    (``jobbergate.models.visible_row``), since every render asks; ``with_files``, its template files read in the
    same query (``template.template_files.all()`` then answers without one)."""
    lookup = key_lookup(key)
    if lookup is None:
        return None
    children = "template_files" if with_files else None
    return visible_row(JobScriptTemplate, principal, lookup[1], by=lookup[0], children=children)


class TemplateQuerySet(ResourceQuerySet):
    def by_key(self, key: str) -> TemplateQuerySet:
        """Rows whose id or identifier is ``key`` (``key_lookup``)."""
        lookup = key_lookup(key)
        return self.none() if lookup is None else self.filter(**{lookup[0]: lookup[1]})

    def identifier_taken(self, identifier: str, *, exclude_pk: int | None = None) -> str | None:
        """The identifier already stored that ``identifier`` would clash with (uniqueness ignores case), or None."""
        rows = self.filter(identifier__iexact=identifier)
        if exclude_pk is not None:
            rows = rows.exclude(pk=exclude_pk)
        return rows.values_list("identifier", flat=True).first()


class JobScriptTemplate(Resource):
    """An application: Jinja2 templates, default template variables and an optional ``jobbergate.py``.

    ``identifier`` is an optional unique short name usable in URLs instead of the id; it is never empty and never
    all digits, so the two cannot be confused.
    """

    identifier = models.CharField(max_length=255, unique=True, null=True, blank=True, validators=[validate_identifier])
    template_vars = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_config_json, validate_json_object],
        help_text="Default values of template variables.",
    )
    config_source = models.TextField(
        blank=True, default="", help_text="The application's jobbergate.yaml as uploaded with its folder."
    )
    questions = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_config_json, validate_questions],
        help_text="Typed questions declared in jobbergate.yaml (questions:).",
    )

    objects = TemplateQuerySet.as_manager()

    class Meta(Resource.Meta):
        verbose_name = "application"
        constraints = [
            models.CheckConstraint(
                condition=Q(identifier__isnull=True) | ~Q(identifier=""),
                name="template_identifier_not_empty",
            ),
            models.UniqueConstraint(Lower("identifier"), name="template_identifier_unique_ignoring_case"),
        ]


class TemplateFile(StoredFile):
    """One Jinja2 template of an application; ENTRYPOINT renders to the script sbatch runs."""

    parent = models.ForeignKey(JobScriptTemplate, on_delete=models.CASCADE, related_name="template_files")
    file_type = models.CharField(max_length=16, choices=FileType.choices, default=FileType.ENTRYPOINT)

    storage_prefix = "job-script-templates"

    class Meta(StoredFile.Meta):
        constraints = [models.UniqueConstraint(fields=["parent", "filename"], name="template_file_unique_name")]


class WorkflowFile(StoredFile):
    """The application's ``jobbergate.py`` (run only by the CLI) and its ``jobbergate_config`` section."""

    parent = models.ForeignKey(JobScriptTemplate, on_delete=models.CASCADE, related_name="workflow_files")
    filename = models.CharField(max_length=255, default="jobbergate.py")
    runtime_config = models.JSONField(default=dict, blank=True, validators=[validate_config_json, validate_json_object])

    storage_prefix = "workflows"

    class Meta(StoredFile.Meta):
        constraints = [models.UniqueConstraint(fields=["parent"], name="one_workflow_per_template")]
