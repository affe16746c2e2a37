"""Everything that changes applications beyond a plain field update: files, clone, delete."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

import yaml
from django.conf import settings
from django.db import transaction

from applications.bundle import ApplicationBundle, BundleLimits, check_bundle, folder_files
from applications.models import JobScriptTemplate, TemplateFile, WorkflowFile
from applications.questions import NAME, QuestionsError, check_questions, complete_answers
from applications.rendering import Limits, RenderError, RenderPool
from jobbergate import syntax
from jobbergate.choices import FileType
from jobbergate.errors import Conflict, Forbidden, Invalid
from jobbergate.principal import Principal
from jobbergate.services import copy_files, delete_file, discard_files_of, parse_file_type, put_file
from jobbergate.validation import check_relative_path, decode_text

WORKFLOW_FILENAME = "jobbergate.py"


def upload_template_file(
    *,
    template: JobScriptTemplate,
    file_type: str,
    filename: str,
    content: bytes | None,
    previous_filename: str | None = None,
) -> TemplateFile:
    """Create, replace or rename one template file of an application."""
    return put_file(
        parent=template,
        related_name="template_files",
        filename=filename,
        content=content,
        check_content=check_uploaded_file,
        previous_filename=previous_filename,
        file_type=parse_file_type(file_type),
    )


def delete_template_file(*, template: JobScriptTemplate, filename: str) -> None:
    delete_file(parent=template, related_name="template_files", filename=filename, check=check_relative_path)


def upload_workflow(*, template: JobScriptTemplate, content: bytes | None, runtime_config: dict | None) -> WorkflowFile:
    """Create or replace the application's ``jobbergate.py`` and its runtime config."""
    if not template.workflow_files.exists() and (content is None or runtime_config is None):
        raise Invalid("A new workflow needs both upload_file and runtime_config.")
    fields: dict = {} if runtime_config is None else {"runtime_config": runtime_config}
    return put_file(
        parent=template,
        related_name="workflow_files",
        filename=WORKFLOW_FILENAME,
        content=content,
        check_content=check_uploaded_file,
        **fields,
    )


def delete_workflow(*, template: JobScriptTemplate) -> None:
    delete_file(parent=template, related_name="workflow_files", filename=WORKFLOW_FILENAME)


def check_identifier_free(identifier: str | None, *, exclude_pk: int | None = None) -> None:
    """A Conflict naming the application that holds ``identifier`` already (other than ``exclude_pk``); uniqueness
    ignores case (``TemplateQuerySet.identifier_taken``)."""
    if identifier is None:
        return
    if taken := JobScriptTemplate.objects.identifier_taken(identifier, exclude_pk=exclude_pk):
        raise Conflict(f"The identifier {identifier!r} is already in use (as {taken!r}; case does not count).")


@transaction.atomic
def clone_template(
    *,
    source: JobScriptTemplate,
    owner_email: str,
    name: str | None = None,
    identifier: str | None = None,
    description: str | None = None,
    template_vars: dict | None = None,
) -> JobScriptTemplate:
    """Copy an application with its files; the caller owns the copy. The identifier is not copied (it is unique)."""
    check_identifier_free(identifier)
    clone = JobScriptTemplate.objects.create(
        name=name or source.name,
        identifier=identifier,
        description=source.description if description is None else description,
        template_vars=source.template_vars if template_vars is None else template_vars,
        owner_email=owner_email,
        cloned_from=source,
    )
    copy_files(source.template_files.all(), new_parent=clone)
    copy_files(source.workflow_files.all(), new_parent=clone)
    return clone


@transaction.atomic
def delete_template(*, template: JobScriptTemplate) -> None:
    """Delete an application and its files; job scripts rendered from it keep living without a parent."""
    discard_files_of(template.template_files.all())
    discard_files_of(template.workflow_files.all())
    template.delete()


# Each server thread has render workers of its own: a request waits for no other request's render, and a render
# stopped for its time or memory (its workers are killed and replaced) takes no other request's render with it.
_render_pools = threading.local()


