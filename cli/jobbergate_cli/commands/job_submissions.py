"""``jobbergate job-submissions ...``"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import click

from jobbergate_cli.commands.shared import get_command, list_command, one_of, selected
from jobbergate_cli.contract import SUBMISSION_STATUSES, TERMINAL_STATUSES

PATH = "job-submissions"
TIMEOUT_HELP = "Stop waiting after this many seconds (exit status 6)."
COLUMNS = ["id", "name", "status", "slurm_job_id", "slurm_job_state", "client_id", "job_script_id"]


@click.group("job-submissions", help="Job scripts sent to Slurm clusters.\n\nExample: jobbergate job-submissions list")
def job_submissions():
    pass


job_submissions.add_command(
    list_command(
        PATH,
        columns=COLUMNS,
        title="job submissions",
        example="jobbergate job-submissions list --status SUBMITTED",
        extra_options=[
            click.option(
                "--status",
                "submit_status",
                type=click.Choice(SUBMISSION_STATUSES),
            ),
            click.option("--from-job-script-id", "from_job_script_id", type=int),
        ],
        all_means_everyones=True,
    )
)
job_submissions.add_command(
    get_command(
        PATH,
        columns=[*COLUMNS, "execution_directory", "report_message", "sbatch_arguments"],
        noun="job submission",
        example="jobbergate job-submissions get-one 12",
    )
)


def submit_job_script(
    obj,
    job_script_id: int,
    *,
    name: str,
    description: str | None = None,
    cluster: str | None,
    execution_directory: str | None,
    sbatch_arguments: tuple[str, ...] = (),
    on_site: bool | None = None,
) -> dict:
    """Register a submission: on site (sbatch here, then SUBMITTED; see ``jobbergate_cli.onsite``) when sbatch is
    configured and present or ``on_site`` says so, else CREATED for the cluster's agent."""
    from jobbergate_cli.output import emit

    cluster = cluster or obj.settings.default_cluster_name
    if not cluster:
        raise click.UsageError("Name the cluster: --cluster-name, or DEFAULT_CLUSTER_NAME.")
    body = {
        "name": name,
        "description": description or "",
        "job_script_id": job_script_id,
        "client_id": cluster,
        "execution_directory": execution_directory,
        "sbatch_arguments": list(sbatch_arguments),
    }
    sbatch = None
    if on_site is not False and (on_site or obj.settings.sbatch_path):
        from jobbergate_cli import onsite

        sbatch = onsite.sbatch_to_use(obj.settings.sbatch_path, on_site)
    if sbatch:
        row = onsite.submit(obj.client, body, sbatch=sbatch, execution_directory=execution_directory)
    else:
        row = obj.client.json("POST", PATH, json=body)
    emit(row, as_json=obj.as_json, columns=COLUMNS, full=obj.full, title="Created job submission")
    return row


ON_SITE_HELP = (
    "Run sbatch here as you and register the job as SUBMITTED (the default when SBATCH_PATH names an executable "
    "sbatch); --no-on-site leaves the submission to the cluster's agent."
)


@job_submissions.command(
    help="Submit a job script to a cluster. On a login node with SBATCH_PATH set (on-site mode), the job script's "
    "files are written into the execution directory (default: this folder) and sbatch runs there as you; "
    "elsewhere the cluster's agent submits it.\n\n"
    "Example: jobbergate job-submissions create --job-script-id 7 --name run --cluster-name cluster-a --wait"
)
@click.argument("positional", metavar="[JOB_SCRIPT_ID]", required=False, type=int)
@click.option("--job-script-id", "-i", type=int, help="The job script (or give it as the argument).")
@click.option("--name", "-n", required=True)
@click.option("--description")
@click.option("--cluster-name", help="The cluster (DEFAULT_CLUSTER_NAME).")
@click.option(
    "--execution-directory", help="Where the job runs on the cluster (on site: default this folder, files go there)."
)
@click.option("--sbatch-arguments", "-s", multiple=True, help="Extra sbatch options, e.g. --time=10 (repeatable).")
@click.option("--on-site/--no-on-site", "on_site", default=None, help=ON_SITE_HELP)
@click.option(
    "--download/--no-download",
    default=False,
    help="Also write the job script's files here: into --execution-directory when given, else this folder.",
)
@click.option("--wait", is_flag=True, help="Wait until the job has ended; exit 0 only when it ended DONE.")
@click.option("--timeout", type=click.FloatRange(min=0), help="With --wait: " + TIMEOUT_HELP)
@click.pass_obj
def create(
    obj,
    positional,
    job_script_id,
    name,
    description,
    cluster_name,
    execution_directory,
    sbatch_arguments,
    on_site,
    download,
    wait,
    timeout,
):
    if timeout is not None and not wait:
        raise click.UsageError("--timeout goes with --wait")
    job_script_id = one_of({"JOB_SCRIPT_ID": positional, "--job-script-id": job_script_id})
    if download:
        from jobbergate_cli.commands.job_scripts import write_files

        write_files(obj, job_script_id, Path(execution_directory or "."))
    row = submit_job_script(
        obj,
        job_script_id,
        name=name,
        description=description,
        cluster=cluster_name,
        execution_directory=execution_directory,
        sbatch_arguments=sbatch_arguments,
        on_site=on_site,
    )
    if wait:
        raise SystemExit(watch_until_done(obj, [row["id"]], timeout=timeout))


