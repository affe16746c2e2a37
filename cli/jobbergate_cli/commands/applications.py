"""``jobbergate applications ...``"""

from __future__ import annotations

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