def render_limits() -> Limits:
    """The limits of one render, from settings (docs/configuration.md)."""
    return Limits(
        seconds=settings.RENDER_TIMEOUT_SECONDS,
        output_bytes=settings.RENDER_MAX_OUTPUT_BYTES,
        memory_bytes=settings.RENDER_MEMORY_MB * 1024 * 1024,
    )


def render_pool() -> RenderPool:
    """This thread's render workers, with the configured limits (replaced when the settings change; stopped when
    the thread ends)."""
    limits = render_limits()
    pool = getattr(_render_pools, "pool", None)
    if pool is None or pool.limits != limits or pool.workers != settings.RENDER_WORKERS:
        if pool is not None:
            pool.stop()
        pool = _render_pools.pool = RenderPool(settings.RENDER_WORKERS, limits)
    return pool


def render_templates(sources: dict[str, str], param_dict: dict) -> dict[str, str]:
    """Render template sources with the parameters in a worker process, within the configured limits."""
    try:
        return render_pool().render(sources, param_dict)
    except RenderError as error:
        raise Invalid(str(error)) from None


def source_problems(sources: dict[str, str]) -> list[str]:
    """The syntax problems of sources by file name, parsed in a render worker within the render limits: parsing a
    large file takes seconds and memory, so it never runs in a web worker. Files that are not parsed skip the pool."""
    parsed = {name: text for name, text in sources.items() if syntax.is_parsed(name)}
    if not parsed:
        return []
    try:
        return render_pool().check_sources(parsed)
    except RenderError as error:
        return [str(error)]


def check_uploaded_file(filename: str, content: bytes) -> None:
    """An uploaded file is UTF-8 text (Malformed otherwise) whose syntax parses (Invalid otherwise)."""
    problems = source_problems({filename: decode_text(filename, content)})
    if problems:
        raise Invalid(problems[0])


def stored_questions(template: JobScriptTemplate) -> list[dict]:
    """The application's questions, checked again as they are read: a row written around the API is a clear
    Invalid, never a crash. The rules only uploads must meet (``check_questions(strict=True)``) are not applied:
    an application stored before one of them existed goes on working as it did."""
    try:
        return check_questions(template.questions, strict=False)
    except QuestionsError as error:
        raise Invalid(
            [
                f"The stored questions of this application are invalid; upload it again: {problem}"
                for problem in error.problems
            ]
        ) from None


def runtime_config(template: JobScriptTemplate) -> dict:
    """The application's ``jobbergate_config`` as clients read it: kept with its ``jobbergate.py`` (an application
    without one has none, as for the CLI)."""
    workflow = template.workflow_files.first()
    return dict(workflow.runtime_config) if workflow else {}


def output_name(template_name: str, config: dict) -> str:
    """The file a template renders to (APP-FORMAT.md): ``job.sh.j2`` -> ``job.sh``; supporting files as
    ``supporting_files_output_name`` says. The CLI's mirror is ``jobbergate_cli.local.output_name``."""
    names = config.get("supporting_files_output_name") or {}
    for key in (template_name, f"templates/{template_name}"):
        if key in names:
            value = names[key]
            return str(value[0] if isinstance(value, list) else value)
    base = template_name.rsplit("/", 1)[-1]
    for suffix in syntax.JINJA_SUFFIXES:
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def default_output_mapping(template: JobScriptTemplate) -> dict[str, str]:
    """Which templates render into which files when the user names none: the default template (the entrypoint)
    and every SUPPORT template; every template when no default is named. As ``jobbergate job-scripts create``."""
    config = runtime_config(template)
    default = str(config.get("default_template") or "").removeprefix("templates/")
    return {
        row.filename: output_name(row.filename, config)
        for row in template.template_files.all()
        if row.file_type == FileType.SUPPORT or row.filename == default or not default
    }


def render_parameters(template: JobScriptTemplate, answers: dict) -> dict:
    """The ``param_dict`` a render gets from a user's answers: the application's ``jobbergate_config``, then its
    ``application_config`` (``template_vars``), then the answers, under ``data`` (as the CLI sends them)."""
    return {"data": {**runtime_config(template), **(template.template_vars or {}), **answers}}


