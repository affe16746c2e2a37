"""``jobbergate job-scripts ...``"""

from __future__ import annotations

import click

from jobbergate_cli.commands.shared import get_command, list_command

PATH = "job-scripts"
COLUMNS = ["id", "name", "parent_template_id", "owner_email", "description"]


@click.group("job-scripts", help="Job scripts rendered from applications.\n\nExample: jobbergate job-scripts list")
def job_scripts():
    pass


job_scripts.add_command(
    list_command(
        PATH,
        columns=COLUMNS,
        title="job scripts",
        example="jobbergate job-scripts list --user",
        extra_options=[click.option("--from-application-id", "from_job_script_template_id", type=int)],
    )
)
job_scripts.add_command(
    get_command(PATH, columns=[*COLUMNS, "files"], noun="job script", example="jobbergate job-scripts get-one --id 7")
)
