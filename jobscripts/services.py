"""Everything that changes job scripts beyond a plain field update: files, clone, delete."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from applications.rendering import inject_sbatch_params
from applications.services import (
    check_uploaded_file,
    checked_answers,
    files_content_hash,
    render_templates,
    stored_questions,
)
from jobbergate.choices import FileType
from jobbergate.errors import Invalid
from jobbergate.prepared import hold_new_children, insert_together
from jobbergate.services import copy_files, delete_file, discard_files_of, parse_file_type, put_file
from jobbergate.validation import JsonValueError, check_filename, check_json_value
from jobscripts.models import JobScript, JobScriptFile
from jobscripts.signals import job_script_deleting


def upload_job_script_file(
    *,
    job_script: JobScript,
    file_type: str,
    filename: str,
    content: bytes | None,
    previous_filename: str | None = None,
) -> JobScriptFile:
    """Create, replace or rename one file; a second ENTRYPOINT is a Conflict."""
    return put_file(
        parent=job_script,
        related_name="files",
        filename=filename,
        content=content,
        check_content=check_uploaded_file,
        previous_filename=previous_filename,
        file_type=parse_file_type(file_type),
    )


def delete_job_script_file(*, job_script: JobScript, filename: str) -> None:
    delete_file(parent=job_script, related_name="files", filename=filename)


@transaction.atomic
def clone_job_script(
    *, source: JobScript, owner_email: str, name: str | None = None, description: str | None = None
) -> JobScript:
    """Copy a job script with its files; the caller owns the copy."""
    clone = JobScript.objects.create(
        name=name or source.name,
        description=source.description if description is None else description,
        parent_template_id=source.parent_template_id,
        owner_email=owner_email,
        cloned_from=source,
    )
    copy_files(source.files.all(), new_parent=clone)
    return clone


@transaction.atomic
def delete_job_script(*, job_script: JobScript) -> None:
    """Delete a job script and its files; its submissions still waiting (CREATED) are rejected first (by the
    submissions app, on ``job_script_deleting``)."""
    job_script_deleting.send(sender=JobScript, job_script=job_script)
    discard_files_of(job_script.files.all())
    job_script.delete()


def answers_checked_against_questions(template, param_dict: dict) -> dict:
    """The parameters with question defaults filled in; an Invalid with one message per bad field otherwise."""
    questions = stored_questions(template)
    if not questions:
        return param_dict
    wrapped = set(param_dict) == {"data"} and isinstance(param_dict["data"], dict)
    answers = param_dict["data"] if wrapped else param_dict
    completed = checked_answers(questions, answers, field_prefix="param_dict.")
    return {"data": completed} if wrapped else completed


@dataclass(frozen=True)
class RenderedFiles:
    """What a render makes before anything is stored: the files by output name (the entrypoint first), their
    roles, the parameters as checked against the questions, and the hash of the template files they came from."""

    files: dict[str, str]
    file_types: dict[str, FileType]
    entrypoint: str
    param_dict: dict
    template_content_hash: str


def render_files(
    *,
    template,
    template_output_name_mapping: dict[str, str],
    sbatch_params: list[str] | None = None,
    param_dict: dict | None = None,
) -> RenderedFiles:
    """Render the mapped templates of an application, storing nothing (the API's render and the portal's live
    preview alike).

    Every mapped template must exist and exactly one of them must be an ENTRYPOINT; the entrypoint gets the
    ``#SBATCH`` lines of ``sbatch_params``. ``param_dict`` must be plain JSON fit to store (``check_json_value``)
    and its answers must suit the application's questions. Renders in the bounded sandbox (``render_templates``).
    """
    files = {row.filename: row for row in template.template_files.all()}
    missing = sorted(set(template_output_name_mapping) - set(files))
    if missing:
        raise Invalid(f"Application {template.pk} has no template file named {', '.join(map(repr, missing))}.")
    outputs = list(template_output_name_mapping.values())
    for output in outputs:
        check_filename(output)
    if len(set(outputs)) != len(outputs):
        raise Invalid("Two templates are mapped to the same output file name.")
    entrypoints = [name for name in template_output_name_mapping if files[name].file_type == FileType.ENTRYPOINT]
    if len(entrypoints) != 1:
        raise Invalid(
            f"Exactly one mapped template must be an ENTRYPOINT; {len(entrypoints)} are "
            f"({', '.join(entrypoints) or 'none'})."
        )
    try:
        check_json_value(param_dict or {}, what="param_dict")
    except JsonValueError as error:
        raise Invalid(str(error)) from None
    param_dict = answers_checked_against_questions(template, param_dict or {})
    contents = {filename: row.read_bytes() for filename, row in files.items()}
    sources = {name: contents[name].decode("utf-8") for name in template_output_name_mapping}
    rendered = render_templates(sources, param_dict or {})
    rendered[entrypoints[0]] = inject_sbatch_params(rendered[entrypoints[0]], sbatch_params or [])
    order = [entrypoints[0], *(name for name in template_output_name_mapping if name != entrypoints[0])]
    return RenderedFiles(
        files={template_output_name_mapping[name]: rendered[name] for name in order},
        file_types={template_output_name_mapping[name]: FileType(files[name].file_type) for name in order},
        entrypoint=template_output_name_mapping[entrypoints[0]],
        param_dict=param_dict or {},
        template_content_hash=files_content_hash(contents),
    )


def render_job_script(
    *,
    template,
    owner_email: str,
    name: str,
    description: str = "",
    template_output_name_mapping: dict[str, str],
    sbatch_params: list[str] | None = None,
    param_dict: dict | None = None,
) -> JobScript:
    """Render the mapped templates of an application into a new job script (all or nothing, ``render_files``).

    The job script records the parameters and the hash of the template files it came from, and comes back with its
    files (``job_script.files.all()`` answers without a query). A template that fails to render leaves no job
    script behind. The files' bytes are stored first, then the rows are written together, in one statement on
    PostgreSQL (``insert_together``): a failed write leaves only unreferenced bytes (``jobbergate.files``).
    """
    rendered = render_files(
        template=template,
        template_output_name_mapping=template_output_name_mapping,
        sbatch_params=sbatch_params,
        param_dict=param_dict,
    )
    job_script = JobScript(
        name=name,
        description=description or "",
        owner_email=owner_email,
        parent_template=template,
        render_parameters=rendered.param_dict,
        template_content_hash=rendered.template_content_hash,
    )
    rows = []
    for output_name, text in rendered.files.items():
        row = JobScriptFile(parent=job_script, filename=output_name, file_type=rendered.file_types[output_name])
        row.replace_content(text.encode())  # the bytes first: a row never points at bytes not yet stored
        rows.append(row)
    insert_together(job_script, *rows)
    hold_new_children(job_script, "files", rows)
    return job_script