@dataclass(frozen=True)
class FormQuestions:
    """The questions a form asks for an application, and what the user should know about where they came from."""

    questions: list[dict]
    source: str  # "questions" (declared), "workflow" (read from jobbergate.py) or "template_vars"
    note: str = ""


def form_questions(template: JobScriptTemplate, *, worker_slot=contextlib.nullcontext) -> FormQuestions:
    """What a web form can ask statically: the declared typed questions; for an application with only a
    ``jobbergate.py``, the questions ``convert_workflow`` reads from it (in a render worker, never run; entered
    within ``worker_slot()``, the caller's fair share of the workers, and kept by the file's hash, so only the
    first reading of a file uses a worker), else its ``template_vars`` as editable fields. The CLI runs the full
    workflow."""
    declared = stored_questions(template)
    if declared:
        return FormQuestions(declared, "questions")
    workflow = template.workflow_files.first()
    if workflow is not None:
        try:
            questions, unread = _converted(workflow.read_text(), worker_slot)
        except (RenderError, QuestionsError, UnicodeDecodeError):
            questions, unread = [], 0
        if questions:
            note = "These questions were read from the application's jobbergate.py without running it"
            if unread:
                note += f"; {unread} step(s) could not be read"
            return FormQuestions(questions, "workflow", note + ". The CLI runs the full workflow.")
    fields = [
        {"name": name, "type": kind, "message": name, "default": value, "required": False}
        for name, value in (template.template_vars or {}).items()
        if isinstance(name, str) and NAME.match(name) and (kind := _question_type_of(value))
    ]
    note = (
        "The CLI runs this application's full workflow (jobbergate.py); here you set its variables." if workflow else ""
    )
    return FormQuestions(fields, "template_vars", note)


# The questions read from each jobbergate.py (by its content's hash) with how many steps could not be read: a form
# asks for them at every view and keystroke, and reading takes a render worker. At most _CONVERTED_MAX are kept.
_CONVERTED: dict[str, tuple[list[dict], int]] = {}
_CONVERTED_MAX = 128


def _converted(source: str, worker_slot) -> tuple[list[dict], int]:
    key = hashlib.sha256(source.encode()).hexdigest()
    if key not in _CONVERTED:
        with worker_slot():
            conversion = render_pool().convert_workflow(source)
        questions = check_questions(conversion.questions)
        if len(_CONVERTED) >= _CONVERTED_MAX:
            _CONVERTED.pop(next(iter(_CONVERTED)))
        _CONVERTED[key] = (questions, len(conversion.problems))
    return _CONVERTED[key]


def _question_type_of(value) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "text"
    return None


def checked_answers(questions: list[dict], answers: dict, *, field_prefix: str = "") -> dict:
    """The answers with the questions' defaults filled in (``complete_answers``); an Invalid with the problems by
    field (``field_prefix`` + the question's name) otherwise. The API's renders and the portal's forms alike."""
    completed, errors = complete_answers(questions, answers)
    if errors:
        raise Invalid(fields={f"{field_prefix}{name}": list(messages) for name, messages in errors.items()})
    return completed


def files_content_hash(contents: dict[str, bytes]) -> str:
    """SHA-256 over the names and contents of an application's template files, in name order."""
    digest = hashlib.sha256()
    for filename in sorted(contents):
        digest.update(filename.encode() + b"\0" + contents[filename] + b"\0")
    return digest.hexdigest()


def bundle_limits() -> BundleLimits:
    """The limits of one application, from settings (docs/configuration.md)."""
    return BundleLimits(
        max_files=settings.APPLICATION_MAX_FILES,
        max_bytes=settings.APPLICATION_MAX_BYTES,
        max_file_bytes=settings.MAX_UPLOAD_BYTES,
        max_config_bytes=settings.APPLICATION_MAX_CONFIG_BYTES,
    )


