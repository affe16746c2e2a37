"""Wire shapes of job submissions and their progress entries."""

from __future__ import annotations

import base64
import binascii

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobbergate.api.query import MAX_DB_INTEGER
from jobbergate.api.serializers import (
    RESOURCE_FIELDS,
    RESOURCE_READ_ONLY,
    PlainSerializer,
    ResourceSerializer,
    sbatch_command_line,
    visible_text,
)
from jobscripts.models import JobScript
from submissions.choices import SlurmJobState
from submissions.models import ClusterStatus, JobProgress, JobSubmission

MAX_SBATCH_ARGUMENTS = 50


class EmbeddedJobScriptSerializer(ResourceSerializer):
    """The job script a submission runs, without its files."""

    parent_template_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = JobScript
        fields = (*RESOURCE_FIELDS, "parent_template_id")
        read_only_fields = RESOURCE_FIELDS


SUBMISSION_FIELDS = (
    *RESOURCE_FIELDS,
    "job_script_id",
    "execution_directory",
    "slurm_job_id",
    "slurm_job_state",
    "slurm_job_info",
    "client_id",
    "status",
    "report_message",
    "sbatch_arguments",
)


class JobSubmissionSerializer(ResourceSerializer):
    """Create takes name, description, job_script_id, execution_directory, client_id, slurm_job_id, sbatch_arguments;
    update changes only name, description, execution_directory and is_archived."""

    job_script_id = serializers.IntegerField(min_value=1, max_value=MAX_DB_INTEGER)
    execution_directory = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
    client_id = serializers.CharField(
        max_length=255, required=False, allow_null=True, validators=[visible_text("A cluster name")]
    )
    slurm_job_id = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_DB_INTEGER)
    sbatch_arguments = serializers.ListField(
        child=serializers.CharField(max_length=255),
        max_length=MAX_SBATCH_ARGUMENTS,
        required=False,
        validators=[sbatch_command_line],
    )
    job_script = EmbeddedJobScriptSerializer(read_only=True, allow_null=True)

    class Meta:
        model = JobSubmission
        fields = (*SUBMISSION_FIELDS, "claimed_by", "claimed_until", "job_script")
        read_only_fields = (
            *RESOURCE_READ_ONLY,
            "slurm_job_state",
            "slurm_job_info",
            "status",
            "report_message",
            "claimed_by",
            "claimed_until",
        )

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:
            # After creation only the descriptive fields change; the rest belongs to the agent.
            for name in ("job_script_id", "client_id", "slurm_job_id", "sbatch_arguments"):
                fields[name].read_only = True
        return fields


class JobProgressSerializer(serializers.ModelSerializer):
    job_submission_id = serializers.IntegerField(source="submission_id", read_only=True)

    class Meta:
        model = JobProgress
        fields = ("id", "job_submission_id", "timestamp", "status", "slurm_job_state", "additional_info")


class AgentFileSerializer(PlainSerializer):
    parent_id = serializers.IntegerField()
    filename = serializers.CharField()
    file_type = serializers.CharField()


