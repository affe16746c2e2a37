"""``jobbergate applications ...``"""

from __future__ import annotations

from pathlib import Path

import click

from jobbergate_cli.commands.shared import get_command, list_command

PATH = "job-script-templates"
COLUMNS = ["id", "name", "identifier", "owner_email", "description"]


@click.group(help="Applications: reusable job-script templates.\n\nExample: jobbergate applications list")
def applications():
    pass


applications.add_command(
    list_command(
        PATH,
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
        PATH,
        columns=[*COLUMNS, "template_vars", "template_files", "workflow_files"],
        noun="application",
        example="jobbergate applications get-one --id hello-serial",
        key_help="Its id or identifier.",
    )
)


def _upload_folder(obj, key: str, folder: Path, name: str | None, description: str | None) -> dict:
    from jobbergate_cli.folders import pack

    params = {key: value for key, value in (("name", name), ("description", description)) if value is not None}
    return obj.client.json(
        "PUT",
        f"{PATH}/{key}/application",
        params=params,
        files={"archive": (f"{folder.name}.tar.gz", pack(folder), "application/gzip")},
    )


@applications.command(
    help="Create an application from a folder (jobbergate.yaml, jobbergate.py, templates/).\n\n"
    "Example: jobbergate applications create --name 'Hello' --identifier hello --application-path ./hello"
)
@click.option("--name", "-n", required=True)
@click.option("--identifier", help="A unique short name, usable instead of the id.")
@click.option("--application-path", "-a", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--application-desc", "description", help="A description.")
@click.pass_obj
def create(obj, name, identifier, application_path, description):
    from jobbergate_cli.folders import FolderError
    from jobbergate_cli.output import emit

    try:
        if identifier:
            row = _upload_folder(obj, identifier, application_path, name, description)
        else:
            created = obj.client.json("POST", PATH, json={"name": name, "description": description or ""})
            row = _upload_folder(obj, str(created["id"]), application_path, None, None)
    except FolderError as error:
        raise click.UsageError(str(error)) from None
    emit(row, as_json=obj.as_json, columns=COLUMNS, full=obj.full, title="Created application")


@applications.command(
    help="Change an application's name, identifier or description, or replace its files from a folder.\n\n"
    "Example: jobbergate applications update --id hello --application-path ./hello"
)
@click.option("--id", "-i", "key", required=True, help="Its id or identifier.")
@click.option("--name", "-n")
@click.option("--update-identifier", "identifier", help="A new identifier.")
@click.option("--application-desc", "description")
@click.option("--application-path", "-a", type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def update(obj, key, name, identifier, description, application_path):
    from jobbergate_cli.folders import FolderError
    from jobbergate_cli.output import emit

    fields = {k: v for k, v in (("name", name), ("identifier", identifier), ("description", description)) if v}
    row = obj.client.json("PUT", f"{PATH}/{key}", json=fields) if fields else None
    if application_path:
        try:
            row = _upload_folder(obj, identifier or key, application_path, None, None)
        except FolderError as error:
            raise click.UsageError(str(error)) from None
    if row is None:
        raise click.UsageError("Nothing to change: give --name, --update-identifier, --application-desc or a path.")
    emit(row, as_json=obj.as_json, columns=COLUMNS, full=obj.full, title="Updated application")


@applications.command(
    help="Delete an application (its job scripts stay).\n\nExample: jobbergate applications delete --id hello"
)
@click.option("--id", "-i", "key", required=True, help="Its id or identifier.")
@click.pass_obj
def delete(obj, key):
    obj.client.json("DELETE", f"{PATH}/{key}")
    click.echo(f"Deleted application {key}.", err=True)


@applications.command(
    help="Copy an application with its files; you own the copy.\n\n"
    "Example: jobbergate applications clone --id hello --identifier my-hello"
)
@click.option("--id", "-i", "key", required=True, help="Its id or identifier.")
@click.option("--name", "-n")
@click.option("--identifier", help="Identifier of the copy (none by default).")
@click.pass_obj
def clone(obj, key, name, identifier):
    from jobbergate_cli.output import emit

    fields = {k: v for k, v in (("name", name), ("identifier", identifier)) if v}
    row = obj.client.json("POST", f"{PATH}/clone/{key}", json=fields)
    emit(row, as_json=obj.as_json, columns=COLUMNS, full=obj.full, title="Cloned application")


@applications.command(
    "download-files",
    help="Download an application's folder (jobbergate.yaml, jobbergate.py, templates/).\n\n"
    "Example: jobbergate applications download-files --id hello --destination ./hello",
)
@click.option("--id", "-i", "key", required=True, help="Its id or identifier.")
@click.option("--destination", "-d", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.pass_obj
def download_files(obj, key, destination):
    from jobbergate_cli.folders import unpack

    data = obj.client.request("GET", f"{PATH}/{key}/application", params={"archive_format": "tar.gz"}).content
    for path in unpack(data, destination):
        click.echo(str(path))
