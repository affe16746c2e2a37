"""What the commands do, step by step, with no Click in it: the command layer parses options, calls these, prints.

- ``collect_answers``: an application's questions asked (typed ones, or its upstream jobbergate.py workflow) and the
  parameters merged, for ``job-scripts create`` (``ServerApplication``) and ``create-locally``
  (``local.LocalApplication``) alike;
- ``render`` (on the server) and ``render_locally`` (``create-locally``);
- ``submit``: on site (``onsite.py``) or for the cluster's agent; ``watch``: until the submissions end;
- applications from folders, job scripts from files.

(``workflow.py`` is something else: it runs an application's own jobbergate.py workflow, for ``collect_answers``.)
Calls to the API go through ``endpoints``; failures are ``errors.CliError``; what is said along the way goes to the
``say`` the caller gives: ``say(text)`` for the output, ``say(text, err=True)`` for notes (``click.echo`` is one).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from jobbergate_cli import endpoints
from jobbergate_cli.client import ApiClient, ApiError
from jobbergate_cli.contract import ENTRYPOINT, SUPPORT, TERMINAL_STATUSES, output_name
from jobbergate_cli.errors import CliError, UsageProblem
from jobbergate_cli.questions import Prompt

if TYPE_CHECKING:
    from jobbergate_cli.config import Settings
    from jobbergate_cli.local import LocalApplication

Say = Callable[..., None]


# Applications -----------------------------------------------------------------------------------------------------


def upload_folder(
    client: ApiClient,
    key: object,
    folder: Path,
    *,
    name: str | None = None,
    description: str | None = None,
    create_only: bool = False,
    say: Say,
) -> dict:
    """Replace the files of application ``key`` (id or identifier) with the folder's; its row. ``create_only``: create
    it instead, and have the server answer 409, changing nothing, when it exists."""
    from jobbergate_cli.folders import pack

    params = {field: value for field, value in (("name", name), ("description", description)) if value is not None}
    if create_only:
        params["create_only"] = "true"
    row = endpoints.upload_application(client, key, pack(folder), filename=f"{folder.name}.tar.gz", params=params)
    skipped = row.pop("skipped_files", None) or []
    if skipped:  # a README, examples, outputs: uploaded, then left out by the server, which names them
        say(f"Skipped (not part of an application): {', '.join(skipped)}", err=True)
    return row


def create_application(
    client: ApiClient, *, name: str, identifier: str | None, folder: Path, description: str | None, say: Say
) -> dict:
    """A new application from a folder; never one that replaces another (with an identifier in use: a 409)."""
    if identifier:
        return upload_folder(client, identifier, folder, name=name, description=description, create_only=True, say=say)
    created = endpoints.APPLICATIONS.create(client, {"name": name, "description": description or ""})
    try:
        return upload_folder(client, str(created["id"]), folder, say=say)
    except (ApiError, CliError):
        endpoints.APPLICATIONS.delete(client, created["id"])  # a failed create leaves no empty application
        raise


def update_application(
    client: ApiClient, key: object, fields: dict[str, Any], folder: Path | None, *, say: Say
) -> dict | None:
    """Change the application's ``fields``, then its files from ``folder``; its row (None when nothing was asked)."""
    row = endpoints.APPLICATIONS.update(client, key, fields) if fields else None
    if folder:
        row = upload_folder(client, fields.get("identifier") or key, folder, say=say)
    return row


class Questionnaire(Protocol):
    """What answers are collected for: an application on the server or in a folder."""

    @property
    def questions(self) -> list[dict[str, Any]]: ...

    @property
    def runtime_config(self) -> dict[str, Any]: ...

    @property
    def template_vars(self) -> dict[str, Any]: ...

    def workflow_source(self) -> str | None:
        """Its upstream jobbergate.py; None when it has none."""


@dataclass
class ServerApplication:
    """An application as the API shows it (``row``): what ``collect_answers`` and ``render`` read of it."""

    client: ApiClient
    row: dict[str, Any]

    @classmethod
    def get(cls, client: ApiClient, key: object) -> ServerApplication:
        return cls(client, endpoints.APPLICATIONS.get(client, key))

    @property
    def questions(self) -> list[dict[str, Any]]:
        return self.row.get("questions") or []

    @property
    def runtime_config(self) -> dict[str, Any]:
        return (self.row.get("workflow_files") or [{}])[0].get("runtime_config") or {}

    @property
    def template_vars(self) -> dict[str, Any]:
        return self.row.get("template_vars") or {}

    def workflow_source(self) -> str | None:
        """Its upstream jobbergate.py, fetched; None when it has none."""
        return endpoints.workflow_source(self.client, self.row["id"]) if self.row.get("workflow_files") else None

    def output_mapping(self) -> dict[str, str]:
        """Which templates to render into which files: the default template (the entrypoint) and every SUPPORT one."""
        default = str(self.runtime_config.get("default_template") or "").removeprefix("templates/")
        mapping = {}
        for row in self.row.get("template_files", []):
            if row["file_type"] == SUPPORT or row["filename"] == default or not default:
                mapping[row["filename"]] = output_name(row["filename"], self.runtime_config)
        return mapping


