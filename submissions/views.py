"""API of job submissions: declarations over the shared resource viewset."""

from __future__ import annotations

import hashlib
import re

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from jobbergate.api.exceptions import BadRequest, api_error
from jobbergate.api.pagination import PageSizePagination
from jobbergate.api.query import MAX_DB_INTEGER, query_bool, query_int
from jobbergate.api.serializers import CloneSerializer
from jobbergate.api.viewsets import BASE_SORT_FIELDS, ResourceViewSet
from jobbergate.principal import Principal
from submissions import output, services
from submissions.filters import JobSubmissionFilter
from submissions.models import ClusterStatus, JobSubmission
from submissions.serializers import (
    ActiveSubmissionSerializer,
    ClusterStatusSerializer,
    JobProgressSerializer,
    JobSubmissionSerializer,
    OutputAppendedSerializer,
    OutputBatchResultsSerializer,
    OutputBatchSerializer,
    PendingSubmissionSerializer,
    RejectedReportSerializer,
    ReportResultsSerializer,
    SlurmStateReportSerializer,
    SubmittedReportSerializer,
    SubmittedReportsSerializer,
    SweepAnswerSerializer,
    SweepRequestSerializer,
    SweptReportSerializer,
)

# The header an agent names its running instance with (ours sends a random id per process), so two agents of one
# cluster hold separate claims; a caller without it (the upstream agent) is one instance per token.
AGENT_INSTANCE_HEADER = "X-Jobbergate-Agent-Instance"
AGENT_INSTANCE = re.compile(r"[A-Za-z0-9._:@-]{1,64}")


class JobSubmissionViewSet(ResourceViewSet):
    """Job submissions: readable by their owner, maintainers and admins."""

    model = JobSubmission
    permission_resource = "job-submissions"
    operation_prefix = "job_submissions"
    serializer_class = JobSubmissionSerializer
    clone_serializer_class = CloneSerializer
    filterset_class = JobSubmissionFilter
    search_fields = ("name", "description", "owner_email", "client_id")
    sort_fields = {
        **BASE_SORT_FIELDS,
        "job_script_id": "job_script_id",
        "slurm_job_id": "slurm_job_id",
        "client_id": "client_id",
        "status": "status",
        "slurm_job_state": "slurm_job_state",
    }
    select_related = ("job_script",)
    action_verbs = {"cancel": "update", "progress": "read", "output": "read"}

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = {key: value for key, value in serializer.validated_data.items() if key != "is_archived"}
        submission = services.create_submission(principal=self.principal, owner_email=self.require_email(), **data)
        return self.detail_response(submission, status.HTTP_201_CREATED, fresh=True)

    def clone_row(self, *, source, owner_email, **overrides):
        return services.clone_submission(source=source, owner_email=owner_email, **overrides)

    @extend_schema(request=None, responses={200: JobSubmissionSerializer})
    def cancel(self, request, pk):
        return self.detail_response(services.cancel_submission(submission=self.get_object()))

    @extend_schema(responses=JobProgressSerializer(many=True))
    def progress(self, request, pk):
        entries = self.get_object().progress.order_by("timestamp", "id")
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(JobProgressSerializer(page, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "offset", int, description="Where to start, in bytes from the stream's start (default 0)."
            ),
            OpenApiParameter(
                "limit",
                int,
                description=f"At most this many bytes (default {output.READ_LIMIT_DEFAULT}, "
                f"at most {output.READ_LIMIT_MAX}).",
            ),
        ],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        description="The bytes of the job's stdout or stderr from `offset`, as the agent shipped them (any bytes, "
        "not only UTF-8). Headers: `X-Jobbergate-Offset` (where the bytes start: later than asked when those were "
        "dropped), `X-Jobbergate-Next-Offset` (ask from there next), `X-Jobbergate-Length` (the stream's length), "
        "`X-Jobbergate-Complete` (`true` once the job ended and every byte is in), and `X-Jobbergate-Dropped` "
        "(`FROM-TO`, bytes dropped past JOBBERGATE_OUTPUT_MAX_BYTES: the head and the latest tail stay).",
    )
    def output(self, request, pk, stream):
        submission = self.get_object()
        part = output.read(
            submission=submission,
            stream=stream,
            offset=query_int(request.query_params, "offset", 0, minimum=0, maximum=MAX_DB_INTEGER),
            limit=query_int(
                request.query_params, "limit", output.READ_LIMIT_DEFAULT, minimum=1, maximum=output.READ_LIMIT_MAX
            ),
        )
        if self.principal.cluster is None:
            output.mark_read(submission=submission)
        return output_response(part)


