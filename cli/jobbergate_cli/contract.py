"""What the CLI and the agent share with the server, in one module: the CLI installs without the server, so it keeps
its own copy of these words and rules, and server-side tests pin each one to the server's own
(submissions/tests/test_choices.py, jobbergate/tests/test_hostile_inputs.py). Change them together.

Each rule names, in its comment, the server's code it mirrors.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

# A submission's statuses (submissions.choices.JobSubmissionStatus) and those in which it has ended
# (submissions.choices.TERMINAL_STATUSES): nothing changes it any more.
SUBMISSION_STATUSES = ("CREATED", "SUBMITTED", "REJECTED", "DONE", "ABORTED", "CANCELLED")
TERMINAL_STATUSES = frozenset({"REJECTED", "DONE", "ABORTED", "CANCELLED"})

# The Slurm states a job can still leave; every other one is final (submissions.choices.FINAL_STATES).
ACTIVE_SLURM_STATES = frozenset(
    {
        "PENDING",
        "RUNNING",
        "COMPLETING",
        "CONFIGURING",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESIZING",
        "RESV_DEL_HOLD",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
        "SUSPENDED",
    }
)

# Options a user's sbatch arguments may not set, in full or abbreviated (jobbergate.validation
# SBATCH_FORBIDDEN_OPTIONS): --uid, --gid and --wrap would submit as someone else or something other than the job
# script; --comment holds the agent's marker. None of them has a short form (Slurm's option table gives them only
# long-option codes, 22.05 to 24.11).
FORBIDDEN_SBATCH_OPTIONS = ("--uid", "--gid", "--wrap", "--comment")

# Job output as the agent ships it (submissions.output): the largest chunk the server appends
# (settings.OUTPUT_CHUNK_MAX_BYTES), and what the agent puts in one batch request, within the server's bounds
# (settings.OUTPUT_BATCH_MAX_PIECES and OUTPUT_BATCH_MAX_BYTES). 512 KiB of output is a JSON body under 1 MiB (base64
# plus each piece's fields), which a proxy in front of the server takes with its usual limits.
OUTPUT_CHUNK_BYTES = 256 * 1024
OUTPUT_BATCH_PIECES = 500
OUTPUT_BATCH_BYTES = 512 * 1024

# The roles of a template's or job script's files (jobbergate.choices.FileType): sbatch runs the one ENTRYPOINT, the
# SUPPORT files sit next to it.
ENTRYPOINT = "ENTRYPOINT"
SUPPORT = "SUPPORT"


def entrypoints(files: Iterable[dict]) -> list[dict]:
    """The ENTRYPOINT rows among a job script's ``files``: it can be submitted only when there is exactly one
    (submissions.services.create_submission; the constraint one_entrypoint_per_job_script)."""
    return [row for row in files if row.get("file_type") == ENTRYPOINT]


def local_file_name(filename: str) -> str | None:
    """The name a job script's file is written under on this side: the last part of its name, so that nothing lands
    outside the folder; None when that is no usable name. A name the server accepts (jobbergate.validation
    filename_problem: no separator, not ``.`` or ``..``) comes back unchanged."""
    name = PurePosixPath(filename).name
    return None if name in ("", ".", "..") or "\0" in name else name


# Templates are Jinja2 files with one of these suffixes (jobbergate.syntax.JINJA_SUFFIXES).
JINJA_SUFFIXES = (".j2", ".jinja2")


def output_name(template_name: str, runtime_config: dict) -> str:
    """The file a template renders to (APP-FORMAT.md; the server's names too): ``job.sh.j2`` -> ``job.sh``;
    supporting files as ``supporting_files_output_name`` says. ``template_name`` is relative to ``templates/``."""
    names = runtime_config.get("supporting_files_output_name") or {}
    for key in (template_name, f"templates/{template_name}"):
        if key in names:
            value = names[key]
            return value[0] if isinstance(value, list) else str(value)
    base = template_name.rsplit("/", 1)[-1]
    for suffix in JINJA_SUFFIXES:
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


# The comment above the #SBATCH lines that sbatch_params add (applications.rendering.SBATCH_HEADER).
SBATCH_HEADER = "# Slurm options added by Jobbergate (sbatch_params)"


def inject_sbatch_params(script: str, params: list[str]) -> str:
    """One ``#SBATCH`` line per parameter, under ``SBATCH_HEADER``, after the shebang and the script's own leading
    comments (applications.rendering.inject_sbatch_params)."""
    if not params:
        return script
    lines = script.splitlines(keepends=True)
    header = 0
    while header < len(lines) and (not lines[header].strip() or lines[header].lstrip().startswith("#")):
        header += 1
    if header == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    added = [SBATCH_HEADER + "\n", *(f"#SBATCH {param}\n" for param in params)]
    return "".join([*lines[:header], *added, *lines[header:]])


# Never part of an application folder, skipped without a word: hidden files and folders, these names, compiled
# Python (applications.bundle.IGNORED_NAMES and is_ignored).
IGNORED_NAMES = frozenset({"__pycache__", ".git", ".DS_Store", ".ipynb_checkpoints"})


def is_ignored(path: str) -> bool:
    """Whether the file or folder at ``path`` (relative, ``/``-separated) inside an application folder is skipped."""
    parts = path.split("/")
    return any(part.startswith(".") or part in IGNORED_NAMES for part in parts) or path.endswith(".pyc")


# The header an agent names its process with, so two agents of one cluster hold separate claims
# (submissions.views.AGENT_INSTANCE_HEADER).
AGENT_INSTANCE_HEADER = "X-Jobbergate-Agent-Instance"


def token_client_id(claims: dict) -> str | None:
    """The client a token was issued to, which names an agent's cluster: ``azp``, else ``client_id``
    (accounts.oidc.claimed_client_id)."""
    client_id = claims.get("azp") or claims.get("client_id")
    return client_id if isinstance(client_id, str) else None
