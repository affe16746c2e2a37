"""``jobbergate job-scripts ...``"""

from __future__ import annotations

from pathlib import Path

import click

from jobbergate_cli.commands.shared import Group, get_command, list_command, one_of, prompt, selected, show_defaults
from jobbergate_cli.endpoints import JOB_SCRIPTS

COLUMNS = ["id", "name", "parent_template_id", "owner_email", "description"]


@click.group(
    "job-scripts", cls=Group, help="Job scripts rendered from applications.\n\nExample: jobbergate job-scripts list"
)
def job_scripts():
    pass


job_scripts.add_command(
    list_command(
        JOB_SCRIPTS,
        columns=COLUMNS,
        title="job scripts",
        example="jobbergate job-scripts list --user",
        extra_options=[click.option("--from-application-id", "from_job_script_template_id", type=int)],
        all_means_everyones=True,
    )
)
job_scripts.add_command(
    get_command(JOB_SCRIPTS, columns=[*COLUMNS, "files"], noun="job script", example="jobbergate job-scripts get-one 7")
)


@job_scripts.command(
    help="Render a job script from an application, asking its questions (or taking them from --param-file, or the "
    "defaults with --fast), and optionally submit it.\n\n"
    "Example: jobbergate job-scripts create hello-serial --name run1 --fast --submit --cluster-name cluster-a"
)
@click.argument("application", metavar="[APPLICATION]", required=False)
@click.option("--application-id", "-i", type=int, help="The application's id (or give it as the argument).")
@click.option("--application-identifier", help="The application's identifier (or give it as the argument).")
@click.option("--name", "-n", help="Name of the job script (default: the application's).")
@click.option("--description")
@click.option("--sbatch-params", multiple=True, help="An sbatch option for the script, e.g. --time=10 (repeatable).")
@click.option("--param-file", type=click.Path(dir_okay=False, path_type=Path), help="Answers (JSON or YAML).")
@click.option("--fast", "-f", is_flag=True, help="Take the default answers without asking.")
@click.option(
    "--submit/--no-submit",
    default=False,
    help="Submit it right away: on site when SBATCH_PATH is set (see --on-site), else through the cluster's agent.",
)
@click.option("--cluster-name", help="The cluster to submit to (DEFAULT_CLUSTER_NAME).")
@click.option(
    "--execution-directory", help="Where the job runs on the cluster (on site: default this folder, files go there)."
)
@click.option(
    "--on-site/--no-on-site",
    "on_site",
    default=None,
    help="With --submit: run sbatch here as you (the default when SBATCH_PATH names an executable sbatch); "
    "--no-on-site leaves it to the cluster's agent.",
)
@click.option("--download/--no-download", default=False, help="Write the rendered files into this folder.")
@click.option("--wait", is_flag=True, help="With --submit: wait until the job has ended (exit 0 only when DONE).")
@click.option("--timeout", type=click.FloatRange(min=0), help="With --wait: stop waiting after this many seconds (6).")
@click.pass_obj
def create(
    obj,
    application,
    application_id,
    application_identifier,
    name,
    description,
    sbatch_params,
    param_file,
    fast,
    submit,
    cluster_name,
    execution_directory,
    on_site,
    download,
    wait,
    timeout,
):
    from jobbergate_cli import services
    from jobbergate_cli.output import emit
    from jobbergate_cli.questions import load_param_file

    application = one_of(
        {
            "APPLICATION": application,
            "--application-id": application_id,
            "--application-identifier": application_identifier,
        }
    )
    if not submit and (on_site is not None or cluster_name or execution_directory or wait):
        raise click.UsageError("--on-site, --cluster-name, --execution-directory and --wait go with --submit")
    if timeout is not None and not wait:
        raise click.UsageError("--timeout goes with --wait")
    given = load_param_file(param_file)
    app = services.ServerApplication.get(obj.client, application)
    parameters, defaults_used = services.collect_answers(app, given=given, fast=fast, prompt=prompt)
    show_defaults(obj, defaults_used)
    job_script = services.render(app, parameters, name=name, description=description, sbatch_params=sbatch_params)
    emit(job_script, as_json=obj.as_json, columns=[*COLUMNS, "files"], full=obj.full, title="Created job script")
    if download:
        write_files(obj, job_script["id"], Path("."))
    if submit:
        from jobbergate_cli.commands.job_submissions import submit_job_script, watch_until_done

        row = submit_job_script(
            obj,
            job_script["id"],
            name=job_script["name"],
            cluster=cluster_name,
            execution_directory=execution_directory,
            on_site=on_site,
        )
        if wait:
            raise SystemExit(watch_until_done(obj, [row["id"]], timeout=timeout))