@job_submissions.command(
    help="Cancel a submission (CREATED or SUBMITTED).\n\nExample: jobbergate job-submissions cancel 12"
)
@selected("job submission")
@click.pass_obj
def cancel(obj, key):
    from jobbergate_cli.output import emit

    emit(obj.client.json("PUT", f"{PATH}/cancel/{key}"), as_json=obj.as_json, columns=COLUMNS, full=obj.full)


@job_submissions.command(help="Submit the same job script again.\n\nExample: jobbergate job-submissions clone 12")
@selected("job submission")
@click.pass_obj
def clone(obj, key):
    from jobbergate_cli.output import emit

    emit(obj.client.json("POST", f"{PATH}/clone/{key}"), as_json=obj.as_json, columns=COLUMNS, full=obj.full)


@job_submissions.command(help="Delete a submission.\n\nExample: jobbergate job-submissions delete 12")
@selected("job submission")
@click.pass_obj
def delete(obj, key):
    obj.client.json("DELETE", f"{PATH}/{key}")
    click.echo(f"Deleted job submission {key}.", err=True)


def watch_until_done(obj, ids: list[int], *, interval: float = 2.0, timeout: float | None = None) -> int:
    """Print each status change until every submission has ended; 0 when all ended DONE, 1 otherwise, and
    EXIT_TIMEOUT (6) when ``timeout`` seconds ran out first. A submission still CREATED whose cluster has no agent
    reporting gets one line on stderr saying so (which cluster, when it last reported); watching goes on."""
    from jobbergate_cli.main import EXIT_TIMEOUT

    seen: dict[int, tuple] = {}
    clusters_checked: set[str] = set()
    started = time.monotonic()
    while True:
        rows = [obj.client.get(f"{PATH}/{key}") for key in ids]
        for row in rows:
            state = (row["status"], row.get("slurm_job_state"))
            if seen.get(row["id"]) != state:
                seen[row["id"]] = state
                detail = f" Slurm {state[1]}" if state[1] else ""
                click.echo(
                    f"submission {row['id']}: {state[0]}{detail}"
                    + (f" ({row['report_message']})" if row.get("report_message") else "")
                )
            cluster = row.get("client_id")
            if row["status"] == "CREATED" and cluster and cluster not in clusters_checked:
                clusters_checked.add(cluster)
                say_if_no_agent_serves(obj, cluster)
        if all(row["status"] in TERMINAL_STATUSES for row in rows):
            return 0 if all(row["status"] == "DONE" for row in rows) else 1
        if timeout is not None and time.monotonic() - started > timeout:
            click.echo(f"Stopped waiting after {timeout:g} s: the job has not ended yet.", err=True)
            return EXIT_TIMEOUT
        time.sleep(interval)


def say_if_no_agent_serves(obj, cluster: str) -> None:
    """One line on stderr when the cluster has never reported, or not within its interval: nothing will move
    until an agent serves it."""
    from jobbergate_cli.client import ApiError

    try:
        status = obj.client.get(f"clusters/status/{quote(cluster, safe='')}")
    except ApiError as error:
        if error.status == 404:
            click.echo(f"Cluster {cluster!r} has never reported: no agent serves it yet. Still waiting.", err=True)
        return  # 403 and the like: we cannot know; say nothing
    if not status.get("is_healthy", True):
        click.echo(
            f"Cluster {cluster!r} last reported at {status.get('last_reported')}: its agent seems to be down. "
            "Still waiting.",
            err=True,
        )


@job_submissions.command(
    help="Follow submissions until they end; exit 0 only when every one ended DONE.\n\n"
    "Example: jobbergate job-submissions watch 12 13"
)
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--interval", type=click.FloatRange(min=0.2), default=2.0, help="Seconds between looks.")
@click.option("--timeout", type=click.FloatRange(min=0), help=TIMEOUT_HELP)
@click.pass_obj
def watch(obj, ids, interval, timeout):
    raise SystemExit(watch_until_done(obj, list(ids), interval=interval, timeout=timeout))
