"""``jobbergate job-scripts create-locally``: render an application folder here, with no server."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(
    "create-locally",
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
    from jobbergate_cli.local import LocalApplication, LocalError, render
    from jobbergate_cli.output import table
    from jobbergate_cli.questions import ParamFileError, ask, load_param_file

    if positional is not None and application_path is not None:
        raise click.UsageError("Give the application folder once: as the argument or with --application-path.")
    application_path = positional or application_path or Path(".")
    try:
        given = load_param_file(param_file)
        application = LocalApplication.read(application_path)
    except (ParamFileError, LocalError) as error:
        raise click.UsageError(str(error)) from None
    if application.questions or not application.workflow:
        answers, defaults_used = ask(application.questions, given=given, fast=fast)
    else:
        from jobbergate_cli.workflow import WorkflowError, run_workflow

        config = {"jobbergate_config": application.runtime_config, "application_config": application.template_vars}
        try:
            answers, defaults_used = run_workflow(application.workflow, config, given=given, fast=fast)
        except WorkflowError as error:
            raise click.ClickException(str(error)) from None
    if defaults_used and not (obj and obj.as_json):
        table([{"question": key, "default used": value} for key, value in defaults_used.items()], None)
    parameters = {**application.runtime_config, **application.template_vars, **answers}
    try:
        rendered = render(application, parameters, list(sbatch_params))
    except LocalError as error:
        raise click.ClickException(str(error)) from None
    output_path.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (output_path / name).write_text(text)
        click.echo(str(output_path / name))
