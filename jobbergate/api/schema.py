"""OpenAPI pieces shared by every resource: operation ids, summaries, and the file endpoints' parameters."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers

UPLOAD_REQUEST = inline_serializer("FileUpload", {"upload_file": serializers.FileField()})
FILE_NAME_PARAMETERS = [
    OpenApiParameter("filename", str, description="Name to store the file under (default: the upload's name)."),
    OpenApiParameter("previous_filename", str, description="Rename this existing file to filename."),
]


class ResourceSchema(AutoSchema):
    """Operation ids from the view's declared ``operation_prefix`` and its action: ``job_scripts_clone``,
    ``job_submissions_agent_pending``. So an action is named for what its id says, and no view overrides a method
    only to carry an id."""

    def get_operation_id(self):
        prefix = getattr(self.view, "operation_prefix", None)
        action = getattr(self.view, "action", None)
        if prefix and action:
            return f"{prefix}_{action}"
        return super().get_operation_id()

    def get_response_serializers(self):
        # A clone is read with the clone serializer (name, description) and answered with the new row in full.
        if getattr(self.view, "action", None) == "clone":
            return {201: self.view.serializer_class}
        return super().get_response_serializers()


# One sentence per operation, shown as the heading of each operation in ReDoc and Swagger UI. A test fails when an
# operation has none, so a new endpoint gets its sentence here.
SUMMARIES = {
    "clusters_status_list": "List the clusters and when each last reported",
    "clusters_status_report": "Report that a cluster's agent is alive (agents only)",
    "clusters_status_retrieve": "Get one cluster's last report",
    "job_script_templates_list": "List applications",
    "job_script_templates_create": "Create an application",
    "job_script_templates_retrieve": "Get one application with its files",
    "job_script_templates_update": "Change an application's fields",
    "job_script_templates_partial_update": "Change some of an application's fields",
    "job_script_templates_destroy": "Delete an application and its files",
    "job_script_templates_application_download": "Download an application as a folder archive",
    "job_script_templates_application_upload": "Create or replace an application from a whole folder",
    "job_script_templates_questions_schema": "Get an application's questions as a JSON Schema",
    "job_script_templates_template_file_download": "Download one template file of an application",
    "job_script_templates_template_file_upload": "Upload, replace or rename one template file",
    "job_script_templates_template_file_delete": "Delete one template file of an application",
    "job_script_templates_workflow_download": "Download an application's jobbergate.py",
    "job_script_templates_workflow_upload": "Upload or replace an application's jobbergate.py",
    "job_script_templates_workflow_delete": "Delete an application's jobbergate.py",
    "job_script_templates_clone": "Copy an application; you own the copy",
    "job_scripts_list": "List your job scripts",
    "job_scripts_create": "Create an empty job script",
    "job_scripts_retrieve": "Get one job script with its files",
    "job_scripts_update": "Change a job script's fields",
    "job_scripts_partial_update": "Change some of a job script's fields",
    "job_scripts_destroy": "Delete a job script and its files",
    "job_scripts_file_download": "Download one file of a job script",
    "job_scripts_file_upload": "Upload, replace or rename one file of a job script",
    "job_scripts_file_delete": "Delete one file of a job script",
    "job_scripts_clone": "Copy a job script; you own the copy",
    "job_scripts_render_from_template": "Render an application with your answers into a new job script",
    "job_submissions_list": "List your job submissions",
    "job_submissions_create": "Submit a job script to a cluster",
    "job_submissions_retrieve": "Get one job submission",
    "job_submissions_update": "Change a job submission's fields",
    "job_submissions_partial_update": "Change some of a job submission's fields",
    "job_submissions_destroy": "Delete a job submission",
    "job_submissions_progress": "List the progress of a job submission, oldest first",
    "job_submissions_output": "Read a job's stdout or stderr from an offset",
    "job_submissions_agent_output": "Append a chunk of a job's stdout or stderr (agents only)",
    "job_submissions_agent_output_many": "Append many chunks of many jobs' output at once (agents only)",
    "job_submissions_agent_update": "Report a job's state (agents only)",
    "job_submissions_agent_active": "List the submissions a cluster is running (agents only)",
    "job_submissions_agent_pending": "Claim and list the submissions waiting for a cluster (agents only)",
    "job_submissions_agent_rejected": "Report that a cluster refused a submission (agents only)",
    "job_submissions_agent_submitted": "Report a submission's Slurm job id (agents only)",
    "job_submissions_agent_submitted_many": "Report many submissions' Slurm job ids at once (agents only)",
    "job_submissions_agent_sweep": "Name the marked Slurm jobs Jobbergate does not know (agents only)",
    "job_submissions_agent_swept": "Record a Slurm job an agent cancelled as unknown (agents only)",
    "job_submissions_cancel": "Cancel a job submission",
    "job_submissions_clone": "Submit the same job script again",
}


def add_summaries(result, generator, request, public):
    """drf-spectacular post-processing hook: each operation's ``summary`` from ``SUMMARIES``."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and operation.get("operationId") in SUMMARIES:
                operation.setdefault("summary", SUMMARIES[operation["operationId"]])
    return result
