from django.urls import path

from jobbergate.api.routes import ID_KEY, resource_urlpatterns
from submissions.views import (
    AgentViewSet,
    ClusterStatusViewSet,
    JobSubmissionViewSet,
    SingularClusterStatusViewSet,
)

PREFIX = "job-submissions"
heartbeat = ClusterStatusViewSet.as_view({"get": "list", "put": "report"})

urlpatterns = [
    path(f"{PREFIX}/agent/pending", AgentViewSet.as_view({"get": "pending"}), name="agent-pending"),
    path(f"{PREFIX}/agent/active", AgentViewSet.as_view({"get": "active"}), name="agent-active"),
    path(f"{PREFIX}/agent/submitted", AgentViewSet.as_view({"post": "submitted"}), name="agent-submitted"),
    path(
        f"{PREFIX}/agent/submitted-many",
        AgentViewSet.as_view({"post": "submitted_many"}),
        name="agent-submitted-many",
    ),
    path(f"{PREFIX}/agent/sweep", AgentViewSet.as_view({"post": "sweep"}), name="agent-sweep"),
    path(f"{PREFIX}/agent/swept", AgentViewSet.as_view({"post": "swept"}), name="agent-swept"),
    path(f"{PREFIX}/agent/rejected", AgentViewSet.as_view({"post": "rejected"}), name="agent-rejected"),
    path(f"{PREFIX}/agent/output", AgentViewSet.as_view({"put": "output_many"}), name="agent-output-many"),
    path(f"{PREFIX}/agent/{ID_KEY}", AgentViewSet.as_view({"put": "update"}), name="agent-report"),
    path(
        f"{PREFIX}/agent/{ID_KEY}/output/<str:stream>",
        AgentViewSet.as_view({"put": "output"}),
        name="agent-output",
    ),
    path(
        f"{PREFIX}/{ID_KEY}/output/<str:stream>",
        JobSubmissionViewSet.as_view({"get": "output"}),
        name="job-submissions-output",
    ),
    path(f"{PREFIX}/cancel/{ID_KEY}", JobSubmissionViewSet.as_view({"put": "cancel"}), name="job-submissions-cancel"),
    path(
        f"{PREFIX}/{ID_KEY}/progress",
        JobSubmissionViewSet.as_view({"get": "progress"}),
        name="job-submissions-progress",
    ),
    *resource_urlpatterns(PREFIX, JobSubmissionViewSet),
    path("clusters/status", heartbeat, name="clusters-status"),
    # The upstream SDK says "cluster/status"; its agent says "clusters/status". Both work.
    path(
        "cluster/status",
        SingularClusterStatusViewSet.as_view({"get": "list", "put": "report"}),
        name="cluster-status",
    ),
    path(
        "clusters/status/<str:client_id>",
        ClusterStatusViewSet.as_view({"get": "retrieve"}),
        name="clusters-status-detail",
    ),
]