def output_response(part: output.Read) -> HttpResponse:
    """A piece of a job's output as bytes, with where it sits in the stream in headers."""
    response = HttpResponse(part.content, content_type="application/octet-stream")
    response["X-Jobbergate-Offset"] = str(part.offset)
    response["X-Jobbergate-Next-Offset"] = str(part.next_offset)
    response["X-Jobbergate-Length"] = str(part.length)
    response["X-Jobbergate-Complete"] = "true" if part.complete else "false"
    if part.dropped_from is not None:
        response["X-Jobbergate-Dropped"] = f"{part.dropped_from}-{part.dropped_to}"
    return response


def cluster_of(principal) -> str:
    """The calling cluster, or 403 for a person's token."""
    if not principal.cluster:
        raise PermissionDenied("This needs a cluster's token: a client id (azp or client_id) and no e-mail.")
    return principal.cluster


class AgentViewSet(viewsets.GenericViewSet):
    """The cluster agent's endpoints: its cluster's pending and active submissions, and its reports on them.

    The caller is a cluster: its token's ``azp``/``client_id`` names it, and it sees and changes only rows whose
    ``client_id`` is that cluster.
    """

    permission_resource = "job-submissions"
    operation_prefix = "job_submissions_agent"
    action_verbs = {
        "pending": "read",
        "active": "read",
        "submitted": "update",
        "submitted_many": "update",
        "rejected": "update",
        "update": "update",
        "sweep": "read",
        "swept": "update",
        "output": "update",
        "output_many": "update",
    }
    pagination_class = PageSizePagination
    queryset = JobSubmission.objects.none()
    serializer_class = PendingSubmissionSerializer

    @property
    def cluster(self) -> str:
        return cluster_of(self.request.auth)

    def _page(self, queryset, serializer_class):
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)

    def agent_instance(self) -> str:
        """Which running agent calls: the instance header, else one instance per token (the upstream agent)."""
        named = self.request.headers.get(AGENT_INSTANCE_HEADER)
        if named is not None:
            if not AGENT_INSTANCE.fullmatch(named):
                raise BadRequest(
                    f"{AGENT_INSTANCE_HEADER} is 1 to 64 ASCII letters, digits and the characters . _ : @ -."
                )
            return f"agent:{named}"
        # A digest of the token's id (or of the token itself when it has none): users see who holds a claim, and
        # a token's id is not theirs to know.
        principal = self.request.auth
        credential = principal.token_id or self.request.headers.get("Authorization", "")
        return f"token:{hashlib.sha256(credential.encode()).hexdigest()[:32]}"

    @extend_schema(
        parameters=[
            OpenApiParameter(
                AGENT_INSTANCE_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="The calling agent's instance id (ours sends one per process); without it, one "
                "instance per token.",
            )
        ],
        responses=PendingSubmissionSerializer(many=True),
        description="The cluster's CREATED submissions, each claimed for the calling agent instance: no other "
        "agent gets it until the claim ends (the job id or rejection is reported, or JOBBERGATE_AGENT_CLAIM_SECONDS "
        "pass). Two agents asking at once get different submissions.",
    )
    def pending(self, request):
        paginator = self.paginator
        offset, limit = paginator.read_page(request)
        rows, paginator.total = services.claim_pending(
            client_id=self.cluster, instance=self.agent_instance(), offset=offset, limit=limit
        )
        return paginator.get_paginated_response(PendingSubmissionSerializer(rows, many=True).data)

    @extend_schema(responses=ActiveSubmissionSerializer(many=True))
    def active(self, request):
        rows = JobSubmission.objects.for_cluster(self.cluster).active().with_output_watched()
        return self._page(rows.order_by("id"), ActiveSubmissionSerializer)

    @extend_schema(request=SubmittedReportSerializer, responses={202: None})
    def submitted(self, request):
        report = SubmittedReportSerializer(data=request.data)
        report.is_valid(raise_exception=True)
        data = dict(report.validated_data)
        services.mark_submitted(client_id=self.cluster, submission_id=data.pop("id"), **data)
        return Response(status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=SubmittedReportsSerializer,
        responses={200: ReportResultsSerializer},
        description="Many `submitted` reports at once, each applied in its own transaction exactly as the single "
        "report is; the answer gives each one's outcome (202, 404 or 409). Not in upstream Jobbergate: our agent "
        "uses it to report hundreds of job ids without a request each.",
    )
    def submitted_many(self, request):
        reports = SubmittedReportsSerializer(data=request.data)
        reports.is_valid(raise_exception=True)
        outcomes = services.mark_many_submitted(client_id=self.cluster, reports=reports.validated_data["items"])
        results = []
        for submission_id, error in outcomes:  # each as the single report would have answered: 202, 404 or 409
            refused = api_error(error) if error else None
            results.append(
                {
                    "id": submission_id,
                    "status_code": refused.status_code if refused else status.HTTP_202_ACCEPTED,
                    "detail": str(refused.detail) if refused else None,
                }
            )
        return Response({"results": results})

    @extend_schema(request=RejectedReportSerializer, responses={202: None})
    def rejected(self, request):
        report = RejectedReportSerializer(data=request.data)
        report.is_valid(raise_exception=True)
        services.mark_rejected(
            client_id=self.cluster,
            submission_id=report.validated_data["id"],
            report_message=report.validated_data["report_message"],
        )
        return Response(status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=SweepRequestSerializer,
        responses={200: SweepAnswerSerializer},
        description="Which live Slurm jobs carrying a marker of the calling cluster Jobbergate does not know (a "
        "deleted or cancelled submission, or a second job of one): the agent cancels those. Not in upstream "
        "Jobbergate.",
    )
    def sweep(self, request):
        asked = SweepRequestSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        jobs = [(item["id"], item["slurm_job_id"], item["created"]) for item in asked.validated_data["jobs"]]
        verdicts = services.judge_marked_jobs(client_id=self.cluster, jobs=jobs)
        return Response(SweepAnswerSerializer({"results": verdicts}).data)

    @extend_schema(
        request=SweptReportSerializer,
        responses={202: None},
        description="The agent cancelled a job Jobbergate did not know: a progress entry on its submission, when "
        "that still exists. Not in upstream Jobbergate.",
    )
    def swept(self, request):
        report = SweptReportSerializer(data=request.data)
        report.is_valid(raise_exception=True)
        services.record_stray_cancelled(
            client_id=self.cluster,
            submission_id=report.validated_data["id"],
            slurm_job_id=report.validated_data["slurm_job_id"],
            message=report.validated_data["report_message"],
        )
        return Response(status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=SlurmStateReportSerializer, responses={202: None})
    def update(self, request, pk):
        report = SlurmStateReportSerializer(data=request.data)
        report.is_valid(raise_exception=True)
        services.update_slurm_state(client_id=self.cluster, submission_id=pk, **report.validated_data)
        return Response(status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[
            OpenApiParameter("offset", int, required=True, description="The stream's length as the agent knows it."),
            OpenApiParameter("complete", bool, description="The job has ended and these are its last bytes."),
        ],
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={200: OutputAppendedSerializer, 409: OutputAppendedSerializer},
        description="Append a chunk (at most 256 KiB) of the job's stdout or stderr at `offset`, which must be the "
        "stream's length: any other offset is a 409 whose `length` says where to send from, so a retried chunk "
        "changes nothing.",
    )
    def output(self, request, pk, stream):
        submission = JobSubmission.objects.for_cluster(self.cluster).filter(pk=pk).first()
        if submission is None:
            raise NotFound(f"Submission {pk} was not found for cluster {self.cluster!r}.")
        if not request.query_params.get("offset"):
            raise BadRequest("Query parameter 'offset' is required: the stream's length as the agent knows it.")
        try:
            appended = output.append(
                submission=submission,
                stream=stream,
                offset=query_int(request.query_params, "offset", 0, minimum=0, maximum=MAX_DB_INTEGER),
                content=request.body,
                complete=query_bool(request.query_params, "complete", False),
            )
        except output.OffsetConflict as error:
            return Response({"detail": error.text, "length": error.length}, status=status.HTTP_409_CONFLICT)
        return Response({"length": appended.length, "complete": appended.complete})

    @extend_schema(
        request=OutputBatchSerializer,
        responses={200: OutputBatchResultsSerializer},
        description="Many chunks of job output in one request, each (a submission, a stream, an offset, base64 "
        "bytes, complete) judged exactly as the single append judges one, in order, in one transaction: the "
        "answer gives each piece's outcome as the single append would have answered (200 with the length, 409 "
        "with the length to send from, 404 for a submission that is not the cluster's, 400, 413), and a refused "
        "piece fails no other. At most 1000 pieces and 2 MiB of output (decoded) a request: more is a 422 or 413 "
        "and nothing is stored. Not in upstream Jobbergate: our agent ships hundreds of jobs' output with it.",
    )
    def output_many(self, request):
        asked = OutputBatchSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        pieces = [
            output.Piece(item["id"], item["stream"], item["offset"], item["content"], item["complete"])
            for item in asked.validated_data["pieces"]
        ]
        outcomes = output.append_many(client_id=self.cluster, pieces=pieces)
        results = []
        for piece, outcome in zip(pieces, outcomes, strict=True):
            result = {"id": piece.submission_id, "stream": piece.stream, "length": None, "complete": None}
            if isinstance(outcome, output.Appended):
                result |= {"status_code": status.HTTP_200_OK, "length": outcome.length, "complete": outcome.complete}
                result["detail"] = None
            else:  # as the single append answers it
                refused = api_error(outcome)
                result |= {"status_code": refused.status_code, "detail": str(refused.detail)}
                if isinstance(outcome, output.OffsetConflict):
                    result["length"] = outcome.length
            results.append(result)
        return Response({"results": results})


