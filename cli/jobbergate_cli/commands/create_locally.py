"""``jobbergate job-scripts create-locally``: render an application folder here, with no server."""

from __future__ import annotations

from pathlib import Path

import click

from jobbergate_cli.commands.shared import Command, prompt, show_defaults


@click.command(
    "create-locally",
    cls=Command,
    help="Render a job script from an application folder on this machine, without the server (to try an "
    "application while writing it). Asks its questions like create.\n\n"
    "Example: jobbergate job-scripts create-locally --application-path examples/hello-serial --fast --output-path out",
)
@click.argument(
    "positional", metavar="[APPLICATION_PATH]", required=False, type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--application-path",
    "-a",
    type=click.Path(file_okay=False, path_type=Path),
    help="The application folder, with jobbergate.yaml (or give it as the argument; default: this folder).",
)
@click.option(
    "--name",
    default="job_script",
    show_default=True,
    help="The job script's name, as upstream takes it; the files are named after their templates, as upstream "
    "names them by default.",
)
@click.option(
    "--output-path",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where the rendered files go.",
)
@click.option("--sbatch-params", multiple=True, help="An sbatch option for the script, e.g. --time=10 (repeatable).")
@click.option("--param-file", type=click.Path(dir_okay=False, path_type=Path), help="Answers (JSON or YAML).")
@click.option("--fast", "-f", is_flag=True, help="Take the default answers without asking.")
@click.pass_obj
def create_locally(obj, positional, application_path, name, output_path, sbatch_params, param_file, fast):
    from jobbergate_cli import services
    from jobbergate_cli.local import LocalApplication
    from jobbergate_cli.questions import load_param_file

    if positional is not None and application_path is not None:
        raise click.UsageError("Give the application folder once: as the argument or with --application-path.")
    given = load_param_file(param_file)
    application = LocalApplication.read(positional or application_path or Path("."))
    parameters, defaults_used = services.collect_answers(application, given=given, fast=fast, prompt=prompt)
    show_defaults(obj, defaults_used)
    rendered = services.render_locally(application, parameters, sbatch_params=sbatch_params, output_path=output_path)
    for path in rendered:
        click.echo(str(path))