def load_bundle(files: dict[str, bytes]) -> ApplicationBundle:
    """Check an application folder; every problem is one line of the ``BundleError`` (an ``Invalid``)."""
    return check_bundle(files, bundle_limits(), source_problems=source_problems)


def check_may_replace(principal: Principal, template: JobScriptTemplate) -> None:
    """Replacing an existing application's folder needs the update permission and its ownership."""
    if not principal.may("job-templates", "update"):
        raise Forbidden("This needs the permission 'jobbergate:job-templates:update'.")
    if not (principal.is_privileged or template.is_owned_by(principal)):
        raise Forbidden("Only the owner, a maintainer or an admin may change this.")


def refuse_existing_application(template: JobScriptTemplate) -> None:
    """A create-only upload never replaces: an existing application is a conflict (called under the row lock)."""
    raise Conflict(f"The application {template.identifier or template.pk!r} exists already (id {template.pk}).")


@transaction.atomic
def upsert_application(
    *,
    identifier: str,
    bundle: ApplicationBundle,
    owner_email: str,
    name: str | None = None,
    description: str | None = None,
    template: JobScriptTemplate | None = None,
    check_change: Callable[[JobScriptTemplate], None] | None = None,
) -> tuple[JobScriptTemplate, bool]:
    """Create the application ``identifier`` from a checked folder, or replace the files of the existing one.

    The row is locked before anything is decided, and ``check_change`` (which raises to refuse) is called on an
    existing row under that lock: whoever may change it is decided by the row that is written, never by one read
    before (two users uploading the same new identifier at once: one creates it, the other is checked against it).
    Returns the application and whether it was created. Template sub-folders are kept as relative paths;
    templates listed in ``supporting_files`` become SUPPORT, the others ENTRYPOINT.
    """
    locked = JobScriptTemplate.objects.select_for_update()
    if template is not None:
        template = locked.get(pk=template.pk)
    else:
        template = locked.filter(identifier=identifier).first()
    created = template is None
    if template is None:
        check_identifier_free(identifier)
        template = JobScriptTemplate(identifier=identifier, owner_email=owner_email, name=name or identifier)
    else:
        if check_change is not None:
            check_change(template)
        if name:
            template.name = name
    if description is not None:
        template.description = description
    template.template_vars = bundle.template_vars
    template.config_source = bundle.config_source.decode("utf-8")
    template.questions = bundle.questions
    template.save()

    existing = {row.filename: row for row in template.template_files.all()}
    for filename, content in sorted(bundle.templates.items()):
        row = existing.pop(filename, None) or TemplateFile(parent=template, filename=filename)
        row.file_type = FileType.SUPPORT if filename in bundle.supporting else FileType.ENTRYPOINT
        row.replace_content(content)
        row.save()
    discard_files_of(existing.values())
    TemplateFile.objects.filter(pk__in=[row.pk for row in existing.values()]).delete()

    workflow = template.workflow_files.first()
    if bundle.workflow is not None:
        workflow = workflow or WorkflowFile(parent=template, filename=WORKFLOW_FILENAME)
        workflow.runtime_config = bundle.runtime_config
        workflow.replace_content(bundle.workflow)
        workflow.save()
    elif workflow is not None:
        discard_files_of([workflow])
        workflow.delete()
    return template, created


def application_folder(template: JobScriptTemplate, *, root: str = "") -> dict[str, bytes]:
    """The application as a folder again: its jobbergate.yaml, jobbergate.py and templates/."""
    workflow = template.workflow_files.first()
    config_source = template.config_source.encode()
    if not config_source:
        # Uploaded file by file (e.g. by the upstream CLI): rebuild the configuration from what is stored.
        runtime_config = workflow.runtime_config if workflow else {}
        config_source = yaml.safe_dump(
            {"jobbergate_config": runtime_config, "application_config": template.template_vars}, sort_keys=False
        ).encode()
    return folder_files(
        config_source=config_source,
        templates={row.filename: row.read_bytes() for row in template.template_files.all()},
        workflow=workflow.read_bytes() if workflow else None,
        root=root,
    )
