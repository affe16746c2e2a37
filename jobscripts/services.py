"""Everything that changes job scripts beyond a plain field update: files, clone, delete."""

from __future__ import annotations

from django.db import transaction

from jobbergate.services import copy_files, delete_file, discard_files_of, parse_file_type, put_file
from jobscripts.models import JobScript, JobScriptFile


def upload_job_script_file(
    *,
    job_script: JobScript,
    file_type: str,
    filename: str,
    content: bytes | None,
    previous_filename: str | None = None,
) -> JobScriptFile:
    """Create, replace or rename one file; a second ENTRYPOINT is a 409."""
    return put_file(
        parent=job_script,
        related_name="files",
        filename=filename,
        content=content,
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
    """Delete a job script and its files; its submissions still waiting (CREATED) are rejected first."""
    from submissions.services import reject_waiting_submissions

    reject_waiting_submissions(job_script=job_script, reason=f"Job script {job_script.pk} was deleted.")
    discard_files_of(job_script.files.all())
    job_script.delete()
