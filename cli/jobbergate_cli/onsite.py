"""On-site submission: the command, run on a cluster's login node, submits the job itself.

As upstream's on-site mode does: when ``SBATCH_PATH`` names an executable sbatch here, ``job-submissions create``
and ``job-scripts create --submit`` write the job script's files into the execution directory (default: the
current one), run ``sbatch`` there as the current user (an argument list, never a shell), and register the job with
the API as SUBMITTED with its Slurm job id. The cluster's agent then only tracks it to its end. ``--no-on-site``
leaves the submission to the agent even where sbatch is present; ``--on-site`` insists on submitting here.

Nothing is registered when Slurm refuses the job. When Slurm accepted it but the API could not record it, the job
id and the directory are printed with the API's error, so the running job is not lost from sight.

No Click here: failures are ``errors.CliError`` (a usage one a ``UsageProblem``), and what is said along the way goes
to the ``say`` the caller gives (``say(text, err=True)``; ``click.echo`` is one).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobbergate_cli import endpoints
from jobbergate_cli.client import ApiClient, ApiError
from jobbergate_cli.contract import entrypoints
from jobbergate_cli.errors import CliError, UsageProblem
from jobbergate_cli.folders import save_job_script_files
from jobbergate_cli.slurm import Account, SbatchRejected, Slurm, SlurmError

# The command's own secrets: sbatch exports its environment to the job, and Slurm keeps the job's environment.
SECRET_VARIABLES = ("JOBBERGATE_TOKEN", "OIDC_CLIENT_SECRET")


def executable(path: str) -> str | None:
    """``path`` when it is an executable file here (a bare name is looked up on PATH); None otherwise."""
    candidate = Path(path).expanduser()
    if not candidate.is_absolute() and os.sep not in path:
        return shutil.which(path)
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def sbatch_to_use(configured: str | None, on_site: bool | None, *, say: Callable[..., None]) -> str | None:
    """The sbatch to submit with on site, or None when the cluster's agent submits.

    ``on_site`` None (no flag): on site when ``SBATCH_PATH`` is set and executable here; a configured sbatch that is
    missing is said on stderr and the agent submits. True: on site or a usage error (``sbatch`` on PATH serves when
    ``SBATCH_PATH`` is unset). False: never on site.
    """
    if on_site is False:
        return None
    found = executable(configured) if configured else (shutil.which("sbatch") if on_site else None)
    if found:
        return found
    if on_site:
        where = f"SBATCH_PATH={configured} is not an executable file" if configured else "there is no sbatch on PATH"
        raise UsageProblem(f"--on-site needs sbatch on this host, but {where}.")
    say(
        f"Note: SBATCH_PATH={configured} is not an executable file here; the cluster's agent will submit the job.",
        err=True,
    )
    return None


def execution_folder(given: str | None) -> Path:
    """The execution directory as an absolute path (``~`` expanded; default: the current directory)."""
    return Path(given or ".").expanduser().resolve()


def download_files(client: ApiClient, job_script_id: int, directory: Path) -> Path:
    """Write every file of the job script into ``directory``; the entrypoint's path."""
    files = endpoints.JOB_SCRIPTS.get(client, job_script_id)["files"]
    found = entrypoints(files)
    if len(found) != 1:
        raise CliError(
            f"Job script {job_script_id} must have exactly one ENTRYPOINT file to be submitted (it has {len(found)})."
        )
    try:
        save_job_script_files(client, job_script_id, directory, files)
    except OSError as error:
        raise CliError(f"Cannot write the job script's files into {directory}: {error}") from None
    return directory / Path(found[0]["filename"]).name


def job_environment() -> dict[str, str]:
    """What the job sees: the user's own environment, as with a plain sbatch, without the command's secrets."""
    return {key: value for key, value in os.environ.items() if key not in SECRET_VARIABLES}


def slurm_words(message: str) -> str:
    """Slurm's message on one line, without the repeated ``sbatch: error:`` prefixes."""
    parts: list[str] = []
    for line in message.splitlines():
        text = line.strip().removeprefix("sbatch:").strip().removeprefix("error:").strip()
        if text and text not in parts:
            parts.append(text)
    return "; ".join(parts) or "no message"


def submit(
    client: ApiClient,
    body: dict[str, Any],
    *,
    sbatch: str,
    execution_directory: str | None,
    say: Callable[..., None],
) -> dict:
    """Download, sbatch here, then register ``body`` (the submission's fields) as SUBMITTED; the API's row."""
    directory = execution_folder(execution_directory)
    entrypoint = download_files(client, body["job_script_id"], directory)
    try:
        job_id = Slurm(sbatch=sbatch).submit(
            entrypoint,
            account=Account.current(),
            arguments=list(body.get("sbatch_arguments") or ()),
            environment=job_environment(),
        )
    except SbatchRejected as error:
        raise CliError(f"Slurm refused the job: {slurm_words(str(error))}") from None
    except SlurmError as error:
        raise CliError(f"sbatch failed: {slurm_words(str(error))}") from None
    say(f"Submitted Slurm job {job_id} on site, in {directory}.", err=True)
    try:
        return endpoints.JOB_SUBMISSIONS.create(
            client, {**body, "slurm_job_id": job_id, "execution_directory": str(directory)}
        )
    except ApiError:
        say(
            f"Slurm job {job_id} was submitted (in {directory}) but Jobbergate did not record it; "
            "it runs all the same (scancel it if it should not).",
            err=True,
        )
        raise
