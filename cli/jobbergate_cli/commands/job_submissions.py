"""``jobbergate job-submissions ...``"""

from __future__ import annotations

from pathlib import Path

import click

from jobbergate_cli.commands.shared import Group, get_command, list_command, one_of, selected
from jobbergate_cli.contract import SUBMISSION_STATUSES
from jobbergate_cli.endpoints import JOB_SUBMISSIONS

TIMEOUT_HELP = "Stop waiting after this many seconds (exit status 6)."
COLUMNS = ["id", "name", "status", "slurm_job_id", "slurm_job_state", "client_id", "job_script_id"]


@click.group(
    "job-submissions", cls=Group, help="Job scripts sent to Slurm clusters.\n\nExample: jobbergate job-submissions list"
)
def job_submissions():
    pass


job_submissions.add_command(
    list_command(
        JOB_SUBMISSIONS,
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
        JOB_SUBMISSIONS,
        columns=[*COLUMNS, "execution_directory", "report_message", "sbatch_arguments"],
        noun="job submission",
        example="jobbergate job-submissions get-one 12",
    )
)


def submit_job_script(obj, job_script_id: int, **options) -> dict:
    """Register a submission (``services.submit``, whose keywords ``options`` are) and print it."""
    from jobbergate_cli import services
    from jobbergate_cli.output import emit

    row = services.submit(obj.client, obj.settings, job_script_id, say=click.echo, **options)
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
    from jobbergate_cli.endpoints import cancel_submission
    from jobbergate_cli.output import emit

    emit(cancel_submission(obj.client, key), as_json=obj.as_json, columns=COLUMNS, full=obj.full)


@job_submissions.command(help="Submit the same job script again.\n\nExample: jobbergate job-submissions clone 12")
@selected("job submission")
@click.pass_obj
def clone(obj, key):
    from jobbergate_cli.output import emit

    emit(JOB_SUBMISSIONS.clone(obj.client, key), as_json=obj.as_json, columns=COLUMNS, full=obj.full)


@job_submissions.command(help="Delete a submission.\n\nExample: jobbergate job-submissions delete 12")
@selected("job submission")
@click.pass_obj
def delete(obj, key):
    JOB_SUBMISSIONS.delete(obj.client, key)
    click.echo(f"Deleted job submission {key}.", err=True)


def watch_until_done(obj, ids: list[int], *, interval: float = 2.0, timeout: float | None = None) -> int:
    """Print each status change until every submission has ended (``services.watch``); the exit status: 0 when all
    ended DONE, 1 otherwise, and EXIT_TIMEOUT (6) when ``timeout`` seconds ran out first."""
    from jobbergate_cli.errors import EXIT_ERROR, EXIT_TIMEOUT
    from jobbergate_cli.services import Ending, watch

    ending = watch(obj.client, ids, interval=interval, timeout=timeout, say=click.echo)
    if ending is Ending.TIMED_OUT:
        click.echo(f"Stopped waiting after {timeout:g} s: the job has not ended yet.", err=True)
        return EXIT_TIMEOUT
    return 0 if ending is Ending.DONE else EXIT_ERROR


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


@job_submissions.command(
    help="Print a submission's output (its stdout, or --stderr) as the cluster's agent ships it; with --follow, go on "
    "printing as it arrives until the job ends (exit 0 only when it ended DONE).\n\n"
    "Example: jobbergate job-submissions logs 12 --follow"
)
@click.argument("key", metavar="ID", type=int)
@click.option("--stderr", is_flag=True, help="The job's stderr instead of its stdout.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output until the job has ended.")
@click.option("--from-start", is_flag=True, help="From the first byte (the default).")
@click.option("--tail", type=click.IntRange(min=0), help="Only the last N lines (then new ones, with --follow).")
@click.option("--interval", type=click.FloatRange(min=0.2), default=1.0, help="Seconds between looks (--follow).")
@click.pass_obj
def logs(obj, key, stderr, follow, from_start, tail, interval):
    from jobbergate_cli.errors import EXIT_ERROR
    from jobbergate_cli.services import Ending, follow_output

    if from_start and tail is not None:
        raise click.UsageError("--from-start and --tail go one at a time")
    out = click.get_binary_stream("stdout")

    def write(data: bytes) -> None:
        out.write(data)
        out.flush()

    ending = follow_output(
        obj.client,
        key,
        "stderr" if stderr else "stdout",
        write=write,
        say=click.echo,
        follow=follow,
        tail_lines=tail,
        interval=interval,
    )
    if follow:
        raise SystemExit(0 if ending is Ending.DONE else EXIT_ERROR)