# Job scripts ------------------------------------------------------------------------------------------------------


def collect_answers(
    application: Questionnaire, *, given: dict[str, Any], fast: bool, prompt: Prompt
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parameters to render with (``jobbergate_config``, then ``application_config``, then the answers), and the
    defaults taken without asking. Typed questions are asked when the application has them or no workflow; its
    jobbergate.py workflow runs otherwise. ``given``: answers already known (``questions.load_param_file``)."""
    from jobbergate_cli.questions import ask

    if application.questions or (source := application.workflow_source()) is None:
        answers, defaults_used = ask(application.questions, given=given, fast=fast, prompt=prompt)
    else:
        from jobbergate_cli.workflow import run_workflow

        config = {"jobbergate_config": application.runtime_config, "application_config": application.template_vars}
        answers, defaults_used = run_workflow(source, config, given=given, fast=fast, prompt=prompt)
    return {**application.runtime_config, **application.template_vars, **answers}, defaults_used


def render(
    application: ServerApplication,
    parameters: dict[str, Any],
    *,
    name: str | None,
    description: str | None,
    sbatch_params: Iterable[str],
) -> dict:
    """A new job script rendered on the server (named after the application unless ``name``); its row."""
    body = {
        "create_request": {
            "name": name or application.runtime_config.get("job_script_name") or application.row["name"],
            "description": description or "",
        },
        "render_request": {
            "template_output_name_mapping": application.output_mapping(),
            "sbatch_params": list(sbatch_params),
            "param_dict": {"data": parameters},
        },
    }
    return endpoints.render_job_script(application.client, application.row["id"], body)


def render_locally(
    application: LocalApplication, parameters: dict[str, Any], *, sbatch_params: Iterable[str], output_path: Path
) -> Iterator[Path]:
    """Render the application's templates here and write them into ``output_path``: each file's path once written."""
    from jobbergate_cli.local import render as render_templates

    rendered = render_templates(application, parameters, list(sbatch_params))
    output_path.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (output_path / name).write_text(text)
        yield output_path / name


def create_stand_alone(
    client: ApiClient, *, name: str, description: str | None, entrypoint: Path, supporting: Iterable[Path]
) -> dict:
    """A job script from files written by hand: the entrypoint and the supporting files; its row."""
    row = endpoints.JOB_SCRIPTS.create(client, {"name": name, "description": description or ""})
    for path, file_type in [(entrypoint, ENTRYPOINT), *((path, SUPPORT) for path in supporting)]:
        endpoints.upload_job_script_file(client, row["id"], file_type, path.name, path.read_bytes())
    return endpoints.JOB_SCRIPTS.get(client, row["id"])


def job_script_texts(client: ApiClient, key: object) -> Iterator[tuple[dict, str]]:
    """Each file of a job script, its row and its text, one fetch at a time."""
    for row in endpoints.JOB_SCRIPTS.get(client, key)["files"]:
        yield row, endpoints.job_script_file(client, key, row["filename"]).text


# Job submissions --------------------------------------------------------------------------------------------------


def submit(
    client: ApiClient,
    settings: Settings,
    job_script_id: int,
    *,
    name: str,
    description: str | None = None,
    cluster: str | None,
    execution_directory: str | None,
    sbatch_arguments: Iterable[str] = (),
    on_site: bool | None = None,
    say: Say,
) -> dict:
    """Register a submission: on site (sbatch here, then SUBMITTED; see ``onsite``) when sbatch is configured and
    present or ``on_site`` says so, else CREATED for the cluster's agent. The submission's row."""
    cluster = cluster or settings.default_cluster_name
    if not cluster:
        raise UsageProblem("Name the cluster: --cluster-name, or DEFAULT_CLUSTER_NAME.")
    body = {
        "name": name,
        "description": description or "",
        "job_script_id": job_script_id,
        "client_id": cluster,
        "execution_directory": execution_directory,
        "sbatch_arguments": list(sbatch_arguments),
    }
    sbatch = None
    if on_site is not False and (on_site or settings.sbatch_path):
        from jobbergate_cli import onsite

        sbatch = onsite.sbatch_to_use(settings.sbatch_path, on_site, say=say)
    if sbatch:
        return onsite.submit(client, body, sbatch=sbatch, execution_directory=execution_directory, say=say)
    return endpoints.JOB_SUBMISSIONS.create(client, body)


class Ending(enum.Enum):
    """How watching submissions ended."""

    DONE = "every one ended DONE"
    NOT_DONE = "every one ended, not all DONE"
    TIMED_OUT = "the time to wait ran out first"


def watch(
    client: ApiClient, ids: list[int], *, interval: float = 2.0, timeout: float | None = None, say: Say
) -> Ending:
    """Say each status change until every submission has ended, or ``timeout`` seconds have passed. A submission
    still CREATED whose cluster has no agent reporting gets one note saying so (which cluster, when it last
    reported); watching goes on."""
    seen: dict[int, tuple] = {}
    clusters_checked: set[str] = set()
    started = time.monotonic()
    while True:
        rows = [endpoints.JOB_SUBMISSIONS.get(client, key) for key in ids]
        for row in rows:
            state = (row["status"], row.get("slurm_job_state"))
            if seen.get(row["id"]) != state:
                seen[row["id"]] = state
                detail = f" Slurm {state[1]}" if state[1] else ""
                say(
                    f"submission {row['id']}: {state[0]}{detail}"
                    + (f" ({row['report_message']})" if row.get("report_message") else "")
                )
            cluster = row.get("client_id")
            if row["status"] == "CREATED" and cluster and cluster not in clusters_checked:
                clusters_checked.add(cluster)
                say_if_no_agent_serves(client, cluster, say=say)
        if all(row["status"] in TERMINAL_STATUSES for row in rows):
            return Ending.DONE if all(row["status"] == "DONE" for row in rows) else Ending.NOT_DONE
        if timeout is not None and time.monotonic() - started > timeout:
            return Ending.TIMED_OUT
        time.sleep(interval)


def say_if_no_agent_serves(client: ApiClient, cluster: str, *, say: Say) -> None:
    """A note when the cluster has never reported, or not within its interval: nothing will move until an agent
    serves it."""
    try:
        status = endpoints.cluster_status(client, cluster)
    except ApiError as error:
        if error.status == 404:
            say(f"Cluster {cluster!r} has never reported: no agent serves it yet. Still waiting.", err=True)
        return  # 403 and the like: we cannot know; say nothing
    if not status.get("is_healthy", True):
        say(
            f"Cluster {cluster!r} last reported at {status.get('last_reported')}: its agent seems to be down. "
            "Still waiting.",
            err=True,
        )


Write = Callable[[bytes], None]
TAIL_READ_BYTES = 1024 * 1024  # --tail N reads at most the last MiB to find its lines
# After a job ended, how long to wait for its agent's last bytes (an agent that ships no output, such as upstream's,
# never completes the stream).
OUTPUT_GRACE_SECONDS = 60


def follow_output(
    client: ApiClient,
    key: int,
    stream: str,
    *,
    write: Write,
    say: Say,
    follow: bool = False,
    tail_lines: int | None = None,
    interval: float = 1.0,
) -> Ending:
    """Write a submission's ``stream`` (its bytes, unchanged) from the start, or its last ``tail_lines`` lines;
    with ``follow``, go on writing what arrives until the job has ended and the stream is complete. The ending is
    the submission's, as ``watch`` says it (DONE, or not)."""
    offset = 0
    if tail_lines is not None:
        length = endpoints.job_output(client, key, stream, limit=1).length
        piece = endpoints.job_output(
            client, key, stream, offset=max(0, length - TAIL_READ_BYTES), limit=TAIL_READ_BYTES
        )
        lines = piece.content.splitlines(keepends=True)
        write(b"".join(lines[-tail_lines:]) if tail_lines else b"")
        offset = piece.next_offset
    told_dropped = False
    ended_at: float | None = None
    while True:
        piece = endpoints.job_output(client, key, stream, offset=offset)
        if piece.offset > offset and not told_dropped:
            told_dropped = True
            say(f"[{piece.offset - offset} bytes of {stream} were dropped by the server's limit]", err=True)
        if piece.content:
            write(piece.content)
        offset = piece.next_offset
        if piece.next_offset < piece.length:
            continue  # more is there already
        if not follow:
            return Ending.DONE
        row = endpoints.JOB_SUBMISSIONS.get(client, key)
        if row["status"] in TERMINAL_STATUSES:
            ending = Ending.DONE if row["status"] == "DONE" else Ending.NOT_DONE
            if piece.complete or row.get("slurm_job_id") is None:
                return ending
            ended_at = ended_at or time.monotonic()
            if time.monotonic() - ended_at > OUTPUT_GRACE_SECONDS:
                say(
                    f"[the job ended {OUTPUT_GRACE_SECONDS} s ago and its agent sent no more of its {stream}]", err=True
                )
                return ending
        time.sleep(interval)
