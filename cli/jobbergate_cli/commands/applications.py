"""``jobbergate applications ...``"""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from jobbergate_cli.commands.shared import Group, get_command, list_command, one_of, selected
from jobbergate_cli.endpoints import APPLICATIONS

COLUMNS = ["id", "name", "identifier", "owner_email", "description"]


@click.group(cls=Group, help="Applications: reusable job-script templates.\n\nExample: jobbergate applications list")
def applications():
    pass


applications.add_command(
    list_command(
        APPLICATIONS,
        columns=COLUMNS,
        title="applications",
        example="jobbergate applications list --search mpi --sort-field name",
        extra_options=[
            click.option("--all", "include_null_identifier", is_flag=True, help="Also those without identifier."),
        ],
    )
)
applications.add_command(
    get_command(
        APPLICATIONS,
        columns=[*COLUMNS, "template_vars", "template_files", "workflow_files"],
        noun="application",
        example="jobbergate applications get-one hello-serial",
        by_identifier=True,
    )
)


@applications.command(
    help="Create an application from a folder (jobbergate.yaml, jobbergate.py, templates/). It never replaces one: "
    "an identifier in use is an error (applications update replaces files).\n\n"
    "Example: jobbergate applications create --name 'Hello' --identifier hello --application-path ./hello"
)
@click.option("--name", "-n", required=True)
@click.option("--identifier", help="A unique short name, usable instead of the id.")
@click.option("--application-path", "-a", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--application-desc", "description", help="A description.")
@click.pass_obj
def create(obj, name, identifier, application_path, description):
    from jobbergate_cli import services
    from jobbergate_cli.client import ApiError
    from jobbergate_cli.output import emit

    try:
        row = services.create_application(
            obj.client,
            name=name,
            identifier=identifier,
            folder=application_path,
            description=description,
            say=click.echo,
        )
    except ApiError as error:
        if error.status != 409 or not identifier:
            raise
        raise click.ClickException(
            f"{error} Nothing was changed; to replace its files use: jobbergate applications update "
            f"{shlex.quote(identifier)} --application-path {shlex.quote(str(application_path))}"
        ) from None
    emit(row, as_json=obj.as_json, columns=COLUMNS, full=obj.full, title="Created application")


@applications.command(
    help="Change an application's name, identifier or description, or replace its files from a folder.\n\n"
    "Example: jobbergate applications update hello --application-path ./hello"
)
@selected("application", by_identifier=True)
@click.option("--name", "-n", "--application-name", "name", help="A new name.")
@click.option("--update-identifier", "identifier", help="A new identifier.")
@click.option("--application-desc", "description", help="A new description.")
@click.option("--application-path", "-a", type=click.Path(file_okay=False, path_type=Path))
@click.option("--is-archived/--no-is-archived", default=None, help="Archive it (hidden from lists) or bring it back.")
@click.pass_obj
def update(obj, key, name, identifier, description, application_path, is_archived):
    from jobbergate_cli import services
    from jobbergate_cli.output import emit

    fields: dict[str, object] = {
        k: v for k, v in (("name", name), ("identifier", identifier), ("description", description)) if v
    }
    if is_archived is not None:
        fields["is_archived"] = is_archived
    row = services.update_application(obj.client, key, fields, application_path, say=click.echo)
    if row is None:
        raise click.UsageError(
            "Nothing to change: give --name, --update-identifier, --application-desc, --is-archived or a path."
        )
    emit(row, as_json=obj.as_json, columns=COLUMNS, full=obj.full, title="Updated application")


@applications.command(
    help="Delete an application (its job scripts stay).\n\nExample: jobbergate applications delete hello"
)
@selected("application", by_identifier=True)
@click.pass_obj
def delete(obj, key):
    APPLICATIONS.delete(obj.client, key)
    click.echo(f"Deleted application {key}.", err=True)


@applications.command(
    help="Copy an application with its files; you own the copy.\n\n"
    "Example: jobbergate applications clone hello --application-identifier my-hello"
)
@click.argument("positional", metavar="[ID_OR_IDENTIFIER]", required=False)
@click.option("--id", "-i", "key", help="The application's id or identifier (or give it as the argument).")
@click.option(
    "--identifier",
    help="The application's identifier; next to --id or the argument it names the copy, as before "
    "--application-identifier existed.",
)
@click.option("--name", "-n", "--application-name", "name", help="Name of the copy (the original's by default).")
@click.option("--application-identifier", "new_identifier", help="Identifier of the copy (none by default).")
@click.option("--application-desc", "description", help="Description of the copy (the original's by default).")
@click.pass_obj
def clone(obj, positional, key, identifier, name, new_identifier, description):
    from jobbergate_cli.output import emit

    if identifier is not None and (positional or key) and new_identifier is None:
        new_identifier, identifier = identifier, None
    key = one_of({"ID_OR_IDENTIFIER": positional, "--id": key, "--identifier": identifier})
    fields = {k: v for k, v in (("name", name), ("identifier", new_identifier), ("description", description)) if v}
    row = APPLICATIONS.clone(obj.client, key, fields)
    emit(row, as_json=obj.as_json, columns=COLUMNS, full=obj.full, title="Cloned application")


@applications.command(
    "download-files",
    help="Download an application's folder (jobbergate.yaml, jobbergate.py, templates/).\n\n"
    "Example: jobbergate applications download-files hello --destination ./hello",
)
@selected("application", by_identifier=True)
@click.option("--destination", "-d", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.pass_obj
def download_files(obj, key, destination):
    from jobbergate_cli.endpoints import download_application
    from jobbergate_cli.folders import unpack

    for path in unpack(download_application(obj.client, key), destination):
        click.echo(str(path))
