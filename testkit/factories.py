"""Factories for test rows, built through the same services the API uses (so files really reach storage)."""

from __future__ import annotations

import itertools
from pathlib import Path

from applications.bundle import read_folder
from applications.models import JobScriptTemplate
from applications.services import bundle_limits, load_bundle, upload_template_file, upsert_application
from jobbergate.choices import FileType
from jobscripts.models import JobScript
from jobscripts.services import upload_job_script_file
from submissions.models import JobSubmission

_sequence = itertools.count(1)

ENTRYPOINT_TEMPLATE = b"#!/bin/bash\n#SBATCH --job-name={{ data.job_name }}\necho {{ data.message }}\n"
ENTRYPOINT_SCRIPT = b"#!/bin/bash\n#SBATCH --job-name=test\necho hello\n"


def make_template(owner_email: str, *, name: str | None = None, identifier: str | None = "auto", files: bool = True):
    number = next(_sequence)
    template = JobScriptTemplate.objects.create(
        name=name or f"application {number}",
        identifier=f"app-{number}" if identifier == "auto" else identifier,
        description=f"description {number}",
        owner_email=owner_email,
        template_vars={"job_name": "demo", "message": "hello"},
    )
    if files:
        upload_template_file(
            template=template, file_type="ENTRYPOINT", filename="job.sh.j2", content=ENTRYPOINT_TEMPLATE
        )
    return template


def make_job_script(owner_email: str, *, name: str | None = None, template=None, files: bool = True):
    number = next(_sequence)
    job_script = JobScript.objects.create(
        name=name or f"job script {number}",
        description=f"description {number}",
        owner_email=owner_email,
        parent_template=template,
    )
    if files:
        upload_job_script_file(
            job_script=job_script, file_type=FileType.ENTRYPOINT, filename="job.sh", content=ENTRYPOINT_SCRIPT
        )
        upload_job_script_file(job_script=job_script, file_type=FileType.SUPPORT, filename="input.txt", content=b"42\n")
    return job_script


def make_submission(
    owner_email: str, *, name: str | None = None, job_script=None, client_id: str = "cluster-a", **fields
):
    number = next(_sequence)
    return JobSubmission.objects.create(
        name=name or f"submission {number}",
        description=f"description {number}",
        owner_email=owner_email,
        job_script=job_script or make_job_script(owner_email),
        client_id=client_id,
        **fields,
    )


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def make_example_application(name: str, owner_email: str = "admin@example.com") -> JobScriptTemplate:
    """One of the repository's example applications (``examples/NAME``), uploaded as its folder is."""
    bundle = load_bundle(read_folder(EXAMPLES / name, bundle_limits()))
    template, _ = upsert_application(
        identifier=name, bundle=bundle, owner_email=owner_email, name=bundle.config.get("name") or name
    )
    return template