class ClusterStatusViewSet(viewsets.GenericViewSet):
    """Cluster health: each agent's heartbeat, healthy while it reports within its interval."""

    permission_resource = "clusters"
    operation_prefix = "clusters_status"
    action_verbs = {"list": "read", "retrieve": "read", "report": "update"}
    serializer_class = ClusterStatusSerializer
    queryset = ClusterStatus.objects.all()

    def check_permissions(self, request):
        # One cluster's health is readable by whoever may read submissions: the CLI tells a user waiting on a job
        # that no agent serves the cluster. The list of all clusters still needs jobbergate:clusters:read.
        principal = request.auth
        if self.action == "retrieve" and isinstance(principal, Principal):
            if principal.has_any("jobbergate:job-submissions:read"):
                return
        super().check_permissions(request)

    @extend_schema(responses=ClusterStatusSerializer(many=True))
    def list(self, request):
        return Response(ClusterStatusSerializer(ClusterStatus.objects.order_by("client_id"), many=True).data)

    @extend_schema(responses=ClusterStatusSerializer)
    def retrieve(self, request, client_id):
        row = ClusterStatus.objects.filter(client_id=client_id).first()
        if row is None:
            raise NotFound(f"No status was reported for cluster {client_id!r}.")
        return Response(ClusterStatusSerializer(row).data)

    @extend_schema(
        parameters=[OpenApiParameter("interval", int, required=True, description="Seconds until the next report.")],
        request=None,
        responses={202: None},
    )
    def report(self, request):
        client_id = cluster_of(request.auth)
        interval = query_int(request.query_params, "interval", 0, minimum=1, maximum=86400 * 7)
        if not interval:
            raise BadRequest("Query parameter 'interval' is required.")
        services.report_cluster_status(client_id=client_id, interval=interval)
        return Response(status=status.HTTP_202_ACCEPTED)


class SingularClusterStatusViewSet(ClusterStatusViewSet):
    """``/cluster/status``: the path the upstream SDK uses; same behaviour, left out of the schema."""

    schema = None