class AgentJobScriptSerializer(PlainSerializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    files = AgentFileSerializer(many=True)


class PendingSubmissionSerializer(serializers.ModelSerializer):
    """What an agent needs to submit a job: who, where, the sbatch arguments and the job script's files."""

    job_script = AgentJobScriptSerializer()
    sbatch_arguments = serializers.ListField(child=serializers.CharField())
    claim_seconds_left = serializers.SerializerMethodField(
        help_text="Seconds the calling agent's claim on this submission lasts from now: no other agent gets it "
        "meanwhile (not in upstream Jobbergate)."
    )

    def get_claim_seconds_left(self, row) -> float:
        from django.utils import timezone

        return max(0.0, round((row.claimed_until - timezone.now()).total_seconds(), 1)) if row.claimed_until else 0.0

    class Meta:
        model = JobSubmission
        fields = (
            "id",
            "name",
            "owner_email",
            "execution_directory",
            "sbatch_arguments",
            "job_script_id",
            "job_script",
            "created_at",
            "claim_seconds_left",
        )


class ActiveSubmissionSerializer(serializers.ModelSerializer):
    """A submission the agent tracks; ``owner_email`` so it acts on the job only as the owner's account;
    ``output_watched`` (ours) when someone is reading its output, so the agent ships it every cycle."""

    output_watched = serializers.BooleanField(read_only=True, default=False)

    class Meta:
        model = JobSubmission
        fields = ("id", "name", "owner_email", "status", "slurm_job_id", "output_watched")


class SubmittedReportSerializer(PlainSerializer):
    id = serializers.IntegerField(min_value=1, max_value=MAX_DB_INTEGER)
    slurm_job_id = serializers.IntegerField(min_value=0, max_value=MAX_DB_INTEGER)
    slurm_job_state = serializers.ChoiceField(choices=SlurmJobState.choices, required=False, allow_null=True)
    slurm_job_info = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    slurm_job_state_reason = serializers.CharField(required=False, allow_null=True, allow_blank=True)


MAX_REPORTS_PER_REQUEST = 500


class SubmittedReportsSerializer(PlainSerializer):
    """Many ``submitted`` reports in one request (ours; upstream agents send one at a time)."""

    items = SubmittedReportSerializer(many=True, allow_empty=False, max_length=MAX_REPORTS_PER_REQUEST)


class ReportResultSerializer(PlainSerializer):
    id = serializers.IntegerField()
    status_code = serializers.IntegerField(help_text="What the single report would have answered: 202, 404 or 409.")
    detail = serializers.CharField(allow_null=True)


class ReportResultsSerializer(PlainSerializer):
    results = ReportResultSerializer(many=True)


class RejectedReportSerializer(PlainSerializer):
    id = serializers.IntegerField(min_value=1, max_value=MAX_DB_INTEGER)
    report_message = serializers.CharField(allow_blank=True)


MAX_MARKED_JOBS = 1000


class MarkedJobSerializer(PlainSerializer):
    id = serializers.IntegerField(min_value=1, max_value=MAX_DB_INTEGER, help_text="The submission its marker names.")
    slurm_job_id = serializers.IntegerField(min_value=0, max_value=MAX_DB_INTEGER)
    created = serializers.IntegerField(
        min_value=0, max_value=MAX_DB_INTEGER, default=0, help_text="The marker's creation stamp (0: unknown)."
    )


class SweepRequestSerializer(PlainSerializer):
    """Live Slurm jobs whose comment is a marker of the calling cluster (ours; upstream agents have no sweep)."""

    jobs = MarkedJobSerializer(many=True, allow_empty=True, max_length=MAX_MARKED_JOBS)


class SweepVerdictSerializer(PlainSerializer):
    id = serializers.IntegerField(source="submission_id")
    slurm_job_id = serializers.IntegerField()
    cancel = serializers.BooleanField(help_text="True when Jobbergate does not know this job: the agent cancels it.")
    reason = serializers.CharField()
    owner_email = serializers.CharField(
        allow_null=True, help_text="The submission's owner; null when it is gone (the job's own user cancels it)."
    )


class SweepAnswerSerializer(PlainSerializer):
    results = SweepVerdictSerializer(many=True)


class SweptReportSerializer(PlainSerializer):
    id = serializers.IntegerField(min_value=1, max_value=MAX_DB_INTEGER)
    slurm_job_id = serializers.IntegerField(min_value=0, max_value=MAX_DB_INTEGER)
    report_message = serializers.CharField(max_length=2000)


class SlurmStateReportSerializer(PlainSerializer):
    slurm_job_state = serializers.ChoiceField(choices=SlurmJobState.choices)
    slurm_job_info = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    slurm_job_id = serializers.IntegerField(min_value=0, max_value=MAX_DB_INTEGER, required=False, allow_null=True)
    slurm_job_state_reason = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class ClusterStatusSerializer(serializers.ModelSerializer):
    is_healthy = serializers.BooleanField(read_only=True)

    class Meta:
        model = ClusterStatus
        fields = ("client_id", "interval", "last_reported", "is_healthy")


class OutputAppendedSerializer(PlainSerializer):
    length = serializers.IntegerField(help_text="The stream's length: the offset of the next chunk.")
    complete = serializers.BooleanField()


@extend_schema_field(OpenApiTypes.BYTE)
class Base64BytesField(serializers.Field):
    """Bytes as standard base64 text (any bytes: a job's output need not be UTF-8)."""

    default_error_messages = {"invalid": "Not base64 text."}

    def to_internal_value(self, data) -> bytes:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            self.fail("invalid")

    def to_representation(self, value: bytes) -> str:
        return base64.b64encode(value).decode("ascii")


class OutputPieceSerializer(PlainSerializer):
    """One chunk of one stream, as the single append takes it (its path, query and body in fields)."""

    id = serializers.IntegerField(min_value=1, max_value=MAX_DB_INTEGER, help_text="The submission.")
    stream = serializers.CharField(max_length=20, help_text="stdout or stderr.")
    offset = serializers.IntegerField(
        min_value=0, max_value=MAX_DB_INTEGER, help_text="The stream's length as the agent knows it."
    )
    content = Base64BytesField(help_text="The chunk's bytes, base64 (at most 256 KiB once decoded).")
    complete = serializers.BooleanField(default=False, help_text="The job has ended and these are its last bytes.")


class OutputBatchSerializer(PlainSerializer):
    """Many pieces of job output in one request (ours; upstream agents ship no output)."""

    pieces = OutputPieceSerializer(many=True, allow_empty=False)

    def get_fields(self):
        fields = super().get_fields()
        # The service's bound (output.append_many), checked here too so that no more pieces are decoded.
        fields["pieces"].max_length = settings.OUTPUT_BATCH_MAX_PIECES
        return fields


class OutputPieceResultSerializer(PlainSerializer):
    id = serializers.IntegerField()
    stream = serializers.CharField()
    status_code = serializers.IntegerField(
        help_text="What the single append would have answered: 200, 400, 404, 409 or 413."
    )
    length = serializers.IntegerField(
        allow_null=True, help_text="The stream's length (200 and 409): the offset of its next chunk."
    )
    complete = serializers.BooleanField(allow_null=True)
    detail = serializers.CharField(allow_null=True)


class OutputBatchResultsSerializer(PlainSerializer):
    results = OutputPieceResultSerializer(many=True, help_text="One per piece, in the order sent.")
