"""``jobbergate job-submissions ...``"""

from __future__ import annotations

import click

from jobbergate_cli.commands.shared import get_command, list_command

PATH = "job-submissions"
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
                type=click.Choice(["CREATED", "SUBMITTED", "REJECTED", "DONE", "ABORTED", "CANCELLED"]),
            ),
            click.option("--from-job-script-id", "from_job_script_id", type=int),
        ],
    )
)
job_submissions.add_command(
    get_command(
        PATH,
        columns=[*COLUMNS, "execution_directory", "report_message", "sbatch_arguments"],
        noun="job submission",
        example="jobbergate job-submissions get-one --id 12",
    )
)
