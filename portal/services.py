"""The portal's workflows, composed of the resource apps' services (the same the API and admin call).

Nothing here checks a rule of its own: answers go through the application's questions (``complete_answers``),
renders through ``jobscripts.services.render_files`` and its bounded sandbox, submissions through
``submissions.services.create_submission``. Refusals are ``jobbergate.errors`` the views show as messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from applications.models import JobScriptTemplate
from applications.services import default_output_mapping, render_parameters
from jobbergate.choices import FileType
from jobbergate.errors import Conflict, Invalid, NotFound
from jobbergate.principal import Principal
from jobscripts.models import JobScript
from jobscripts.services import render_files, render_job_script, upload_job_script_file
from portal.models import PRESETS_PER_APPLICATION, Preset
from submissions.models import JobSubmission
from submissions.services import create_submission


@dataclass(frozen=True)
class Run:
    """What the form asks beside the answers (``portal.forms.RunForm``, already checked)."""

    name: str
    cluster: str | None = None
    execution_directory: str | None = None
    sbatch_params: tuple[str, ...] = ()
    save_only: bool = False
    entrypoint: str | None = None  # the entrypoint as the user edited it in the preview, else None


def preview(template: JobScriptTemplate, answers: dict, sbatch_params: list[str] | tuple[str, ...] = ()):
    """The files a run would get, rendered in the sandbox and stored nowhere."""
    return render_files(
        template=template,
        template_output_name_mapping=default_output_mapping(template),
        sbatch_params=list(sbatch_params),
        param_dict=render_parameters(template, answers),
    )


@transaction.atomic
def create_run(
    *, principal: Principal, template: JobScriptTemplate, answers: dict, run: Run
) -> tuple[JobScript, JobSubmission | None]:
    """The job script rendered from the answers (with the user's edited entrypoint, if any) and, unless only
    saved, its submission to the cluster: all or nothing."""
    if not principal.email:
        raise Invalid("Your account has no e-mail address, which owns what you create.")
    job_script = render_job_script(
        template=template,
        owner_email=principal.email,
        name=run.name,
        template_output_name_mapping=default_output_mapping(template),
        sbatch_params=list(run.sbatch_params),
        param_dict=render_parameters(template, answers),
    )
    if run.entrypoint is not None:
        entrypoint = job_script.files.get(file_type=FileType.ENTRYPOINT)
        upload_job_script_file(
            job_script=job_script,
            file_type=str(FileType.ENTRYPOINT),
            filename=entrypoint.filename,
            content=run.entrypoint.replace("\r\n", "\n").encode(),
        )
    if run.save_only:
        return job_script, None
    submission = submit(principal=principal, job_script=job_script, run=run)
    return job_script, submission


def submit(*, principal: Principal, job_script: JobScript, run: Run) -> JobSubmission:
    """A submission of one of the user's job scripts to a cluster, through its agent."""
    return create_submission(
        principal=principal,
        owner_email=principal.email or "",
        job_script_id=job_script.pk,
        name=run.name,
        client_id=run.cluster,
        execution_directory=run.execution_directory,
    )


def last_answers(principal: Principal, template: JobScriptTemplate, questions: list[dict]) -> dict:
    """The user's answers of their newest job script of this application, for the questions it asks now."""
    if not principal.email:
        return {}
    newest = (
        JobScript.objects.filter(owner_email=principal.email, parent_template=template)
        .order_by("-created_at", "-id")
        .values_list("render_parameters", flat=True)
        .first()
    )
    return answers_of(newest or {}, questions)


def answers_of(render_parameters: dict, questions: list[dict]) -> dict:
    """The answers to ``questions`` kept in a job script's parameters (``{"data": {...}}`` or flat)."""
    data = render_parameters.get("data") if set(render_parameters) == {"data"} else render_parameters
    if not isinstance(data, dict):
        return {}
    names = {question["name"] for question in questions}
    return {name: value for name, value in data.items() if name in names}


def save_preset(*, principal: Principal, template: JobScriptTemplate, name: str, answers: dict) -> Preset:
    """Keep the answers under ``name`` (replacing the user's preset of that name), at most
    ``PRESETS_PER_APPLICATION`` per application."""
    name = _preset_name(name)
    mine = Preset.objects.visible_to(principal).filter(application=template)
    preset = mine.filter(name=name).first()
    if preset is None:
        if mine.count() >= PRESETS_PER_APPLICATION:
            raise Invalid(f"You keep {PRESETS_PER_APPLICATION} presets for this application already; delete one.")
        preset = Preset(owner_email=principal.email, application=template, name=name)
    preset.answers = answers
    return _saved(preset)


def rename_preset(*, principal: Principal, preset_id: int, name: str) -> Preset:
    preset = _my_preset(principal, preset_id)
    preset.name = _preset_name(name)
    return _saved(preset)


def _preset_name(name: str) -> str:
    """A preset's name, checked by its field's own rules (length, visible text) before any query uses it."""
    try:
        return Preset._meta.get_field("name").clean(name.strip(), None)
    except ValidationError as error:
        raise Invalid([f"Preset name: {message}" for message in error.messages]) from None


def _saved(preset: Preset) -> Preset:
    try:
        preset.full_clean(validate_unique=False)
        with transaction.atomic():
            preset.save()
    except ValidationError as error:
        raise Invalid([f"Preset: {message}" for message in error.messages]) from None
    except IntegrityError:  # the same name, saved meanwhile or by a rename
        raise Conflict(f"You have a preset named {preset.name!r} for this application already.") from None
    return preset


def delete_preset(*, principal: Principal, preset_id: int) -> None:
    _my_preset(principal, preset_id).delete()


def _my_preset(principal: Principal, preset_id: int) -> Preset:
    preset = Preset.objects.visible_to(principal).filter(pk=preset_id).first()
    if preset is None:
        raise NotFound("There is no such preset.")
    return preset