@job_scripts.command(
    "create-stand-alone",
    help="Create a job script from files you wrote: one entrypoint and supporting files.\n\n"
    "Example: jobbergate job-scripts create-stand-alone run.sh --name run --supporting-file input.txt",
)
@click.argument(
    "entrypoint",
    metavar="[JOB_SCRIPT_PATH]",
    required=False,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--job-script-path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The entrypoint (or give it as the argument).",
)
@click.option("--name", "-n", required=True)
@click.option("--description")
@click.option("--supporting-file", "-s", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def create_stand_alone(obj, entrypoint, job_script_path, name, description, supporting_file):
    from jobbergate_cli import services
    from jobbergate_cli.output import emit

    entrypoint = one_of({"JOB_SCRIPT_PATH": entrypoint, "--job-script-path": job_script_path})
    row = services.create_stand_alone(
        obj.client, name=name, description=description, entrypoint=entrypoint, supporting=supporting_file
    )
    emit(row, as_json=obj.as_json, columns=[*COLUMNS, "files"], full=obj.full)


@job_scripts.command(
    "show-files", help="Print the files of a job script.\n\nExample: jobbergate job-scripts show-files 7 --plain"
)
@selected("job script")
@click.option(
    "--plain/--no-plain",
    default=False,
    help="Headers as '# NAME' comment lines (upstream's plain text) instead of '==> NAME (TYPE) <=='.",
)
@click.pass_obj
def show_files(obj, key, plain):
    from jobbergate_cli.contract import ENTRYPOINT
    from jobbergate_cli.services import job_script_texts

    for row, text in job_script_texts(obj.client, key):
        if plain:
            entrypoint = "\n# This is the main job script file" if row["file_type"] == ENTRYPOINT else ""
            click.echo(f"\n# {row['filename']}{entrypoint}")
        else:
            click.echo(f"==> {row['filename']} ({row['file_type']}) <==")
        click.echo(text)


@job_scripts.command(
    "download-files",
    help="Write the files of a job script into a folder.\n\nExample: jobbergate job-scripts download-files 7",
)
@selected("job script")
@click.option("--destination", "-d", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.pass_obj
def download_files(obj, key, destination):
    write_files(obj, key, destination)


def write_files(obj, key: int, destination: Path) -> None:
    """Download the job script's files into ``destination``, saying each one's path on stderr."""
    from jobbergate_cli.folders import save_job_script_files

    for path in save_job_script_files(obj.client, key, destination):
        click.echo(str(path), err=True)


@job_scripts.command(
    help="Rename, describe or archive a job script.\n\nExample: jobbergate job-scripts update 7 --name run2"
)
@selected("job script")
@click.option("--name", "-n")
@click.option("--description")
@click.option("--is-archived/--no-is-archived", default=None, help="Archive it (hidden from lists) or bring it back.")
@click.pass_obj
def update(obj, key, name, description, is_archived):
    from jobbergate_cli.output import emit

    fields = {
        k: v for k, v in (("name", name), ("description", description), ("is_archived", is_archived)) if v is not None
    }
    if not fields:
        raise click.UsageError("Nothing to change: give --name, --description or --is-archived.")
    emit(JOB_SCRIPTS.update(obj.client, key, fields), as_json=obj.as_json, columns=COLUMNS, full=obj.full)


@job_scripts.command(help="Delete a job script.\n\nExample: jobbergate job-scripts delete 7")
@selected("job script")
@click.pass_obj
def delete(obj, key):
    JOB_SCRIPTS.delete(obj.client, key)
    click.echo(f"Deleted job script {key}.", err=True)


@job_scripts.command(help="Copy a job script with its files.\n\nExample: jobbergate job-scripts clone 7 --name copy")
@selected("job script")
@click.option("--name", "-n", help="Name of the copy (the original's by default).")
@click.option("--description", help="Description of the copy (the original's by default).")
@click.pass_obj
def clone(obj, key, name, description):
    from jobbergate_cli.output import emit

    fields = {k: v for k, v in (("name", name), ("description", description)) if v is not None}
    row = JOB_SCRIPTS.clone(obj.client, key, fields)
    emit(row, as_json=obj.as_json, columns=COLUMNS, full=obj.full, title="Cloned job script")


def _register_create_locally() -> None:
    from jobbergate_cli.commands.create_locally import create_locally

    job_scripts.add_command(create_locally)


_register_create_locally()
